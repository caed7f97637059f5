"""Triage in a child process: same answers, KB edits reach it, a dead child is replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge import ExampleConcern, KnowledgeStore
from triage import Triage, TriageProcess, TriageUnavailable, open_triage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def process(small_store: KnowledgeStore, tmp_path: Path) -> Iterator[TriageProcess]:
    proc = TriageProcess(tmp_path / "kb.db", "e5-small", tmp_path / "index", nice=0)
    proc.start()
    proc.wait_ready()
    yield proc
    proc.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_answers_like_the_engine_in_process(
    process: TriageProcess, small_store: KnowledgeStore, tmp_path: Path
) -> None:
    local: Triage = open_triage(small_store, "e5-small", tmp_path / "index")
    text = "母の物忘れがひどくて、家賃も払えない"
    remote, here = process.assess(text), local.assess(text)
    assert process.pid is not None and process.pid != os.getpid()
    assert remote.codes == here.codes and remote.codes
    assert [s.service_id for s in remote.services] == [s.service_id for s in here.services]


def test_sees_a_kb_edit_without_restart(
    process: TriageProcess, small_store: KnowledgeStore
) -> None:
    before = process.assess("水道が止まりそう").kb_version
    service = small_store.service("svc-money")
    concerns = [*service.example_concerns, ExampleConcern(text="水道料金を滞納している")]
    small_store.upsert_service(service.model_copy(update={"example_concerns": concerns}))
    assert process.refresh() is True  # re-synced now
    assert process.refresh() is False  # and nothing more to do
    after = process.assess("水道が止まりそう")
    assert after.kb_version > before


def test_a_dead_child_is_replaced(process: TriageProcess) -> None:
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    with pytest.raises(TriageUnavailable):
        process.assess("家賃が払えない")
    result = process.assess("家賃が払えない")  # a new child answers
    assert result.primary == "poverty"


def test_the_child_dies_with_its_parent(small_store: KnowledgeStore, tmp_path: Path) -> None:
    """A SIGKILLed server must not leave a triage process behind."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from triage import TriageProcess\n"
        "p = TriageProcess(Path(sys.argv[1]), 'e5-small', Path(sys.argv[2]), nice=0)\n"
        "p.wait_ready()\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "kb.db"), str(tmp_path / "index")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)
