"""What triage says about one message: the Assessment.

It is the contract between triage and everything after it (the
conversation engine, the summary note, the inbox), so it is plain data
with no behaviour and serialises to JSON as is.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Evidence(BaseModel):
    """A sentence of the message that supports a category, and why."""

    sentence: str
    score: float
    matched: str = Field(description="the example concern or keyword it matched")
    source: str = Field(description="'embedding' or 'lexicon'")


class CategoryFinding(BaseModel):
    """One need found in the message."""

    code: str
    label: str
    score: float
    evidence: list[Evidence] = Field(default_factory=list)


class ServiceMatch(BaseModel):
    """A service that fits, with a reason a person can read."""

    service_id: str
    name: str
    organization: str
    categories: list[str]
    score: float
    reason: str
    phone: str | None = None
    hours: str = ""
    url: str | None = None


class CrisisFinding(BaseModel):
    """Immediate danger, with the words that showed it."""

    type: str
    phrases: list[str] = Field(default_factory=list)
    sentences: list[str] = Field(default_factory=list)


class Assessment(BaseModel):
    """Everything triage found in one message."""

    text: str = Field(description="the normalised message")
    language: str
    categories: list[CategoryFinding] = Field(
        default_factory=list, description="the needs found, most central first"
    )
    ranked: list[tuple[str, float]] = Field(
        default_factory=list, description="every category code with its score, best first"
    )
    crisis: CrisisFinding | None = None
    risk_concern: bool = Field(
        default=False, description="alarming words without immediate danger: assess risk early"
    )
    complex: bool = False
    vague: bool = False
    services: list[ServiceMatch] = Field(default_factory=list)
    kb_version: int = 0

    @property
    def primary(self) -> str | None:
        return self.categories[0].code if self.categories else None

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.categories]

    @property
    def is_crisis(self) -> bool:
        return self.crisis is not None
