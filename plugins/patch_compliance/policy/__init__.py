"""Patch policy as code: declared baselines, patch groups, maintenance windows and the Resource Data
Sync, reconciled with SSM in every account and Region (plan, apply, drift).

Why: the triad "baseline decides what is approved, the PatchGroup tag binds an instance to a baseline,
the maintenance window decides when" fails silently when any part is edited by hand. Declaring it in
``config/fleet.yaml``, applying it idempotently and recording what is in force makes it auditable.

Modules, data flowing one way: ``spec`` (value objects) <- ``parse`` (from the config) ; ``gateway``
(the SSM calls) <- ``remote`` (what an account holds) <- ``plan`` <- ``apply`` / ``drift``. The
policy DAG's entry point is ``patch_compliance.tasks.policy_apply``. This package re-exports the
names the CLI and the task bodies use.
"""

from patch_compliance.policy.apply import ApplyResult, apply, apply_target
from patch_compliance.policy.drift import BaselineRow, Drift, baseline_rows, collect_baselines, record_baselines
from patch_compliance.policy.gateway import (
    ClientFactory,
    SsmGateway,
    client_factory,
    targets_of,
)
from patch_compliance.policy.parse import load_policy
from patch_compliance.policy.plan import Action, Change, Kind, Plan, TargetPlan, baseline_differences, plan, plan_target
from patch_compliance.policy.remote import RemoteBaseline, RemoteState, RemoteWindow, read_state
from patch_compliance.policy.spec import (
    MANAGED_TAG_KEY,
    MANAGED_TAG_VALUE,
    BaselineSpec,
    DataSyncSpec,
    PatchGroupSpec,
    Policy,
    PolicyError,
    WindowSpec,
    with_marker,
)

__all__ = [
    "MANAGED_TAG_KEY", "MANAGED_TAG_VALUE", "Action", "ApplyResult", "BaselineRow", "BaselineSpec", "Change",
    "ClientFactory", "DataSyncSpec", "Drift", "Kind", "PatchGroupSpec", "Plan", "Policy", "PolicyError",
    "RemoteBaseline", "RemoteState", "RemoteWindow", "SsmGateway", "TargetPlan", "WindowSpec",
    "apply", "apply_target", "baseline_differences", "baseline_rows", "client_factory", "collect_baselines",
    "load_policy", "plan", "plan_target", "read_state", "record_baselines", "targets_of", "with_marker",
]
