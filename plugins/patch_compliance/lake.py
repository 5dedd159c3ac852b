"""The Parquet lake: table schemas, atomic snapshot publishing, and manifest-driven reads.

Layout: ``<lake>/<table>/snapshot_date=YYYY-MM-DD/account_id=…/region=…/part-<run>-<n>.parquet``
(Hive partitions, zstd). The partition columns live only in the path, as Athena requires.

A snapshot is committed by its manifest: data files are written under a run id, then the manifest
(``_manifests/snapshot_date=…json`` for the ingest tables, ``_manifests/<table>/snapshot_date=…json``
for tables published on their own) is written in one atomic PUT/rename, and only then are files of
earlier runs of that date deleted. Readers here list files from the manifest, so a crash before the
commit leaves the previous snapshot exactly as it was and a re-run replaces, never duplicates.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from patch_compliance import __version__
from patch_compliance.inputs import InputError, Location, validate_account_id, validate_region
from patch_compliance.storage import delete_files, list_files, open_location, read_bytes, write_bytes

if TYPE_CHECKING:  # pyarrow.dataset pulls in pandas: import it only where datasets are read
    import pyarrow.dataset as ds

TS = pa.timestamp("us", tz="UTC")
TAGS = pa.map_(pa.string(), pa.string())
COUNT = pa.int64()

PARTITIONING = pa.schema([("snapshot_date", pa.date32()), ("account_id", pa.string()), ("region", pa.string())])

_TAG_COLUMNS = [("team", pa.string()), ("environment", pa.string()), ("patch_group", pa.string()),
                ("tags", TAGS)]

TABLES: dict[str, pa.Schema] = {
    # One row per (snapshot, instance, patch item) of compliance type Patch.
    "patch_compliance": pa.schema([
        ("instance_id", pa.string()), ("resource_type", pa.string()),
        ("capture_time", TS), ("execution_id", pa.string()), ("execution_type", pa.string()),
        ("execution_time", TS), ("patch_id", pa.string()), ("title", pa.string()),
        ("status", pa.string()), ("severity", pa.string()), ("patch_severity", pa.string()),
        ("classification", pa.string()), ("patch_state", pa.string()), ("installed_time", TS),
        ("baseline_id", pa.string()), ("scan_patch_group", pa.string()),
        ("document_name", pa.string()), ("document_version", pa.string()),
        ("cve_ids", pa.list_(pa.string())),
        *_TAG_COLUMNS,
        ("platform_type", pa.string()), ("platform_name", pa.string()),
    ]),
    # One row per (snapshot, node) seen in any RDS type, Terminated included (in_population false).
    "instances": pa.schema([
        ("instance_id", pa.string()), ("resource_type", pa.string()), ("computer_name", pa.string()),
        ("ip_address", pa.string()), ("platform_type", pa.string()), ("platform_name", pa.string()),
        ("platform_version", pa.string()), ("agent_type", pa.string()), ("agent_version", pa.string()),
        ("agent_status", pa.string()), ("instance_status", pa.string()),
        *_TAG_COLUMNS, ("name", pa.string()),
        ("last_capture_time", TS), ("info_capture_time", TS),
        ("operation_type", pa.string()), ("operation_start_time", TS), ("operation_end_time", TS),
        ("baseline_id", pa.string()), ("scan_patch_group", pa.string()), ("ssm_snapshot_id", pa.string()),
        ("execution_id", pa.string()),
        ("installed_count", COUNT), ("installed_other_count", COUNT), ("installed_pending_reboot_count", COUNT),
        ("installed_rejected_count", COUNT), ("not_applicable_count", COUNT),
        ("unreported_not_applicable_count", COUNT), ("missing_count", COUNT), ("failed_count", COUNT),
        ("critical_non_compliant_count", COUNT), ("security_non_compliant_count", COUNT),
        ("other_non_compliant_count", COUNT),
        ("patch_items", COUNT), ("non_compliant_items", COUNT),
        ("summary_status", pa.string()), ("compliance_status", pa.string()),
        ("is_stale", pa.bool_()), ("in_population", pa.bool_()), ("reference_time", TS),
    ]),
    # Lines that could not be ingested, kept verbatim so nothing is lost.
    "quarantine": pa.schema([
        ("source_key", pa.string()), ("rds_type", pa.string()), ("line_number", COUNT),
        ("error", pa.string()), ("raw_line", pa.string()),
    ]),
    # Every EC2 instance of an account/Region, managed or not (coverage, UNMANAGED).
    "ec2_inventory": pa.schema([
        ("instance_id", pa.string()), ("state", pa.string()), ("platform", pa.string()),
        ("launch_time", TS), *_TAG_COLUMNS, ("name", pa.string()), ("captured_at", TS),
    ]),
    # Patch release dates and CVEs where a catalog is known (SSM DescribeAvailablePatches or a vendor feed).
    "patch_catalog": pa.schema([
        ("patch_id", pa.string()), ("title", pa.string()), ("product", pa.string()),
        ("classification", pa.string()), ("severity", pa.string()), ("release_date", pa.date32()),
        ("cve_ids", pa.list_(pa.string())), ("source", pa.string()),
    ]),
    # Patch baselines in force per account/Region, and their drift from the declared policy.
    "baselines": pa.schema([
        ("baseline_id", pa.string()), ("name", pa.string()), ("operating_system", pa.string()),
        ("patch_groups", pa.list_(pa.string())), ("is_default", pa.bool_()),
        ("approval_rules", pa.string()),  # JSON, as SSM returns it
        ("approved_patches", pa.list_(pa.string())), ("rejected_patches", pa.list_(pa.string())),
        ("rejected_patches_action", pa.string()), ("declared_name", pa.string()),
        ("drift", pa.string()),  # in_sync | drifted | undeclared | missing
        ("drift_details", pa.string()), ("captured_at", TS),
    ]),
}

INGEST_TABLES = ("patch_compliance", "instances", "quarantine")
SNAPSHOT_DIR_RE = re.compile(r"snapshot_date=(\d{4}-\d{2}-\d{2})")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and order the schema's columns, casting types, so every file has the contract schema."""
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise ValueError(f"table lacks contract columns {missing}")
    return table.select(schema.names).cast(schema)


@dataclass
class SnapshotWriter:
    """Writes one snapshot's files under a run id; nothing is visible until ``commit``."""

    lake: Lake
    snapshot_date: date
    tables: tuple[str, ...]
    manifest_path: str
    run_id: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}")
    files: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    _sequence: int = 0

    def write(self, table_name: str, account_id: str, region: str, table: pa.Table) -> None:
        if table_name not in self.tables:
            raise ValueError(f"{table_name!r} is not one of this snapshot's tables {self.tables}")
        if table.num_rows == 0:
            return
        validate_account_id(account_id)
        validate_region(region)
        table = conform(table, TABLES[table_name])
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd", compression_level=1, row_group_size=256_000)
        data = buffer.getvalue()
        self._sequence += 1
        relative = (f"{table_name}/snapshot_date={self.snapshot_date.isoformat()}/account_id={account_id}"
                    f"/region={region}/part-{self.run_id}-{self._sequence:05d}.parquet")
        write_bytes(self.lake.fs, self.lake.location.join(relative), data)
        self.files.setdefault(table_name, []).append(
            {"path": relative, "rows": table.num_rows, "bytes": len(data), "sha256": sha256(data)})

    def commit(self, details: dict[str, object]) -> dict[str, object]:
        """Publish the snapshot atomically, then remove files of any earlier run of the date."""
        manifest = {
            "snapshot_date": self.snapshot_date.isoformat(),
            "run_id": self.run_id,
            "committed_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "code_version": __version__,
            "tables": {name: {"rows": sum(int(f["rows"]) for f in self.files.get(name, [])),
                              "files": self.files.get(name, [])} for name in self.tables},
            **details,
        }
        write_bytes(self.lake.fs, self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True).encode())
        keep = {f["path"] for files in self.files.values() for f in files}
        for name in self.tables:
            prefix = f"{name}/snapshot_date={self.snapshot_date.isoformat()}"
            stale = [info.path for info in list_files(self.lake.fs, self.lake.location.join(prefix))
                     if self.lake.relative(info.path) not in keep]
            delete_files(self.lake.fs, stale)
        return manifest

    def abort(self) -> None:
        """Best-effort removal of this run's uncommitted files (readers never see them anyway)."""
        delete_files(self.lake.fs, [self.lake.location.join(f["path"]) for files in self.files.values()
                                    for f in files])
        self.files.clear()


class Lake:
    """A lake at a local path or ``s3://bucket/prefix``."""

    def __init__(self, uri: str, endpoint_url: str | None = None) -> None:
        self.location: Location
        self.location, self.fs = open_location(uri, endpoint_url, "lake")

    @property
    def uri(self) -> str:
        return self.location.uri

    def relative(self, fs_path: str) -> str:
        return fs_path[len(self.location.fs_path) + 1:]

    def manifest_path(self, snapshot_date: date, table: str | None = None) -> str:
        name = f"snapshot_date={snapshot_date.isoformat()}.json"
        return self.location.join("_manifests", table, name) if table else self.location.join("_manifests", name)

    def snapshot_writer(self, snapshot_date: date, table: str | None = None) -> SnapshotWriter:
        """A writer for the ingest tables (``table=None``) or for one separately published table."""
        if table is not None and table not in TABLES:
            raise ValueError(f"unknown lake table {table!r}")
        tables = (table,) if table else INGEST_TABLES
        return SnapshotWriter(self, snapshot_date, tables, self.manifest_path(snapshot_date, table))

    def write_table_snapshot(self, table_name: str, snapshot_date: date, table: pa.Table,
                             details: dict[str, object] | None = None) -> dict[str, object]:
        """Publish a whole table snapshot (rows carry ``account_id`` and ``region`` columns)."""
        writer = self.snapshot_writer(snapshot_date, table_name)
        for (account_id, region), part in _split_by_partition(table):
            writer.write(table_name, account_id, region, part)
        return writer.commit(details or {})

    def _manifest_group(self, table: str) -> str | None:
        return None if table in INGEST_TABLES else table

    def snapshot_dates(self, table: str = "patch_compliance") -> list[date]:
        """Committed snapshot dates of a table, ascending."""
        group = self._manifest_group(table)
        base = self.location.join("_manifests", group) if group else self.location.join("_manifests")
        dates = set()
        for info in list_files(self.fs, base):
            rest = self.relative(info.path)[len("_manifests/"):]
            if (group and not rest.startswith(group + "/")) or (not group and "/" in rest):
                continue
            match = SNAPSHOT_DIR_RE.search(rest)
            if match and rest.endswith(".json"):
                dates.add(date.fromisoformat(match[1]))
        return sorted(dates)

    def manifest(self, snapshot_date: date, table: str = "patch_compliance") -> dict | None:
        path = self.manifest_path(snapshot_date, self._manifest_group(table))
        try:
            return json.loads(read_bytes(self.fs, path))
        except FileNotFoundError:
            return None

    def quality_results_path(self, snapshot_date: date) -> str:
        """Where a snapshot's data-quality evidence lives (written by ``quality.validate_snapshot``)."""
        return self.location.join("quality", f"snapshot_date={snapshot_date.isoformat()}", "results.json")

    def failed_validation_dates(self, dates: Iterable[date]) -> list[date]:
        """Snapshots whose stored validation failed a critical check: they are not used as report input.

        A snapshot that was never validated is not in the list (the report says which were).
        """
        failed = []
        for day in dates:
            try:
                verdict = json.loads(read_bytes(self.fs, self.quality_results_path(day)))
            except FileNotFoundError:
                continue
            if verdict.get("success") is False:
                failed.append(day)
        return failed

    def committed_files(self, table: str, dates: Iterable[date] | None = None) -> list[str]:
        if table not in TABLES:
            raise InputError(f"unknown lake table {table!r}; known: {sorted(TABLES)}")
        chosen = self.snapshot_dates(table) if dates is None else list(dates)
        paths = []
        for day in chosen:
            manifest = self.manifest(day, table)
            if manifest is None:
                continue
            paths += [self.location.join(f["path"]) for f in manifest["tables"][table]["files"]]
        return paths

    def dataset(self, table: str, dates: Iterable[date] | None = None) -> ds.Dataset:
        """The committed files of a table (optionally some dates) with partition columns from paths."""
        import pyarrow.dataset as ds

        files = self.committed_files(table, dates)
        schema = pa.schema(list(PARTITIONING) + list(TABLES[table]))
        return ds.dataset(
            files, schema=schema, format="parquet", filesystem=self.fs,
            partitioning=ds.partitioning(PARTITIONING, flavor="hive"),
            partition_base_dir=self.location.join(table),
        )

    def read(self, table: str, dates: Iterable[date] | None = None, columns: list[str] | None = None,
             filter: ds.Expression | None = None) -> pa.Table:
        return self.dataset(table, dates).to_table(columns=columns, filter=filter)


def _split_by_partition(table: pa.Table) -> list[tuple[tuple[str, str], pa.Table]]:
    if table.num_rows == 0:
        return []
    keys = table.select(["account_id", "region"]).group_by(["account_id", "region"]).aggregate([])
    parts = []
    for account_id, region in zip(keys["account_id"].to_pylist(), keys["region"].to_pylist(), strict=True):
        mask = pc.and_(pc.equal(table["account_id"], account_id),
                               pc.equal(table["region"], region))
        parts.append(((account_id, region), table.filter(mask)))
    return parts
