"""Business days: weekends, national holidays (holidays package) and 12/29–1/3 closed."""

from __future__ import annotations

import datetime as dt

import pytest

from handoff import workdays
from tests.handoff.conftest import JST

D = dt.date


@pytest.mark.parametrize(
    ("sent", "n", "due"),
    [
        (D(2025, 6, 3), 2, D(2025, 6, 5)),  # Tue → Thu
        (D(2025, 6, 6), 2, D(2025, 6, 10)),  # Fri → Tue, over the weekend
        (D(2025, 6, 7), 2, D(2025, 6, 10)),  # sent on a Saturday: counts from Monday
        (D(2025, 5, 2), 2, D(2025, 5, 8)),  # Golden Week: 5/5 こどもの日, 5/6 振替休日
        (D(2025, 12, 26), 2, D(2026, 1, 6)),  # 年末年始 12/29–1/3, then a Sunday
        (D(2025, 9, 12), 1, D(2025, 9, 16)),  # 9/15 敬老の日
        (D(2025, 6, 3), 5, D(2025, 6, 10)),
    ],
)
def test_add_business_days(sent: dt.date, n: int, due: dt.date) -> None:
    assert workdays.add_business_days(sent, n) == due


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (D(2025, 5, 6), "振替休日"),
        (D(2025, 12, 30), "年末年始"),
        (D(2026, 1, 2), "年末年始"),
        (D(2025, 11, 3), "文化の日"),
        (D(2025, 6, 4), None),
    ],
)
def test_holiday_names(day: dt.date, name: str | None) -> None:
    assert workdays.holiday_name(day) == name
    assert workdays.is_business_day(day) is (name is None)


def test_the_deadline_is_the_end_of_the_last_business_day_in_office_time() -> None:
    sent = dt.datetime(2025, 6, 3, 16, 59, tzinfo=JST)
    due = workdays.deadline(sent, 2, JST)
    assert due == dt.datetime(2025, 6, 6, 0, 0, tzinfo=JST)
    assert due.tzinfo == dt.UTC
    # late on Tuesday evening in Tokyo is still Tuesday (not Wednesday in UTC terms)
    late = dt.datetime(2025, 6, 3, 23, 30, tzinfo=JST)
    assert workdays.deadline(late, 2, JST) == due


def test_bad_input_is_refused() -> None:
    with pytest.raises(workdays.WorkdayError):
        workdays.deadline(dt.datetime(2025, 6, 3, 10, 0), 2, JST)
    with pytest.raises(workdays.WorkdayError):
        workdays.add_business_days(D(2025, 6, 3), 0)
