"""Triage: every need, any crisis and the fitting services in one message."""

import os

# Before faiss and the encoder load their OpenMP runtimes: idle OpenMP threads
# sleep instead of spinning. With the server, the triage process and the tests
# sharing two cores, spinning threads starved each other (dev-set assess p50
# 2.1 s under load; 0.3 s with this), and on an idle machine it costs little.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .assessment import Assessment, CategoryFinding, CrisisFinding, Evidence, ServiceMatch
from .crisis import may_be_crisis
from .embedder import E5SmallEmbedder, Embedder, SentenceTransformerEmbedder, make_embedder
from .engine import Triage, Tuning, open_triage
from .errors import EmbedderUnavailable, TriageError
from .index import ExemplarIndex, SyncReport
from .language import LANGUAGE_NAMES, detect_language
from .normalise import normalise, split_sentences
from .process import TriageProcess, TriageUnavailable

__all__ = [
    "LANGUAGE_NAMES",
    "Assessment",
    "CategoryFinding",
    "CrisisFinding",
    "E5SmallEmbedder",
    "Embedder",
    "EmbedderUnavailable",
    "Evidence",
    "ExemplarIndex",
    "SentenceTransformerEmbedder",
    "ServiceMatch",
    "SyncReport",
    "Triage",
    "TriageError",
    "TriageProcess",
    "TriageUnavailable",
    "Tuning",
    "detect_language",
    "make_embedder",
    "may_be_crisis",
    "normalise",
    "open_triage",
    "split_sentences",
]
