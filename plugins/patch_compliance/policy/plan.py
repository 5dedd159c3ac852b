"""The difference between the declared policy and one account/Region, as changes that resolve it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from patch_compliance.config import Account, Settings
from patch_compliance.policy.gateway import ClientFactory, SsmGateway, targets_of
from patch_compliance.policy.parse import load_policy
from patch_compliance.policy.remote import RemoteState, RemoteWindow, read_state
from patch_compliance.policy.spec import (
    MANAGED_TAG_KEY,
    MANAGED_TAG_VALUE,
    BaselineSpec,
    Policy,
    PolicyError,
    WindowSpec,
    marker_fingerprint,
)


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Kind(StrEnum):
    BASELINE = "baseline"
    PATCH_GROUP = "patch_group"
    WINDOW = "maintenance_window"
    TARGET = "window_target"
    TASK = "window_task"
    SYNC = "resource_data_sync"


SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}


@dataclass(frozen=True)
class Change:
    """One difference between the declared policy and an account/Region, and what resolves it."""

    action: Action
    kind: Kind
    name: str
    details: list[str] = field(default_factory=list)
    remote_id: str = ""
    spec: Any = None
    group: str = ""  # patch_group changes: the group to bind
    deregister_only: bool = False  # an undeclared target/task of a managed window

    def line(self) -> str:
        text = f"{SYMBOLS[self.action]} {self.kind} {self.name}"
        return text + (f" ({self.remote_id})" if self.remote_id and self.action != Action.CREATE else "")


@dataclass(frozen=True)
class TargetPlan:
    account: Account
    region: str
    changes: list[Change]
    held_back: list[Change]  # deletions not applied without allow_delete


@dataclass(frozen=True)
class Plan:
    targets: list[TargetPlan]
    allow_delete: bool

    def count(self, action: str) -> int:
        return sum(1 for t in self.targets for c in t.changes if c.action == action)

    @property
    def held_back(self) -> int:
        return sum(len(t.held_back) for t in self.targets)

    @property
    def has_changes(self) -> bool:
        return any(t.changes for t in self.targets)

    def render(self) -> str:
        lines = []
        for target in self.targets:
            lines.append(f"account {target.account.id} ({target.account.name}) {target.region}:")
            if not target.changes and not target.held_back:
                lines.append("  no changes")
            for change in target.changes:
                lines.append(f"  {change.line()}")
                lines += [f"      {d}" for d in change.details]
            for change in target.held_back:
                lines.append(f"  # {change.line()}  (held back: pass --allow-delete to delete)")
        if self.has_changes or self.held_back:
            lines.append(f"Plan: {self.count(Action.CREATE)} to create, {self.count(Action.UPDATE)} to update, "
                         f"{self.count(Action.DELETE)} to delete; {self.held_back} deletion(s) held back.")
        else:
            lines.append("No changes. SSM matches the declared policy.")
        return "\n".join(lines)


# --- baselines --------------------------------------------------------------------------------------


def _normalise_rules(rules: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [{
        "filters": [(f["Key"], list(f["Values"])) for f in rule["PatchFilterGroup"]["PatchFilters"]],
        "ComplianceLevel": rule.get("ComplianceLevel") or "UNSPECIFIED",
        "ApproveAfterDays": rule.get("ApproveAfterDays"),
        "EnableNonSecurity": bool(rule.get("EnableNonSecurity")),
    } for rule in (rules or {}).get("PatchRules") or []]


def baseline_differences(spec: BaselineSpec, content: dict[str, Any]) -> list[str]:
    """Field-level differences between the declared baseline and GetPatchBaseline's answer."""
    declared = spec.content()
    differences = []
    if content.get("OperatingSystem") != spec.operating_system:
        differences.append(f"OperatingSystem {content.get('OperatingSystem')} -> {spec.operating_system}")
    actual_rules = _normalise_rules(content.get("ApprovalRules"))
    wanted_rules = _normalise_rules(declared["ApprovalRules"])
    for n in range(max(len(actual_rules), len(wanted_rules))):
        old = actual_rules[n] if n < len(actual_rules) else None
        new = wanted_rules[n] if n < len(wanted_rules) else None
        if old == new:
            continue
        if old and new:
            differences += [f"rule {n + 1} {k}: {old.get(k)} -> {new.get(k)}" for k in new if old.get(k) != new.get(k)]
        else:
            differences.append(f"rule {n + 1}: {old} -> {new}")
    for key in ("ApprovedPatches", "RejectedPatches"):
        if sorted(content.get(key) or []) != sorted(declared[key]):
            differences.append(f"{key} {sorted(content.get(key) or [])} -> {sorted(declared[key])}")
    if (content.get("RejectedPatchesAction") or "ALLOW_AS_DEPENDENCY") != declared["RejectedPatchesAction"]:
        differences.append(
            f"RejectedPatchesAction {content.get('RejectedPatchesAction')} -> {declared['RejectedPatchesAction']}"
        )
    if (content.get("Description") or "") != spec.ssm_description:
        differences.append("Description differs from the declared one")
    return differences


def _unmanaged_error(where: str, kind: str, name: str, object_id: str) -> PolicyError:
    return PolicyError(
        f"{where}: {kind} {name!r} ({object_id}) exists but is not managed here (no {MANAGED_TAG_KEY}="
        f"{MANAGED_TAG_VALUE} tag); rename the declared {kind} or tag the existing one to adopt it"
    )


def _baseline_changes(policy: Policy, state: RemoteState, where: str) -> list[Change]:
    changes = []
    for spec in policy.baselines:
        remote = state.baselines.get(spec.name)
        if remote is None:
            if spec.name in state.unmanaged_baselines:
                raise _unmanaged_error(where, "baseline", spec.name, state.unmanaged_baselines[spec.name])
            changes.append(Change(Action.CREATE, Kind.BASELINE, spec.name, spec.describe(), spec=spec))
            continue
        differences = baseline_differences(spec, remote.content)
        if any(d.startswith("OperatingSystem") for d in differences):
            raise PolicyError(f"{where}: baseline {spec.name!r} has another operating system in SSM; an OS cannot "
                              "be changed in place: delete it (or rename the declared one)")
        if differences:
            changes.append(Change(Action.UPDATE, Kind.BASELINE, spec.name, differences, remote.baseline_id, spec))
    ids = state.baseline_ids()
    for (group, system), name in policy.bindings().items():
        bound = state.bindings.get((group, system), "")
        if bound and bound == ids.get(name):
            continue
        unbound = state.is_unbound(bound)
        changes.append(Change(
            Action.CREATE if unbound else Action.UPDATE, Kind.PATCH_GROUP, f"{group} [{system}]",
            [f"bind to baseline {name} (now {'the OS default baseline' if unbound else bound})"],
            "" if unbound else bound, policy.baseline(name), group=group,
        ))
    return changes


# --- maintenance windows ---------------------------------------------------------------------------


def _run_command_parameters(task: dict[str, Any]) -> dict[str, list[str]]:
    parameters = ((task.get("TaskInvocationParameters") or {}).get("RunCommand") or {}).get("Parameters") or {}
    return {k: list(parameters.get(k) or []) for k in ("Operation", "RebootOption")}


def _targets_equal(actual: list[dict[str, Any]] | None, wanted: list[dict[str, Any]]) -> bool:
    def norm(targets: list[dict[str, Any]] | None) -> list[tuple[str, tuple[str, ...]]]:
        return sorted((t["Key"], tuple(sorted(t["Values"]))) for t in targets or [])

    return norm(actual) == norm(wanted)


def _render_targets(targets: list[dict[str, Any]] | None) -> str:
    return " ".join(f"{t['Key']}={','.join(t['Values'])}" for t in targets or []) or "none"


def _window_differences(spec: WindowSpec, remote: RemoteWindow) -> list[str]:
    actual = {k: remote.identity.get(k) for k in spec.window_fields()}
    differences = [f"{k} {actual[k]} -> {v}" for k, v in spec.window_fields().items() if actual[k] != v]
    if remote.identity.get("Enabled") is False:
        differences.append("Enabled False -> True")
    found = marker_fingerprint(remote.identity.get("Description"))
    if not differences and found != spec.fingerprint:
        differences.append(f"description/spec fingerprint {found or 'none'} -> {spec.fingerprint}")
    return differences


def _window_changes(spec: WindowSpec, remote: RemoteWindow | None) -> list[Change]:
    schedule, targets, task_text = spec.describe()
    target_name, task_name = f"{spec.name}/{spec.target_name}", f"{spec.name}/{spec.task_name}"
    if remote is None:
        return [Change(Action.CREATE, Kind.WINDOW, spec.name, [schedule], spec=spec),
                Change(Action.CREATE, Kind.TARGET, target_name, [targets], spec=spec),
                Change(Action.CREATE, Kind.TASK, task_name, [task_text], spec=spec)]
    changes = []
    differences = _window_differences(spec, remote)
    if differences:
        changes.append(Change(Action.UPDATE, Kind.WINDOW, spec.name, differences, remote.window_id, spec))
    target, task = remote.target(spec.target_name), remote.task(spec.task_name)
    wanted_task = spec.task_fields()
    target_ok = (target is not None and marker_fingerprint(target.get("Description")) == spec.target_fingerprint
                 and _targets_equal(target.get("Targets"), spec.target_fields()["Targets"]))
    task_ok = (task is not None and marker_fingerprint(task.get("Description")) == spec.task_fingerprint
               and all(task.get(k) == wanted_task[k] for k in ("TaskArn", "MaxConcurrency", "MaxErrors", "Priority"))
               and _run_command_parameters(task) == spec.task_parameters())
    if not target_ok:
        details = [targets] if target is None else [f"targets {_render_targets(target.get('Targets'))} -> {targets}"]
        changes.append(Change(Action.CREATE if target is None else Action.UPDATE, Kind.TARGET, target_name, details,
                              target["WindowTargetId"] if target else "", spec))
    if not task_ok or not target_ok:  # a task names its target: a new target needs the task registered again
        changes.append(Change(Action.CREATE if task is None else Action.UPDATE, Kind.TASK, task_name, [task_text],
                              task["WindowTaskId"] if task else "", spec))
    undeclared = ["not declared: deregister from the managed window"]
    changes += [Change(Action.UPDATE, Kind.TASK, f"{spec.name}/{t.get('Name') or t['WindowTaskId']}", undeclared,
                       t["WindowTaskId"], spec, deregister_only=True)
                for t in remote.tasks if t.get("Name") != spec.task_name]
    changes += [Change(Action.UPDATE, Kind.TARGET, f"{spec.name}/{t.get('Name') or t['WindowTargetId']}", undeclared,
                       t["WindowTargetId"], spec, deregister_only=True)
                for t in remote.targets if t.get("Name") != spec.target_name]
    return changes


# --- the whole account/Region ---------------------------------------------------------------------


def _sync_changes(policy: Policy, state: RemoteState, allow_delete: bool) -> tuple[list[Change], list[Change]]:
    sync = policy.data_sync
    if sync is None:
        return [], []
    create = Change(Action.CREATE, Kind.SYNC, sync.name, [sync.describe()], spec=sync)
    existing = next((s for s in state.syncs if s.get("SyncName") == sync.name), None)
    if existing is None:
        return [create], []
    actual = existing.get("S3Destination") or {}
    differences = [f"{k} {actual.get(k)} -> {v}" for k, v in sync.s3_destination().items() if actual.get(k) != v]
    if not differences:
        return [], []
    # A sync cannot be updated in place: it is deleted and created again.
    delete = Change(Action.DELETE, Kind.SYNC, sync.name, [*differences, "recreated: syncs cannot be updated in place"],
                    sync.name, sync)
    return ([delete, create], []) if allow_delete else ([], [delete])


def plan_target(policy: Policy, state: RemoteState, account: Account, region: str, allow_delete: bool) -> TargetPlan:
    where = f"account {account.id} {region}"
    changes = _baseline_changes(policy, state, where)
    for spec in policy.windows:
        if spec.name not in state.windows and spec.name in state.unmanaged_windows:
            raise _unmanaged_error(where, "maintenance window", spec.name, state.unmanaged_windows[spec.name])
        changes += _window_changes(spec, state.windows.get(spec.name))
    sync_changes, held = _sync_changes(policy, state, allow_delete)
    changes += sync_changes
    unmanaged = ["managed here but no longer declared"]
    deletions = [Change(Action.DELETE, Kind.BASELINE, name, unmanaged, remote.baseline_id)
                 for name, remote in state.baselines.items() if name not in {b.name for b in policy.baselines}]
    deletions += [Change(Action.DELETE, Kind.WINDOW, name, unmanaged, remote.window_id)
                  for name, remote in state.windows.items() if name not in {w.name for w in policy.windows}]
    if allow_delete:
        changes += deletions
    else:
        held += deletions
    return TargetPlan(account, region, changes, held)


def plan(
    settings: Settings,
    client_factory: ClientFactory,
    *,
    allow_delete: bool = False,
    accounts: Iterable[str] | None = None,
    policy: Policy | None = None,
) -> Plan:
    """Compare the declared policy with SSM in every configured account and Region."""
    policy = policy or load_policy(settings)
    targets = []
    for account, region in targets_of(settings, accounts, policy.applier_role_name):
        state = read_state(SsmGateway(client_factory(account, region)), policy)
        targets.append(plan_target(policy, state, account, region, allow_delete))
    return Plan(targets, allow_delete)
