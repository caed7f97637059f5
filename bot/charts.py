"""Server-side inline SVG bar charts: readable at a glance, no script, CSP-clean."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape


def bar_chart(items: Sequence[tuple[str, int]], *, title: str, horizontal: bool = False) -> Markup:
    """A bar chart of (label, count) as an ``<svg>`` element with a title for screen readers."""
    peak = max((n for _, n in items), default=0) or 1
    parts: list[str] = []
    if horizontal:
        row, label_w, bar_w = 24, 170, 300
        height = row * max(len(items), 1) + 10
        width = label_w + bar_w + 50
        for i, (label, n) in enumerate(items):
            y = 5 + i * row
            w = round(bar_w * n / peak)
            parts.append(
                f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end">{escape(label)}</text>'
                f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w}" height="{row - 6}">'
                f"<title>{escape(label)}: {n}</title></rect>"
                f'<text x="{label_w + w + 4}" y="{y + 16}">{n}</text>'
            )
    else:
        col = max(8, min(40, 640 // max(len(items), 1)))
        chart_h = 160
        width = col * max(len(items), 1) + 40
        height = chart_h + 60
        every = max(1, len(items) // 12)
        for i, (label, n) in enumerate(items):
            x = 30 + i * col
            h = round(chart_h * n / peak)
            parts.append(
                f'<rect class="bar" x="{x + 1}" y="{10 + chart_h - h}" width="{col - 2}"'
                f' height="{h}"><title>{escape(label)}: {n}</title></rect>'
            )
            if n:
                parts.append(
                    f'<text x="{x + col / 2}" y="{6 + chart_h - h}" text-anchor="middle"'
                    f' class="small">{n}</text>'
                )
            if i % every == 0:
                parts.append(
                    f'<text x="{x + col / 2}" y="{chart_h + 24}" text-anchor="end"'
                    f' class="small" transform="rotate(-45 {x + col / 2} {chart_h + 24})">'
                    f"{escape(label[5:] if len(label) == 10 else label)}</text>"
                )
    body = "".join(parts) if items else '<text x="10" y="20">データがありません</text>'
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f"{body}</svg>"
    )
