"""EC2 inventory snapshot: every instance of every configured account x Region, managed or not.

Resource Data Sync only knows nodes with an SSM Agent, so a fleet report built from it alone
cannot see instances without the agent. This snapshot (``ec2_inventory`` in the lake) is the
coverage side: an instance that is here but has no row in ``instances`` that day is UNMANAGED.
Calls go through the amazon provider's EC2 hook with each account's role assumed (``scan.account_hook``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from patch_compliance.config import Settings
from patch_compliance.lake import SPECS, Lake
from patch_compliance.scan import ScanTarget, account_hook

INVENTORY_SCHEMA = SPECS["ec2_inventory"].undated_schema


def _first_tag(tags: dict[str, str], keys: Iterable[str]) -> str | None:
    for key in keys:
        if tags.get(key):
            return tags[key]
    return None


def inventory_rows(instances: Iterable[dict[str, Any]], settings: Settings, account_id: str, region: str,
                   captured_at: datetime) -> list[dict[str, Any]]:
    """``DescribeInstances`` instances -> ``ec2_inventory`` rows (tags resolved like the ingest does)."""
    rows = []
    for instance in instances:
        tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])}
        rows.append({
            "instance_id": instance["InstanceId"],
            "state": instance.get("State", {}).get("Name", ""),
            "platform": instance.get("PlatformDetails") or instance.get("Platform") or "Linux/UNIX",
            "launch_time": instance.get("LaunchTime"),
            "team": _first_tag(tags, settings.tags.team),
            "environment": _first_tag(tags, settings.tags.environment),
            "patch_group": _first_tag(tags, settings.tags.patch_group),
            "tags": sorted(tags.items()),
            "name": _first_tag(tags, settings.tags.name),
            "captured_at": captured_at,
            "account_id": account_id,
            "region": region,
        })
    return rows


def describe_target(settings: Settings, target: dict[str, str]) -> list[dict[str, Any]]:
    """Every instance of one account x Region, through the provider's EC2 hook (paginated)."""
    from airflow.providers.amazon.aws.hooks.ec2 import EC2Hook

    scan_target = ScanTarget(**target)
    ec2 = account_hook(EC2Hook, settings, scan_target, api_type="client_type").conn
    captured_at = datetime.now(UTC)
    instances = [instance
                 for page in ec2.get_paginator("describe_instances").paginate()
                 for reservation in page.get("Reservations", [])
                 for instance in reservation.get("Instances", [])]
    return inventory_rows(instances, settings, scan_target.account_id, scan_target.region, captured_at)


def snapshot_inventory(settings: Settings, targets: list[dict[str, str]], snapshot_date: date,
                       lake_uri: str | None = None, endpoint_url: str | None = None) -> dict[str, Any]:
    """Describe every target and publish the day's ``ec2_inventory`` snapshot; return its manifest."""
    rows = [row for target in targets for row in describe_target(settings, target)]
    table = pa.Table.from_pylist(rows, schema=INVENTORY_SCHEMA)
    lake = Lake(lake_uri or settings.storage.lake_uri, endpoint_url, settings)
    return lake.write_table_snapshot("ec2_inventory", snapshot_date, table,
                                     {"targets": [ScanTarget(**t).label for t in targets]})
