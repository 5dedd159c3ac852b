"""Applying a plan: each account/Region's changes in dependency order, ids created on the way reused."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from patch_compliance.config import Settings
from patch_compliance.policy.gateway import ClientFactory, SsmGateway, targets_of
from patch_compliance.policy.parse import load_policy
from patch_compliance.policy.plan import Action, Change, Kind, Plan, TargetPlan, plan_target
from patch_compliance.policy.remote import RemoteState, read_state
from patch_compliance.policy.spec import Policy, WindowSpec

# Baselines before the groups bound to them, windows before their targets, targets before the tasks
# naming them; a changed sync is deleted before it is created again; deletions last.
ORDER = {
    (Action.CREATE, Kind.BASELINE): 0, (Action.UPDATE, Kind.BASELINE): 0,
    (Action.CREATE, Kind.PATCH_GROUP): 1, (Action.UPDATE, Kind.PATCH_GROUP): 1,
    (Action.CREATE, Kind.WINDOW): 2, (Action.UPDATE, Kind.WINDOW): 2,
    (Action.CREATE, Kind.TARGET): 3, (Action.UPDATE, Kind.TARGET): 3,
    (Action.CREATE, Kind.TASK): 4, (Action.UPDATE, Kind.TASK): 4,
    (Action.DELETE, Kind.SYNC): 5, (Action.CREATE, Kind.SYNC): 6,
    (Action.DELETE, Kind.WINDOW): 7, (Action.DELETE, Kind.BASELINE): 8,
}


@dataclass(frozen=True)
class ApplyResult:
    applied: list[str]

    def render(self) -> str:
        lines = [f"applied: {line}" for line in self.applied]
        lines.append(f"Apply complete: {len(self.applied)} change(s) applied.")
        return "\n".join(lines)


class _Applier:
    """One account/Region: the ids of what exists, updated as changes create objects."""

    def __init__(self, gateway: SsmGateway, state: RemoteState) -> None:
        self.gateway = gateway
        self.state = state
        self.baseline_ids = state.baseline_ids()
        self.window_ids = {name: window.window_id for name, window in state.windows.items()}
        self.target_ids: dict[str, str] = {}  # registered during this apply, by window name
        self.handlers: dict[Kind, Callable[[Change], None]] = {
            Kind.BASELINE: self.baseline, Kind.PATCH_GROUP: self.patch_group, Kind.WINDOW: self.window,
            Kind.TARGET: self.target, Kind.TASK: self.task, Kind.SYNC: self.sync,
        }

    def apply(self, change: Change) -> None:
        self.handlers[change.kind](change)

    def baseline(self, change: Change) -> None:
        if change.action == Action.CREATE:
            self.baseline_ids[change.name] = self.gateway.create_baseline(change.spec)
        elif change.action == Action.UPDATE:
            self.gateway.update_baseline(change.remote_id, change.spec)
        else:
            self.gateway.delete_baseline(change.remote_id)

    def patch_group(self, change: Change) -> None:
        self.gateway.bind(self.baseline_ids[change.spec.name], change.group, change.remote_id)

    def window(self, change: Change) -> None:
        if change.action == Action.CREATE:
            self.window_ids[change.name] = self.gateway.create_window(change.spec)
        elif change.action == Action.UPDATE:
            self.gateway.update_window(change.remote_id, change.spec)
        else:
            self.gateway.delete_window(change.remote_id)

    def target(self, change: Change) -> None:
        window_id = self.window_ids[change.spec.name]
        if change.action == Action.UPDATE:
            self.gateway.deregister_target(window_id, change.remote_id)
        if not change.deregister_only:
            self.target_ids[change.spec.name] = self.gateway.register_target(window_id, change.spec)

    def task(self, change: Change) -> None:
        window_id = self.window_ids[change.spec.name]
        if change.action == Action.UPDATE:
            self.gateway.deregister_task(window_id, change.remote_id)
        if not change.deregister_only:
            self.gateway.register_task(window_id, self.target_id(change.spec), change.spec)

    def target_id(self, spec: WindowSpec) -> str:
        """The window's declared target: registered during this apply, or already there."""
        if spec.name in self.target_ids:
            return self.target_ids[spec.name]
        return (self.state.windows[spec.name].target(spec.target_name) or {})["WindowTargetId"]

    def sync(self, change: Change) -> None:
        if change.action == Action.CREATE:
            self.gateway.create_sync(change.spec)
        else:
            self.gateway.delete_sync(change.remote_id)


def apply_target(target: TargetPlan, gateway: SsmGateway, state: RemoteState) -> ApplyResult:
    """Apply one account/Region's changes in dependency order."""
    where = f"account {target.account.id} {target.region}"
    applier = _Applier(gateway, state)
    applied = []
    for change in sorted(target.changes, key=lambda c: ORDER[(c.action, c.kind)]):
        applier.apply(change)
        applied.append(f"{where}: {change.line()}")
    return ApplyResult(applied)


def apply(
    settings: Settings,
    client_factory: ClientFactory,
    *,
    allow_delete: bool = False,
    accounts: Iterable[str] | None = None,
    policy: Policy | None = None,
) -> tuple[Plan, ApplyResult]:
    """Plan and apply every account/Region; a second run finds nothing to do."""
    policy = policy or load_policy(settings)
    plans, applied = [], []
    for account, region in targets_of(settings, accounts, policy.applier_role_name):
        gateway = SsmGateway(client_factory(account, region))
        state = read_state(gateway, policy)
        target = plan_target(policy, state, account, region, allow_delete)
        plans.append(target)
        applied += apply_target(target, gateway, state).applied
    return Plan(plans, allow_delete), ApplyResult(applied)
