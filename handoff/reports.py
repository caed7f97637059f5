"""Report queries for the admin dashboard: counts only, never who or what was written.

A "consultation" here is a case (a handoff to a person). Figures:
per day/week/month, per category (a household with several needs counts in
each), per channel, complex share, crisis count, time from handoff to the
first staff reply (median, p90), cases by status, and the referrals still
waiting for an agency's answer (open) and those past their deadline (overdue),
counted as of ``now`` over all cases. Exports show counts of 1 or 2
as "<3" so a small number cannot point at a person.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from .cases import STATUS_LABELS, STATUSES
from .referrals import referral_counts

SMALL = 3
CHANNEL_LABELS = {"line": "LINE", "telegram": "Telegram", "web": "Webチャット"}
GROUPS = ("day", "week", "month")


@dataclass
class Report:
    since: dt.date
    to: dt.date
    group: str
    total: int = 0
    per_period: list[tuple[str, int]] = field(default_factory=list)
    per_category: list[tuple[str, int]] = field(default_factory=list)
    per_channel: list[tuple[str, int]] = field(default_factory=list)
    per_status: list[tuple[str, int]] = field(default_factory=list)
    complex_count: int = 0
    crisis_count: int = 0
    replied: int = 0
    first_reply_median_min: float | None = None
    first_reply_p90_min: float | None = None
    referrals_open: int | None = None
    referrals_overdue: int | None = None

    @property
    def complex_share(self) -> float:
        return self.complex_count / self.total if self.total else 0.0


def _utc(day: dt.date, tz: ZoneInfo) -> str:
    return (
        dt.datetime.combine(day, dt.time(), tzinfo=tz)
        .astimezone(dt.UTC)
        .isoformat(timespec="microseconds")
    )


def _bucket(day: dt.date, group: str) -> dt.date:
    if group == "week":
        return day - dt.timedelta(days=day.weekday())
    if group == "month":
        return day.replace(day=1)
    return day


def _label(start: dt.date, group: str) -> str:
    if group == "month":
        return start.strftime("%Y-%m")
    if group == "week":
        return f"{start.isoformat()}週"
    return start.isoformat()


def _buckets(since: dt.date, to: dt.date, group: str) -> list[dt.date]:
    out: list[dt.date] = []
    day = since
    while day <= to:
        b = _bucket(day, group)
        if not out or out[-1] != b:
            out.append(b)
        day += dt.timedelta(days=1)
    return out


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile with linear interpolation (q=0.5: the median)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _cases(
    db: sqlite_utils.Database, since: dt.date, to: dt.date, tz: ZoneInfo
) -> list[dict[str, Any]]:
    return list(
        db.query(
            """
            SELECT c.id, c.channel, c.status, c.urgent, c.crisis_type, c.complex,
                   c.categories, c.opened_at,
                   (SELECT MIN(m.at) FROM case_messages m
                     WHERE m.case_id = c.id AND m.role = 'staff' AND m.at >= c.opened_at)
                   AS first_reply
            FROM cases c WHERE c.opened_at >= ? AND c.opened_at < ?
            """,
            [_utc(since, tz), _utc(to + dt.timedelta(days=1), tz)],
        )
    )


def _referrals(db: sqlite_utils.Database, now: dt.datetime) -> tuple[int | None, int | None]:
    """Referrals still waiting for an answer, and those of them past their deadline, as of
    ``now`` (all cases, whenever opened: the figure is about today's open loops)."""
    if not db["referrals"].exists():
        return None, None
    return referral_counts(db, now)


def build(
    db: sqlite_utils.Database,
    since: dt.date,
    to: dt.date,
    *,
    tz: ZoneInfo,
    group: str = "day",
    now: dt.datetime | None = None,
) -> Report:
    """Every figure for the cases opened from ``since`` to ``to`` (local dates, inclusive)."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}")
    rows = _cases(db, since, to, tz)
    report = Report(since=since, to=to, group=group, total=len(rows))
    periods: Counter[dt.date] = Counter()
    categories: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    waits: list[float] = []
    for r in rows:
        opened = dt.datetime.fromisoformat(r["opened_at"])
        periods[_bucket(opened.astimezone(tz).date(), group)] += 1
        cats = json.loads(r["categories"])
        categories.update(set(cats))
        channels[r["channel"]] += 1
        statuses[r["status"]] += 1
        if r["complex"] or len(cats) >= 2:
            report.complex_count += 1
        if r["urgent"] or r["crisis_type"]:
            report.crisis_count += 1
        if r["first_reply"]:
            first = dt.datetime.fromisoformat(r["first_reply"])
            waits.append((first - opened).total_seconds() / 60)
    report.per_period = [(_label(b, group), periods[b]) for b in _buckets(since, to, group)]
    report.per_category = sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))
    report.per_channel = sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))
    report.per_status = [(s, statuses[s]) for s in STATUSES if statuses[s]]
    report.replied = len(waits)
    report.first_reply_median_min = percentile(waits, 0.5)
    report.first_reply_p90_min = percentile(waits, 0.9)
    report.referrals_open, report.referrals_overdue = _referrals(db, now or dt.datetime.now(dt.UTC))
    return report


def summary(db: sqlite_utils.Database, since: dt.date, to: dt.date, *, tz: ZoneInfo) -> Report:
    """The dashboard's headline figures (same as ``build``)."""
    return build(db, since, to, tz=tz)


def small(n: int | None) -> str:
    """A count for an export: 1 and 2 become "<3"."""
    if n is None:
        return ""
    return "<3" if 0 < n < SMALL else str(n)


def to_csv(report: Report) -> bytes:
    """The report as one CSV (UTF-8 with BOM): section, key, value."""
    from knowledge import CATEGORIES

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["section", "key", "label", "value"])
    w.writerow(["period", "from", "", report.since.isoformat()])
    w.writerow(["period", "to", "", report.to.isoformat()])
    w.writerow(["total", "consultations", "相談件数", small(report.total)])
    for label, n in report.per_period:
        w.writerow([f"per_{report.group}", label, label, small(n)])
    for code, n in report.per_category:
        w.writerow(["per_category", code, CATEGORIES.get(code, code), small(n)])
    for ch, n in report.per_channel:
        w.writerow(["per_channel", ch, CHANNEL_LABELS.get(ch, ch), small(n)])
    for st, n in report.per_status:
        w.writerow(["per_status", st, STATUS_LABELS.get(st, st), small(n)])
    w.writerow(["complex", "count", "複合", small(report.complex_count)])
    share = f"{report.complex_share:.3f}" if report.total >= SMALL else ""
    w.writerow(["complex", "share", "複合の割合", share])
    w.writerow(["crisis", "count", "危機", small(report.crisis_count)])
    enough = report.replied >= SMALL
    for key, value in (
        ("median_minutes", report.first_reply_median_min),
        ("p90_minutes", report.first_reply_p90_min),
    ):
        shown = f"{value:.1f}" if enough and value is not None else ""
        w.writerow(["first_reply", key, "初回返信までの分", shown])
    w.writerow(["referrals", "open", "回答待ちのつなぎ", small(report.referrals_open)])
    w.writerow(["referrals", "overdue", "期限切れのつなぎ", small(report.referrals_overdue)])
    return buf.getvalue().encode("utf-8-sig")
