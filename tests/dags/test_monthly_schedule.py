"""The monthly report's schedule: the last Friday of every month, 08:00 UTC, as the scheduler computes it.

The DAG declares Airflow's own ``CronTriggerTimetable("0 8 * * L5")``; these tests drive the scheduler's
timetable class (the one the serialized DAG becomes) against an oracle that walks the calendar.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from airflow.timetables.base import DataInterval, TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable
from pendulum import instance

pytestmark = pytest.mark.xdist_group("airflow")


def expected_last_friday(year: int, month: int) -> datetime:
    """Independent oracle: walk every day of the month and keep the last Friday."""
    day, fridays = date(year, month, 1), []
    while day.month == month:
        if day.isoweekday() == 5:
            fridays.append(day)
        day += timedelta(days=1)
    return datetime(fridays[-1].year, fridays[-1].month, fridays[-1].day, 8, tzinfo=UTC)


def utc(*args: int):
    return instance(datetime(*args, tzinfo=UTC))


@pytest.fixture(scope="module")
def timetable(dagbag) -> CronTriggerTimetable:
    declared = dagbag.dags["patch_compliance_monthly_report"].timetable
    assert (declared.expression, str(declared.timezone)) == ("0 8 * * L5", "UTC")
    return CronTriggerTimetable(declared.expression, timezone=declared.timezone)


def test_every_month_for_thirty_years_runs_on_its_last_friday(timetable) -> None:
    restriction = TimeRestriction(earliest=utc(2026, 1, 1), latest=None, catchup=True)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    seen = []
    for _ in range(360):
        assert info is not None
        seen.append(info.run_after)
        assert info.data_interval.end == info.run_after  # the report reads the month of this moment
        info = timetable.next_dagrun_info(last_automated_data_interval=info.data_interval,
                                          restriction=restriction)
    assert seen == [expected_last_friday(y, m) for y in range(2026, 2056) for m in range(1, 13)]


@pytest.mark.parametrize(("year", "month", "day"), [
    (2028, 2, 25),   # leap year, Feb 29 is a Tuesday
    (2027, 2, 26),   # common year, Feb 28 is a Sunday
    (2026, 7, 31),   # the month's last day is itself a Friday
    (2026, 12, 25),  # year end
])
def test_known_last_fridays(timetable, year: int, month: int, day: int) -> None:
    restriction = TimeRestriction(earliest=utc(year, month, 1), latest=None, catchup=True)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert info is not None and info.run_after == utc(year, month, day, 8)


def test_a_missed_friday_runs_once_when_the_scheduler_returns(timetable) -> None:
    """catchup=False: down from October's run until after November's Friday, back on 30 November."""
    october = DataInterval(utc(2026, 10, 30, 8), utc(2026, 10, 30, 8))
    restriction = TimeRestriction(earliest=utc(2026, 1, 1), latest=None, catchup=False)
    with mock.patch("airflow.timetables.trigger.utcnow", return_value=utc(2026, 11, 30, 12)):
        late = timetable.next_dagrun_info(last_automated_data_interval=october, restriction=restriction)
    assert late is not None and late.run_after == utc(2026, 11, 27, 8)
    with mock.patch("airflow.timetables.trigger.utcnow", return_value=utc(2026, 11, 30, 12, 5)):
        after = timetable.next_dagrun_info(last_automated_data_interval=late.data_interval,
                                           restriction=restriction)
    assert after is not None and after.run_after == utc(2026, 12, 25, 8)
