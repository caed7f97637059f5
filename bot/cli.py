"""The ``tsunagu`` command. Errors from the packages are translated here, at the edge."""

from __future__ import annotations

import json
import logging
import runpy
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from knowledge import KnowledgeStore, LoadError, export_path, load_path, open_database
from triage import Assessment, TriageError

from .runtime import Runtime, open_runtime
from .settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="tsunagu (つなぐ): the chat front door of the 重層的支援体制整備事業.",
    no_args_is_help=True,
    add_completion=False,
    # a traceback with locals could print what a resident wrote
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)
kb_app = typer.Typer(help="Load and export the knowledge base.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")

log = logging.getLogger("tsunagu")


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc))


def setup_logging(level: int = logging.INFO) -> None:
    """Log ids, counts and timings to stderr; never what a resident wrote."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _format(a: Assessment) -> str:
    lines = [f"language: {a.language}"]
    if a.crisis:
        lines.append(f"CRISIS: {a.crisis.type}  ({', '.join(a.crisis.phrases)})")
    elif a.risk_concern:
        lines.append("risk: alarming words without immediate danger; assess risk early")
    lines.append(f"complex: {'yes' if a.complex else 'no'}" + ("  (vague)" if a.vague else ""))
    lines.append("categories:")
    for c in a.categories:
        lines.append(f"  {c.code} ({c.label}) score={c.score:.2f}")
        for e in c.evidence:
            lines.append(f"    - 「{e.sentence}」 ← {e.source}: {e.matched}")
    lines.append("services:")
    for s in a.services:
        lines.append(f"  {s.name} [{s.organization}] {s.phone or ''} {s.hours}")
        lines.append(f"    {s.reason}")
    return "\n".join(lines)


@app.command()
def triage(
    text: Annotated[str, typer.Argument(help="the message to assess")],
    as_json: Annotated[bool, typer.Option("--json", help="print the Assessment as JSON")] = False,
) -> None:
    """Assess one message: categories with evidence, crisis, complex, services."""
    setup_logging(logging.WARNING)
    rt = _open()
    a = rt.triage.assess(text)
    if as_json:
        typer.echo(a.model_dump_json(indent=2))
    else:
        typer.echo(_format(a))


@app.command()
def chat() -> None:
    """Type concerns in the terminal and see how triage reads them (Ctrl-D to leave)."""
    setup_logging(logging.WARNING)
    rt = _open()
    typer.echo("tsunagu chat — 困りごとを入力してください（終了は Ctrl-D）")
    while True:
        try:
            text = input("> ")
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            return
        if text.strip():
            typer.echo(_format(rt.triage.assess(text)))


@app.command("eval")
def eval_(
    file: Annotated[Path, typer.Argument(help="a JSONL file in the schema of shared/eval")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    details: Annotated[bool, typer.Option("--details", help="per-record predictions")] = False,
) -> None:
    """Score triage on a labelled set with the same assess the bot uses."""
    from triage.evaluate import evaluate, read_examples

    setup_logging(logging.WARNING)
    try:
        examples = read_examples(file)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    rt = _open()
    result = evaluate(rt.triage, examples, details=details)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            if key != "details":
                typer.echo(f"{key}: {value}")
        for row in result.get("details", []):
            typer.echo(json.dumps(row, ensure_ascii=False))


@kb_app.command("load")
def kb_load(path: Annotated[Path, typer.Argument(help="a YAML file or a folder of them")]) -> None:
    """Load YAML into the KB (idempotent; a bad file changes nothing)."""
    setup_logging()
    settings = _settings()
    store = KnowledgeStore(open_database(settings.db_path))
    try:
        report = load_path(store, path)
    except LoadError as exc:
        _fail("nothing was loaded:\n  " + "\n  ".join(str(p) for p in exc.problems))
    typer.echo(
        f"added {len(report.added)}, changed {len(report.changed)}, "
        f"unchanged {len(report.unchanged)} services"
    )


@kb_app.command("export")
def kb_export(
    path: Annotated[Path, typer.Argument(help="a folder to write YAML files into")],
) -> None:
    """Export the KB as one YAML file per organization."""
    settings = _settings()
    store = KnowledgeStore(open_database(settings.db_path))
    written = export_path(store, path)
    typer.echo(f"wrote {len(written)} files to {path}")


@app.command()
def bench(
    name: Annotated[str, typer.Argument(help="which benchmark in bench/ (e.g. triage)")],
    args: Annotated[list[str] | None, typer.Argument(help="passed to the benchmark")] = None,
) -> None:
    """Run a benchmark from the repository's bench/ folder; it prints its figures."""
    script = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    if not script.exists():
        available = sorted(p.stem for p in script.parent.glob("*.py") if not p.stem.startswith("_"))
        _fail(f"no benchmark {name!r}; available: {', '.join(available) or 'none'}")
    sys.argv = [str(script), *(args or [])]
    runpy.run_path(str(script), run_name="__main__")


def _open() -> Runtime:
    settings = _settings()
    try:
        return open_runtime(settings)
    except TriageError as exc:
        _fail(str(exc))
    except LoadError as exc:
        _fail(
            "the sample knowledge base did not load:\n  "
            + "\n  ".join(str(p) for p in exc.problems)
        )


def main() -> None:
    """Console-script entry point."""
    app()


@app.command("telegram-poll")
def telegram_poll(
    delete_webhook: Annotated[
        bool, typer.Option("--delete-webhook", help="remove a webhook set for this bot first")
    ] = False,
    timeout: Annotated[float, typer.Option(help="long-poll seconds per getUpdates")] = 25.0,
) -> None:
    """Try Telegram without a public URL: poll getUpdates, answer through the same intake."""
    import asyncio

    from .app import create_app
    from .telegram import PollingError, run_polling

    setup_logging()
    settings = _settings()
    if not settings.telegram_enabled:
        _fail("Telegram is off: set TSUNAGU_TELEGRAM_BOT_TOKEN and TSUNAGU_TELEGRAM_WEBHOOK_SECRET")
    try:
        fastapi_app = create_app(settings)
    except TriageError as exc:
        _fail(str(exc))
    typer.echo(f"polling {settings.telegram_api_base_url} for Telegram updates (Ctrl-C to stop)")
    try:
        accepted = asyncio.run(
            run_polling(fastapi_app, poll_timeout=timeout, delete_webhook=delete_webhook)
        )
    except PollingError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("stopped")
        return
    typer.echo(f"stopped after {accepted} updates")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Run the front door: LINE/Telegram webhooks, the web chat and /healthz, in one process."""
    import uvicorn

    from .app import channel_status, create_app

    setup_logging()
    settings = _settings()
    try:
        fastapi_app = create_app(settings)
    except TriageError as exc:
        _fail(str(exc))
    except LoadError as exc:
        problems = "\n  ".join(str(p) for p in exc.problems)
        _fail(f"the sample knowledge base did not load:\n  {problems}")
    channels = fastapi_app.state.front_door.channels or channel_status(settings)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    typer.echo(f"web chat:          {base}/chat")
    typer.echo(f"health:            {base}/healthz")
    for name, path in (("line", "/webhooks/line"), ("telegram", "/webhooks/telegram")):
        state = "on" if channels.get(name) else "off (no credentials)"
        typer.echo(f"{name + ' webhook:':<18} {base}{path}  [{state}]")
    # no access log: our own log lines say what happened, by id, never by content
    uvicorn.run(fastapi_app, host=host, port=port, log_level="info", access_log=False)
