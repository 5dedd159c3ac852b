"""Airflow timetable: "the last Friday of every month, 08:00 UTC" (the monthly report's schedule).

No cron expression says "last Friday", so this is a small custom timetable, registered with the
scheduler by ``plugins/patch_compliance_plugin.py`` (custom timetables must be registered through
an ``AirflowPlugin`` so a serialized DAG can be deserialized).

Each run covers the calendar month it falls in: the data interval runs from the 1st of the month,
00:00 UTC, to the last Friday at 08:00 UTC, and the run starts at the interval's end. So a run's
``data_interval_end`` names the month to report on. Everything is UTC, so there is no DST shift.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, time, timedelta
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from pendulum import DateTime, instance

RUN_TIME = time(8, 0)


def last_friday(year: int, month: int) -> datetime:
    """The month's last Friday at 08:00 UTC."""
    last_day = calendar.monthrange(year, month)[1]
    day = datetime(year, month, last_day, RUN_TIME.hour, RUN_TIME.minute, tzinfo=UTC)
    return day - timedelta(days=(day.weekday() - calendar.FRIDAY) % 7)


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def next_run_at_or_after(moment: datetime) -> datetime:
    """The first last-Friday-08:00 run time that is not earlier than ``moment``."""
    moment = moment.astimezone(UTC)
    candidate = last_friday(moment.year, moment.month)
    if candidate < moment:
        candidate = last_friday(*_next_month(moment.year, moment.month))
    return candidate


def month_interval(run_at: datetime) -> DataInterval:
    """From the 1st of the run's month, 00:00 UTC, to the run time."""
    start = datetime(run_at.year, run_at.month, 1, tzinfo=UTC)
    return DataInterval(start=_pendulum(start), end=_pendulum(run_at))


def _pendulum(moment: datetime) -> DateTime:
    return instance(moment.astimezone(UTC))


class LastFridayOfMonthTimetable(Timetable):
    """Runs at 08:00 UTC on the last Friday of each month; the interval is that month so far."""

    description = "At 08:00 UTC on the last Friday of every month"

    @property
    def summary(self) -> str:
        return "last Friday of the month, 08:00 UTC"

    def serialize(self) -> dict[str, Any]:
        return {}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> LastFridayOfMonthTimetable:
        return cls()

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        """A manual run reports on the month it is triggered in, up to the trigger time."""
        return month_interval(run_after.astimezone(UTC))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None:
            # The run after the last one: the last Friday of the following month.
            end = last_automated_data_interval.end.astimezone(UTC)
            run_at = last_friday(*_next_month(end.year, end.month))
        elif restriction.earliest is not None:
            run_at = next_run_at_or_after(restriction.earliest)
        else:  # no start_date: nothing to schedule automatically
            return None
        if restriction.earliest is not None:
            run_at = max(run_at, next_run_at_or_after(restriction.earliest))
        if not restriction.catchup:  # skip missed months: next run from now on
            run_at = max(run_at, next_run_at_or_after(datetime.now(UTC)))
        if restriction.latest is not None and run_at > restriction.latest:
            return None
        interval = month_interval(run_at)
        return DagRunInfo(run_after=interval.end, data_interval=interval)
