"""What the serving benchmarks share: a real ``tsunagu serve`` next to the LINE API stub.

The stub runs in the benchmark's own process (a uvicorn thread), so a
benchmark can read exactly when each message reached "LINE"; the server is a
separate process, started as an operator would start it. Loopback only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from knowledge import read_files, sample_path  # noqa: E402
from tests.stubs.line_api import LineStub  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up in {seconds:.0f} s")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round((len(s) - 1) * q))]


async def open_loop(rate: float, count: int, one: Callable[[int], Awaitable[None]]) -> None:
    """Start ``one(i)`` for i < count at ``rate``/s whatever the answers take (open loop)."""
    start = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)


def sample_texts() -> list[str]:
    """Realistic consultation texts: the sample KB's example concerns."""
    return [
        c.text for f in read_files(sample_path()) for s in f.services for c in s.example_concerns
    ]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the triage process counts too)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
    return total


@dataclass
class Served:
    url: str
    stub: LineStub
    proc: subprocess.Popen[bytes]
    data_dir: Path

    def health(self) -> dict[str, object]:
        body: dict[str, object] = httpx.get(f"{self.url}/healthz", timeout=10).json()
        return body


#: Benchmarks share one built index: building it is minutes of encoder time, not the
#: thing measured. A stale copy is harmless: the server checks it and rebuilds.
INDEX_CACHE = Path.home() / ".cache" / "tsunagu" / "bench-index"


@contextmanager
def serve(data_dir: Path, *, env: dict[str, str] | None = None) -> Iterator[Served]:
    """The LINE stub in this process and ``tsunagu serve`` (LINE on) in another."""
    with LineStub(strict_reply_tokens=False) as stub:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        full_env = {
            **os.environ,
            "TSUNAGU_DATA_DIR": str(data_dir),
            "TSUNAGU_LINE_CHANNEL_SECRET": stub.channel_secret,
            "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN": stub.access_token,
            "TSUNAGU_LINE_API_BASE_URL": stub.url,
            **(env or {}),
        }
        data_dir.mkdir(parents=True, exist_ok=True)
        if INDEX_CACHE.exists() and not (data_dir / "index").exists():
            shutil.copytree(INDEX_CACHE, data_dir / "index")
        log = open(data_dir / "serve.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=log,
        )
        try:
            started = time.perf_counter()
            wait_http(f"{url}/healthz", 900)
            print(
                f"tsunagu serve ready in {time.perf_counter() - started:.1f} s; "
                f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}"
            )
            if (data_dir / "index").exists():
                shutil.rmtree(INDEX_CACHE, ignore_errors=True)
                shutil.copytree(data_dir / "index", INDEX_CACHE)
            yield Served(url, stub, proc, data_dir)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
