"""Resource Data Sync output: a node's five objects per reference §1, into a local tree or S3.

Small objects go through ``patch_compliance.rds.format_lines``; compliance items (the bulk: ~150k
lines per 800-node day) are rendered from string templates whose output is byte-identical to
``format_lines`` (a test checks it), with each item's body cached across days.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path

from patch_compliance import rds
from patch_compliance.inputs import parse_location
from sim.fleet import PLATFORM, unit
from sim.model import Item, Scan

SEVERITY_LEVELS = ("Critical", "High", "Medium", "Low", "Informational", "Unspecified")
AGENT_VERSION = "3.3.1142.0"
SECURITY_CLASSIFICATIONS = ("Security", "SecurityUpdates", "CriticalUpdates")


def execution_id(*parts: object) -> str:
    """A stable GUID for a scan (in history runs there is no real command id)."""
    return str(uuid.UUID(int=int(unit(*parts) * 2**64) << 64 | int(unit(*parts, "low") * 2**64), version=4))


_q = encode_basestring_ascii  # what json.dumps (and so format_lines) does to a str, minus the dispatch


def malformed_items(seed: int, share: float, scan: Scan) -> list[int]:
    """Positions of the scan's Installed item lines written truncated (the ``malformed_share`` fault)."""
    if share <= 0:
        return []
    return [n for n, item in enumerate(scan.items or ())
            if item.state == "Installed" and unit(seed, "malformed", scan.node.key, item.patch_id, scan.day) < share]


@dataclass
class Renderer:
    """Renders a node's objects; ``malformed_share`` truncates that share of Installed item lines."""

    seed: int
    malformed_share: float = 0.0
    malformed_lines: int = 0
    _bodies: dict[tuple, str] = field(default_factory=dict, repr=False)

    def _body(self, item: Item, baseline_id: str, patch_group: str) -> str:
        key = (item, baseline_id, patch_group)
        body = self._bodies.get(key)
        if body is None:
            body = (f'"Id":{_q(item.patch_id)},"Title":{_q(item.title)},"Status":{_q(item.status)},'
                    f'"Severity":{_q(item.severity)},"DocumentName":"AWS-RunPatchBaseline","DocumentVersion":"1",'
                    f'"Classification":{_q(item.classification)},"PatchBaselineId":{_q(baseline_id)},'
                    f'"PatchSeverity":{_q(item.patch_severity)},"PatchState":{_q(item.state)},'
                    f'"PatchGroup":{_q(patch_group)},"InstalledTime":{_q(item.installed_time)}')
            if item.state in ("Missing", "Failed"):
                body += f',"CVEIds":{_q(item.cve_ids)}'
            self._bodies[key] = body
        return body

    def compliance_items(self, scan: Scan, exec_id: str) -> bytes:
        node = scan.node
        head = (f'{{"ComplianceType":"Patch","ExecutionId":"{exec_id}","ExecutionType":"Command",'
                f'"ExecutionTime":"{scan.capture_time}",')
        tail = f',"resourceId":"{node.node_id}","captureTime":"{scan.capture_time}","schemaVersion":"1.0"}}'
        group = node.patch_group or ""
        body = self._body
        lines = [head + body(item, scan.baseline_id, group) + tail for item in scan.items or ()]
        for n in malformed_items(self.seed, self.malformed_share, scan):
            lines[n] = lines[n][: len(lines[n]) // 2]
            self.malformed_lines += 1
        return ("\n".join(lines) + "\n").encode() if lines else b""

    def objects(self, scan: Scan, exec_id: str, snapshot_id: str = "") -> dict[str, bytes]:
        """``{rds key relative to the sync prefix: bytes}`` for the node's scan."""
        node = scan.node
        name, platform_type, version = PLATFORM[node.family]
        info = {
            "AgentType": "amazon-ssm-agent", "AgentVersion": AGENT_VERSION, "ComputerName": node.computer_name,
            "InstanceId": node.node_id, "IpAddress": node.private_ip, "PlatformName": name,
            "PlatformType": platform_type, "PlatformVersion": version,
            "ResourceType": "ManagedInstance" if node.is_hybrid else "EC2Instance",
            "AgentStatus": "Active" if scan.instance_status == "Active" else "Inactive",
            "InstanceStatus": scan.instance_status,
        }
        capture = scan.capture_time
        out = {
            rds.INSTANCE_INFORMATION: rds.format_lines(node.node_id, scan.info_capture_time, [info]),
            rds.TAG: rds.format_lines(node.node_id, capture, [{"Key": k, "Value": v} for k, v in node.tags]),
        }
        if scan.items is not None:
            if not node.summary_only:
                out[rds.COMPLIANCE_ITEM] = self.compliance_items(scan, exec_id)
            summary = self._summary(scan, exec_id, snapshot_id)
            out[rds.PATCH_SUMMARY] = rds.format_lines(node.node_id, capture, [summary])
            compliance = self._compliance_summary(scan, exec_id)
            out[rds.COMPLIANCE_SUMMARY] = rds.format_lines(node.node_id, capture, [compliance])
        return {rds.object_key(t, node.account_id, node.region, node.node_id): data for t, data in out.items()}

    @staticmethod
    def _summary(scan: Scan, exec_id: str, snapshot_id: str) -> dict[str, object]:
        states = Counter(i.state for i in scan.items or ())
        non_compliant = [i for i in scan.items or () if i.status == "NON_COMPLIANT"]
        critical = sum(1 for i in non_compliant if i.severity == "CRITICAL")
        security = sum(1 for i in non_compliant if i.classification in SECURITY_CLASSIFICATIONS)
        start = scan.capture_time[:-3] + "00Z"
        return {
            "PatchGroup": scan.node.patch_group or "", "BaselineId": scan.baseline_id, "SnapshotId": snapshot_id,
            "OwnerInformation": "", "InstalledCount": states["Installed"],
            "InstalledOtherCount": states["InstalledOther"],
            "InstalledPendingRebootCount": states["InstalledPendingReboot"],
            "InstalledRejectedCount": states["InstalledRejected"], "NotApplicableCount": states["NotApplicable"],
            "UnreportedNotApplicableCount": 0 if scan.node.is_windows else -1,
            "MissingCount": states["Missing"], "FailedCount": states["Failed"], "OperationType": "Scan",
            "OperationStartTime": start, "OperationEndTime": scan.capture_time, "RebootOption": "RebootIfNeeded",
            "InstallOverrideList": "", "LastNoRebootInstallOperationTime": "", "ExecutionId": exec_id,
            "NonCompliantSeverity": "CRITICAL" if critical else ("HIGH" if non_compliant else ""),
            "CriticalNonCompliantCount": critical, "SecurityNonCompliantCount": security,
            "OtherNonCompliantCount": len(non_compliant) - security,
        }

    @staticmethod
    def _compliance_summary(scan: Scan, exec_id: str) -> dict[str, object]:
        counts: Counter[tuple[str, str]] = Counter()
        for item in scan.items or ():
            if item.status:
                counts[(item.status, (item.severity or "UNSPECIFIED").capitalize())] += 1
        non_compliant = [lvl for (status, lvl), n in counts.items() if status == "NON_COMPLIANT" and n]
        overall = next((lvl.upper() for lvl in SEVERITY_LEVELS if lvl in non_compliant), "UNSPECIFIED")
        record: dict[str, object] = {
            "ComplianceType": "Patch", "PatchGroup": scan.node.patch_group or "", "PatchBaselineId": scan.baseline_id,
            "Status": "NON_COMPLIANT" if non_compliant else "COMPLIANT", "OverallSeverity": overall,
            "ExecutionId": exec_id, "ExecutionType": "Command", "ExecutionTime": scan.capture_time,
        }
        for level in SEVERITY_LEVELS:
            record[f"Compliant{level}Count"] = counts[("COMPLIANT", level)]
            record[f"NonCompliant{level}Count"] = counts[("NON_COMPLIANT", level)]
        return record


def probe_key(account_id: str) -> str:
    """The probe object RDS may write (ingest must skip it)."""
    return f"{rds.INSTANCE_INFORMATION}/accountid={account_id}/test.json"


PROBE_BODY = b'{"test":"resource data sync probe"}\n'


def _replace_file(path: Path, data: bytes) -> None:
    """Write a new file and rename it over the old one, as S3 replaces an object whole.

    The old inode is left alone, so hard-linked copies of yesterday's tree (the demo's kept sync
    copies) keep yesterday's content.
    """
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


class LocalSink:
    """An RDS tree in a local directory (the fast path for history)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._made: set[Path] = set()

    @property
    def uri(self) -> str:
        return str(self.root)

    def put_many(self, objects: dict[str, bytes], threads: int = 4) -> int:
        paths = [self.root / key for key in objects]
        for parent in {p.parent for p in paths} - self._made:
            parent.mkdir(parents=True, exist_ok=True)
            self._made.add(parent)
        if len(paths) < 64:
            for path, data in zip(paths, objects.values(), strict=True):
                _replace_file(path, data)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(_replace_file, paths, objects.values()))
        return len(objects)

    def exists(self, key: str) -> bool:
        return (self.root / key).exists()


class S3Sink:
    """An RDS prefix in S3 (the moto server): concurrent ``PutObject`` calls, as RDS itself makes.

    boto3 rather than a pyarrow filesystem: pyarrow's ``create_dir`` adds directory-marker requests
    per object, which triples the cost against moto's ≈420 PUT/s.
    """

    def __init__(self, uri: str, endpoint_url: str | None = None, threads: int = 16) -> None:
        import boto3
        from botocore.config import Config

        self.location = parse_location(uri, "sync location")
        if self.location.scheme != "s3":
            raise ValueError(f"S3Sink needs an s3:// URI, got {uri!r}")
        self.client = boto3.client("s3", endpoint_url=endpoint_url,
                                   config=Config(max_pool_connections=threads, retries={"mode": "adaptive"}))
        self.threads = threads

    @property
    def uri(self) -> str:
        return self.location.uri

    def _key(self, relative: str) -> str:
        return "/".join(p for p in (self.location.path, relative) if p)

    def put_many(self, objects: dict[str, bytes]) -> int:
        def put(item: tuple[str, bytes]) -> None:
            self.client.put_object(Bucket=self.location.bucket, Key=self._key(item[0]), Body=item[1],
                                   ContentType="application/json")

        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            list(pool.map(put, objects.items()))
        return len(objects)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.location.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


def sink_for(uri: str, endpoint_url: str | None = None) -> LocalSink | S3Sink:
    return S3Sink(uri, endpoint_url) if uri.startswith("s3://") else LocalSink(uri)
