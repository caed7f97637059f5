"""Named errors of the triage package."""

from __future__ import annotations


class TriageError(Exception):
    """Base class for triage errors."""


class EmbedderUnavailable(TriageError):
    """The configured embedder cannot be loaded (unknown name, missing extra, no model)."""
