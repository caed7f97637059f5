"""Business days of a Japanese municipal office: when a referral's answer is due.

A day is a business day unless it is a Saturday or Sunday, a national holiday
(国民の祝日, 振替休日 and 国民の休日, from the maintained ``holidays`` package)
or the year-end closure 12/29–1/3 — the days 行政機関の休日に関する法律 closes
public offices. A deadline of *n* business days runs to the end of the n-th
business day after the day the referral was sent (a referral sent on a
Saturday counts from Monday), in the office's time zone.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


class WorkdayError(Exception):
    """A deadline that cannot be computed (bad input); the message says why."""


@lru_cache(maxsize=64)
def _national_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("JP", years=year).keys())


def holiday_name(day: dt.date) -> str | None:
    """The day's holiday name in Japanese (or 年末年始), None on an ordinary day."""
    if (day.month, day.day) >= (12, 29) or (day.month, day.day) <= (1, 3):
        return "年末年始"
    if day in _national_holidays(day.year):
        return holidays.country_holidays("JP", years=day.year, language="ja").get(day)
    return None


def is_business_day(day: dt.date) -> bool:
    """Monday to Friday and neither a national holiday nor the year-end closure."""
    return day.weekday() < 5 and holiday_name(day) is None


def add_business_days(day: dt.date, n: int) -> dt.date:
    """The n-th business day after ``day`` (``day`` itself never counts)."""
    if n < 1:
        raise WorkdayError("a deadline needs at least one business day")
    found = 0
    current = day
    while found < n:
        current += dt.timedelta(days=1)
        if is_business_day(current):
            found += 1
    return current


def deadline(sent_at: dt.datetime, n: int, tz: ZoneInfo) -> dt.datetime:
    """The end (24:00 local) of the n-th business day after ``sent_at``'s local day, in UTC."""
    if sent_at.tzinfo is None:
        raise WorkdayError("timestamps must be timezone-aware")
    last = add_business_days(sent_at.astimezone(tz).date(), n)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return end.astimezone(dt.UTC)


def end_of_day(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """24:00 local at the end of ``day``, in UTC (a deadline a person typed as a date)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(dt.UTC)
