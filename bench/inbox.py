"""Benchmark: the staff queue page with 10,000 open cases and 200,000 messages.

Seeds a fresh data dir through ``handoff``'s own API (cases) and one
transaction of messages, starts ``tsunagu serve``, logs in as a staff member
over HTTP and times the queue page, its live-update fragment, a filtered
queue and a case page. Prints p50/p95 per page. Loopback only.
Run: ``tsunagu bench inbox [--cases 10000] [--messages 200000] [--requests 200]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.append(str(Path(__file__).resolve().parent))  # for _harness; after the packages
from _harness import pct, sample_texts, serve

import handoff
from bot import migrations as bot_migrations
from bot.runtime import open_store
from bot.settings import Settings
from handoff.staff import add_staff
from knowledge import CATEGORIES
from triage import Assessment, CategoryFinding

PASSWORD = "bench-password-1234"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _seed(data_dir: Path, cases: int, messages: int) -> None:
    settings = Settings(data_dir=data_dir)
    db = open_store(settings).db
    bot_migrations.migrate(db)
    handoff.migrate(db)
    add_staff(db, "bench", PASSWORD, role="admin", now=dt.datetime.now(dt.UTC))
    rng = random.Random(7)
    codes = list(CATEGORIES)
    texts = sample_texts()
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    with db.atomic():
        for i in range(cases):
            picked = rng.sample(codes, rng.choice([1, 1, 2, 3]))
            assessment = Assessment(
                text=rng.choice(texts),
                language="ja",
                categories=[
                    CategoryFinding(code=c, label=CATEGORIES[c], score=0.5) for c in picked
                ],
                complex=len(picked) > 1,
            )
            handoff.open_case(
                db,
                resident_ref=f"line:U{i:032x}",
                channel="line",
                assessment=assessment,
                consent=handoff.Consent(share_with_staff=True),
                urgent=rng.random() < 0.02,
                transcript=[],
                language="ja",
                at=now - dt.timedelta(minutes=rng.randrange(60 * 24 * 30)),
            )
        per_case = messages // cases
        rows = (
            (case_id, "resident" if j % 2 == 0 else "bot", rng.choice(texts), now.isoformat())
            for case_id in range(1, cases + 1)
            for j in range(per_case)
        )
        db.conn.executemany(
            "INSERT INTO case_messages (case_id, role, text, at) VALUES (?, ?, ?, ?)", rows
        )
    db.execute("ANALYZE")
    n_cases = db.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    n_msgs = db.execute("SELECT COUNT(*) FROM case_messages").fetchone()[0]
    print(
        f"seeded {n_cases} open cases and {n_msgs} messages in "
        f"{time.perf_counter() - started:.1f} s"
    )
    db.conn.close()


def _login(client: httpx.Client) -> None:
    page = client.get("/inbox/login")
    token = CSRF.search(page.text)
    assert token is not None, "login form without a CSRF token"
    r = client.post(
        "/inbox/login",
        data={"name": "bench", "password": PASSWORD, "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, f"login failed: HTTP {r.status_code}"


def _time(client: httpx.Client, path: str, n: int) -> tuple[float, float, int]:
    times = []
    size = 0
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, f"{path}: HTTP {r.status_code}"
        size = len(r.content)
    return pct(times, 0.5), pct(times, 0.95), size


def main() -> None:
    parser = argparse.ArgumentParser(prog="tsunagu bench inbox")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        _seed(data, args.cases, args.messages)
        with serve(data) as served, httpx.Client(base_url=served.url, timeout=30) as client:
            _login(client)
            pages = {
                "queue": "/inbox",
                "queue rows (live update)": "/inbox/queue",
                "queue, one category": "/inbox?category=poverty",
                "case page": f"/inbox/cases/{args.cases // 2}",
            }
            print(f"{'page':<26} {'p50':>8} {'p95':>8} {'bytes':>9}")
            for name, path in pages.items():
                client.get(path)  # warm
                p50, p95, size = _time(client, path, args.requests)
                print(f"{name:<26} {p50:>6.1f}ms {p95:>6.1f}ms {size:>9}")


if __name__ == "__main__":
    main()
