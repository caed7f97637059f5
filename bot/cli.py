"""The ``tsunagu`` command. Errors from the packages are translated here, at the edge."""

from __future__ import annotations

import json
import logging
import runpy
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import sqlite_utils
import typer

from knowledge import KnowledgeStore, LoadError, export_path, open_database
from triage import Assessment, TriageError

from .runtime import Runtime, open_runtime
from .settings import Settings, SettingsError, load_settings
from .storage import StorageError

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


#: libraries that log what they send and receive at DEBUG (python-telegram-bot logs every
#: sendMessage with its text, and a reply can quote the resident) or put a secret in a URL
#: at INFO (httpx: the Telegram token is part of the path): never below these levels
QUIET_LIBRARIES: dict[str, int] = {
    "telegram": logging.INFO,
    "linebot": logging.INFO,
    "aiohttp": logging.INFO,
    "httpcore": logging.INFO,
    "multipart": logging.INFO,
    "python_multipart": logging.INFO,
    "httpx": logging.WARNING,
}


def setup_logging(level: int | str = logging.INFO) -> None:
    """Log ids, counts and timings to stderr; never what a resident wrote.

    Even at DEBUG, the libraries in ``QUIET_LIBRARIES`` stay at their floor.
    """
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    floor = logging.getLogger().getEffectiveLevel()
    for name, quietest in QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(floor, quietest))


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


KbFormat = Annotated[
    str | None,
    typer.Option("--format", help="csv (a folder of the four sheets) or yaml; default: guessed"),
]


def _kb_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        folder = path if path.is_dir() else path.parent
        has_csv = path.suffix.lower() == ".csv" or (folder / "services.csv").exists()
        return "csv" if has_csv else "yaml"
    if fmt not in ("csv", "yaml"):
        _fail(f"--format must be csv or yaml, not {fmt!r}")
    return fmt


@kb_app.command("load")
def kb_load(
    path: Annotated[Path, typer.Argument(help="a YAML file, a folder of them, or of CSV sheets")],
    fmt: KbFormat = None,
    retire_missing: Annotated[
        bool, typer.Option("--retire-missing", help="retire active services the files omit")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would change; write nothing")
    ] = False,
) -> None:
    """Load YAML or CSV into the KB (idempotent; a bad file changes nothing)."""
    from knowledge.csvio import preview, read_csv_path
    from knowledge.files import read_files

    setup_logging()
    settings = _settings()
    store = KnowledgeStore(open_database(settings.db_path))
    try:
        files = (
            read_csv_path(path, store).files
            if _kb_format(path, fmt) == "csv"
            else read_files(path, store)
        )
    except LoadError as exc:
        _fail("nothing was loaded:\n  " + "\n  ".join(str(p) for p in exc.problems))
    if dry_run:
        diff = preview(store, files, retire_missing=retire_missing)
        typer.echo(f"would add {len(diff.added)}: {' '.join(diff.added)}")
        typer.echo(f"would change {len(diff.changed)}:")
        for change in diff.changed:
            typer.echo(f"  {change.id}: {', '.join(change.fields)}")
        typer.echo(f"would retire {len(diff.retired)}: {' '.join(diff.retired)}")
        return
    report = store.apply(files, retire_missing=retire_missing)
    typer.echo(
        f"added {len(report.added)}, changed {len(report.changed)}, "
        f"unchanged {len(report.unchanged)}, retired {len(report.retired)} services"
    )


kb_app.command("import", help="Same as load: import YAML or CSV (see load --help).")(kb_load)


@kb_app.command("export")
def kb_export(
    path: Annotated[Path, typer.Argument(help="a folder to write YAML files or CSV sheets into")],
    fmt: Annotated[str, typer.Option("--format", help="yaml or csv")] = "yaml",
) -> None:
    """Export the KB: one YAML file per organization, or the four CSV sheets."""
    from knowledge.csvio import export_csv_path

    settings = _settings()
    store = KnowledgeStore(open_database(settings.db_path))
    if fmt not in ("csv", "yaml"):
        _fail(f"--format must be csv or yaml, not {fmt!r}")
    written = export_csv_path(store, path) if fmt == "csv" else export_path(store, path)
    typer.echo(f"wrote {len(written)} files to {path}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="which benchmark in bench/ (e.g. triage)")],
) -> None:
    """Run a benchmark from the repository's bench/ folder; it prints its figures.

    Options after the name go to the benchmark (``tsunagu bench triage --help``).
    """
    script = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    if not script.exists():
        available = sorted(p.stem for p in script.parent.glob("*.py") if not p.stem.startswith("_"))
        _fail(f"no benchmark {name!r}; available: {', '.join(available) or 'none'}")
    sys.argv = [str(script), *ctx.args]
    runpy.run_path(str(script), run_name="__main__")


def _open() -> Runtime:
    settings = _settings()
    try:
        return open_runtime(settings)
    except (TriageError, StorageError) as exc:
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

    settings = _settings()
    setup_logging(settings.log_level)
    if not settings.telegram_enabled:
        _fail("Telegram is off: set TSUNAGU_TELEGRAM_BOT_TOKEN and TSUNAGU_TELEGRAM_WEBHOOK_SECRET")
    try:
        fastapi_app = create_app(settings)
    except (TriageError, StorageError) as exc:
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

    settings = _settings()
    setup_logging(settings.log_level)
    log.debug(
        "settings: data dir %s, body limit %d bytes (import %d), behind proxy %s,"
        " retention %d days, channels %s (secrets not shown)",
        settings.data_dir,
        settings.max_body_bytes,
        settings.max_import_bytes,
        settings.behind_proxy,
        settings.retention_days,
        channel_status(settings),
    )
    try:
        fastapi_app = create_app(settings, freeze_gc=True)
    except (TriageError, StorageError) as exc:
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
    # no access log: our own log lines say what happened, by id, never by content (and a
    # URL can carry a search term). Proxy headers are honoured by the app itself, and only
    # when TSUNAGU_BEHIND_PROXY says so (bot.security).
    uvicorn.run(
        fastapi_app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
    )


staff_app = typer.Typer(help="Staff accounts of the inbox.", no_args_is_help=True)
app.add_typer(staff_app, name="staff")


def _read_password() -> str:
    """From a prompt (asked twice) or, when stdin is not a terminal, its first line."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        _fail("the two passwords differ")
    return first


@staff_app.command("add")
def staff_add(
    name: Annotated[str, typer.Argument(help="the login name")],
    role: Annotated[str, typer.Option(help="staff or admin")] = "staff",
) -> None:
    """Add a staff account; the password is read from a prompt or stdin, never an argument."""
    import datetime as dt

    from handoff.staff import ROLES, StaffError, add_staff

    if role not in ROLES:
        _fail(f"--role must be one of {', '.join(ROLES)}")
    settings = _settings()
    db = _open_db(settings)
    password = _read_password()
    try:
        member = add_staff(db, name, password, role=role, now=dt.datetime.now(dt.UTC))
    except StaffError as exc:
        _fail(str(exc))
    typer.echo(f"added {member.role} {member.name!r}; log in at /inbox")


@app.command()
def purge(
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            min=1,
            metavar="DAYS",
            help="retention period in days (default: TSUNAGU_RETENTION_DAYS)",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would go; change nothing")
    ] = False,
) -> None:
    """Remove closed cases' words and old channel copies past the retention period.

    Keeps the anonymous figures the reports count; one transaction; audited.
    """
    import datetime as dt

    from .retention import purge as run_purge

    settings = _settings()
    setup_logging(settings.log_level)
    days = older_than if older_than is not None else settings.retention_days
    db = _open_db(settings)
    report = run_purge(db, older_than_days=days, now=dt.datetime.now(dt.UTC), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    cutoff = report.cutoff.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    typer.echo(f"{verb} what is older than {days} days (before {cutoff}):")
    for name, n in report.counts().items():
        typer.echo(f"  {name}: {n}")


def _open_db(settings: Settings) -> sqlite_utils.Database:
    """The database with every migration applied; a storage problem is a clear error."""
    import handoff

    from . import migrations as bot_migrations
    from .runtime import open_store

    try:
        db = open_store(settings).db
        bot_migrations.migrate(db)
        handoff.migrate(db)
    except StorageError as exc:
        _fail(str(exc))
    return db


audit_app = typer.Typer(help="The audit log (append-only).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("export")
def audit_export(
    since: Annotated[
        str | None, typer.Option(help="from this local date (2025-06-01) or ISO time")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="up to and including this local date, or before an ISO time")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """Export the audit events of a period for an auditor (CSV with BOM, or JSON Lines)."""
    import datetime as dt

    import handoff
    from handoff import auditlog

    settings = _settings()
    db = _open_db(settings)
    try:
        start = auditlog.parse_bound(since, settings.tz, end=False)
        end = auditlog.parse_bound(until, settings.tz, end=True)
        chunks = auditlog.export(db, fmt, start, end)
    except auditlog.AuditExportError as exc:
        _fail(str(exc))
    with db.atomic():
        handoff.audit(
            db,
            None,
            actor="cli",
            action="audit_exported",
            from_value=None,
            to_value=None,
            detail={"since": since, "until": until, "format": fmt},
            at=dt.datetime.now(dt.UTC),
        )
    if output is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    with output.open("w", encoding="utf-8", newline="") as f:
        for chunk in chunks:
            f.write(chunk)
    typer.echo(f"wrote the audit log to {output}", err=True)


if __name__ == "__main__":
    main()
