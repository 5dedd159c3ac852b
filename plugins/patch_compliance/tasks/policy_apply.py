"""The policy DAG's task bodies: plan or apply through the ``aws`` connection (imported lazily by the
DAG, so parsing it stays cheap). Its ``record_baselines`` task runs the daily DAG's
``tasks.daily.record_baselines_day``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from patch_compliance.aws import Aws
from patch_compliance.config import Settings
from patch_compliance.policy.apply import apply
from patch_compliance.policy.gateway import client_factory, targets_of
from patch_compliance.policy.plan import Action, Plan, plan
from patch_compliance.policy.spec import PolicyError


def plan_summary(plan_: Plan) -> dict[str, Any]:
    """Counts a task returns (XCom) and a reviewer reads in the run's details."""
    return {
        "create": plan_.count(Action.CREATE),
        "update": plan_.count(Action.UPDATE),
        "delete": plan_.count(Action.DELETE),
        "held_back": plan_.held_back,
        "has_changes": plan_.has_changes,
    }


def run_in_airflow(
    action: str,
    *,
    allow_delete: bool = False,
    accounts: Iterable[str] | None = None,
    settings: Settings | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``plan`` or ``apply``; logs the plan (and what was applied)."""
    from patch_compliance.config import load_settings

    if action not in {"plan", "apply"}:
        raise PolicyError(f"action must be plan or apply, got {action!r}")
    settings = settings or load_settings()
    accounts = list(accounts or [])
    targets_of(settings, accounts)  # reject unknown accounts before any AWS call
    factory = client_factory(Aws.from_settings(settings))
    if action == "plan":
        planned = plan(settings, factory, allow_delete=allow_delete, accounts=accounts)
        log(planned.render())
        return plan_summary(planned)
    planned, result = apply(settings, factory, allow_delete=allow_delete, accounts=accounts)
    log(planned.render())
    log(result.render())
    return {**plan_summary(planned), "applied": len(result.applied)}
