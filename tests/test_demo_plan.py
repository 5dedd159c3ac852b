"""Which days ``make demo`` runs and which month it reports (``sim.demo.plan_days``), whatever today is."""

from __future__ import annotations

from datetime import date

import pytest

from sim.demo import plan_days


def _days(first: str, last: str) -> list[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [date.fromordinal(n) for n in range(start.toordinal(), end.toordinal() + 1)]


@pytest.mark.parametrize(("today", "month", "archived", "live"), [
    ("2026-12-01", "2026-11", ("2026-11-01", "2026-11-30"), "2026-12-01"),  # the 1st: the whole month before
    ("2026-12-02", "2026-11", ("2026-11-01", "2026-11-30"), "2026-12-02"),  # Dec 1 is not simulated
    ("2026-11-30", "2026-11", ("2026-11-01", "2026-11-29"), "2026-11-30"),  # the month's last day: this month
    ("2027-03-15", "2027-02", ("2027-02-01", "2027-02-28"), "2027-03-15"),
    ("2028-03-01", "2028-02", ("2028-02-01", "2028-02-29"), "2028-03-01"),  # leap year
])
def test_the_default_is_the_last_complete_month_then_today_live(today, month, archived, live) -> None:
    plan = plan_days(date.fromisoformat(today), live_days=1)
    assert plan.month == month
    assert plan.archived == _days(*archived)
    assert plan.live == [date.fromisoformat(live)]
    assert len(plan.archived) >= 28  # at least four weeks of trend


def test_several_live_days_take_the_month_s_last_days_when_they_fall_in_it() -> None:
    plan = plan_days(date(2026, 11, 30), live_days=2)
    assert plan.archived == _days("2026-11-01", "2026-11-28")
    assert plan.live == [date(2026, 11, 29), date(2026, 11, 30)]


def test_an_explicit_number_of_days_ends_today_and_reports_today_s_month() -> None:
    plan = plan_days(date(2026, 11, 26), live_days=1, days=4)
    assert plan.archived == _days("2026-11-23", "2026-11-25") and plan.live == [date(2026, 11, 26)]
    assert plan.month == "2026-11"
    with pytest.raises(ValueError, match="between 1 and --days"):
        plan_days(date(2026, 11, 26), live_days=5, days=4)
    with pytest.raises(ValueError, match="at least 1"):
        plan_days(date(2026, 11, 26), live_days=0)
