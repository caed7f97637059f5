"""The knowledge-base records (Open Referral HSDS, trimmed; design.md §7).

The same models validate a YAML/CSV import and come back out of the store,
so what an admin can write is exactly what the bot can read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .categories import CATEGORIES, CRISIS_TYPES

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS_JA: tuple[str, ...] = ("月", "火", "水", "木", "金", "土", "日")

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
_TIME = re.compile(r"^([01][0-9]|2[0-4]):[0-5][0-9]$")

ServiceKind = Literal["agency", "hotline", "place", "program"]
ServiceStatus = Literal["active", "inactive", "retired"]
OrganizationStatus = Literal["active", "retired"]


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("小文字の英数字とハイフン（2〜80文字）で書いてください")
    return value


class Schedule(BaseModel):
    """Regular opening hours: the listed weekdays, from ``opens`` to ``closes``."""

    model_config = ConfigDict(extra="forbid")

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    opens: str
    closes: str

    @field_validator("opens", "closes", mode="before")
    @classmethod
    def _time(cls, value: object) -> str:
        if isinstance(value, int):  # YAML reads 08:30 as sexagesimal 510
            value = f"{value // 60:02d}:{value % 60:02d}"
        text = str(value).strip()
        if len(text) == 4 and text[1] == ":":
            text = "0" + text
        if not _TIME.match(text):
            raise ValueError("時刻は HH:MM で書いてください（例 08:30）")
        return text

    @model_validator(mode="after")
    def _order(self) -> Schedule:
        if self.closes <= self.opens:
            raise ValueError("終了時刻は開始時刻より後にしてください")
        return self


class ExampleConcern(BaseModel):
    """A short phrasing of a trouble the service handles, optionally tagged.

    ``category`` says which of a multi-category service's fields this
    concern is about, so one service's concerns don't vote for all its
    fields at once; ``None`` means the service's first category.
    """

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=500)
    category: str | None = None

    @field_validator("text")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("空の相談例があります")
        return value


class Organization(BaseModel):
    """An agency, NPO, office or national line operator.

    A retired organization has only retired services. A file that leaves
    ``status`` out keeps the status the store has (see ``KnowledgeStore.apply``).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    phone: str | None = None
    url: str | None = None
    email: str | None = None
    status: OrganizationStatus = "active"

    _id = field_validator("id")(_check_id)


class Service(BaseModel):
    """One service an organization offers, with the concerns it handles."""

    model_config = ConfigDict(extra="forbid")

    id: str
    organization_id: str = ""
    name: str = Field(min_length=1, max_length=200)
    kind: ServiceKind = "agency"
    categories: list[str] = Field(min_length=1)
    crisis_types: list[str] = Field(default_factory=list)
    description: str = ""
    eligibility: str = ""
    min_age: int | None = Field(default=None, ge=0, le=130)
    max_age: int | None = Field(default=None, ge=0, le=130)
    languages: list[str] = Field(default_factory=lambda: ["ja"])
    fees: str = ""
    status: ServiceStatus = "active"
    assured_date: dt.date | None = None
    area: str = ""
    phone: str | None = None
    url: str | None = None
    hours_note: str = ""
    open_on_holidays: bool = False
    schedule: list[Schedule] = Field(default_factory=list)
    example_concerns: list[ExampleConcern] = Field(default_factory=list)

    _id = field_validator("id")(_check_id)

    @field_validator("example_concerns", mode="before")
    @classmethod
    def _concern_strings(cls, value: object) -> object:
        """Accept plain strings in YAML: ``- 家賃が払えない``."""
        if isinstance(value, list):
            return [{"text": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in CATEGORIES]
        if unknown:
            raise ValueError(
                f"不明なカテゴリ: {', '.join(unknown)}（使えるのは {', '.join(CATEGORIES)}）"
            )
        return list(dict.fromkeys(value))

    @field_validator("crisis_types")
    @classmethod
    def _crisis_types(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in CRISIS_TYPES]
        if unknown:
            raise ValueError(f"不明な危機種別: {', '.join(unknown)}")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _ages(self) -> Service:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("min_age が max_age より大きくなっています")
        seen: set[str] = set()
        unique = []
        for c in self.example_concerns:
            if c.category is not None and c.category not in self.categories:
                raise ValueError(
                    f"相談例「{c.text[:20]}」のカテゴリ {c.category} が"
                    "サービスのカテゴリにありません"
                )
            if c.text not in seen:
                seen.add(c.text)
                unique.append(c)
        self.example_concerns = unique
        return self

    def concern_category(self, concern: ExampleConcern) -> str:
        """The field a concern is about (its tag, else the service's first)."""
        return concern.category or self.categories[0]

    def content_hash(self) -> str:
        """A stable hash of everything but bookkeeping, to spot real changes."""
        payload = self.model_dump(mode="json")
        return hashlib.sha256(
            json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        ).hexdigest()[:16]

    def hours_text(self) -> str:
        """Opening hours in plain Japanese, e.g. 「月〜金 08:30–17:15」."""
        if not self.schedule:
            return self.hours_note
        parts = []
        for s in self.schedule:
            idx = sorted(WEEKDAYS.index(d) for d in s.days)
            if len(idx) > 2 and idx == list(range(idx[0], idx[-1] + 1)):
                days = f"{WEEKDAYS_JA[idx[0]]}〜{WEEKDAYS_JA[idx[-1]]}"
            else:
                days = "・".join(WEEKDAYS_JA[i] for i in idx)
            parts.append(f"{days} {s.opens}–{s.closes}")
        text = "、".join(parts)
        return f"{text}（{self.hours_note}）" if self.hours_note else text

    def is_open(self, when: dt.datetime, *, holiday: bool = False) -> bool:
        """Whether the service is open at local time ``when``."""
        if holiday and not self.open_on_holidays:
            return False
        day = WEEKDAYS[when.weekday()]
        hm = when.strftime("%H:%M")
        return any(day in s.days and s.opens <= hm < s.closes for s in self.schedule)


class OrganizationFile(BaseModel):
    """One YAML file of the sample knowledge base: an organization and its services."""

    model_config = ConfigDict(extra="forbid")

    organization: Organization
    services: list[Service] = Field(default_factory=list)
