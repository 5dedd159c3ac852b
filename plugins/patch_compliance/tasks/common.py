"""What every DAG shares: default args (owner, retries, the Slack failure notifiers), the lake asset,
a run's snapshot date, failing fast on bad input, and plain-text tables for task logs.

Task bodies live beside this module, one module per DAG (``daily``, ``monthly_report``,
``cve_evidence``, ``policy_apply``), so DAG files only wire. Orchestration knobs live in the
``airflow:`` section of ``config/fleet.yaml`` (owner, retries, backoff, poke intervals, the Slack
connection; ``Settings.airflow``); see ``docs/airflow.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from patch_compliance.config import Settings, load_settings
from patch_compliance.inputs import InputError

P = ParamSpec("P")
R = TypeVar("R")


def run_failure_notifier() -> Any:
    """The DAG-level alert: only for run failures no task reported (a timeout, a deadlock)."""
    from patch_compliance.notifiers import RunFailureNotifier

    return RunFailureNotifier(load_settings().airflow.slack_connection_id)


def default_args() -> dict[str, Any]:
    """Owner, retries with exponential backoff and the Slack failure notifier, for every task."""
    from patch_compliance.notifiers import TaskFailureNotifier

    knobs = load_settings().airflow
    return {
        "owner": knobs.owner,
        "retries": knobs.retries,
        "retry_delay": timedelta(seconds=knobs.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=knobs.max_retry_delay_seconds),
        "on_failure_callback": TaskFailureNotifier(knobs.slack_connection_id),
    }


def lake_asset() -> Any:
    """The lake's ``patch_compliance`` table as an Airflow Asset: the daily DAG's outlet, the readers' inlet."""
    from airflow.sdk import Asset

    return Asset(lake_asset_uri(), extra={"table": "patch_compliance"})


def lake_asset_uri(settings: Settings | None = None) -> str:
    """The Airflow Asset the daily DAG updates: the lake's ``patch_compliance`` table."""
    settings = settings or load_settings()
    return f"{settings.storage.lake_uri.rstrip('/')}/patch_compliance"



def fail_fast(body: Callable[P, R]) -> Callable[P, R]:
    """For task bodies: bad input (an ``InputError``) fails the task at once, since retrying cannot fix it."""

    @functools.wraps(body)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return body(*args, **kwargs)
        except InputError as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(exc)) from exc

    return checked



def snapshot_date_of(logical_date: datetime | None, run_after: datetime) -> date:
    """A run's snapshot date: its logical date (a manual run without one: the day it runs)."""
    return (logical_date or run_after).date()


def run_snapshot_date(logical_date: datetime | None, dag_run: Any) -> date:
    """A run's snapshot date: its logical date (a manual run without one: the day it runs after)."""
    return snapshot_date_of(logical_date, dag_run.run_after)



def format_table(columns: tuple[str, ...], rows: list[dict[str, Any]], limit: int = 200) -> str:
    """A plain-text table for task logs (first ``limit`` rows)."""
    cells = [[str(c) for c in columns]] + [["" if r.get(c) is None else str(r.get(c)) for c in columns]
                                           for r in rows[:limit]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more rows in the CSV")
    return "\n".join(lines)
