"""Patch Manager scans driven from Airflow: targets, SendCommand, command progress, RDS freshness.

The daily DAG calls these through the amazon provider's hooks, so production needs nothing but an
``aws`` connection (``config aws.connection_id``). Cross-account: the connection is the central
(tooling) account; each ``accounts[].role_arn`` is assumed from it for that account's SSM and EC2
calls (an empty role_arn uses the connection's own account). RDS writes into one central sync bucket,
so S3 reads use the connection itself.

Why the waits are hand-written: the provider's SSM waiter keys on per-instance invocations, which it
cannot list for tag targets, so it returns early; here the command's aggregate ``Status``,
``TargetCount``, ``CompletedCount`` and ``ErrorCount`` from ``ListCommands`` decide. Resource Data
Sync gives no completion signal, so freshness is measured: a target is synced when at least
``scan.sync_min_share`` of its targeted nodes have an ``AWS:PatchSummary`` object modified after the
scan started.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from patch_compliance.config import Settings
from patch_compliance.inputs import InputError, parse_location, parse_timestamp, validate_account_id
from patch_compliance.rds import PATCH_SUMMARY, RESOURCE_TYPE_PARTITION

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

SCAN_DOCUMENT = "AWS-RunPatchBaseline"
COMMENT_LIMIT = 100  # SendCommand rejects longer comments
IN_FLIGHT = {"Pending", "InProgress", "Delayed"}
# Adaptive client-side rate limiting plus retries: SSM and EC2 throttle bursts of API calls.
RETRY_CONFIG = {"mode": "adaptive", "total_max_attempts": 10}


@dataclass(frozen=True)
class ScanTarget:
    """One account x Region the daily scan covers (JSON-friendly, so it maps across tasks)."""

    account_id: str
    account_name: str
    region: str
    role_arn: str = ""

    @property
    def label(self) -> str:
        return f"{self.account_name} ({self.account_id}) {self.region}"


def resolve_targets(settings: Settings) -> list[dict[str, str]]:
    """Every configured account x Region, as dicts ready for dynamic task mapping."""
    if not settings.accounts:
        raise InputError("config lists no accounts: add accounts[] with id, name, regions (and role_arn)")
    if not settings.scan.target_tag_values:
        raise InputError("config scan.target_tag_values is empty: the scan would target no node")
    return [asdict(ScanTarget(account.id, account.name, region, account.role_arn))
            for account in settings.accounts for region in account.regions]


def _target(value: dict[str, str] | ScanTarget) -> ScanTarget:
    target = value if isinstance(value, ScanTarget) else ScanTarget(**value)
    validate_account_id(target.account_id)
    return target


def _botocore_config():
    from botocore.config import Config

    return Config(retries=dict(RETRY_CONFIG))


def account_hook(hook_class: type[AwsBaseHook], settings: Settings, target: dict[str, str] | ScanTarget,
                 **kwargs: Any) -> AwsBaseHook:
    """A provider hook for ``target``'s account: the central connection, with the account's role assumed.

    With a custom endpoint URL on the connection, STS is reached through it as well, unless the
    connection configures its own STS endpoint.
    """
    target = _target(target)
    hook = hook_class(aws_conn_id=settings.aws.connection_id, region_name=target.region,
                      config=_botocore_config(), **kwargs)
    if target.role_arn:
        wrapper = hook.conn_config
        wrapper.role_arn = target.role_arn
        wrapper.assume_role_method = "assume_role"
        wrapper.assume_role_kwargs = {"RoleSessionName": f"patch-compliance-{target.account_id}"}
        if wrapper.endpoint_url and "endpoint_url" not in wrapper.service_config.get("sts", {}):
            wrapper.service_config = {**wrapper.service_config, "sts": {"endpoint_url": wrapper.endpoint_url}}
    return hook


def central_hook(settings: Settings, client_type: str = "s3") -> AwsBaseHook:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=settings.aws.connection_id, client_type=client_type,
                       region_name=settings.aws.region, config=_botocore_config())


@contextmanager
def aws_environment(settings: Settings) -> Iterator[str | None]:
    """Expose the connection's credentials and endpoint to pyarrow's S3 filesystem for a block.

    The library reads S3 through pyarrow, which takes credentials from the standard environment
    variables; setting them from the hook keeps every byte on the same identity and endpoint as the
    Airflow connection. The previous environment is restored afterwards. Yields the endpoint URL.
    """
    hook = central_hook(settings)
    credentials = hook.get_credentials()
    endpoint = hook.conn_config.endpoint_url
    values = {
        "AWS_ACCESS_KEY_ID": credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
        "AWS_SESSION_TOKEN": credentials.token,
        "AWS_DEFAULT_REGION": hook.region_name or settings.aws.region,
        "AWS_ENDPOINT_URL": endpoint,
    }
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value:
                os.environ[key] = value
            else:
                os.environ.pop(key, None)
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def new_snapshot_id() -> str:
    """One baseline SnapshotId per run, so every node is measured against the same baseline snapshot."""
    return str(uuid.uuid4())


def send_scan(settings: Settings, target: dict[str, str], run_id: str, snapshot_id: str) -> dict[str, Any]:
    """Send ``AWS-RunPatchBaseline`` Operation=Scan to the target's tagged nodes; return the command facts."""
    from airflow.providers.amazon.aws.hooks.ssm import SsmHook

    scan = settings.scan
    ssm = account_hook(SsmHook, settings, target).conn
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
        **_target(target).__dict__,
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
    from airflow.providers.amazon.aws.hooks.ssm import SsmHook

    ssm = account_hook(SsmHook, settings, scan_target_of(scan)).conn
    commands = ssm.list_commands(CommandId=scan["command_id"])["Commands"]
    if not commands:
        raise LookupError(f"command {scan['command_id']} not found in {scan_target_of(scan).label}")
    command = commands[0]
    return CommandProgress(command["Status"], int(command.get("TargetCount") or 0),
                           int(command.get("CompletedCount") or 0), int(command.get("ErrorCount") or 0))


def scan_target_of(scan: dict[str, Any]) -> ScanTarget:
    """The target a ``send_scan`` result belongs to."""
    return ScanTarget(scan["account_id"], scan["account_name"], scan["region"], scan.get("role_arn", ""))


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
    s3 = central_hook(settings).conn
    fresh = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        fresh += sum(1 for item in page.get("Contents", [])
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
