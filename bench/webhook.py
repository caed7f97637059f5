"""Benchmark: LINE webhook ingestion against a real ``tsunagu serve`` on loopback.

Starts the local LINE API stub and ``tsunagu serve`` (LINE on, pointed at the
stub) as separate processes, posts signed text events at fixed rates
(open loop: a slow ack does not slow the sender) and prints, per rate, the
ack latency p50/p99 after a warm-up at the same rate (its figures printed
apart: first-call costs and connection set-up), events acknowledged, events
answered (a reply or push that reached the stub) and events lost. Bounded in
count and time; loopback only. Run: ``tsunagu bench webhook [--rates 50,200,500] [--seconds 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.append(str(Path(__file__).resolve().parent))  # for _harness; after the packages
from _harness import INDEX_CACHE, free_port, open_loop, pct, wait_http  # noqa: E402

from knowledge import read_files, sample_path  # noqa: E402
from tests.stubs.events import line_text_event, line_user_id, line_webhook_request  # noqa: E402
from tests.stubs.line_api import LineStub  # noqa: E402


def _answered(stub_url: str) -> int:
    stats = httpx.get(f"{stub_url}/v2/__stub__/stats", timeout=5).json()
    return sum(
        n
        for key, n in stats["by_path_status"].items()
        if key.startswith("POST /v2/bot/message/") and key.endswith(" 200")
    )


async def _load(
    url: str, secret: str, rate: int, seconds: float, texts: list[str], warmup: float
) -> tuple[list[float], list[float], int, int]:
    """Send ``rate`` events/s for ``warmup`` then ``seconds`` seconds.

    Returns (warm-up latencies ms, measured latencies ms, acked, errors).
    The warm-up events (same rate, not in the measured figures) open the
    client's connections and take the server's first-call costs (the SDK's
    first parse, the HTTP session to the LINE API); they are reported apart.
    aiohttp rather than httpx here: httpx's pool slows down sharply with
    hundreds of requests in flight and its own queueing showed up as "ack
    latency" (seconds) while the server sat idle.
    """
    first = int(rate * warmup)
    total = first + int(rate * seconds)
    cold: list[float] = []
    latencies: list[float] = []
    slow_at: list[float] = []  # seconds into the measured run at which an ack took over 50 ms
    acked = errors = 0
    bodies = [
        line_webhook_request(
            line_text_event(texts[i % len(texts)], user_id=line_user_id(f"bench-{rate}-{i}")),
            channel_secret=secret,
        )
        for i in range(total)
    ]
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    t0 = time.perf_counter() + warmup
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(i: int) -> None:
            nonlocal acked, errors
            body, headers = bodies[i]
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    status = r.status
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                return
            took = (time.perf_counter() - started) * 1000
            if i < first:
                cold.append(took)
            else:
                latencies.append(took)
                if took > 50:
                    slow_at.append(started - t0)
            if status == 200:
                acked += 1
            else:
                errors += 1

        await open_loop(rate, total, one)
    if slow_at:
        seconds_hit = sorted({int(t) for t in slow_at})
        print(f"       acks over 50 ms: {len(slow_at)}, sent in seconds {seconds_hit}")
    return cold, latencies, acked, errors


def main() -> None:
    parser = argparse.ArgumentParser(prog="tsunagu bench webhook")
    parser.add_argument("--rates", default="50,200,500", help="events per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each rate")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds at each rate before measuring"
    )
    parser.add_argument(
        "--drain", type=float, default=300.0, help="max seconds to wait for replies"
    )
    parser.add_argument(
        "--drain-at-end",
        type=float,
        default=0.0,
        help="then wait up to this many seconds for every acked event of every rate",
    )
    parser.add_argument(
        "--data-dir", help="reuse this data dir (its index survives; default: a fresh temp dir)"
    )
    args = parser.parse_args()

    texts = [
        c.text for f in read_files(sample_path()) for s in f.services for c in s.example_concerns
    ]
    stub_port, app_port = free_port(), free_port()
    stub_url = f"http://127.0.0.1:{stub_port}"
    app_url = f"http://127.0.0.1:{app_port}"
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir or tmp
        if INDEX_CACHE.exists() and not (Path(data) / "index").exists():
            shutil.copytree(INDEX_CACHE, Path(data) / "index")
        env = {
            **os.environ,
            "TSUNAGU_DATA_DIR": data,
            "TSUNAGU_LINE_CHANNEL_SECRET": LineStub.DEFAULT_CHANNEL_SECRET,
            "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN": LineStub.DEFAULT_ACCESS_TOKEN,
            "TSUNAGU_LINE_API_BASE_URL": stub_url,
        }
        try:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.stubs.server", "--port", str(stub_port)],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_http(f"{stub_url}/v2/__stub__/stats", 30)
            log = open(Path(data) / "serve.log", "wb")  # noqa: SIM115
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bot.cli", "serve", "--port", str(app_port)],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
            started = time.perf_counter()
            wait_http(f"{app_url}/healthz", 600)
            print(
                f"tsunagu serve ready in {time.perf_counter() - started:.1f} s "
                f"(first start builds the index); {os.cpu_count()} cores"
            )
            print(
                f"{'rate/s':>6} {'sent':>6} {'acked':>6} {'ack p50':>9} {'ack p99':>9} "
                f"{'answered':>8} {'lost':>5} {'drain':>7}"
            )
            answered_at_start = _answered(stub_url)
            acked_total = 0
            for rate in (int(r) for r in args.rates.split(",") if r):
                before = _answered(stub_url)
                cold, lat, acked, errors = asyncio.run(
                    _load(
                        f"{app_url}/webhooks/line",
                        LineStub.DEFAULT_CHANNEL_SECRET,
                        rate,
                        args.seconds,
                        texts,
                        args.warmup,
                    )
                )
                if cold:
                    print(
                        f"       warm-up: {len(cold)} events in {args.warmup:g} s, ack p50 "
                        f"{pct(cold, 0.5):.1f} ms, p99 {pct(cold, 0.99):.1f} ms, "
                        f"max {max(cold):.1f} ms (not in the row below)"
                    )
                sent = len(cold) + int(rate * args.seconds)
                acked_total += acked
                print(
                    f"{rate:>6} {sent:>6} {acked:>6} "
                    f"{pct(lat, 0.5):>7.1f}ms {pct(lat, 0.99):>7.1f}ms   (draining…)",
                    flush=True,
                )
                t0 = time.perf_counter()
                answered = _answered(stub_url) - before
                while answered < acked and time.perf_counter() - t0 < args.drain:
                    time.sleep(1)
                    answered = _answered(stub_url) - before
                drain = time.perf_counter() - t0
                print(
                    f"{rate:>6} {sent:>6} {acked:>6} "
                    f"{pct(lat, 0.5):>7.1f}ms {pct(lat, 0.99):>7.1f}ms "
                    f"{answered:>8} {acked - answered:>5} {drain:>6.1f}s"
                    + (f"  ({errors} refused/failed)" if errors else "")
                )
            if args.drain_at_end:
                # a short --drain per rate leaves a backlog: wait for every answer here
                t0 = time.perf_counter()
                answered = _answered(stub_url) - answered_at_start
                while answered < acked_total and time.perf_counter() - t0 < args.drain_at_end:
                    time.sleep(5)
                    answered = _answered(stub_url) - answered_at_start
                print(
                    f"all rates: {acked_total} acked, {answered} answered, "
                    f"{acked_total - answered} not answered, after {time.perf_counter() - t0:.0f} s"
                    " more"
                )
        finally:
            for p in reversed(procs):
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    main()
