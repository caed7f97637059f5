"""Named errors of the knowledge package; translated to HTTP/CLI at the edges."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base class for knowledge-base errors."""


class NotFound(KnowledgeError):
    """An organization or service id that does not exist."""


class LoadError(KnowledgeError):
    """A knowledge-base file that cannot be loaded; nothing was changed.

    Carries every problem found, each naming the file, the record and the
    field, so an admin can fix the file in one pass.
    """

    def __init__(self, problems: list[LoadProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class LoadProblem:
    """One problem in one field of one record of one file."""

    def __init__(self, file: str, record: str, field: str, message: str) -> None:
        self.file = file
        self.record = record
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.file}: {self.record}: {self.field}: {self.message}"

    def __repr__(self) -> str:
        return f"LoadProblem({self!s})"
