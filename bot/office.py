"""Office hours: whether a person is at work now, and when one next will be.

The clock is injected (``now``) by the caller so tests never sleep or
depend on the day they run. Public holidays are not known here yet: a
holiday reads as an ordinary weekday (the 24-hour lines are always given
out of hours, so a resident is never left without a number).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .settings import Settings

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _hm(value: str) -> dt.time:
    return dt.datetime.strptime(value, "%H:%M").time()


@dataclass(frozen=True)
class OfficeHours:
    """The office's regular hours in its time zone."""

    tz: ZoneInfo
    days: tuple[int, ...]
    opens: dt.time
    closes: dt.time
    opens_text: str
    closes_text: str

    @classmethod
    def from_settings(cls, settings: Settings) -> OfficeHours:
        days = []
        for part in settings.office_days.split(","):
            name = part.strip().lower()[:3]
            if name not in _WEEKDAYS:
                raise ValueError(f"TSUNAGU_OFFICE_DAYS: unknown day {part!r}; use mon,tue,…")
            days.append(_WEEKDAYS.index(name))
        if not days:
            raise ValueError("TSUNAGU_OFFICE_DAYS is empty")
        opens, closes = _hm(settings.office_open), _hm(settings.office_close)
        if closes <= opens:
            raise ValueError("TSUNAGU_OFFICE_CLOSE must be after TSUNAGU_OFFICE_OPEN")
        return cls(
            settings.tz,
            tuple(sorted(set(days))),
            opens,
            closes,
            settings.office_open,
            settings.office_close,
        )

    def local(self, when: dt.datetime) -> dt.datetime:
        if when.tzinfo is None:
            raise ValueError("the clock must give timezone-aware datetimes")
        return when.astimezone(self.tz)

    def is_open(self, when: dt.datetime) -> bool:
        t = self.local(when)
        return t.weekday() in self.days and self.opens <= t.time() < self.closes

    def next_open(self, when: dt.datetime) -> dt.datetime:
        """The next opening time at or after ``when`` (``when`` itself if open)."""
        t = self.local(when)
        if self.is_open(t):
            return t
        day = t.date()
        if t.weekday() in self.days and t.time() < self.opens:
            return dt.datetime.combine(day, self.opens, self.tz)
        for ahead in range(1, 8):
            d = day + dt.timedelta(days=ahead)
            if d.weekday() in self.days:
                return dt.datetime.combine(d, self.opens, self.tz)
        raise AssertionError("office_days has at least one day")  # pragma: no cover
