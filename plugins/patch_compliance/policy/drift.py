"""Drift: the baselines in force per account/Region, compared with the declared policy, in the lake.

One row per baseline into the ``baselines`` table (schema in ``lake.py``), so the monthly report can
state which baselines were in force and flag every one that is not as declared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from patch_compliance.aws import StorageAccess
from patch_compliance.config import Account, Settings
from patch_compliance.policy.gateway import ClientFactory, SsmGateway, targets_of
from patch_compliance.policy.parse import load_policy
from patch_compliance.policy.plan import baseline_differences
from patch_compliance.policy.remote import RemoteState, read_state
from patch_compliance.policy.spec import Policy


class Drift(StrEnum):
    IN_SYNC = "in_sync"  # declared, present, contents and patch-group bindings as declared
    DRIFTED = "drifted"  # declared and present but different (drift_details says how)
    UNDECLARED = "undeclared"  # a custom baseline the policy does not declare
    MISSING = "missing"  # declared but absent from SSM


@dataclass(frozen=True)
class BaselineRow:
    """One baseline of one account/Region as recorded in the lake."""

    baseline_id: str
    name: str
    operating_system: str | None  # None: not read (a baseline not managed here)
    drift: Drift
    details: list[str]
    declared_name: str = ""
    patch_groups: list[str] = field(default_factory=list)
    content: dict[str, Any] = field(default_factory=dict)  # GetPatchBaseline's answer, when managed
    is_default: bool = False

    def record(self, account: Account, region: str, captured_at: datetime) -> dict[str, Any]:
        content = self.content
        return {
            "account_id": account.id,
            "region": region,
            "baseline_id": self.baseline_id,
            "name": self.name,
            "operating_system": self.operating_system,
            "patch_groups": self.patch_groups,
            "is_default": self.is_default,
            "approval_rules": json.dumps(content["ApprovalRules"], sort_keys=True) if "ApprovalRules" in content
            else "",
            "approved_patches": list(content.get("ApprovedPatches") or []),
            "rejected_patches": list(content.get("RejectedPatches") or []),
            "rejected_patches_action": content.get("RejectedPatchesAction") or "",
            "declared_name": self.declared_name,
            "drift": str(self.drift),
            "drift_details": "; ".join(self.details),
            "captured_at": captured_at,
        }


def baseline_rows(policy: Policy, state: RemoteState) -> list[BaselineRow]:
    """One row per custom baseline in the account/Region plus one per declared baseline that is missing."""
    declared = {b.name: b for b in policy.baselines}
    rows = []
    for name, remote in sorted(state.baselines.items()):
        bound = state.groups_bound_to(remote.baseline_id)
        spec = declared.get(name)
        if spec is None:
            drift, details = Drift.UNDECLARED, ["managed here but no longer declared"]
        else:
            details = baseline_differences(spec, remote.content)
            expected = policy.groups_of(name)
            if bound != expected:
                details.append(f"bound to patch groups {bound}, declared {expected}")
            drift = Drift.DRIFTED if details else Drift.IN_SYNC
        rows.append(BaselineRow(remote.baseline_id, name, remote.operating_system, drift, details,
                                name if spec else "", bound, remote.content,
                                bool(remote.identity.get("DefaultBaseline"))))
    rows += [BaselineRow(baseline_id, name, None, Drift.UNDECLARED, ["custom baseline not managed by this policy"],
                         patch_groups=state.groups_bound_to(baseline_id))
             for name, baseline_id in sorted(state.unmanaged_baselines.items())]
    rows += [BaselineRow("", spec.name, spec.operating_system, Drift.MISSING, ["declared but not present in SSM"],
                         spec.name)
             for spec in policy.baselines if spec.name not in state.baselines]
    return rows


def collect_baselines(
    settings: Settings,
    client_factory: ClientFactory,
    *,
    captured_at: datetime | None = None,
    policy: Policy | None = None,
) -> list[dict[str, Any]]:
    """Baselines in force in every configured account/Region with their drift from the declared policy."""
    policy = policy or load_policy(settings)
    captured_at = captured_at or datetime.now(UTC)
    records = []
    for account, region in targets_of(settings):
        state = read_state(SsmGateway(client_factory(account, region)), policy)
        records += [row.record(account, region, captured_at) for row in baseline_rows(policy, state)]
    return records


def record_baselines(
    settings: Settings,
    lake_uri: str,
    snapshot_date: date,
    client_factory: ClientFactory,
    *,
    access: StorageAccess | None = None,
    captured_at: datetime | None = None,
) -> dict[str, object]:
    """Publish the ``baselines`` lake table for a date (``access``: how to reach an s3:// lake);
    returns the committed manifest, whose ``drift_counts`` counts rows per drift state."""
    import pyarrow as pa

    from patch_compliance.lake import SPECS, Lake

    records = collect_baselines(settings, client_factory, captured_at=captured_at)
    table = pa.Table.from_pylist(records, schema=SPECS["baselines"].undated_schema)
    counts = {str(state): sum(1 for r in records if r["drift"] == state) for state in Drift}
    return Lake(lake_uri, access, settings).write_table_snapshot(
        "baselines", snapshot_date, table, {"drift_counts": counts}
    )
