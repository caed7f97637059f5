"""Benchmark: end to end, a resident's LINE message in → the bot's reply at the LINE API.

Signed text events at a fixed rate (open loop), each from a new resident, to a
real ``tsunagu serve``; the LINE API stub notes when each reply arrives. Prints
p50/p95 of message-in → reply-delivered, answered and not answered within
``--wait`` seconds. Loopback only.
Run: ``tsunagu bench e2e [--rate 20] [--seconds 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

sys.path.append(str(Path(__file__).resolve().parent))  # for _harness; after the packages
from _harness import open_loop, pct, sample_texts, serve

from tests.stubs.events import line_text_event, line_user_id, line_webhook_request


async def _send(url: str, secret: str, rate: int, seconds: float) -> dict[str, float]:
    """Post ``rate`` events/s; returns user → time.time() when its message was posted."""
    texts = sample_texts()
    total = int(rate * seconds)
    sent: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            user = line_user_id(f"e2e-{i}")
            event = line_text_event(texts[(i * 7) % len(texts)], user_id=user)
            body, headers = line_webhook_request(event, channel_secret=secret)
            sent[user] = time.time()
            async with session.post(url, data=body, headers=headers) as r:
                if r.status != 200:
                    sent.pop(user, None)

        await open_loop(rate, total, one)
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(prog="tsunagu bench e2e")
    parser.add_argument("--rate", type=int, default=20, help="messages per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--data-dir", help="reuse this data dir (its index survives)")
    parser.add_argument(
        "--wait", type=float, default=600.0, help="seconds to wait for the replies after sending"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data_dir or tmp)
        with serve(data) as served:
            backlog = httpx.get(f"{served.url}/healthz", timeout=10).json()["pending_events"]
            if backlog:
                print(f"note: {backlog} events were already pending; ours queue behind them")
            sent = asyncio.run(
                _send(
                    f"{served.url}/webhooks/line",
                    served.stub.channel_secret,
                    args.rate,
                    args.seconds,
                )
            )
            deadline = time.monotonic() + args.wait
            first: dict[str, float] = {}
            while time.monotonic() < deadline:
                for d in served.stub.deliveries():
                    if d.to in sent and d.to not in first:
                        first[d.to] = d.request.time
                if len(first) >= len(sent):
                    break
                time.sleep(0.5)
    latencies = [(first[u] - sent[u]) * 1000 for u in first]
    print(
        f"{'rate/s':>6} {'sent':>5} {'answered':>8} {'not yet':>7} {'p50':>9} {'p95':>9} {'max':>9}"
    )
    print(
        f"{args.rate:>6} {len(sent):>5} {len(first):>8} {len(sent) - len(first):>7} "
        f"{pct(latencies, 0.5):>7.0f}ms {pct(latencies, 0.95):>7.0f}ms "
        f"{max(latencies, default=float('nan')):>7.0f}ms"
    )


if __name__ == "__main__":
    main()
