"""Benchmark: memory (RSS) of ``tsunagu serve`` over an hour's worth of traffic.

An hour of a busy front door, compressed: ``--messages`` LINE messages from
``--residents`` residents (each writes several, so conversations, cases and
the outbox all grow) sent as fast as triage answers them. RSS of the server
and its triage process is sampled after each tenth; after warm-up it should
be flat. Prints the samples and the growth from 20% to 100%. Loopback only.
Run: ``tsunagu bench soak [--messages 3600] [--residents 600] [--rate 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.append(str(Path(__file__).resolve().parent))  # for _harness; after the packages
from _harness import Served, open_loop, rss_mb, sample_texts, serve

from tests.stubs.events import line_text_event, line_user_id, line_webhook_request


async def _burst(
    served: Served, texts: list[str], start: int, count: int, residents: int, rate: int
) -> int:
    acked = 0
    url = f"{served.url}/webhooks/line"
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            nonlocal acked
            user = line_user_id(f"soak-{i % residents}")
            event = line_text_event(texts[(i * 13) % len(texts)], user_id=user)
            body, headers = line_webhook_request(event, channel_secret=served.stub.channel_secret)
            async with session.post(url, data=body, headers=headers) as r:
                acked += r.status == 200

        await open_loop(rate, count, lambda n: one(start + n))
    return acked


def _drain(served: Served, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        h = served.health()
        if h["pending_events"] == 0 and h["pending_outbox"] == 0:
            return
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="tsunagu bench soak")
    parser.add_argument("--messages", type=int, default=3600, help="an hour at 1 message/s")
    parser.add_argument("--residents", type=int, default=600)
    parser.add_argument("--rate", type=int, default=20, help="messages per second sent")
    parser.add_argument("--data-dir", help="reuse this data dir (its index survives)")
    args = parser.parse_args()
    texts = sample_texts()
    step = max(1, args.messages // 10)
    samples: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data_dir or tmp)
        with serve(data) as served:
            samples.append((0, rss_mb(served.proc.pid)))
            print(f"{'messages':>8} {'acked':>6} {'RSS MB':>8} {'elapsed':>8}")
            t0 = time.perf_counter()
            acked = 0
            for start in range(0, args.messages, step):
                count = min(step, args.messages - start)
                acked += asyncio.run(_burst(served, texts, start, count, args.residents, args.rate))
                _drain(served, 600)
                rss = rss_mb(served.proc.pid)
                samples.append((start + count, rss))
                print(
                    f"{start + count:>8} {acked:>6} {rss:>8.1f} {time.perf_counter() - t0:>7.0f}s"
                )
    warm = [rss for n, rss in samples if n >= args.messages * 0.2]
    if warm:
        print(
            f"RSS after warm-up: {warm[0]:.1f} → {warm[-1]:.1f} MB "
            f"({warm[-1] - warm[0]:+.1f} MB over {args.messages - samples[2][0]} messages); "
            f"max {max(warm):.1f} MB"
        )


if __name__ == "__main__":
    main()
