"""EC2 inventory snapshot: every instance of every configured account x Region, managed or not.

Resource Data Sync only knows nodes with an SSM Agent, so a fleet report built from it alone
cannot see instances without the agent. This snapshot (``ec2_inventory`` in the lake) is the
coverage side: an instance that is here but has no row in ``instances`` that day is UNMANAGED.
EC2 clients come from ``aws`` (in Airflow: the ``aws`` connection, each account's role assumed from it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from patch_compliance.aws import Aws, Target, paginate
from patch_compliance.config import Settings
from patch_compliance.lake import SPECS, Lake

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


def describe_target(aws: Aws, settings: Settings, target: dict[str, str]) -> list[dict[str, Any]]:
    """Every instance of one account x Region (DescribeInstances, paginated)."""
    chosen = Target.of(target)
    captured_at = datetime.now(UTC)
    instances = [instance
                 for reservation in paginate(aws.client("ec2", chosen), "describe_instances", "Reservations")
                 for instance in reservation.get("Instances", [])]
    return inventory_rows(instances, settings, chosen.account_id, chosen.region, captured_at)


def snapshot_inventory(settings: Settings, targets: list[dict[str, str]], snapshot_date: date,
                       lake_uri: str | None = None, aws: Aws | None = None) -> dict[str, Any]:
    """Describe every target and publish the day's ``ec2_inventory`` snapshot; return its manifest.

    ``aws``: the identity for EC2 and the lake (default: the settings' Airflow connection).
    """
    aws = aws or Aws.from_settings(settings)
    rows = [row for target in targets for row in describe_target(aws, settings, target)]
    table = pa.Table.from_pylist(rows, schema=INVENTORY_SCHEMA)
    lake = Lake(lake_uri or settings.storage.lake_uri, aws.storage(), settings)
    return lake.write_table_snapshot("ec2_inventory", snapshot_date, table,
                                     {"targets": [Target.of(t).label for t in targets]})
