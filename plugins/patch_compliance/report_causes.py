"""The declared policy's facts behind each host's cause: patch groups, Install windows' targets and runs.

``sql/report/causes.sql`` decides the cause from the lake; what only the declared policy knows
(``config/fleet.yaml``, through ``policy.load_policy``) it takes as bound parameters built here.
Window runs are computed from each window's schedule over the weeks before the report date, so the
SQL can ask "did the last run before this host's scan install what was already missing?". The
manifest keeps these facts, so a report regenerated later decides every cause the same way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from patch_compliance.config import Settings
from patch_compliance.report_model import PolicyFacts
from patch_compliance.schedule import runs

RUNS_LOOKBACK_DAYS = 35  # a monthly window has a run in any 35 days
_FORMAT = "%Y-%m-%d %H:%M:%S"


def policy_facts(settings: Settings, report_date: date) -> PolicyFacts:
    """Declared patch groups, and per declared Install window its target tags and runs up to the report day."""
    from patch_compliance.policy.parse import load_policy

    policy = load_policy(settings)
    end = datetime(report_date.year, report_date.month, report_date.day, tzinfo=UTC) + timedelta(days=1)
    start = end - timedelta(days=RUNS_LOOKBACK_DAYS + 1)
    targets: list[tuple[str, str, str]] = []
    window_runs: list[tuple[str, str, str]] = []
    unevaluated: list[str] = []
    for window in policy.windows:
        if window.operation != "Install":  # a Scan window patches nothing
            continue
        targets += [(window.name, key, value) for key, values in window.targets for value in values]
        starts = runs(window.schedule, window.schedule_timezone, start, end)
        if starts is None:
            unevaluated.append(window.name)
            continue
        duration = timedelta(hours=window.duration_hours)
        window_runs += [(window.name, s.strftime(_FORMAT), (s + duration).strftime(_FORMAT)) for s in starts]
    return PolicyFacts(tuple(g.name for g in policy.patch_groups), tuple(targets), tuple(window_runs),
                       tuple(unevaluated))
