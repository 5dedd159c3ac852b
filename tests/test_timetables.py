"""The monthly report's timetable: last Friday of the month, 08:00 UTC, across month ends and leap years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from airflow.timetables.base import DataInterval, TimeRestriction
from pendulum import instance

from patch_compliance.timetables import LastFridayOfMonthTimetable, last_friday


def expected_last_friday(year: int, month: int) -> datetime:
    """Independent oracle: walk every day of the month and keep the last Friday."""
    day, fridays = date(year, month, 1), []
    while day.month == month:
        if day.isoweekday() == 5:
            fridays.append(day)
        day += timedelta(days=1)
    return datetime(fridays[-1].year, fridays[-1].month, fridays[-1].day, 8, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return instance(datetime(*args, tzinfo=UTC))


@pytest.mark.parametrize(("year", "month", "day"), [
    (2024, 2, 23),   # leap year, Feb 29 is a Thursday
    (2028, 2, 25),   # leap year, Feb 29 is a Tuesday
    (2027, 2, 26),   # common year, Feb 28 is a Sunday
    (2026, 7, 31),   # the month's last day is itself a Friday
    (2026, 11, 27),
    (2026, 12, 25),  # year end
    (2027, 1, 29),
])
def test_last_friday_known_dates(year: int, month: int, day: int) -> None:
    assert last_friday(year, month) == datetime(year, month, day, 8, tzinfo=UTC)


def test_consecutive_runs_follow_every_month_for_six_years() -> None:
    timetable = LastFridayOfMonthTimetable()
    restriction = TimeRestriction(earliest=utc(2024, 1, 1), latest=None, catchup=True)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    seen = []
    for _ in range(72):
        assert info is not None
        seen.append(info.run_after)
        assert info.run_after.utcoffset() == timedelta(0)
        assert info.data_interval.end == info.run_after
        assert info.data_interval.start == utc(info.run_after.year, info.run_after.month, 1)
        info = timetable.next_dagrun_info(last_automated_data_interval=info.data_interval,
                                          restriction=restriction)
    months = [(y, m) for y in range(2024, 2030) for m in range(1, 13)]
    assert seen == [expected_last_friday(y, m) for y, m in months]


def test_first_run_after_the_start_date_in_the_same_month_and_after_it() -> None:
    timetable = LastFridayOfMonthTimetable()
    # Starting before the month's last Friday: that Friday.
    before = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=utc(2026, 11, 27, 7, 59), latest=None, catchup=True))
    assert before is not None and before.run_after == utc(2026, 11, 27, 8)
    # Starting a minute after it: the next month's last Friday, across the year end.
    after = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=utc(2026, 12, 25, 8, 1), latest=None, catchup=True))
    assert after is not None and after.run_after == utc(2027, 1, 29, 8)
    assert after.data_interval == DataInterval(utc(2027, 1, 1), utc(2027, 1, 29, 8))


def test_end_date_stops_scheduling() -> None:
    timetable = LastFridayOfMonthTimetable()
    restriction = TimeRestriction(earliest=utc(2026, 1, 1), latest=utc(2026, 2, 27, 7), catchup=True)
    january = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert january is not None and january.run_after == utc(2026, 1, 30, 8)
    assert timetable.next_dagrun_info(last_automated_data_interval=january.data_interval,
                                      restriction=restriction) is None


def test_without_catchup_missed_months_are_skipped() -> None:
    timetable = LastFridayOfMonthTimetable()
    restriction = TimeRestriction(earliest=utc(2020, 1, 1), latest=None, catchup=False)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert info is not None
    now = datetime.now(UTC)
    assert now <= info.run_after <= now + timedelta(days=36)
    assert info.run_after == expected_last_friday(info.run_after.year, info.run_after.month)


def test_no_start_date_schedules_nothing() -> None:
    restriction = TimeRestriction(earliest=None, latest=None, catchup=True)
    assert LastFridayOfMonthTimetable().next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction) is None


def test_manual_run_reports_on_the_month_it_is_triggered_in() -> None:
    interval = LastFridayOfMonthTimetable().infer_manual_data_interval(run_after=utc(2028, 2, 29, 13, 5))
    assert interval == DataInterval(utc(2028, 2, 1), utc(2028, 2, 29, 13, 5))


def test_serialization_round_trip() -> None:
    timetable = LastFridayOfMonthTimetable()
    restored = LastFridayOfMonthTimetable.deserialize(timetable.serialize())
    assert isinstance(restored, LastFridayOfMonthTimetable)
    assert "Friday" in timetable.summary and "UTC" in timetable.description
