"""EC2 inventory snapshot: every instance of every configured account x Region, managed or not.

Resource Data Sync only knows nodes with an SSM Agent, so a fleet report built from it alone
cannot see instances without the agent. This snapshot (``ec2_inventory`` in the lake) is the
coverage side: an instance that is here but has no row in ``instances`` that day is UNMANAGED.
EC2 clients come from ``aws`` (in Airflow: the ``aws`` connection, each account's role assumed from it).

An archived run cannot ask EC2 about a past day, so a kept copy of the day may hold what
``DescribeInstances`` answered that day, one JSON document per account and Region (the output of
``aws ec2 describe-instances --output json``) under ``rds.KEPT_INVENTORY_DIR``; the object's
modification time is when it was captured. ``snapshot_kept_inventory`` turns it into the day's
``ec2_inventory`` through the same rows as the live path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from patch_compliance.aws import Aws, StorageAccess, Target, paginate
from patch_compliance.config import Settings
from patch_compliance.inputs import InputError, validate_account_id, validate_region
from patch_compliance.lake import SPECS, Lake
from patch_compliance.rds import KEPT_INVENTORY_DIR

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
            "launch_time": _moment(instance.get("LaunchTime")),
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


def _moment(value: Any) -> datetime | None:
    """``LaunchTime`` as boto3 gives it (a datetime) or as the CLI's JSON writes it (ISO 8601)."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"LaunchTime {value!r} is not an ISO 8601 time") from exc


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


KEPT_KEY_RE = re.compile(rf"^{KEPT_INVENTORY_DIR}/accountid=(\d{{12}})/region=([a-z0-9-]+)/describe-instances\.json$")


def snapshot_kept_inventory(settings: Settings, source_uri: str, snapshot_date: date,
                            access: StorageAccess | None = None, lake_uri: str | None = None) -> dict[str, Any] | None:
    """The day's ``ec2_inventory`` from a kept copy's ``DescribeInstances`` documents; None if it has none."""
    from pyarrow import fs as pafs

    from patch_compliance.storage import list_files, open_location, read_bytes

    source, fs = open_location(source_uri, access, "rds_source")
    base = source.join(KEPT_INVENTORY_DIR)
    found = [info for info in list_files(fs, base) if info.type == pafs.FileType.File]
    if not found:
        return None
    rows: list[dict[str, Any]] = []
    for info in sorted(found, key=lambda i: i.path):
        relative = info.path[len(source.fs_path):].lstrip("/")
        match = KEPT_KEY_RE.match(relative)
        if not match:
            raise InputError(f"{source.uri}/{relative}: a kept inventory is {KEPT_INVENTORY_DIR}/accountid=<12 digits>/"
                             "region=<region>/describe-instances.json")
        account_id, region = validate_account_id(match[1]), validate_region(match[2])
        try:
            document = json.loads(read_bytes(fs, info.path))
            instances = [i for r in document["Reservations"] for i in r.get("Instances", [])]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{source.uri}/{relative}: not DescribeInstances JSON ({exc})") from exc
        captured_at = info.mtime.astimezone(UTC) if info.mtime else datetime.combine(snapshot_date, datetime.min.time(),
                                                                                    UTC)
        rows += inventory_rows(instances, settings, account_id, region, captured_at)
    table = pa.Table.from_pylist(rows, schema=INVENTORY_SCHEMA)
    lake = Lake(lake_uri or settings.storage.lake_uri, access, settings)
    return lake.write_table_snapshot("ec2_inventory", snapshot_date, table,
                                     {"source": f"{source.uri}/{KEPT_INVENTORY_DIR}", "documents": len(found)})
