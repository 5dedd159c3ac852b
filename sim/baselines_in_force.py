"""The baselines the simulated scans use, recorded as the daily DAG's ``record_baselines`` would record them.

The product reads the baselines in force from SSM at run time; a history built without the stand-in
has no SSM to read, so this is the one table the simulator writes into the lake itself (once: the
simulator's baselines do not change over time). Every baseline is in sync with the policy except
the ones the model drifted (``FleetSpec.drifted_baselines``), which is what the report's
``baseline_drift`` cause reads.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from patch_compliance.aws import StorageAccess
from patch_compliance.lake import SPECS, Lake
from sim.catalog import OPERATING_SYSTEMS
from sim.state import World

DRIFT_DETAILS = "approval rules edited outside the policy: every update approved at release"


def baselines_table(world: World, on: date) -> pa.Table:
    """One row per (account, Region, baseline) the scanned nodes use, drifted where the model drifted it."""
    captured = datetime(on.year, on.month, on.day, 3, 0, tzinfo=UTC)
    used: dict[tuple[str, str, str], dict[str, Any]] = {}
    for node in world.fleet.nodes:
        if not node.has_agent or not world.model.is_scanned(node):
            continue
        baseline = world.model.scan_baseline(node)
        drifted = (node.account_id, baseline.baseline_id) in world.model.drifted
        row = used.setdefault((node.account_id, node.region, baseline.baseline_id), {
            "account_id": node.account_id, "region": node.region, "baseline_id": baseline.baseline_id,
            "name": baseline.name, "operating_system": OPERATING_SYSTEMS[node.family], "patch_groups": set(),
            "is_default": False, "approval_rules": "", "approved_patches": [], "rejected_patches": [],
            "rejected_patches_action": baseline.rejected_action, "declared_name": baseline.name,
            "drift": "drifted" if drifted else "in_sync", "drift_details": DRIFT_DETAILS if drifted else "",
            "captured_at": captured})
        row["patch_groups"].add(node.patch_group)
    rows = [{**row, "patch_groups": sorted(row["patch_groups"])} for _, row in sorted(used.items())]
    return pa.Table.from_pylist(rows, schema=SPECS["baselines"].undated_schema)


def record_baselines_in_force(world: World, lake_uri: str, on: date, access: StorageAccess | None = None) -> None:
    """The ``baselines`` snapshot of ``on``."""
    Lake(lake_uri, access, world.settings).write_table_snapshot(
        "baselines", on, baselines_table(world, on), {"source": "simulator"})
