"""What one account/Region holds, as far as the policy is concerned, read through the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patch_compliance.policy.gateway import MAINTENANCE_WINDOW, PATCH_BASELINE, SsmGateway
from patch_compliance.policy.spec import Policy, PolicyError, is_managed


@dataclass(frozen=True)
class RemoteBaseline:
    """A managed baseline: its identity (DescribePatchBaselines) and contents (GetPatchBaseline)."""

    identity: dict[str, Any]
    content: dict[str, Any]

    @property
    def baseline_id(self) -> str:
        return self.identity["BaselineId"]

    @property
    def operating_system(self) -> str:
        return self.identity.get("OperatingSystem") or self.content.get("OperatingSystem", "")

    @property
    def patch_groups(self) -> list[str]:
        return sorted(self.content.get("PatchGroups") or [])


@dataclass(frozen=True)
class RemoteWindow:
    """A managed window (DescribeMaintenanceWindows) with its targets and tasks."""

    identity: dict[str, Any]
    targets: list[dict[str, Any]]
    tasks: list[dict[str, Any]]

    @property
    def window_id(self) -> str:
        return self.identity["WindowId"]

    def target(self, name: str) -> dict[str, Any] | None:
        return next((t for t in self.targets if t.get("Name") == name), None)

    def task(self, name: str) -> dict[str, Any] | None:
        return next((t for t in self.tasks if t.get("Name") == name), None)


@dataclass(frozen=True)
class RemoteState:
    baselines: dict[str, RemoteBaseline]  # managed, by name
    unmanaged_baselines: dict[str, str]  # name -> id of custom baselines without the managed tag
    windows: dict[str, RemoteWindow]  # managed, by name
    unmanaged_windows: dict[str, str]  # name -> id of windows without the managed tag
    bindings: dict[tuple[str, str], str]  # (group, OS) -> bound baseline id, for the declared bindings
    syncs: list[dict[str, Any]]  # ListResourceDataSync items
    default_ids: frozenset[str] = frozenset()  # custom baselines registered as an OS default

    def is_unbound(self, baseline_id: str) -> bool:
        """True when a group falls back to the OS default (AWS-owned ARN or the account's default)."""
        return not baseline_id or baseline_id.startswith("arn:") or baseline_id in self.default_ids

    def baseline_ids(self) -> dict[str, str]:
        return {name: remote.baseline_id for name, remote in self.baselines.items()}

    def groups_bound_to(self, baseline_id: str) -> list[str]:
        """Declared patch groups whose slot the baseline holds."""
        return sorted(group for (group, _system), bound in self.bindings.items() if bound == baseline_id)


def _by_name(items: list[tuple[str, Any]], what: str, ident: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, item in items:
        if name in found:
            raise PolicyError(f"two managed {what}s are named {name!r} ({ident(found[name])}, {ident(item)}); "
                              "delete one before reconciling")
        found[name] = item
    return found


def read_state(gateway: SsmGateway, policy: Policy) -> RemoteState:
    managed, unmanaged = [], {}
    identities = gateway.own_baselines()
    for identity in identities:
        if is_managed(gateway.tags(PATCH_BASELINE, identity["BaselineId"])):
            managed.append((identity["BaselineName"],
                            RemoteBaseline(identity, gateway.baseline(identity["BaselineId"]))))
        else:
            unmanaged[identity["BaselineName"]] = identity["BaselineId"]
    windows, other_windows = [], {}
    for window in gateway.windows():
        if is_managed(gateway.tags(MAINTENANCE_WINDOW, window["WindowId"])):
            windows.append((window["Name"], RemoteWindow(window, gateway.window_targets(window["WindowId"]),
                                                         gateway.window_tasks(window["WindowId"]))))
        else:
            other_windows[window["Name"]] = window["WindowId"]
    return RemoteState(
        baselines=_by_name(managed, "baseline", lambda b: b.baseline_id),
        unmanaged_baselines=unmanaged,
        windows=_by_name(windows, "maintenance window", lambda w: w.window_id),
        unmanaged_windows=other_windows,
        bindings={(group, system): gateway.bound_baseline(group, system) for group, system in policy.bindings()},
        syncs=gateway.syncs() if policy.data_sync else [],
        default_ids=frozenset(i["BaselineId"] for i in identities if i.get("DefaultBaseline")),
    )
