"""Patch Manager scans driven from Airflow: SendCommand, command progress, RDS freshness.

Targets, sessions and clients come from ``aws`` (the central ``aws`` connection, each account's
``accounts[].role_arn`` assumed from it for that account's SSM calls). RDS writes into one central
sync bucket, so S3 reads use the connection's own identity.

Why the waits are hand-written: the provider's SSM waiter keys on per-instance invocations, which it
cannot list for tag targets, so it returns early; here the command's aggregate ``Status``,
``TargetCount``, ``CompletedCount`` and ``ErrorCount`` from ``ListCommands`` decide. Resource Data
Sync gives no completion signal, so freshness is measured: a target is synced when at least
``scan.sync_min_share`` of its targeted nodes have an ``AWS:PatchSummary`` object modified after the
scan started.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from patch_compliance.aws import Aws, Target, paginate
from patch_compliance.config import Settings
from patch_compliance.inputs import InputError, parse_location, parse_timestamp, validate_account_id
from patch_compliance.rds import PATCH_SUMMARY, RESOURCE_TYPE_PARTITION

SCAN_DOCUMENT = "AWS-RunPatchBaseline"
COMMENT_LIMIT = 100  # SendCommand rejects longer comments
IN_FLIGHT = {"Pending", "InProgress", "Delayed"}


def new_snapshot_id() -> str:
    """One baseline SnapshotId per run, so every node is measured against the same baseline snapshot."""
    return str(uuid.uuid4())


def send_scan(settings: Settings, target: dict[str, str], run_id: str, snapshot_id: str) -> dict[str, Any]:
    """Send ``AWS-RunPatchBaseline`` Operation=Scan to the target's tagged nodes; return the command facts."""
    scan = settings.scan
    ssm = Aws.from_settings(settings).client("ssm", target)
    response = ssm.send_command(
        DocumentName=SCAN_DOCUMENT,
        Targets=[{"Key": f"tag:{scan.target_tag_key}", "Values": list(scan.target_tag_values)}],
        Parameters={"Operation": ["Scan"], "SnapshotId": [snapshot_id], "RebootOption": ["NoReboot"]},
        MaxConcurrency=scan.max_concurrency,
        MaxErrors=scan.max_errors,
        TimeoutSeconds=int(scan.command_timeout_minutes * 60),
        Comment=f"patch-compliance scan, Airflow run {run_id}"[:COMMENT_LIMIT],
    )
    command = response["Command"]
    requested = command["RequestedDateTime"]
    return {
        **Target.of(target).as_dict(),
        "command_id": command["CommandId"],
        "snapshot_id": snapshot_id,
        "scan_started_at": requested.astimezone(UTC).isoformat(),
        "target_count": int(command.get("TargetCount") or 0),
    }


@dataclass(frozen=True)
class CommandProgress:
    status: str
    target_count: int
    completed_count: int
    error_count: int

    @property
    def finished(self) -> bool:
        return self.status not in IN_FLIGHT

    @property
    def succeeded(self) -> bool:
        return self.status == "Success"

    def describe(self) -> str:
        return (f"status {self.status}: {self.completed_count}/{self.target_count} nodes completed, "
                f"{self.error_count} errors")


def command_progress(settings: Settings, scan: dict[str, Any]) -> CommandProgress:
    """The command's aggregate status and counts from ``ListCommands``."""
    ssm = Aws.from_settings(settings).client("ssm", scan_target_of(scan))
    commands = ssm.list_commands(CommandId=scan["command_id"])["Commands"]
    if not commands:
        raise LookupError(f"command {scan['command_id']} not found in {scan_target_of(scan).label}")
    command = commands[0]
    return CommandProgress(command["Status"], int(command.get("TargetCount") or 0),
                           int(command.get("CompletedCount") or 0), int(command.get("ErrorCount") or 0))


def scan_target_of(scan: dict[str, Any]) -> Target:
    """The target a ``send_scan`` result (or a target dict) belongs to."""
    return Target.of(scan)


@dataclass(frozen=True)
class SyncProgress:
    fresh_nodes: int
    expected_nodes: int
    required_nodes: int
    scan_started_at: datetime

    @property
    def synced(self) -> bool:
        return self.fresh_nodes >= self.required_nodes

    def describe(self) -> str:
        return (f"{self.fresh_nodes} of {self.expected_nodes} targeted nodes have RDS output newer than "
                f"the scan start {self.scan_started_at.isoformat()} (need {self.required_nodes})")


def rds_prefix(settings: Settings, account_id: str, region: str) -> tuple[str, str]:
    """``(bucket, key prefix)`` under which RDS writes one PatchSummary object per node of a target."""
    location = parse_location(settings.storage.sync_uri, "storage.sync_uri")
    if location.scheme != "s3":
        raise InputError(f"storage.sync_uri must be an s3:// URI for the daily scan, got {location.uri!r}")
    parts = [location.path] if location.path else []
    parts += [PATCH_SUMMARY, f"accountid={validate_account_id(account_id)}", f"region={region}",
              f"resourcetype={RESOURCE_TYPE_PARTITION}", ""]
    return location.bucket, "/".join(parts)


def sync_progress(settings: Settings, scan: dict[str, Any]) -> SyncProgress:
    """How many of the scanned nodes have RDS output written after the scan started."""
    # S3 LastModified has whole seconds: compare against the scan start truncated the same way.
    started = parse_timestamp(scan["scan_started_at"], "scan_started_at").replace(microsecond=0)
    bucket, prefix = rds_prefix(settings, scan["account_id"], scan["region"])
    s3 = Aws.from_settings(settings).client("s3")
    fresh = sum(1 for item in paginate(s3, "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix)
                if item["Key"].endswith(".json") and item["LastModified"] >= started)
    expected = int(scan["target_count"])
    required = _required(expected, settings.scan.sync_min_share)
    return SyncProgress(fresh, expected, required, started)


def _required(expected: int, share: float) -> int:
    """Nodes needed for ``share`` of ``expected`` (rounded up, at least one when any were targeted)."""
    return max(math.ceil(round(expected * share, 6)), 1 if expected else 0)


def wait_deadline_passed(scan: dict[str, Any], minutes: float, now: datetime | None = None) -> bool:
    started = parse_timestamp(scan["scan_started_at"], "scan_started_at")
    return ((now or datetime.now(UTC)) - started).total_seconds() > minutes * 60
