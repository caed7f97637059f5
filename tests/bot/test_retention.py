"""``tsunagu purge``: past the retention period, closed cases lose the residents' words and the
bot's copies (events, outbox, transcripts, web chat lines) go, while open cases, pending
work and every report figure stay exactly as they were. One transaction, one audit event.

Every piece of text that should go carries OLD, everything that should stay carries KEEP;
the whole database (every text column of every table) is searched for both afterwards."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils

import handoff
from bot.retention import purge
from handoff import reports
from handoff.retention import PURGED
from tests.bot.hardening import assessment
from triage.assessment import ServiceMatch

JST = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
OLD = "OLD-9f3c1e"  # text that must be gone after the purge
KEEP = "KEEP-7a2b4d"  # text that must survive it


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _case(
    db: sqlite_utils.Database, ref: str, mark: str, opened: dt.datetime, *codes: str
) -> handoff.Case:
    a = assessment(f"{mark} 母の介護がつらい", *codes)
    a = a.model_copy(
        update={
            "services": [
                ServiceMatch(
                    service_id="svc",
                    name="窓口",
                    organization="市",
                    categories=list(codes),
                    score=0.8,
                    reason=f"「{mark} 母の介護がつらい」という相談は…",
                )
            ]
        }
    )
    case = handoff.open_case(
        db,
        resident_ref=ref,
        channel=ref.split(":")[0],
        assessment=a,
        consent=handoff.Consent(share_with_staff=True),
        urgent=False,
        transcript=[handoff.TranscriptEntry(role="resident", text=f"{mark} 相談です", at=opened)],
        language="ja",
        at=opened,
    )
    handoff.append_message(
        db, case.id, "bot", f"{mark} 受け止めました", at=opened + dt.timedelta(minutes=1)
    )
    handoff.append_message(
        db, case.id, "staff", f"{mark} 担当です", at=opened + dt.timedelta(minutes=12)
    )
    handoff.add_note(
        db, case.id, f"{mark} 内部メモ", author="sato", at=opened + dt.timedelta(minutes=13)
    )
    # what staff write about the household elsewhere (seeded as rows: the casework API's own
    # rules, consent and deadlines, are tested with it)
    at = _stamp(opened + dt.timedelta(days=1))
    db.execute(
        "UPDATE cases SET labels = ? WHERE id = ?", [json.dumps([f"{mark} 見守り"]), case.id]
    )
    db.execute(
        "INSERT INTO follow_ups (case_id, due_at, message, status, created_by, created_at)"
        " VALUES (?, ?, ?, 'sent', 'sato', ?)",
        [case.id, at, f"{mark} お元気ですか", at],
    )
    db.execute(
        "INSERT INTO referrals (case_id, service_id, service_name, status, reason, due_at,"
        " created_by, created_at, updated_at) VALUES (?, 'svc', '窓口', 'declined', ?, ?,"
        " 'sato', ?, ?)",
        [case.id, f"{mark} 定員のため", at, at, at],
    )
    db.execute(
        "INSERT INTO support_plans (case_id, goals, agencies, updated_by, updated_at)"
        " VALUES (?, ?, '[\"org\"]', 'sato', ?)",
        [case.id, json.dumps([f"{mark} 目標"]), at],
    )
    return case


def _close(db: sqlite_utils.Database, case: handoff.Case, at: dt.datetime) -> None:
    handoff.claim(db, case.id, actor="sato", at=at - dt.timedelta(minutes=1))
    handoff.change_status(db, case.id, "closed", actor="sato", reason="支援につながった", at=at)


def _conversation(
    db: sqlite_utils.Database,
    ref: str,
    updated: dt.datetime,
    lines: list[tuple[str, dt.datetime]],
    start_after: int = 0,
) -> None:
    ids = []
    for text, at in lines:
        cur = db.execute(
            "INSERT INTO conversation_messages (resident_ref, role, text, at)"
            " VALUES (?, 'resident', ?, ?)",
            [ref, text, _stamp(at)],
        )
        ids.append(cur.lastrowid)
    start = ids[start_after - 1] if start_after else 0
    db.execute(
        "INSERT INTO conversations (resident_ref, channel, state, assessment, consultation_start,"
        " created_at, updated_at) VALUES (?, ?, 'listening', ?, ?, ?, ?)",
        [
            ref,
            ref.split(":")[0],
            assessment(lines[-1][0]).model_dump_json(),
            start,
            _stamp(updated),
            _stamp(updated),
        ],
    )


def _event(
    db: sqlite_utils.Database, ref: str, text: str, at: dt.datetime, status: str, n: list[int]
) -> None:
    n[0] += 1
    db.execute(
        "INSERT INTO inbound_events (channel, channel_event_id, resident_ref, kind, text,"
        " received_at, status) VALUES (?, ?, ?, 'text', ?, ?, ?)",
        [ref.split(":")[0], f"ev-{n[0]}", ref, text, _stamp(at), status],
    )


def _outbox(
    db: sqlite_utils.Database, ref: str, text: str, at: dt.datetime, status: str, n: list[int]
) -> None:
    n[0] += 1
    db.execute(
        "INSERT INTO outbox (resident_ref, channel, payload, retry_key, status,"
        " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            ref,
            ref.split(":")[0],
            json.dumps([{"text": text, "choices": []}]),
            f"rk-{n[0]}",
            status,
            at.timestamp(),
            at.timestamp(),
        ],
    )


def _webchat(db: sqlite_utils.Database, session: str, text: str, at: dt.datetime) -> None:
    db.execute(
        "INSERT INTO webchat_messages (session, role, text, at) VALUES (?, 'resident', ?, ?)",
        [session, text, at.timestamp()],
    )


WEB_OLD = "web:" + "a" * 32
WEB_OPEN = "web:" + "b" * 32


@pytest.fixture
def seeded(db: sqlite_utils.Database) -> sqlite_utils.Database:
    """Two years of a small city's data, each piece marked OLD (must go) or KEEP."""
    n = [0]
    with db.atomic():
        old_closed = _case(db, "line:Uold", OLD, ago(500), "elderly_care", "poverty")
        _close(db, old_closed, ago(400))
        recent_closed = _case(db, "telegram:77", KEEP, ago(500), "poverty")
        _close(db, recent_closed, ago(100))  # opened long ago, but closed inside the period
        _case(db, WEB_OPEN, KEEP, ago(600), "housing")  # still open after 600 days
        # the bot's own copies
        _conversation(db, "line:Uold", ago(400), [(f"{OLD} 相談です", ago(500))])
        _conversation(db, "line:Uidle", ago(380), [(f"{OLD} ひとこと", ago(390))])
        _conversation(db, WEB_OPEN, ago(1), [(f"{KEEP} 古い行", ago(600))])
        _conversation(
            db,
            "line:Uback",
            ago(1),
            [(f"{OLD} 前の相談", ago(700)), (f"{KEEP} 今の相談", ago(1))],
            start_after=1,
        )
        _event(db, "line:Uold", f"{OLD} 相談です", ago(500), "done", n)
        _event(db, "line:Uidle", f"{OLD} 失敗", ago(390), "failed", n)
        _event(db, "line:Upending", f"{KEEP} まだ", ago(400), "pending", n)
        _event(db, "line:Uback", f"{KEEP} 今の相談", ago(1), "done", n)
        _outbox(db, "line:Uold", f"{OLD} 返信", ago(500), "sent", n)
        _outbox(db, "line:Uidle", f"{OLD} 諦めた", ago(390), "failed", n)
        _outbox(db, "line:Upending", f"{KEEP} 送信待ち", ago(400), "pending", n)
        _outbox(db, "line:Uback", f"{KEEP} 返信", ago(1), "sent", n)
        _webchat(db, WEB_OLD, f"{OLD} 昔の行", ago(400))
        _webchat(db, WEB_OPEN, f"{KEEP} 相談中の行", ago(400))
        _webchat(db, WEB_OLD, f"{KEEP} 最近の行", ago(2))
    return db


def occurrences(db_path: Path, mark: str) -> dict[str, int]:
    """How many rows of each table hold ``mark`` in any column."""
    conn = sqlite3.connect(db_path)
    try:
        out: dict[str, int] = {}
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            where = " OR ".join(f'instr(CAST("{c}" AS TEXT), ?) > 0' for c in cols)
            count = conn.execute(
                f'SELECT COUNT(*) FROM "{table}" WHERE {where}', [mark] * len(cols)
            ).fetchone()[0]
            if count:
                out[table] = count
        return out
    finally:
        conn.close()


def _report(db: sqlite_utils.Database) -> reports.Report:
    today = NOW.astimezone(JST).date()
    return reports.build(db, today - dt.timedelta(days=800), today, tz=JST, group="month", now=NOW)


def test_purge_removes_exactly_what_is_past_the_period(seeded: sqlite_utils.Database) -> None:
    db = seeded
    db_path = Path(db.conn.execute("PRAGMA database_list").fetchone()[2])
    kept_before = occurrences(db_path, KEEP)
    figures = _report(db)
    assert occurrences(db_path, OLD)

    report = purge(db, older_than_days=365, now=NOW, actor="cli")

    assert report.counts() == {
        "cases": 1,
        "case_messages": 3,
        "case_notes": 1,
        "follow_ups": 1,
        "referral_reasons": 1,
        "support_plans": 1,
        "inbound_events": 2,
        "outbox_rows": 2,
        "conversations": 2,
        "conversation_messages": 3,
        "webchat_messages": 1,
    }
    assert occurrences(db_path, OLD) == {}
    assert occurrences(db_path, KEEP) == kept_before
    assert _report(db) == figures  # every figure, to the minute of the first replies
    # what is left of the old case: the anonymous facts, no words
    old = next(c for c in handoff.queue(db, include_closed=True) if c.channel == "line")
    assert old.resident_ref == f"line:{PURGED}" and old.status == "closed"
    assert old.outcome == "支援につながった" and old.categories == ["elderly_care", "poverty"]
    assert [c.code for c in old.assessment.categories] == ["elderly_care", "poverty"]
    assert old.assessment.text == "" and not old.assessment.categories[0].evidence
    assert [s.reason for s in old.assessment.services] == [""]
    assert [(m.role, m.text) for m in handoff.transcript(db, old.id)] == [
        ("resident", ""),
        ("bot", ""),
        ("staff", ""),
    ]
    assert [n.text for n in handoff.notes(db, old.id)] == [""]
    assert old.labels == []
    assert (
        db.execute("SELECT message FROM follow_ups WHERE case_id = ?", [old.id]).fetchone()[0] == ""
    )
    assert db.execute(
        "SELECT status, reason FROM referrals WHERE case_id = ?", [old.id]
    ).fetchone() == ("declined", None)
    assert db.execute(
        "SELECT goals, agencies FROM support_plans WHERE case_id = ?", [old.id]
    ).fetchone() == ("[]", '["org"]')
    # the audit trail of the case is whole, and the purge itself is in the log
    assert [e.action for e in handoff.audit_trail(db, old.id)][:1] == ["opened"]
    event = db.execute("SELECT actor, detail FROM audit_events WHERE action = 'purge'").fetchall()
    assert len(event) == 1 and event[0][0] == "cli"
    assert json.loads(event[0][1])["cases"] == 1
    assert json.loads(event[0][1])["older_than_days"] == 365
    # what is still pending is untouched
    assert db.execute("SELECT COUNT(*) FROM inbound_events WHERE status = 'pending'").fetchone()[0]
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
    # a second purge finds nothing more
    again = purge(db, older_than_days=365, now=NOW)
    assert set(again.counts().values()) == {0}


def test_a_dry_run_counts_and_changes_nothing(seeded: sqlite_utils.Database) -> None:
    db_path = Path(seeded.conn.execute("PRAGMA database_list").fetchone()[2])
    old_before = occurrences(db_path, OLD)
    report = purge(seeded, older_than_days=365, now=NOW, dry_run=True)
    assert report.counts()["cases"] == 1 and report.counts()["outbox_rows"] == 2
    assert occurrences(db_path, OLD) == old_before
    assert (
        seeded.execute("SELECT COUNT(*) FROM audit_events WHERE action = 'purge'").fetchone()[0]
        == 0
    )


def test_the_purge_is_one_transaction(seeded: sqlite_utils.Database) -> None:
    """A failure at the last step (here: the outbox refuses deletes) undoes all of it."""
    db_path = Path(seeded.conn.execute("PRAGMA database_list").fetchone()[2])
    before = occurrences(db_path, OLD)
    seeded.execute(
        "CREATE TRIGGER test_outbox_stuck BEFORE DELETE ON outbox"
        " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk trouble"):
        purge(seeded, older_than_days=365, now=NOW)
    assert occurrences(db_path, OLD) == before
    assert "purged" not in {
        c.resident_ref.split(":")[1] for c in handoff.queue(seeded, include_closed=True)
    }


def test_a_longer_period_keeps_more(seeded: sqlite_utils.Database) -> None:
    report = purge(seeded, older_than_days=450, now=NOW)
    assert report.counts()["cases"] == 0  # closed 400 days ago: inside 450
    assert report.counts()["conversation_messages"] == 1  # only the 700-day-old line


def test_the_command_uses_the_setting_and_prints_the_counts(
    seeded: sqlite_utils.Database, tmp_path: Path
) -> None:
    db_path = Path(seeded.conn.execute("PRAGMA database_list").fetchone()[2])
    seeded.conn.close()
    env = {
        "TSUNAGU_DATA_DIR": str(db_path.parent),
        "TSUNAGU_RETENTION_DAYS": "365",
        "PATH": "/usr/bin:/bin",
    }
    dry = subprocess.run(
        [sys.executable, "-m", "bot.cli", "purge", "--dry-run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0, dry.stderr
    assert "would remove what is older than 365 days" in dry.stdout
    assert "  cases: 1" in dry.stdout
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "purge", "--older-than", "365"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "removed" in done.stdout and "  outbox_rows: 2" in done.stdout
    assert occurrences(db_path, OLD) == {}
    bad = subprocess.run(
        [sys.executable, "-m", "bot.cli", "purge", "--older-than", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
