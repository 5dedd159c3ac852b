"""Resource Data Sync (RDS) objects: the key layout, the line format, and the typed parse.

The contract is ``shared/reference/rds-and-patch-manager.md`` §1: one JSON Lines object per node
and inventory type under ``<Type>/accountid=<12 digits>/region=<r>/resourcetype=ManagedInstanceInventory/
<node-id>.json``, every value a string, an envelope (``resourceId``, ``captureTime``,
``schemaVersion``) on every line. Parsing runs in DuckDB over Arrow data (the SQL lives in
``sql/ingest/``), so local directories and S3 take the same path.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

COMPLIANCE_ITEM = "AWS:ComplianceItem"
COMPLIANCE_SUMMARY = "AWS:ComplianceSummary"
PATCH_SUMMARY = "AWS:PatchSummary"
INSTANCE_INFORMATION = "AWS:InstanceInformation"
TAG = "AWS:Tag"
INGESTED_TYPES = (COMPLIANCE_ITEM, COMPLIANCE_SUMMARY, PATCH_SUMMARY, INSTANCE_INFORMATION, TAG)
RESOURCE_TYPE_PARTITION = "ManagedInstanceInventory"

ENVELOPE_FIELDS = ("resourceId", "captureTime", "schemaVersion")
# The attributes read from each ingested type (all strings in the data); others are ignored.
FIELDS: dict[str, tuple[str, ...]] = {
    COMPLIANCE_ITEM: ("ComplianceType", "ExecutionId", "ExecutionType", "ExecutionTime", "Id", "Title", "Status",
                      "Severity", "DocumentName", "DocumentVersion", "Classification", "PatchBaselineId",
                      "PatchSeverity", "PatchState", "PatchGroup", "InstalledTime", "CVEIds"),
    PATCH_SUMMARY: ("PatchGroup", "BaselineId", "SnapshotId", "OwnerInformation", "InstalledCount",
                    "InstalledOtherCount", "InstalledPendingRebootCount", "InstalledRejectedCount",
                    "NotApplicableCount", "UnreportedNotApplicableCount", "MissingCount", "FailedCount",
                    "OperationType", "OperationStartTime", "OperationEndTime", "RebootOption", "ExecutionId",
                    "NonCompliantSeverity", "CriticalNonCompliantCount", "SecurityNonCompliantCount",
                    "OtherNonCompliantCount"),
    INSTANCE_INFORMATION: ("AgentType", "AgentVersion", "ComputerName", "InstanceId", "IpAddress", "PlatformName",
                           "PlatformType", "PlatformVersion", "ResourceType", "AgentStatus", "InstanceStatus"),
    TAG: ("Key", "Value"),
    COMPLIANCE_SUMMARY: ("ComplianceType", "PatchGroup", "PatchBaselineId", "Status", "OverallSeverity",
                         "ExecutionId", "ExecutionType", "ExecutionTime"),
}
# Attributes every line of a type carries: when the fast reader finds one empty, the type's lines are
# read again one by one with keys matched in any case (Glue lower-cases columns; some tools write
# ``ResourceId``), and an AWS:InstanceInformation line may name its node by ``InstanceId`` alone.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    COMPLIANCE_ITEM: ("resourceId", "captureTime", "ComplianceType", "Id"),
    PATCH_SUMMARY: ("resourceId", "captureTime"),
    INSTANCE_INFORMATION: ("resourceId", "captureTime"),
    TAG: ("resourceId", "captureTime", "Key"),
    COMPLIANCE_SUMMARY: ("resourceId", "captureTime", "ComplianceType"),
}
# DuckDB table names the ingest SQL (sql/ingest/) reads each type's parsed lines from.
RAW_TABLE = {COMPLIANCE_ITEM: "items_raw", PATCH_SUMMARY: "summary_raw", INSTANCE_INFORMATION: "info_raw",
             TAG: "tags_raw", COMPLIANCE_SUMMARY: "csummary_raw"}

# The layout directly under the sync prefix (anchored: a copy nested deeper is not this day's data).
LAYOUT = (
    r"(?P<type>(?:AWS|Custom)(?::|%3A|%3a)[A-Za-z0-9_]+)"
    r"/accountid=(?P<account_id>\d{12})"
    r"/region=(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2})"
    r"/resourcetype=(?P<resource_type>[A-Za-z]+)"
    r"/(?P<node_id>(?:i-[0-9a-f]{8}(?:[0-9a-f]{9})?|mi-[0-9a-f]{17}))\.json$"
)
KEY_RE = re.compile("^" + LAYOUT)
NESTED_RE = re.compile("/" + LAYOUT)
PROBE_RE = re.compile(r"^(?:AWS|Custom)(?::|%3A|%3a)[A-Za-z0-9_]+/accountid=\d{12}/test\.json$")

# Why a key under the prefix was not read (counted per reason in the day record and printed).
SKIP_PROBE = "probe"  # RDS's test.json
SKIP_SYMLINK = "symlink"  # local sources never follow links
SKIP_RESOURCE_TYPE = "other_resource_type"  # resourcetype other than ManagedInstanceInventory
SKIP_NOT_RDS = "not_rds_layout"
SKIP_KEPT_INVENTORY = "kept_ec2_inventory"  # a kept copy's DescribeInstances documents (inventory.py reads them)

# In a kept copy of a day's sync output: what DescribeInstances answered that day (inventory.py).
KEPT_INVENTORY_DIR = "_ec2_inventory"

@dataclass(frozen=True)
class RdsObject:
    """One node's object of one inventory type, as found under the sync prefix."""

    path: str  # filesystem path (bucket/key for S3)
    rds_type: str  # normalised: colon, never %3A
    account_id: str
    region: str
    resource_type: str
    node_id: str
    size: int


def parse_key(path: str) -> RdsObject | None:
    """The coordinates of a key relative to the sync prefix, or None for probes and keys outside the layout."""
    match = KEY_RE.match(path)
    if not match or match["resource_type"] != RESOURCE_TYPE_PARTITION:
        return None
    rds_type = re.sub("%3[Aa]", ":", match["type"])
    return RdsObject(path, rds_type, match["account_id"], match["region"], match["resource_type"],
                     match["node_id"], 0)


def object_key(rds_type: str, account_id: str, region: str, node_id: str) -> str:
    """The key RDS writes for a node (relative to the sync prefix)."""
    return f"{rds_type}/accountid={account_id}/region={region}/resourcetype={RESOURCE_TYPE_PARTITION}/{node_id}.json"


def format_lines(node_id: str, capture_time: str, records: list[dict[str, object]]) -> bytes:
    """JSON Lines as RDS writes them: every value a string, the envelope on every line."""
    lines = []
    for record in records:
        body = {k: "" if v is None else str(v) for k, v in record.items()}
        body.update(resourceId=node_id, captureTime=capture_time, schemaVersion="1.0")
        lines.append(json.dumps(body, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode() if lines else b""


@dataclass
class SourceListing:
    """What a sync prefix holds: node objects grouped by (account, Region), and what was not read."""

    groups: dict[tuple[str, str], list[RdsObject]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> keys
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> first keys
    other_types: dict[str, int] = field(default_factory=dict)
    nested_prefixes: list[str] = field(default_factory=list)  # copies of the layout below the prefix

    @property
    def object_count(self) -> int:
        return sum(len(v) for v in self.groups.values())

    @property
    def total_bytes(self) -> int:
        return sum(o.size for v in self.groups.values() for o in v)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: str, key: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        examples = self.skipped_examples.setdefault(reason, [])
        if len(examples) < 3:
            examples.append(key)


def _local_files(base: str) -> Iterator[tuple[str, int, bool]]:
    """(path, size, is_link) below a local directory, never following a link (file or directory)."""
    pending = [base]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_symlink():
                yield entry.path, 0, True
            elif entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry.path, entry.stat(follow_symlinks=False).st_size, False


def _files(fs, base: str) -> Iterator[tuple[str, int, bool]]:
    from pyarrow import fs as pafs

    from patch_compliance.storage import list_files

    if isinstance(fs, pafs.LocalFileSystem):
        yield from _local_files(base)
        return
    for info in list_files(fs, base):
        yield info.path, info.size or 0, False


def list_source(fs, base: str) -> SourceListing:
    """List a sync prefix (local directory or S3) and keep the ingested types' node objects.

    Only the layout directly under ``base`` is read; a copy of it nested deeper (an old sync kept
    under the prefix) is reported in ``nested_prefixes`` so the caller can refuse the source.
    """
    groups: dict[tuple[str, str], list[RdsObject]] = defaultdict(list)
    listing = SourceListing()
    other: dict[str, int] = defaultdict(int)
    nested: set[str] = set()
    for path, size, is_link in _files(fs, base):
        relative = path[len(base):].lstrip("/") if path.startswith(base) else path
        if is_link:
            listing.skip(SKIP_SYMLINK, path)
            continue
        parsed = parse_key(relative)
        if parsed is None:
            deeper = NESTED_RE.search(relative)
            if deeper and deeper["resource_type"] == RESOURCE_TYPE_PARTITION:
                nested.add(relative[:deeper.start()])
            elif PROBE_RE.match(relative):
                listing.skip(SKIP_PROBE, path)
            elif KEY_RE.match(relative):
                listing.skip(SKIP_RESOURCE_TYPE, path)
            elif relative.startswith(KEPT_INVENTORY_DIR + "/"):
                listing.skip(SKIP_KEPT_INVENTORY, path)
            else:
                listing.skip(SKIP_NOT_RDS, path)
            continue
        if parsed.rds_type not in INGESTED_TYPES:
            other[parsed.rds_type] += 1
            continue
        obj = RdsObject(path, parsed.rds_type, parsed.account_id, parsed.region,
                        parsed.resource_type, parsed.node_id, size)
        groups[(obj.account_id, obj.region)].append(obj)
    listing.groups = {k: sorted(v, key=lambda o: o.path) for k, v in sorted(groups.items())}
    listing.other_types = dict(other)
    listing.nested_prefixes = sorted(nested)
    return listing
