"""The faiss index of example concerns, saved next to the database.

Tagged with a manifest (embedder id, dimension, KB content hash, and a hash
per concern) so a stale or mismatched index is rebuilt, never used silently,
and a KB change re-embeds only the concerns that changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from knowledge import Concern

from .embedder import Embedder, Vectors

log = logging.getLogger(__name__)

# A flat search over thousands of concerns takes a millisecond on one thread;
# faiss's own OpenMP pool would only spin against the encoder's threads.
faiss.omp_set_num_threads(1)

INDEX_FILE = "concerns.faiss"
MANIFEST_FILE = "concerns.json"


@dataclass(frozen=True)
class SyncReport:
    """What a sync did: 'loaded', 'rebuilt' or 'updated', and how much."""

    action: str
    added: int
    removed: int
    total: int
    seconds: float
    reason: str = ""


def _concern_hash(c: Concern) -> str:
    return hashlib.sha256(f"{c.service_id}\t{c.category}\t{c.text}".encode()).hexdigest()[:12]


class ExemplarIndex:
    """Inner-product kNN over normalised concern vectors (``IndexIDMap2``)."""

    def __init__(self, embedder: Embedder, directory: Path | None) -> None:
        self.embedder = embedder
        # Concerns are embedded like queries: matching a resident's words to
        # a concern's words is a symmetric task (the e5 recipe for those).
        self.tag = f"{embedder.id}|query"
        self.directory = directory
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(embedder.dim))
        self._hashes: dict[int, str] = {}

    def __len__(self) -> int:
        return int(self._index.ntotal)

    # -- persistence -----------------------------------------------------

    def _paths(self) -> tuple[Path, Path] | None:
        if self.directory is None:
            return None
        return self.directory / INDEX_FILE, self.directory / MANIFEST_FILE

    def _load(self) -> str:
        """Load from disk; returns '' on success or why it could not be used."""
        paths = self._paths()
        if paths is None:
            return "no index directory"
        index_path, manifest_path = paths
        if not index_path.exists() or not manifest_path.exists():
            return "no saved index"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            if manifest.get("embedder") != self.tag:
                return f"built with another embedder ({manifest.get('embedder')})"
            if manifest.get("dim") != self.embedder.dim:
                return "dimension differs"
            index = faiss.read_index(str(index_path))
            hashes = {int(k): str(v) for k, v in manifest["concerns"].items()}
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
            return f"unreadable ({type(exc).__name__})"
        if index.ntotal != len(hashes) or index.d != self.embedder.dim:
            return "index and manifest disagree"
        self._index = (
            faiss.IndexIDMap2(index) if not isinstance(index, faiss.IndexIDMap2) else index
        )
        self._hashes = hashes
        return ""

    def save(self, kb_hash: str) -> None:
        """Write index and manifest atomically (temp file, then rename)."""
        paths = self._paths()
        if paths is None:
            return
        index_path, manifest_path = paths
        index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_index = index_path.with_name(index_path.name + ".tmp")
        faiss.write_index(self._index, str(tmp_index))
        manifest = {
            "embedder": self.tag,
            "dim": self.embedder.dim,
            "kb_hash": kb_hash,
            "count": len(self),
            "concerns": {str(k): v for k, v in sorted(self._hashes.items())},
        }
        tmp_manifest = manifest_path.with_name(manifest_path.name + ".tmp")
        tmp_manifest.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp_index, index_path)
        os.replace(tmp_manifest, manifest_path)

    # -- keeping it in step with the KB ----------------------------------

    def sync(self, concerns: Sequence[Concern], kb_hash: str) -> SyncReport:
        """Bring the index in line with ``concerns``: load, update or rebuild."""
        started = time.perf_counter()
        reason = ""
        if len(self) == 0 and not self._hashes:
            reason = self._load()
            if reason:
                log.info("triage index: rebuilding (%s)", reason)
                self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.embedder.dim))
                self._hashes = {}
        wanted = {c.id: _concern_hash(c) for c in concerns}
        stale = [cid for cid, h in self._hashes.items() if wanted.get(cid) != h]
        new = [c for c in concerns if self._hashes.get(c.id) != wanted[c.id]]
        if stale:
            self._index.remove_ids(np.array(stale, dtype=np.int64))  # type: ignore[arg-type]
            for cid in stale:
                del self._hashes[cid]
        if new:
            self.add(new)
        if stale or new or reason:
            self.save(kb_hash)
        if reason:
            action = "rebuilt"
        elif stale or new:
            action = "updated"
        else:
            action = "loaded"
        report = SyncReport(
            action, len(new), len(stale), len(self), time.perf_counter() - started, reason
        )
        log.info(
            "triage index %s: +%d -%d = %d concerns in %.2fs",
            report.action,
            report.added,
            report.removed,
            report.total,
            report.seconds,
        )
        return report

    def add(self, concerns: Sequence[Concern], *, batch: int = 64) -> None:
        """Embed and add concerns (in batches, to bound memory)."""
        for start in range(0, len(concerns), batch):
            chunk = concerns[start : start + batch]
            vectors = self.embedder.embed_queries([c.text for c in chunk])
            ids = np.array([c.id for c in chunk], dtype=np.int64)
            self._index.add_with_ids(vectors, ids)
            for c in chunk:
                self._hashes[c.id] = _concern_hash(c)

    def add_vectors(self, vectors: Vectors, ids: npt.NDArray[np.int64]) -> None:
        """Add precomputed vectors (benchmarks)."""
        self._index.add_with_ids(vectors, ids)

    def vectors(self) -> tuple[Vectors, npt.NDArray[np.int64]]:
        """Every stored vector with its concern id (to train the probe)."""
        n = len(self)
        if n == 0:
            return np.zeros((0, self.embedder.dim), dtype=np.float32), np.zeros(0, dtype=np.int64)
        flat = self._index.index
        vectors = flat.reconstruct_n(0, n)
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        return np.ascontiguousarray(vectors, dtype=np.float32), ids

    def search(
        self, queries: Vectors, k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Top-``k`` (similarity, concern id) per query; id -1 pads short results."""
        if len(self) == 0 or len(queries) == 0:
            return (
                np.zeros((len(queries), 0), dtype=np.float32),
                np.zeros((len(queries), 0), dtype=np.int64),
            )
        scores, ids = self._index.search(queries, min(k, len(self)))
        return scores, ids
