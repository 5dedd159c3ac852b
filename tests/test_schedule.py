"""When a maintenance window ran (patch_compliance.schedule): its cron(...) and at(...) start times, in its time zone.

Every expected time is written out from a calendar (November 2026 starts on a Sunday; Central Europe
moves to summer time on Sunday 2026-03-29), not computed by the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from patch_compliance.schedule import runs


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


NOVEMBER = (utc(2026, 11, 1), utc(2026, 12, 1))


def test_a_weekly_cron_runs_on_each_matching_day_of_the_span() -> None:
    assert runs("cron(0 2 ? * SAT *)", "UTC", *NOVEMBER) == [
        utc(2026, 11, 7, 2), utc(2026, 11, 14, 2), utc(2026, 11, 21, 2), utc(2026, 11, 28, 2)]
    assert runs("cron(0 2 ? * 7 *)", "UTC", *NOVEMBER) == runs("cron(0 2 ? * SAT *)", "UTC", *NOVEMBER)  # 7 = SAT


def test_the_time_zone_is_the_windows_and_follows_summer_time() -> None:
    # 03:00 in Berlin is 02:00 UTC in winter (CET, +1) and 01:00 UTC from 2026-03-29 (CEST, +2)
    assert runs("cron(0 3 ? * SUN *)", "Europe/Berlin", utc(2026, 3, 1), utc(2026, 4, 1)) == [
        utc(2026, 3, 1, 2), utc(2026, 3, 8, 2), utc(2026, 3, 15, 2), utc(2026, 3, 22, 2), utc(2026, 3, 29, 1)]


def test_lists_ranges_steps_and_names_are_evaluated() -> None:
    # Monday 2026-11-02 and Tuesday 11-03 (the span ends on Wednesday at 00:00), every half hour from 08:00 to 09:30
    assert runs("cron(0/30 8-9 ? * MON-FRI *)", "UTC", utc(2026, 11, 2), utc(2026, 11, 4)) == [
        utc(2026, 11, d, h, m) for d in (2, 3) for h in (8, 9) for m in (0, 30)]
    assert runs("cron(15 6 1,15 JAN,jul ? 2027)", "UTC", utc(2026, 1, 1), utc(2028, 6, 1)) == [
        utc(2027, 1, 1, 6, 15), utc(2027, 1, 15, 6, 15), utc(2027, 7, 1, 6, 15), utc(2027, 7, 15, 6, 15)]


def test_the_span_includes_its_start_and_excludes_its_end() -> None:
    saturday = utc(2026, 11, 7, 2)
    assert runs("cron(0 2 ? * SAT *)", "UTC", saturday, utc(2026, 11, 14, 2)) == [saturday]
    assert runs("cron(0 2 ? * SAT *)", "UTC", utc(2026, 11, 8), utc(2026, 11, 14)) == []


def test_a_one_off_window_runs_once_at_its_local_time() -> None:
    assert runs("at(2026-11-07T02:30:00)", "Europe/Berlin", *NOVEMBER) == [utc(2026, 11, 7, 1, 30)]
    assert runs("at(2026-12-07T02:30:00)", "Europe/Berlin", *NOVEMBER) == []


@pytest.mark.parametrize("schedule", ["rate(7 days)", "cron(0 2 L * ? *)", "cron(0 2 15W * ? *)",
                                      "cron(0 2 ? * 6#3 *)", "cron(0 2 ? * 6L *)"])
def test_what_is_not_evaluated_here_gives_none_not_a_guess(schedule: str) -> None:
    assert runs(schedule, "UTC", *NOVEMBER) is None


@pytest.mark.parametrize(("schedule", "message"), [
    ("cron(0 2 ? * SAT)", "six fields"),
    ("cron(0 24 ? * SAT *)", r"out of \[0, 23\]"),
    ("cron(60 2 ? * SAT *)", r"out of \[0, 59\]"),
    ("cron(0 2 ? * 0 *)", r"out of \[1, 7\]"),
    ("cron(0 9-8 ? * * *)", "out of"),
])
def test_a_cron_expression_out_of_its_fields_ranges_is_refused(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        runs(schedule, "UTC", *NOVEMBER)
