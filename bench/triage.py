"""Benchmark: assess latency next to the bare encoder, index build time, RSS.

Run with ``tsunagu bench triage [--texts FILE.jsonl] [--sizes 1000,10000]``.
Prints figures; asserts nothing (speed is measured, not tested).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from knowledge import Concern, KnowledgeStore, load_path, open_database, sample_path
from triage import ExemplarIndex, make_embedder, open_triage


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round((len(s) - 1) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(prog="tsunagu bench triage")
    parser.add_argument(
        "--texts",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared/eval/dev.jsonl",
        help="JSONL with a 'text' field (default: the shared dev set)",
    )
    parser.add_argument("--sizes", default="1000,10000", help="index sizes to build")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the texts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        store = KnowledgeStore(open_database(Path(tmp) / "bench.db"))
        load_path(store, sample_path())
        rss_before = _rss_mb()
        started = time.perf_counter()
        engine = open_triage(store, "e5-small", Path(tmp) / "index")
        print(
            f"engine start (model load + index of {len(engine.index)} concerns): "
            f"{time.perf_counter() - started:.2f} s"
        )
        if args.texts.exists():
            texts = [
                json.loads(line)["text"]
                for line in args.texts.open(encoding="utf-8")
                if line.strip()
            ]
            source = str(args.texts)
        else:
            texts = [c.text for c in store.concerns()][:100]
            source = "sample KB concerns"
        print(f"texts: {len(texts)} from {source}")
        emb = engine.embedder
        for t in texts[:5]:  # warm
            engine.assess(t)
            emb.embed_queries([t])
        bare: list[float] = []
        full: list[float] = []
        for _ in range(args.repeat):
            for t in texts:
                s = time.perf_counter()
                emb.embed_queries([t])
                bare.append((time.perf_counter() - s) * 1000)
                s = time.perf_counter()
                engine.assess(t)
                full.append((time.perf_counter() - s) * 1000)
        print(
            f"bare encoder   p50 {statistics.median(bare):7.2f} ms   p95 {_pct(bare, 0.95):7.2f} ms"
        )
        print(
            f"assess         p50 {statistics.median(full):7.2f} ms   p95 {_pct(full, 0.95):7.2f} ms"
        )
        print(f"assess/encoder p95 ratio: {_pct(full, 0.95) / _pct(bare, 0.95):.2f}x (goal <= 2x)")
        # the machine may be shared: timings only compare within one run
        print("load average during the run: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        print(f"RSS: {_rss_mb():.0f} MB (before engine {rss_before:.0f} MB)")

        base = [c.text for c in store.concerns()]
        embedder = make_embedder("e5-small")
        for size in (int(x) for x in args.sizes.split(",") if x):
            concerns = [
                Concern(i + 1, "bench", f"{base[i % len(base)]}（{i // len(base)}）", "poverty")
                for i in range(size)
            ]
            index = ExemplarIndex(embedder, None)
            s = time.perf_counter()
            vectors = embedder.embed_passages([c.text for c in concerns])
            embed_s = time.perf_counter() - s
            s = time.perf_counter()
            index.add_vectors(vectors, np.arange(1, size + 1, dtype=np.int64))
            add_s = time.perf_counter() - s
            q = vectors[:32]
            s = time.perf_counter()
            for _ in range(10):
                index.search(q, 40)
            search_ms = (time.perf_counter() - s) * 1000 / 10
            print(
                f"index {size:>6} concerns: embed {embed_s:6.1f} s ({size / embed_s:5.0f}/s), "
                f"faiss add {add_s * 1000:6.1f} ms, search 32 queries k=40 {search_ms:5.2f} ms; "
                f"RSS {_rss_mb():.0f} MB"
            )


if __name__ == "__main__":
    main()
