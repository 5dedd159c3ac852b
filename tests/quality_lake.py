"""Crafted lake snapshots for the data-quality tests: a seeded fleet written with the lake writer.

The fleet is small and fully known, so every test computes its expected offenders from the data
it wrote, independently of the code under test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from patch_compliance.lake import SPECS, Lake

ACCOUNTS = {"111111111111": "dev", "222222222222": "staging", "333333333333": "prod"}
REGION = "eu-west-1"
TEAMS = ("payments", "search", "identity", "platform", "data")
STATES = (("Installed", "COMPLIANT"), ("InstalledOther", "COMPLIANT"), ("Missing", "NON_COMPLIANT"),
          ("NotApplicable", None), ("Failed", "NON_COMPLIANT"), ("InstalledPendingReboot", "NON_COMPLIANT"))


@dataclass
class Host:
    instance_id: str
    account_id: str
    name: str
    team: str | None
    environment: str | None
    patch_group: str | None
    platform: str
    last_capture: datetime
    instance_status: str = "Active"
    status_override: str | None = None  # a compliance_status that contradicts the data (a faulty ingest)
    patches: list[tuple[str, str, str | None]] = field(default_factory=list)  # (patch_id, state, status)


def make_fleet(size: int, patches_per_host: int, reference: datetime, seed: int = 7) -> list[Host]:
    """A tagged, freshly scanned fleet spread over the three accounts."""
    rng = random.Random(seed)
    hosts = []
    for n in range(size):
        account_id = list(ACCOUNTS)[n % 3]
        env = ACCOUNTS[account_id]
        platform = "linux" if n % 4 else "windows"
        patches = []
        for p in range(patches_per_host):
            state, status = STATES[rng.randrange(len(STATES))]
            patches.append((f"KB{5000000 + p}" if platform == "windows" else f"pkg{p}.x86_64", state, status))
        hosts.append(Host(
            instance_id=f"i-{n:017x}", account_id=account_id, name=f"{env}-host-{n:04d}",
            team=TEAMS[n % len(TEAMS)], environment=env, patch_group=f"{env}-{platform}", platform=platform,
            last_capture=reference - timedelta(hours=2, minutes=rng.randrange(60)), patches=patches))
    return hosts


def _table(name: str, columns: dict[str, list], rows: int) -> pa.Table:
    schema = SPECS[name].row_schema
    arrays = {f.name: pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(rows, f.type)
              for f in schema}
    return pa.table(arrays)


def write_snapshot(lake_uri: str, day: date, hosts: list[Host], reference: datetime) -> None:
    """Commit instances + patch_compliance for ``day`` (ingest's tables, ingest's status rules)."""
    writer = Lake(lake_uri).day_writer(day)
    for account_id in ACCOUNTS:
        mine = [h for h in hosts if h.account_id == account_id]
        if not mine:
            continue
        patch_rows = [(h, p) for h in mine for p in h.patches]
        writer.write("patch_compliance", account_id=account_id, region=REGION, table=_table("patch_compliance", {
            "instance_id": [h.instance_id for h, _ in patch_rows],
            "resource_type": ["EC2Instance"] * len(patch_rows),
            "capture_time": [h.last_capture for h, _ in patch_rows],
            "patch_id": [p[0] for _, p in patch_rows],
            "patch_state": [p[1] for _, p in patch_rows],
            "status": [p[2] for _, p in patch_rows],
            "team": [h.team for h, _ in patch_rows],
            "environment": [h.environment for h, _ in patch_rows],
            "patch_group": [h.patch_group for h, _ in patch_rows],
            "tags": [[] for _ in patch_rows],
        }, len(patch_rows)))
        stale_before = reference - timedelta(hours=26)

        def status(h: Host, stale_before: datetime = stale_before) -> str:
            if h.status_override:
                return h.status_override
            counted = [p for p in h.patches if p[2] is not None and p[1] != "NotApplicable"]
            if not counted:
                return "NO_DATA"
            if h.last_capture < stale_before:
                return "STALE"
            return "NON_COMPLIANT" if any(p[2] == "NON_COMPLIANT" for p in counted) else "COMPLIANT"

        writer.write("instances", account_id=account_id, region=REGION, table=_table("instances", {
            "instance_id": [h.instance_id for h in mine],
            "resource_type": ["EC2Instance"] * len(mine),
            "platform_type": ["Linux" if h.platform == "linux" else "Windows" for h in mine],
            "instance_status": [h.instance_status for h in mine],
            "team": [h.team for h in mine], "environment": [h.environment for h in mine],
            "patch_group": [h.patch_group for h in mine], "name": [h.name for h in mine],
            "tags": [[("Name", h.name)] for h in mine],
            "last_capture_time": [h.last_capture for h in mine],
            "patch_items": [len(h.patches) for h in mine],
            "compliance_status": [status(h) for h in mine],
            "is_stale": [h.last_capture < stale_before for h in mine],
            "in_population": [h.instance_status != "Terminated" for h in mine],
            "reference_time": [reference] * len(mine),
        }, len(mine)))
    writer.commit({"reference_time": reference.isoformat()})


def write_inventory(lake_uri: str, day: date, hosts: list[Host], unmanaged: int = 0) -> list[str]:
    """Publish ec2_inventory: every host plus ``unmanaged`` EC2 instances with no SSM data."""
    extra = [f"i-{0xf0000 + n:017x}" for n in range(unmanaged)]
    ids = [h.instance_id for h in hosts] + extra
    rows = len(ids)
    table = _table("ec2_inventory", {
        "instance_id": ids, "state": ["running"] * rows,
        "team": [h.team for h in hosts] + ["data"] * unmanaged,
        "environment": [h.environment for h in hosts] + ["prod"] * unmanaged,
        "name": [h.name for h in hosts] + [f"unmanaged-{n}" for n in range(unmanaged)],
        "tags": [[] for _ in range(rows)],
    }, rows)
    table = table.append_column("account_id", pa.array([h.account_id for h in hosts] + ["333333333333"] * unmanaged))
    table = table.append_column("region", pa.array([REGION] * rows))
    Lake(lake_uri).write_table_snapshot("ec2_inventory", day, table)
    return extra


def copy_hosts(hosts: list[Host]) -> list[Host]:
    return [replace(h, patches=list(h.patches)) for h in hosts]


REFERENCE = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)
DAY = date(2026, 11, 2)
PREVIOUS_DAY = date(2026, 11, 1)


def write_rds_tree(root: str, hosts: list[Host]) -> None:
    """Write the hosts as Resource Data Sync JSON Lines (contract §1) under a local sync prefix."""
    from pathlib import Path

    from patch_compliance import rds

    def iso(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def put(rds_type: str, host: Host, records: list[dict[str, object]]) -> None:
        path = Path(root) / rds.object_key(rds_type, host.account_id, REGION, host.instance_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rds.format_lines(host.instance_id, iso(host.last_capture), records))

    for host in hosts:
        captured = iso(host.last_capture)
        put(rds.COMPLIANCE_ITEM, host, [{
            "ComplianceType": "Patch", "ExecutionId": "1c2d3e4f-0000-4000-8000-000000000001",
            "ExecutionType": "Command", "ExecutionTime": captured, "Id": patch_id, "Title": patch_id,
            "Status": status or "", "Severity": "CRITICAL", "DocumentName": "AWS-RunPatchBaseline",
            "DocumentVersion": "1", "Classification": "Security", "PatchBaselineId": "pb-0123456789abcdef0",
            "PatchSeverity": "Important", "PatchState": state, "PatchGroup": host.patch_group or "",
            "InstalledTime": "", "CVEIds": "CVE-2026-0101" if state in ("Missing", "Failed") else "",
        } for patch_id, state, status in host.patches])
        tags = {"Name": host.name, "Team": host.team, "Environment": host.environment,
                "PatchGroup": host.patch_group}
        put(rds.TAG, host, [{"Key": k, "Value": v} for k, v in tags.items() if v])
        put(rds.INSTANCE_INFORMATION, host, [{
            "AgentType": "amazon-ssm-agent", "AgentVersion": "3.3.0.0", "ComputerName": host.name,
            "InstanceId": host.instance_id, "IpAddress": "10.0.0.1",
            "PlatformName": "Amazon Linux" if host.platform == "linux" else "Microsoft Windows Server 2022",
            "PlatformType": "Linux" if host.platform == "linux" else "Windows", "PlatformVersion": "2023",
            "ResourceType": "EC2Instance", "AgentStatus": "Active", "InstanceStatus": host.instance_status}])
        counts = {state: str(sum(1 for p in host.patches if p[1] == state))
                  for state in ("Installed", "Missing", "Failed", "InstalledPendingReboot", "InstalledRejected")}
        put(rds.PATCH_SUMMARY, host, [{
            "PatchGroup": host.patch_group or "", "BaselineId": "pb-0123456789abcdef0", "SnapshotId": "",
            "InstalledCount": counts["Installed"], "MissingCount": counts["Missing"], "FailedCount": counts["Failed"],
            "InstalledPendingRebootCount": counts["InstalledPendingReboot"],
            "InstalledRejectedCount": counts["InstalledRejected"],
            "OperationType": "Scan", "OperationStartTime": captured, "OperationEndTime": captured}])
