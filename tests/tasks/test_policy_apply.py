"""The policy DAG's task bodies: what they refuse before any AWS call, and the plan summary."""

from __future__ import annotations

import pytest

from patch_compliance.config import load_settings
from patch_compliance.policy import Plan, PolicyError
from patch_compliance.tasks.policy_apply import plan_summary, run_in_airflow


def test_only_plan_or_apply() -> None:
    with pytest.raises(PolicyError, match="plan or apply"):
        run_in_airflow("destroy", settings=load_settings())


def test_unknown_accounts_are_refused_before_any_aws_call() -> None:
    with pytest.raises(PolicyError, match="not in the config's accounts"):
        run_in_airflow("plan", accounts=["999999999999"], settings=load_settings())


def test_plan_summary_of_an_empty_plan() -> None:
    assert plan_summary(Plan(targets=[], allow_delete=False)) == {
        "create": 0, "update": 0, "delete": 0, "held_back": 0, "has_changes": False}
