"""Hand-written Resource Data Sync trees for tests, independent of the code under test.

Lines are built with ``json.dumps`` directly from the contract (every value a string, the
envelope on every line), so a bug in the product's own line formatter cannot hide here.
"""

from __future__ import annotations

import json
from pathlib import Path

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CAPTURE = "2026-11-02T03:10:04Z"


def item(patch_id: str, state: str, status: str, *, classification: str = "Security",
         severity: str = "Important", cves: str = "", installed: str = "", group: str = "prod-linux",
         **extra: str) -> dict[str, str]:
    return {
        "ComplianceType": "Patch", "ExecutionId": "1c2d3e4f-0000-4000-8000-000000000001",
        "ExecutionType": "Command", "ExecutionTime": "2026-11-02T03:10:00Z", "Id": patch_id,
        "Title": f"{patch_id}:1:1.0-1", "Status": status, "Severity": "CRITICAL",
        "DocumentName": "AWS-RunPatchBaseline",
        "DocumentVersion": "1", "Classification": classification, "PatchBaselineId": "pb-0123456789abcdef0",
        "PatchSeverity": severity, "PatchState": state, "PatchGroup": group, "InstalledTime": installed,
        "CVEIds": cves, **extra,
    }


def summary(**counts: str) -> dict[str, str]:
    base = {"PatchGroup": "prod-linux", "BaselineId": "pb-0123456789abcdef0", "SnapshotId": "snap-guid",
            "OwnerInformation": "", "InstalledCount": "1", "InstalledOtherCount": "0",
            "InstalledPendingRebootCount": "0", "InstalledRejectedCount": "0", "NotApplicableCount": "0",
            "UnreportedNotApplicableCount": "-1", "MissingCount": "1", "FailedCount": "0",
            "OperationType": "Scan", "OperationStartTime": "2026-11-02T03:09:00Z",
            "OperationEndTime": "2026-11-02T03:10:00Z", "RebootOption": "NoReboot", "InstallOverrideList": "",
            "LastNoRebootInstallOperationTime": ""}
    base.update(counts)
    return base


def info(node: str, status: str = "Active", platform: str = "Linux") -> dict[str, str]:
    return {"AgentType": "amazon-ssm-agent", "AgentVersion": "3.3.1.0", "ComputerName": f"{node}.internal",
            "InstanceId": node, "IpAddress": "10.0.0.1", "PlatformName": "Amazon Linux", "PlatformType": platform,
            "PlatformVersion": "2023", "ResourceType": "ManagedInstance" if node.startswith("mi-") else "EC2Instance",
            "AgentStatus": "Active", "InstanceStatus": status}


def tags(**pairs: str) -> list[dict[str, str]]:
    return [{"Key": k.replace("_", " "), "Value": v} for k, v in pairs.items()]


def line(node: str, record: dict[str, str], capture: str = CAPTURE) -> str:
    return json.dumps({**record, "resourceId": node, "captureTime": capture, "schemaVersion": "1.0"})


def write_object(root: Path, rds_type: str, node: str, lines: list[str], *, account: str = ACCOUNT,
                 region: str = REGION, type_dir: str | None = None) -> Path:
    path = (root / (type_dir or rds_type) / f"accountid={account}" / f"region={region}"
            / "resourcetype=ManagedInstanceInventory" / f"{node}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{text}\n" for text in lines))
    return path


def write_node(root: Path, node: str, *, items: list[dict[str, str]] | None = None,
               node_tags: list[dict[str, str]] | None = None, status: str = "Active",
               capture: str = CAPTURE, account: str = ACCOUNT, region: str = REGION,
               with_summary: bool = True) -> None:
    """All five types for one node, as RDS would write them after a scan."""
    kw = {"account": account, "region": region}
    write_object(root, "AWS:InstanceInformation", node, [line(node, info(node, status), capture)], **kw)
    if node_tags is not None:
        write_object(root, "AWS:Tag", node, [line(node, t, capture) for t in node_tags], **kw)
    if items is not None:
        write_object(root, "AWS:ComplianceItem", node, [line(node, i, capture) for i in items], **kw)
        if with_summary:
            write_object(root, "AWS:PatchSummary", node, [line(node, summary(), capture)], **kw)
        write_object(root, "AWS:ComplianceSummary", node, [line(node, {
            "ComplianceType": "Patch", "PatchGroup": "prod-linux", "PatchBaselineId": "pb-0123456789abcdef0",
            "Status": "NON_COMPLIANT" if any(i["Status"] == "NON_COMPLIANT" for i in items) else "COMPLIANT",
            "OverallSeverity": "CRITICAL"}, capture)], **kw)
