"""Crafted fleets for the report and evidence tests, landed through the real ingest path.

A scenario is plain Python data (nodes per snapshot day, with their items); ``land`` writes each
day as a Resource Data Sync JSON tree and calls ``ingest_snapshot``. The tests compute their
expectations from the same Python data with their own simple code, never from the lake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from patch_compliance import rds
from patch_compliance.ingest import ingest_snapshot
from patch_compliance.lake import SPECS, Lake

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
REGION = "eu-west-1"

STATE_STATUS = {"Installed": "COMPLIANT", "InstalledOther": "COMPLIANT", "Missing": "NON_COMPLIANT",
                "Failed": "NON_COMPLIANT", "InstalledPendingReboot": "NON_COMPLIANT", "NotApplicable": ""}


@dataclass(frozen=True)
class Item:
    patch_id: str
    state: str
    classification: str = "Security"
    severity: str = "Critical"
    cves: tuple[str, ...] = ()
    installed_time: datetime | None = None


@dataclass
class Node:
    instance_id: str
    account_id: str = ACCOUNT_A
    tags: dict[str, str] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    capture_hours_before: float = 1.0  # before the day's reference time (03:00 UTC)
    instance_status: str = "Active"
    platform: str = "Linux"


def reference_time(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC)


def capture_time(day: date, node: Node) -> datetime:
    return reference_time(day) - timedelta(hours=node.capture_hours_before)


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_rds_day(root: Path, day: date, nodes: list[Node]) -> None:
    """One day's sync prefix as RDS writes it (every value a string, the envelope on every line)."""
    for node in nodes:
        when = _z(capture_time(day, node))
        tags = [{"Key": k, "Value": v} for k, v in node.tags.items()]
        info = [{"AgentType": "amazon-ssm-agent", "AgentVersion": "3.3.1000.0", "ComputerName": node.instance_id,
                 "InstanceId": node.instance_id, "IpAddress": "10.0.0.1", "PlatformName": "Amazon Linux",
                 "PlatformType": node.platform, "PlatformVersion": "2023", "ResourceType": "EC2Instance",
                 "AgentStatus": "Active", "InstanceStatus": node.instance_status}]
        group = node.tags.get("PatchGroup", "")
        items = [{
            "ComplianceType": "Patch", "ExecutionId": "1c2d3e4f-0000-4000-8000-000000000001",
            "ExecutionType": "Command", "ExecutionTime": when, "Id": item.patch_id,
            "Title": item_title(item.patch_id), "Status": STATE_STATUS.get(item.state, "COMPLIANT"),
            "Severity": "CRITICAL" if item.state != "NotApplicable" else "",
            "DocumentName": "AWS-RunPatchBaseline", "DocumentVersion": "1",
            "Classification": item.classification, "PatchBaselineId": "pb-0123456789abcdef0",
            "PatchSeverity": item.severity, "PatchState": item.state, "PatchGroup": group,
            "InstalledTime": _z(item.installed_time) if item.installed_time else "",
            "CVEIds": ",".join(item.cves) if item.state in ("Missing", "Failed") else "",
        } for item in node.items]
        counts = {s: sum(1 for i in node.items if i.state == s) for s in STATE_STATUS}
        summary = [{"PatchGroup": group, "BaselineId": "pb-0123456789abcdef0", "SnapshotId": "",
                    "OwnerInformation": "", "InstalledCount": counts["Installed"],
                    "InstalledOtherCount": counts["InstalledOther"],
                    "InstalledPendingRebootCount": counts["InstalledPendingReboot"], "InstalledRejectedCount": 0,
                    "NotApplicableCount": counts["NotApplicable"], "UnreportedNotApplicableCount": -1,
                    "MissingCount": counts["Missing"], "FailedCount": counts["Failed"],
                    "OperationType": "Scan", "OperationStartTime": when, "OperationEndTime": when,
                    "RebootOption": "NoReboot", "InstallOverrideList": "", "LastNoRebootInstallOperationTime": ""}]
        for rds_type, records in ((rds.TAG, tags), (rds.INSTANCE_INFORMATION, info),
                                  (rds.COMPLIANCE_ITEM, items), (rds.PATCH_SUMMARY, summary if items else [])):
            if not records:
                continue
            path = root / rds.object_key(rds_type, node.account_id, REGION, node.instance_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rds.format_lines(node.instance_id, when, records))


@dataclass
class Ec2Instance:
    instance_id: str
    account_id: str = ACCOUNT_A
    state: str = "running"
    tags: dict[str, str] = field(default_factory=dict)
    platform: str = "Linux/UNIX"


def ec2_table(day: date, instances: list[Ec2Instance]) -> pa.Table:
    rows = [{"account_id": e.account_id, "region": REGION, "instance_id": e.instance_id, "state": e.state,
             "platform": e.platform, "launch_time": datetime(2026, 1, 1, tzinfo=UTC),
             "team": e.tags.get("Team"), "environment": e.tags.get("Environment"),
             "patch_group": e.tags.get("PatchGroup"), "tags": list(e.tags.items()), "name": e.instance_id,
             "captured_at": reference_time(day)} for e in instances]
    schema = SPECS["ec2_inventory"].undated_schema
    return pa.Table.from_pylist(rows, schema=schema)


def item_title(patch_id: str) -> str:
    """The Title every crafted item carries (a catalog row matches an item by patch_id and title)."""
    return f"{patch_id}:0:1.0-1"


CatalogRow = tuple[str, str, date | None, list[str]]  # patch_id, title, release_date, cve_ids


def catalog_table(rows: list[CatalogRow]) -> pa.Table:
    full = [{"account_id": ACCOUNT_A, "region": REGION, "patch_id": pid, "title": title,
             "product": "AmazonLinux2023", "classification": "Security", "severity": "Critical", "release_date": rel,
             "cve_ids": cves, "source": "test"} for pid, title, rel, cves in rows]
    schema = SPECS["patch_catalog"].undated_schema
    return pa.Table.from_pylist(full, schema=schema)


def baselines_table(day: date, rows: list[dict[str, object]]) -> pa.Table:
    schema = SPECS["baselines"].undated_schema
    full = [{"account_id": ACCOUNT_A, "region": REGION, "patch_groups": [], "is_default": False,
             "approval_rules": "{}", "approved_patches": [], "rejected_patches": [],
             "rejected_patches_action": "ALLOW_AS_DEPENDENCY", "declared_name": None, "drift": "in_sync",
             "drift_details": "", "captured_at": reference_time(day), **row} for row in rows]
    return pa.Table.from_pylist(full, schema=schema)


def land(tmp: Path, days: dict[date, list[Node]], lake_dir: Path | None = None) -> Lake:
    """Ingest every day (each from its own sync prefix, as RDS overwrites in place) into one lake."""
    lake_dir = lake_dir or tmp / "lake"
    for day, nodes in sorted(days.items()):
        source = tmp / f"rds-{day.isoformat()}"
        write_rds_day(source, day, nodes)
        ingest_snapshot(str(source), str(lake_dir), day, reference_time(day))
    return Lake(str(lake_dir))


# The November scenario: history from October, a report on 2026-11-15 (13/14-day boundary), and a
# later snapshot (2026-11-20) that a report as of the 15th must not see.
DAYS = [date(2026, 10, 25), date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 8), date(2026, 11, 14),
        date(2026, 11, 15), date(2026, 11, 20)]
CVE_FIXED = "CVE-2026-1111"  # libxml2: fixed on i-…b mid-month, never on i-…c
CVE_CATALOG_ONLY = "CVE-2026-4004"  # only the catalog maps it (to zlib)
LIBXML_INSTALLED_AT = datetime(2026, 11, 13, 23, 0, tzinfo=UTC)
PAYMENTS_PROD = {"Team": "payments", "Environment": "prod", "PatchGroup": "prod-linux", "Name": "web"}


def _n(letter: str) -> str:
    return f"i-{'0' * 16}{letter}"


def november_nodes(day: date) -> list[Node]:
    """Every managed node's RDS data on one day of the scenario."""
    nov = lambda d: date(2026, 11, d)  # noqa: E731
    on_or_after = lambda d: day >= nov(d)  # noqa: E731
    a_items = [Item("glibc.x86_64", "Installed", installed_time=datetime(2026, 10, 1, tzinfo=UTC)),
               Item("bash.x86_64", "Missing", severity="Low", cves=("CVE-2026-0500",))]
    if on_or_after(1):
        a_items.append(Item("openssl.x86_64", "Missing", cves=("CVE-2026-0101", "CVE-2026-0102")))
    if on_or_after(2) and day < nov(20):
        a_items.append(Item("curl.x86_64", "Missing", severity="Important", cves=("CVE-2026-2002",)))
    if day == nov(20):
        a_items.append(Item("curl.x86_64", "Installed", severity="Important",
                            installed_time=datetime(2026, 11, 19, tzinfo=UTC)))
    kernel_state = "Installed" if day == nov(8) else "Missing"
    a_items.append(Item("kernel.x86_64", kernel_state, cves=("CVE-2026-0700",) if kernel_state == "Missing" else (),
                        installed_time=datetime(2026, 11, 7, tzinfo=UTC) if kernel_state == "Installed" else None))

    b_items = [Item("glibc.x86_64", "Installed", installed_time=datetime(2026, 10, 1, tzinfo=UTC))]
    if day != nov(1):  # absent on the 1st: an absence does not break the run
        b_items.append(Item("sudo.x86_64", "Missing", cves=("CVE-2026-3003",)))
    if on_or_after(8):
        b_items.append(Item("zlib.x86_64", "Failed", severity="Important"))
    if day < nov(14):
        b_items.append(Item("libxml2.x86_64", "Missing", severity="Important", cves=(CVE_FIXED,)))
    else:
        b_items.append(Item("libxml2.x86_64", "Installed", severity="Important", installed_time=LIBXML_INSTALLED_AT))

    c_items = [Item("libxml2.x86_64", "Missing", severity="Important", cves=(CVE_FIXED, "CVE-2026-1112")),
               Item("KB0000001", "NotApplicable", classification="", severity=""),
               Item("glibc.x86_64", "Installed", installed_time=datetime(2026, 10, 1, tzinfo=UTC))]
    d_items = [Item("glibc.x86_64", "Installed", installed_time=datetime(2026, 10, 1, tzinfo=UTC)),
               Item("KB0000002", "NotApplicable", classification="", severity=""),
               Item("nano.x86_64", "InstalledOther", classification="", severity="")]
    e_items = [Item("KB5034441", "Installed", classification="SecurityUpdates", severity="Important",
                    installed_time=datetime(2026, 10, 2, tzinfo=UTC))]
    if on_or_after(1):
        e_items.append(Item("KB5035000", "Missing", classification="SecurityUpdates", severity="Important",
                            cves=("CVE-2026-0900",)))
    f_items = [Item("openssl.x86_64", "Missing", cves=("CVE-2026-0101", "CVE-2026-0102"))] if on_or_after(1) else []
    f_items.append(Item("glibc.x86_64", "Installed", installed_time=datetime(2026, 10, 1, tzinfo=UTC)))

    platform_dev = {"Team": "platform", "Environment": "dev", "PatchGroup": "dev-linux"}
    return [
        Node(_n("a"), tags=dict(PAYMENTS_PROD), items=a_items),
        Node(_n("b"), tags=dict(PAYMENTS_PROD), items=b_items),
        Node(_n("c"), tags=dict(platform_dev), items=c_items),
        Node(_n("d"), tags=dict(platform_dev), items=d_items),
        Node(_n("e"), tags={"Name": "untagged-win"}, items=e_items, platform="Windows"),
        Node(_n("f"), tags={"Team": "platform", "Environment": "prod", "PatchGroup": "prod-linux"}, items=f_items,
             capture_hours_before=30 if day == nov(15) else 2,
             instance_status="ConnectionLost" if day == nov(15) else "Active"),
        # Stopped since before the month: its last scan (a missing critical patch) is kept, counted neither way.
        Node(_n("7"), tags=dict(PAYMENTS_PROD), items=[Item("openssl.x86_64", "Missing", cves=("CVE-2026-0101",))],
             capture_hours_before=24 * (day - nov(1)).days + 72, instance_status="Stopped"),
        Node(_n("4"), tags={"Team": "payments", "Environment": "dev"}),
        Node(_n("5"), tags={"Team": "payments", "Environment": "dev"},
             items=[Item("KB0000003", "NotApplicable", classification="", severity="")]),
        Node(_n("9"), tags=dict(PAYMENTS_PROD), items=[Item("openssl.x86_64", "Missing")],
             instance_status="Terminated"),
        Node(_n("6"), account_id=ACCOUNT_B, tags=dict(PAYMENTS_PROD),
             items=[Item("openssl.x86_64", "Installed", installed_time=datetime(2026, 10, 3, tzinfo=UTC))]),
        Node("mi-0123456789abcdef0", tags={"Team": "platform", "Environment": "prod"},
             items=[Item("openssl.x86_64", "Installed", installed_time=datetime(2026, 10, 3, tzinfo=UTC))]),
    ]


def november_ec2(day: date) -> list[Ec2Instance]:
    """EC2 inventory: the managed EC2 nodes plus two unmanaged ones and a terminated one."""
    managed = [Ec2Instance(n.instance_id, n.account_id, "terminated" if n.instance_status == "Terminated"
                           else "running", n.tags) for n in november_nodes(day) if n.instance_id.startswith("i-")]
    return [*managed,
            Ec2Instance(_n("1"), tags={"Team": "payments", "Environment": "prod"}),
            Ec2Instance(_n("2"), account_id=ACCOUNT_B, state="stopped", tags={"Name": "forgotten"},
                        platform="windows"),
            Ec2Instance(_n("3"), state="terminated", tags={"Team": "payments", "Environment": "prod"})]


INVENTORY_DAYS = (date(2026, 11, 1), date(2026, 11, 15))
# zlib matches by title; openssl has no date; curl has two other versions (ambiguous: no date).
CATALOG_1ST: list[CatalogRow] = [
    ("zlib.x86_64", item_title("zlib.x86_64"), date(2026, 10, 20), [CVE_CATALOG_ONLY]),
    ("openssl.x86_64", item_title("openssl.x86_64"), None, []),
    ("curl.x86_64", "curl.x86_64:0:0.9-1", date(2026, 10, 1), []),
    ("curl.x86_64", "curl.x86_64:0:0.8-1", date(2026, 9, 1), []),
]
# A later catalog knows one openssl version (another title): its only date applies. A report as of
# the 15th must not use this catalog.
CATALOG_20TH: list[CatalogRow] = [
    *CATALOG_1ST[:1], ("openssl.x86_64", "openssl.x86_64:1:3.0.8-1", date(2026, 10, 1), []), *CATALOG_1ST[2:]]


def land_november(tmp: Path) -> Lake:
    lake = land(tmp, {day: november_nodes(day) for day in DAYS})
    for day in INVENTORY_DAYS:
        lake.write_table_snapshot("ec2_inventory", day, ec2_table(day, november_ec2(day)))
    lake.write_table_snapshot("patch_catalog", date(2026, 11, 1), catalog_table(CATALOG_1ST))
    lake.write_table_snapshot("patch_catalog", date(2026, 11, 20), catalog_table(CATALOG_20TH))
    lake.write_table_snapshot("baselines", date(2026, 11, 1), baselines_table(date(2026, 11, 1), [
        {"baseline_id": "pb-0123456789abcdef0", "name": "prod-linux", "operating_system": "AMAZON_LINUX_2023",
         "patch_groups": ["prod-linux"], "declared_name": "prod-linux", "drift": "in_sync"},
        {"baseline_id": "pb-0fedcba9876543210", "name": "dev-linux", "operating_system": "AMAZON_LINUX_2023",
         "patch_groups": ["dev-linux"], "declared_name": "dev-linux", "drift": "drifted",
         "drift_details": "approve_after_days 7 != declared 0"}]))
    return lake
