"""The lake: Apache Iceberg tables (format v2) through pyiceberg, and the day record that makes a day whole.

Every table is declared once here (``SPECS``: schema, identity partitions, sort order) and lives in
an Iceberg catalog: a SQL catalog (SQLite beside a local lake, or any SQLAlchemy URI) or the AWS
Glue Data Catalog, whose tables Athena queries as they are.

Iceberg commits one table at a time, so a day is published in two steps (``DayWriter``):

1. each table of the day's *group* (``GROUPS``) is replaced for that ``snapshot_date`` in one
   Iceberg transaction (delete the date, add the new files), validated against every commit made
   since the run began: a concurrent writer of the same date is refused by Iceberg itself;
2. one row is added to the ``snapshots`` table, by compare-and-swap: the run id, the Iceberg
   snapshot id and data files of every table written, and the run's facts (source digest,
   quarantine counts, reference time, code version).

A day written into the tables by Athena DML instead (the fleet-scale ingest) is recorded the
same way, by ``ExternalDay``: it finds the snapshot each table's INSERT made and checks that the
date's files there are that run's only.

Readers resolve a date through ``snapshots`` (the newest row of the date and group) and read the
files that row lists, i.e. each table at the recorded snapshot id: never a half-written day, never
a mix of two runs. A rerun adds a newer row; the older version stays readable by time travel until
retention expires it (``housekeeping``).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from patch_compliance import __version__
from patch_compliance.inputs import InputError, Location, parse_location, validate_account_id, validate_region
from patch_compliance.storage import delete_files, filesystem, list_files, s3_access, write_bytes

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

    from patch_compliance.aws import StorageAccess
    from patch_compliance.config import Settings, StorageSettings

TS = pa.timestamp("us", tz="UTC")
TAGS = pa.map_(pa.string(), pa.string())
COUNT = pa.int64()
SNAPSHOT_DATE = ("snapshot_date", pa.date32())
ACCOUNT_REGION = [("account_id", pa.string()), ("region", pa.string())]
_TAG_COLUMNS = [("team", pa.string()), ("environment", pa.string()), ("patch_group", pa.string()),
                ("tags", TAGS)]
RUN_ID_PROPERTY = "patch-compliance.run-id"
DATE_PROPERTY = "patch-compliance.snapshot-date"


@dataclass(frozen=True)
class TableSpec:
    """One lake table: its contract schema, identity partition columns and sort order."""

    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    sort_by: tuple[str, ...]

    @property
    def row_schema(self) -> pa.Schema:
        """The columns a writer is given (partition values come from the writer)."""
        return pa.schema([f for f in self.schema if f.name not in self.partition_by])

    @property
    def undated_schema(self) -> pa.Schema:
        """The columns of rows that carry their own account and Region (the writer adds the date)."""
        return pa.schema([f for f in self.schema if f.name != "snapshot_date"])


def _spec(name: str, columns: list[tuple[str, pa.DataType]], sort_by: tuple[str, ...],
          by_account: bool = True) -> TableSpec:
    partition = [SNAPSHOT_DATE, *(ACCOUNT_REGION if by_account else [])]
    return TableSpec(name, pa.schema([*partition, *columns]), tuple(n for n, _ in partition),
                     tuple(n for n, _ in partition) + sort_by)


SPECS: dict[str, TableSpec] = {spec.name: spec for spec in (
    # One row per (snapshot, instance, patch item) of compliance type Patch.
    _spec("patch_compliance", [
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
    ], ("instance_id", "patch_id", "title", "patch_state", "status", "capture_time", "installed_time",
        "baseline_id", "execution_id")),
    # One row per (snapshot, node) seen in any RDS type, Terminated included (in_population false).
    _spec("instances", [
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
        ("quarantined_lines", COUNT), ("quarantined_item_lines", COUNT), ("capture_in_future", pa.bool_()),
        ("capture_basis", pa.string()),  # capture_time | operation_end_time | execution_time
        ("status_basis", pa.string()),  # items | summary (NULL: no patch data)
        ("patch_status", pa.string()),  # the status from patch data alone (what a STOPPED node last showed)
        ("summary_non_compliant_count", COUNT), ("summary_items_mismatch", pa.bool_()),
        ("invalid_timestamps", COUNT),
    ], ("instance_id",)),
    # Lines that could not be ingested, kept verbatim so nothing is lost.
    _spec("quarantine", [
        ("source_key", pa.string()), ("rds_type", pa.string()), ("line_number", COUNT),
        ("error", pa.string()), ("raw_line", pa.string()),
    ], ("source_key", "line_number", "error")),
    # Timestamps whose text did not parse (the lake holds NULL for them): the text, and where it was.
    _spec("invalid_values", [
        ("source_key", pa.string()), ("rds_type", pa.string()), ("line_number", COUNT),
        ("instance_id", pa.string()), ("field", pa.string()), ("raw_value", pa.string()),
    ], ("source_key", "line_number", "field")),
    # Every EC2 instance of an account/Region, managed or not (coverage, UNMANAGED).
    _spec("ec2_inventory", [
        ("instance_id", pa.string()), ("state", pa.string()), ("platform", pa.string()),
        ("launch_time", TS), *_TAG_COLUMNS, ("name", pa.string()), ("captured_at", TS),
    ], ("instance_id",)),
    # Patch release dates and CVEs where a catalog is known (SSM DescribeAvailablePatches or a vendor feed).
    _spec("patch_catalog", [
        ("patch_id", pa.string()), ("title", pa.string()), ("product", pa.string()),
        ("classification", pa.string()), ("severity", pa.string()), ("release_date", pa.date32()),
        ("cve_ids", pa.list_(pa.string())), ("source", pa.string()),
    ], ("patch_id", "product", "title")),
    # Patch baselines in force per account/Region, and their drift from the declared policy.
    _spec("baselines", [
        ("baseline_id", pa.string()), ("name", pa.string()), ("operating_system", pa.string()),
        ("patch_groups", pa.list_(pa.string())), ("is_default", pa.bool_()),
        ("approval_rules", pa.string()),  # JSON, as SSM returns it
        ("approved_patches", pa.list_(pa.string())), ("rejected_patches", pa.list_(pa.string())),
        ("rejected_patches_action", pa.string()), ("declared_name", pa.string()),
        ("drift", pa.string()),  # in_sync | drifted | undeclared | missing
        ("drift_details", pa.string()), ("captured_at", TS),
    ], ("baseline_id", "name")),
    # Data-quality results per day: one row per expectation (the verdict is in the day record).
    _spec("quality", [
        ("reference_time", TS), ("suite", pa.string()), ("expectation_type", pa.string()),
        ("column", pa.string()), ("check", pa.string()), ("severity", pa.string()), ("success", pa.bool_()),
        ("description", pa.string()), ("observed", pa.string()), ("expected", pa.string()),
        ("unexpected_count", COUNT), ("element_count", COUNT),
    ], ("suite", "check", "column", "expectation_type"), by_account=False),
)}
TABLES: dict[str, pa.Schema] = {name: spec.schema for name, spec in SPECS.items()}

# Tables published together: a day of a group is one row of the ``snapshots`` table.
INGEST_TABLES = ("patch_compliance", "instances", "quarantine", "invalid_values")
GROUPS: dict[str, tuple[str, ...]] = {
    "ingest": INGEST_TABLES,
    **{name: (name,) for name in ("ec2_inventory", "patch_catalog", "baselines", "quality")},
}
GROUP_OF = {table: group for group, tables in GROUPS.items() for table in tables}

DATA_FILE = pa.struct([("path", pa.string()), ("rows", COUNT), ("bytes", COUNT), ("sha256", pa.string())])
TABLE_VERSION = pa.struct([("table_name", pa.string()), ("iceberg_snapshot_id", COUNT), ("rows", COUNT),
                           ("files", pa.list_(DATA_FILE))])
# The day record: one row per committed (date, group) run; newer rows supersede older ones.
SNAPSHOTS_SCHEMA = pa.schema([
    ("sequence", COUNT), SNAPSHOT_DATE, ("table_group", pa.string()), ("run_id", pa.string()), ("committed_at", TS),
    ("code_version", pa.string()), ("reference_time", TS), ("source_uri", pa.string()),
    ("source_objects", COUNT), ("source_sha256", pa.string()), ("quarantined_lines", COUNT),
    ("tables", pa.list_(TABLE_VERSION)), ("details", pa.string()),
])
SNAPSHOTS = "snapshots"
# Every record rewrites the day-record table whole, so an older Iceberg version of it holds no row the newest
# lacks; pyiceberg's commit cost grows with the snapshots a table's metadata lists (≈2 ms CPU each, measured),
# and this table gains two per record (delete + append). Keeping its versions bounded keeps commits flat.
RECORD_VERSIONS_KEPT = 20


class ConcurrentWriteError(RuntimeError):
    """Another run published the same date (and group) while this one was writing; this run lost."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and order the schema's columns, casting types, so every file has the contract schema."""
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise ValueError(f"table lacks contract columns {missing}")
    return table.select(schema.names).cast(schema)


def _parquet(table: pa.Table) -> bytes:
    """Fixed writer settings, so the same rows always give the same bytes (and checksum)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", compression_level=1, row_group_size=256_000,
                   use_dictionary=True, write_statistics=True)
    return buffer.getvalue()


@dataclass(frozen=True)
class DayRecord:
    """One row of ``snapshots``: what a run committed for a date and group."""

    snapshot_date: date
    table_group: str
    run_id: str
    committed_at: datetime
    code_version: str
    tables: dict[str, dict[str, Any]]  # table -> {iceberg_snapshot_id, rows, files: [{path, rows, bytes, sha256}]}
    details: dict[str, Any]
    reference_time: datetime | None = None
    sequence: int = 0

    def as_manifest(self) -> dict[str, Any]:
        """The record as the JSON-able mapping the CLI prints and the report's manifest keeps."""
        return {
            "snapshot_date": self.snapshot_date.isoformat(), "table_group": self.table_group,
            "run_id": self.run_id, "committed_at": _iso(self.committed_at), "code_version": self.code_version,
            "tables": self.tables, **self.details,
        }

    def files(self, table: str) -> list[str]:
        return [f["path"] for f in self.tables.get(table, {}).get("files", [])]

    def rows(self, table: str) -> int:
        return int(self.tables.get(table, {}).get("rows", 0))


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def _record_row(record: DayRecord) -> dict[str, Any]:
    details = record.details
    source: dict[str, Any] = details["source"] if isinstance(details.get("source"), dict) else {}
    return {
        "sequence": record.sequence,
        "snapshot_date": record.snapshot_date, "table_group": record.table_group, "run_id": record.run_id,
        "committed_at": record.committed_at, "code_version": record.code_version,
        "reference_time": record.reference_time, "source_uri": source.get("uri"),
        "source_objects": source.get("objects"), "source_sha256": source.get("objects_sha256"),
        "quarantined_lines": details.get("quarantined_lines"),
        "tables": [{"table_name": name, **info} for name, info in record.tables.items()],
        "details": json.dumps(details, sort_keys=True, default=str),
    }


def _record_from_row(row: dict[str, Any]) -> DayRecord:
    tables = {t["table_name"]: {"iceberg_snapshot_id": t["iceberg_snapshot_id"], "rows": t["rows"],
                                "files": t["files"]} for t in row["tables"]}
    return DayRecord(row["snapshot_date"], row["table_group"], row["run_id"], row["committed_at"],
                     row["code_version"], tables, json.loads(row["details"] or "{}"), row["reference_time"],
                     row["sequence"])


@dataclass(frozen=True)
class CatalogConfig:
    """Where the lake's Iceberg catalog is (from ``storage`` in fleet.yaml)."""

    kind: str = "sql"  # sql | glue
    uri: str = ""  # SQLAlchemy URI of a SQL catalog; default: SQLite beside a local lake
    database: str = "patch_compliance"  # the Glue database / SQL catalog namespace
    region: str = "eu-west-1"
    retention_days: int = 400

    @classmethod
    def from_settings(cls, settings: Settings) -> CatalogConfig:
        storage: StorageSettings = settings.storage
        return cls(storage.catalog, storage.catalog_uri, storage.catalog_database, settings.aws.region,
                   int(storage.retention_days))


class Lake:
    """The lake at a local path or ``s3://bucket/prefix``, its Iceberg catalog and its day records."""

    def __init__(self, uri: str, access: StorageAccess | None = None, settings: Settings | None = None,
                 catalog: CatalogConfig | None = None) -> None:
        """``access``: how to reach an s3:// lake (default: boto3's credential chain); unused for a local one."""
        self.location: Location = parse_location(uri, "lake")
        self.access = s3_access(access) if self.location.scheme == "s3" else None
        self.fs = filesystem(self.location, self.access)
        if catalog is None:
            from patch_compliance.config import load_settings

            catalog = CatalogConfig.from_settings(settings or load_settings())
        self.config = catalog
        self._tables: dict[str, Table] = {}
        self._records: list[DayRecord] | None = None

    @property
    def uri(self) -> str:
        return self.location.uri

    # --- catalog and tables ---------------------------------------------------------------------

    def table_uri(self, table: str) -> str:
        return self.file_uri(self.location.join(table))

    def file_uri(self, fs_path: str) -> str:
        return ("s3://" if self.location.scheme == "s3" else "file://") + fs_path

    def fs_path(self, uri: str) -> str:
        """A file URI of this lake as its pyarrow filesystem names it."""
        for scheme in ("s3://", "file://"):
            if uri.startswith(scheme):
                return uri[len(scheme):]
        return uri

    def relative(self, path: str) -> str:
        return self.fs_path(path)[len(self.location.fs_path) + 1:]

    @cached_property
    def catalog(self) -> Catalog:
        """The Iceberg catalog: a local lake keeps its SQLite catalog beside it, an S3 lake uses config."""
        io_props = self.access.iceberg_io_properties() if self.access else {}
        if self.location.scheme == "file" or self.config.kind == "sql":
            from pyiceberg.catalog.sql import SqlCatalog

            uri = self.config.uri
            if self.location.scheme == "file" and not uri:
                self.fs.create_dir(self.location.fs_path, recursive=True)
                uri = f"sqlite:///{self.location.join('catalog.db')}"
            if not uri:
                raise InputError(f"lake {self.uri}: an s3:// lake with the sql catalog needs storage.catalog_uri "
                                 "(e.g. postgresql+psycopg2://user@host/db), or set storage.catalog: glue")
            properties = {"uri": uri, "warehouse": self.file_uri(self.location.fs_path), **io_props}
            try:
                return SqlCatalog("lake", **properties)
            except Exception:  # two first runs creating the catalog's own tables at once: the other won
                return SqlCatalog("lake", **properties)
        from pyiceberg.catalog.glue import GlueCatalog

        assert self.access is not None  # an s3:// lake
        return GlueCatalog("lake", client=self.access.glue_client(self.config.region), warehouse=self.uri, **io_props)

    def identifier(self, table: str) -> tuple[str, str]:
        return (self.config.database, table)

    def table(self, name: str, refresh: bool = False) -> Table:
        """Load one lake table, creating it on first use (writers only call this; readers ask ``exists``)."""
        if name not in SPECS and name != SNAPSHOTS:
            raise InputError(f"unknown lake table {name!r}; known: {sorted(SPECS)}")
        if name in self._tables and not refresh:
            return self._tables[name]
        loaded = self._load(name) or self._create(name)
        self._tables[name] = loaded
        if name == SNAPSHOTS:
            self._records = None  # records are only ever read with the table version they came from
        return loaded

    def _load(self, name: str) -> Table | None:
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        try:
            table = self.catalog.load_table(self.identifier(name))
        except (NoSuchTableError, NoSuchNamespaceError):
            return None
        return self._evolve(name, table)

    def _evolve(self, name: str, table: Table) -> Table:
        """Add the contract's new columns to a table created by an earlier version (additive only)."""
        if name not in SPECS:
            return table
        present = set(table.schema().column_names)
        if all(column in present for column in SPECS[name].schema.names):
            return table
        from pyiceberg.exceptions import CommitFailedException

        try:
            with table.update_schema() as update:
                update.union_by_name(SPECS[name].schema)
        except CommitFailedException:  # evolved by a concurrent writer
            pass
        return self.catalog.load_table(self.identifier(name))

    def _create(self, name: str) -> Table:
        from pyiceberg.exceptions import CommitFailedException, NamespaceAlreadyExistsError, TableAlreadyExistsError
        from pyiceberg.transforms import IdentityTransform

        try:
            self.catalog.create_namespace_if_not_exists(self.config.database)
        except NamespaceAlreadyExistsError:  # created by a concurrent first run
            pass
        except Exception:
            # The SQL catalog reports that race as its database's unique-key violation instead:
            # fine when the namespace now exists, a real failure otherwise.
            if (self.config.database,) not in self.catalog.list_namespaces():
                raise
        schema = SNAPSHOTS_SCHEMA if name == SNAPSHOTS else SPECS[name].schema
        properties = {
            "format-version": "2",
            "write.metadata.delete-after-commit.enabled": "true",
            "write.metadata.previous-versions-max": "20",
            "history.expire.max-snapshot-age-ms": str(self.config.retention_days * 86_400_000),
            # The day record is a compare-and-swap: a lost race is decided here, not retried blindly.
            "commit.retry.num-retries": "0" if name == SNAPSHOTS else "4",
        }
        try:
            transaction = self.catalog.create_table_transaction(
                self.identifier(name), schema=schema, location=self.table_uri(name), properties=properties)
            if name in SPECS:
                with transaction.update_spec() as spec:
                    for column in SPECS[name].partition_by:
                        spec.add_identity(column)
                with transaction.update_sort_order() as order:
                    for column in SPECS[name].sort_by:
                        order.asc(column, IdentityTransform())
            transaction.commit_transaction()
        except (TableAlreadyExistsError, CommitFailedException):  # created by a concurrent first run
            existing = self._load(name)
            if existing is None:
                raise
            return existing
        return self.catalog.load_table(self.identifier(name))

    def ensure_tables(self) -> list[str]:
        """Create every lake table that does not exist yet (idempotent); returns the table names."""
        for name in (*SPECS, SNAPSHOTS):
            self.table(name)
        return [*SPECS, SNAPSHOTS]

    # --- day records ----------------------------------------------------------------------------

    def records(self, refresh: bool = False) -> list[DayRecord]:
        """Every committed day record, oldest commit first (the ``sequence`` the compare-and-swap gave)."""
        if self._records is None or refresh:
            table = self._load(SNAPSHOTS)  # a reader never creates tables: no table is no records
            if table is None:
                return []
            self._tables[SNAPSHOTS] = table
            rows = table.scan().to_arrow()
            self._records = sorted((_record_from_row(r) for r in rows.to_pylist()), key=lambda r: r.sequence)
        return self._records

    def latest_records(self, group: str) -> dict[date, DayRecord]:
        """The record in force for each date of a group (the newest commit wins)."""
        latest: dict[date, DayRecord] = {}
        for record in self.records():
            if record.table_group == group:
                latest[record.snapshot_date] = record
        return latest

    def record(self, snapshot_date: date, table: str = "patch_compliance") -> DayRecord | None:
        return self.latest_records(GROUP_OF[_known(table)]).get(snapshot_date)

    def record_of_run(self, snapshot_date: date, group: str, run_id: str) -> DayRecord:
        """A specific, possibly superseded, version of a day (reproducing an old report)."""
        for record in self.records():
            if (record.snapshot_date, record.table_group, record.run_id) == (snapshot_date, group, run_id):
                return record
        raise InputError(f"lake {self.uri} has no {group} record of run {run_id} for {snapshot_date}")

    def manifest(self, snapshot_date: date, table: str = "patch_compliance") -> dict[str, Any] | None:
        record = self.record(snapshot_date, table)
        return record.as_manifest() if record else None

    def snapshot_dates(self, table: str = "patch_compliance") -> list[date]:
        """Committed snapshot dates of a table, ascending."""
        return sorted(self.latest_records(GROUP_OF[_known(table)]))

    def committed_files(self, table: str, dates: Iterable[date] | None = None,
                        records: Sequence[DayRecord] | None = None) -> list[str]:
        """Data file URIs of a table for some dates (default all), as their day records list them."""
        return [entry["path"] for entry in self.committed_file_entries(table, dates, records)]

    def committed_file_entries(self, table: str, dates: Iterable[date] | None = None,
                               records: Sequence[DayRecord] | None = None) -> list[dict[str, Any]]:
        """The day records' entries of those files: ``path``, ``rows``, ``bytes`` and ``sha256`` (None for a
        file another engine wrote)."""
        chosen = list(records) if records is not None else self._records_for(table, dates)
        return [entry for record in chosen for entry in record.tables.get(table, {}).get("files", [])]

    def _records_for(self, table: str, dates: Iterable[date] | None) -> list[DayRecord]:
        latest = self.latest_records(GROUP_OF[_known(table)])
        return [latest[d] for d in (sorted(latest) if dates is None else dates) if d in latest]

    def read(self, table: str, dates: Iterable[date] | None = None, columns: list[str] | None = None,
             records: Sequence[DayRecord] | None = None) -> pa.Table:
        """Rows of a table for some dates, each date scanned by pyiceberg at its recorded snapshot."""
        from pyiceberg.expressions import EqualTo

        spec = SPECS[_known(table)]
        chosen = list(records) if records is not None else self._records_for(table, dates)
        selected = tuple(columns) if columns else ("*",)
        parts = []
        iceberg = self.table(table) if chosen else None
        for record in chosen:
            version = record.tables.get(table)
            if version is None or version["iceberg_snapshot_id"] is None:
                continue
            if iceberg is None or iceberg.metadata.snapshot_by_id(version["iceberg_snapshot_id"]) is None:
                # Expired by housekeeping: the record's files are still the date's data while it is current.
                import pyarrow.dataset as ds

                files = ds.dataset([self.fs_path(p) for p in record.files(table)], schema=spec.schema,
                                   format="parquet", filesystem=self.fs)
                parts.append(files.to_table(columns=list(columns) if columns else None))
                continue
            scan = iceberg.scan(row_filter=EqualTo(term="snapshot_date", value=record.snapshot_date),
                                snapshot_id=version["iceberg_snapshot_id"], selected_fields=selected)
            parts.append(scan.to_arrow())
        schema = spec.schema if not columns else pa.schema([spec.schema.field(c) for c in columns])
        return pa.concat_tables([_conform_read(p, schema) for p in parts]) if parts else schema.empty_table()

    def day_writer(self, snapshot_date: date, group: str = "ingest", run_id: str | None = None) -> DayWriter:
        if group not in GROUPS:
            raise ValueError(f"unknown table group {group!r}; known: {sorted(GROUPS)}")
        return DayWriter(self, snapshot_date, group, run_id or new_run_id())

    def external_day(self, snapshot_date: date, group: str = "ingest", run_id: str | None = None) -> ExternalDay:
        """Before another engine writes a date of ``group`` into the tables itself (Athena DML)."""
        if group not in GROUPS:
            raise ValueError(f"unknown table group {group!r}; known: {sorted(GROUPS)}")
        return ExternalDay(self, snapshot_date, group, run_id or new_run_id())

    def write_table_snapshot(self, table_name: str, snapshot_date: date, table: pa.Table,
                             details: dict[str, Any] | None = None) -> dict[str, Any]:
        """Publish one table's day on its own (inventory, catalog, baselines, quality)."""
        writer = self.day_writer(snapshot_date, GROUP_OF[_known(table_name)])
        try:
            writer.write(table_name, table)
            return writer.commit(details or {}).as_manifest()
        except BaseException:
            writer.abort()
            raise

    def _append_record(self, record: DayRecord, base: DayRecord | None) -> DayRecord:
        """Add the record unless another run committed the date since ``base``: a compare-and-swap.

        The first attempt trusts the records this lake last read (the writer read them when it started): if
        another run committed since, the catalog refuses the commit (the table's version moved) and the
        next attempt reads them afresh. That saves a reload and scan of the table per record.
        """
        from pyiceberg.exceptions import CommitFailedException, ValidationException

        from patch_compliance.lake_transaction import LakeTransaction

        for attempt in range(30):
            records = self.records(refresh=attempt > 0)
            current = self.latest_records(record.table_group).get(record.snapshot_date)
            if current is not None and (base is None or current.run_id != base.run_id):
                raise ConcurrentWriteError(
                    f"snapshot {record.snapshot_date} ({record.table_group}) was committed by run "
                    f"{current.run_id} at {_iso(current.committed_at)} while run {record.run_id} was writing; "
                    f"the day stays run {current.run_id}'s and this run published nothing. Rerun to replace it.")
            numbered = replace(record, sequence=(records[-1].sequence + 1) if records else 1)
            rows = [_record_row(r) for r in [*records, numbered]]
            try:  # the whole table is one small file: cheap to rewrite, one read for every reader
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the first record: "did not match any records"
                    with LakeTransaction(self.table(SNAPSHOTS)) as transaction:
                        transaction.overwrite(pa.Table.from_pylist(rows, schema=SNAPSHOTS_SCHEMA))
                self._records = None
                self._trim_record_versions()
                return numbered
            except (CommitFailedException, ValidationException):
                time.sleep(random.uniform(0.02, 0.2) * (attempt + 1))  # noqa: S311 - jitter, not security
        raise ConcurrentWriteError(f"could not record snapshot {record.snapshot_date}: the snapshots table kept "
                                   "changing under 30 attempts; retry the run")


    def _trim_record_versions(self) -> None:
        """Expire the day-record table's versions beyond the newest ``RECORD_VERSIONS_KEPT``, once they double.

        Best effort: a writer that commits in between wins and the next record trims. Files are left to
        housekeeping's orphan removal (after its grace period), so a reader of an older version is safe.
        """
        from pyiceberg.exceptions import CommitFailedException

        table = self.table(SNAPSHOTS)
        snapshots = sorted(table.metadata.snapshots, key=lambda s: (s.sequence_number, s.timestamp_ms))
        if len(snapshots) <= 2 * RECORD_VERSIONS_KEPT:
            return
        current = table.metadata.current_snapshot_id
        old = [s.snapshot_id for s in snapshots[:-RECORD_VERSIONS_KEPT] if s.snapshot_id != current]
        try:
            table.maintenance.expire_snapshots().by_ids(old).commit()
        except CommitFailedException:
            self._tables.pop(SNAPSHOTS, None)


def _known(table: str) -> str:
    if table not in SPECS:
        raise InputError(f"unknown lake table {table!r}; known: {sorted(SPECS)}")
    return table


@dataclass
class WrittenFile:
    uri: str
    rows: int
    size: int
    sha256: str


@dataclass
class DayWriter:
    """Writes one date of a table group; nothing is visible to readers until ``commit``.

    The tables and the date's current record are loaded when the writer is created, so Iceberg's
    conflict check spans the whole run: any commit of this date by another run since then refuses ours.
    """

    lake: Lake
    snapshot_date: date
    group: str
    run_id: str
    files: dict[str, list[WrittenFile]] = field(default_factory=dict)
    committed: set[str] = field(default_factory=set)
    _sequence: int = 0

    def __post_init__(self) -> None:
        self.tables: dict[str, Table] = {name: self.lake.table(name, refresh=True) for name in GROUPS[self.group]}
        self.lake.records(refresh=True)
        self.base: DayRecord | None = self.lake.latest_records(self.group).get(self.snapshot_date)

    def write(self, table_name: str, table: pa.Table, **constants: str) -> None:
        """Write rows of one table (split per partition, sorted); ``constants`` fill partition columns."""
        if table_name not in GROUPS[self.group]:
            raise ValueError(f"{table_name!r} is not one of this group's tables {GROUPS[self.group]}")
        if table.num_rows == 0:
            return
        spec = SPECS[table_name]
        table = _with_column(table, "snapshot_date", pa.scalar(self.snapshot_date, pa.date32()))
        for name, value in constants.items():
            table = _with_column(table, name, pa.scalar(value, pa.string()))
        table = conform(table, spec.schema)
        dates = pc.unique(table["snapshot_date"]).to_pylist()
        if dates != [self.snapshot_date]:
            raise ValueError(f"rows for {dates} in a writer of {self.snapshot_date}")
        for values, part in _split(table, spec.partition_by[1:]):
            for column, value in zip(spec.partition_by[1:], values, strict=True):
                (validate_account_id if column == "account_id" else validate_region)(value)
            part = part.sort_by([(c, "ascending") for c in spec.sort_by if c in part.column_names])
            data = _parquet(part)
            self._sequence += 1
            directory = "/".join(f"{c}={v}" for c, v in
                                 zip(spec.partition_by, [self.snapshot_date.isoformat(), *values], strict=True))
            path = self.lake.location.join(table_name, "data", directory,
                                           f"{self.run_id}-{self._sequence:05d}.parquet")
            write_bytes(self.lake.fs, path, data)
            self.files.setdefault(table_name, []).append(
                WrittenFile(self.lake.file_uri(path), part.num_rows, len(data), sha256(data)))

    def commit(self, details: dict[str, Any]) -> DayRecord:
        """Replace the date in every table of the group, then record the day (compare-and-swap)."""
        from pyiceberg.exceptions import CommitFailedException, ValidationException
        from pyiceberg.expressions import EqualTo

        from patch_compliance.lake_transaction import LakeTransaction

        properties = {RUN_ID_PROPERTY: self.run_id, DATE_PROPERTY: self.snapshot_date.isoformat()}
        versions: dict[str, dict[str, Any]] = {}
        for name, table in self.tables.items():
            files = self.files.get(name, [])
            transaction = LakeTransaction(table)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "did not match any records": the date's first write
                transaction.delete(EqualTo(term="snapshot_date", value=self.snapshot_date),
                                   snapshot_properties=properties)
            if files:
                transaction.add_files([f.uri for f in files], snapshot_properties=properties,
                                      check_duplicate_files=False)
            try:
                updated = transaction.commit_transaction()
            except (CommitFailedException, ValidationException) as exc:
                raise ConcurrentWriteError(self._conflict_message(name)) from exc
            self.committed.add(name)
            snapshot = updated.current_snapshot()
            versions[name] = {
                "iceberg_snapshot_id": snapshot.snapshot_id if snapshot else None,
                "rows": sum(f.rows for f in files),
                "files": [{"path": f.uri, "rows": f.rows, "bytes": f.size, "sha256": f.sha256} for f in files],
            }
        reference = details.get("reference_time")
        record = DayRecord(self.snapshot_date, self.group, self.run_id, datetime.now(UTC), __version__, versions,
                           details, datetime.fromisoformat(reference.replace("Z", "+00:00"))
                           if isinstance(reference, str) else None)
        return self.lake._append_record(record, self.base)

    def _conflict_message(self, table: str) -> str:
        current = self.lake.table(table, refresh=True)
        winner = "another run"
        for snapshot in sorted(current.metadata.snapshots, key=lambda s: -s.timestamp_ms):
            props = snapshot.summary.additional_properties if snapshot.summary else {}
            if props.get(DATE_PROPERTY) == self.snapshot_date.isoformat():
                winner = f"run {props.get(RUN_ID_PROPERTY)}"
                break
        return (f"snapshot {self.snapshot_date}: {winner} committed {table} for this date while run {self.run_id} "
                f"was writing, and Iceberg refused the concurrent overwrite; the day stays {winner}'s. "
                "Rerun to replace it.")

    def abort(self) -> None:
        """Remove this run's files that no commit references (readers never see them anyway)."""
        delete_files(self.lake.fs, [self.lake.fs_path(f.uri) for name, files in self.files.items()
                                    if name not in self.committed for f in files])
        self.files = {name: files for name, files in self.files.items() if name in self.committed}


@dataclass
class ExternalDay:
    """A date of a group written into its Iceberg tables by another engine (Athena DML), then recorded.

    Made before the engine's first statement, it notes each table's current snapshot. ``locate``
    then finds, per table, the one snapshot since then that added data files for the date (the
    engine's INSERT; none when it inserted no rows) and checks that at that snapshot every live file
    of the date is one it added, with no delete files: the day is exactly what this run wrote, and
    the record lists those files as a ``DayWriter``'s record does (without SHA-256: that would read
    the day back). A second writer of the date since then (another INSERT, files not this run's) is
    a ``ConcurrentWriteError``, as is a record committed for the date meanwhile (``commit``).
    """

    lake: Lake
    snapshot_date: date
    group: str
    run_id: str
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tables = {name: self.lake.table(name, refresh=True) for name in GROUPS[self.group]}
        self.before = {name: table.metadata.current_snapshot_id for name, table in tables.items()}
        self.lake.records(refresh=True)
        self.base: DayRecord | None = self.lake.latest_records(self.group).get(self.snapshot_date)

    def locate(self) -> dict[str, dict[str, Any]]:
        """Each table's snapshot and files for the date, as written since this object was made."""
        if not self.versions:
            self.versions = {name: self._version(name) for name in GROUPS[self.group]}
        return self.versions

    def read(self, table_name: str, columns: list[str]) -> pa.Table:
        """The date's rows of a table at the located snapshot (for the record's counts)."""
        from pyiceberg.expressions import EqualTo

        snapshot_id = self.locate()[table_name]["iceberg_snapshot_id"]
        if snapshot_id is None:
            return pa.schema([SPECS[table_name].schema.field(c) for c in columns]).empty_table()
        return self.lake.table(table_name).scan(row_filter=EqualTo(term="snapshot_date", value=self.snapshot_date),
                                                snapshot_id=snapshot_id, selected_fields=tuple(columns)).to_arrow()

    def commit(self, details: dict[str, Any]) -> DayRecord:
        """Record the day (compare-and-swap against the record in force when this object was made)."""
        reference = details.get("reference_time")
        record = DayRecord(self.snapshot_date, self.group, self.run_id, datetime.now(UTC), __version__,
                           self.locate(), details, datetime.fromisoformat(reference.replace("Z", "+00:00"))
                           if isinstance(reference, str) else None)
        return self.lake._append_record(record, self.base)

    def _version(self, name: str) -> dict[str, Any]:
        table = self.lake.table(name, refresh=True)
        since = []  # the snapshots committed since this run began, newest first
        snapshot = table.current_snapshot()
        while snapshot is not None and snapshot.snapshot_id != self.before[name]:
            since.append(snapshot)
            snapshot = table.snapshot_by_id(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
        if snapshot is None and self.before[name] is not None:
            raise ConcurrentWriteError(f"{name}: snapshot {self.before[name]} is no longer in the table's history; "
                                       f"snapshot {self.snapshot_date} of run {self.run_id} is not recorded. Rerun.")
        writers = [s.snapshot_id for s in since if self._entries(table, s.snapshot_id, added_by=s.snapshot_id)]
        if len(writers) > 1:
            raise ConcurrentWriteError(
                f"snapshot {self.snapshot_date}: {len(writers)} commits added {name} rows for this date while run "
                f"{self.run_id} was writing (Iceberg snapshots {writers}); another run wrote it too, so this run "
                "recorded nothing. Rerun to replace it.")
        chosen = writers[0] if writers else table.metadata.current_snapshot_id
        live = self._entries(table, chosen) if chosen is not None else []
        foreign = [e["data_file"]["file_path"] for e in live if e["snapshot_id"] != chosen or e["data_file"]["content"]]
        if foreign:
            raise ConcurrentWriteError(
                f"snapshot {self.snapshot_date}: at Iceberg snapshot {chosen} {name} holds files of this date that run "
                f"{self.run_id} did not write, or delete files ({foreign[:3]}); the day cannot be recorded exactly. "
                "Rerun to replace it.")
        files = [e["data_file"] for e in live]
        return {"iceberg_snapshot_id": chosen, "rows": sum(f["record_count"] for f in files),
                "files": [{"path": f["file_path"], "rows": f["record_count"], "bytes": f["file_size_in_bytes"],
                           "sha256": None} for f in files]}

    def _entries(self, table: Table, snapshot_id: int, added_by: int | None = None) -> list[dict[str, Any]]:
        """The date's live manifest entries at a snapshot (only those it added, with ``added_by``)."""
        entries = table.inspect.entries(snapshot_id).select(["status", "snapshot_id", "data_file"]).to_pylist()
        return [e for e in entries if e["status"] != 2 and e["data_file"]["partition"]["snapshot_date"] ==
                self.snapshot_date and (added_by is None or (e["status"] == 1 and e["snapshot_id"] == added_by))]


def _conform_read(part: pa.Table, schema: pa.Schema) -> pa.Table:
    """A day's rows in the contract's columns: a column added after the day was written reads NULL."""
    columns = [part[f.name].cast(f.type) if f.name in part.column_names else pa.nulls(part.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _with_column(table: pa.Table, name: str, value: pa.Scalar) -> pa.Table:
    column = pa.array([value.as_py()] * table.num_rows, value.type) if table.num_rows else pa.array([], value.type)
    index = table.schema.get_field_index(name)
    if index >= 0:
        existing = table[name].cast(value.type)
        if existing.null_count or not pc.all(pc.equal(existing, value)).as_py():
            raise ValueError(f"rows carry a different {name} than {value.as_py()}")
        return table
    return table.append_column(name, column)


def _split(table: pa.Table, columns: Sequence[str]) -> list[tuple[tuple[str, ...], pa.Table]]:
    """The table split by the distinct values of ``columns`` (sorted), or whole when there are none."""
    if not columns:
        return [((), table)]
    if any(table[c].null_count for c in columns):
        raise InputError(f"rows without {', '.join(columns)}: every row needs its partition values")
    keys = table.select(list(columns)).group_by(list(columns)).aggregate([]).sort_by(
        [(c, "ascending") for c in columns])
    parts = []
    for values in zip(*(keys[c].to_pylist() for c in columns), strict=True):
        mask = pc.and_(*[pc.equal(table[c], v) for c, v in zip(columns, values, strict=True)]) \
            if len(columns) > 1 else pc.equal(table[columns[0]], values[0])
        parts.append((tuple(values), table.filter(mask)))
    return parts


# --- housekeeping ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HousekeepingResult:
    expired_snapshots: dict[str, int]
    orphan_files_removed: dict[str, int]


def housekeeping(lake: Lake, now: datetime | None = None, orphan_grace: timedelta = timedelta(days=3),
                 progress: Any = None) -> HousekeepingResult:
    """Expire snapshots older than the retention, then remove files no snapshot references.

    pyiceberg expires snapshots in metadata only and has no orphan-file removal, so the second step
    is ours: a file under a table's location that no live snapshot, manifest or metadata file
    references, and that is older than ``orphan_grace`` (so an in-flight writer's files are safe),
    is deleted. Both steps are logged through ``progress``.
    """
    say = progress or (lambda _msg: None)
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=lake.config.retention_days)
    expired: dict[str, int] = {}
    removed: dict[str, int] = {}
    for name in (*SPECS, SNAPSHOTS):
        table = lake.table(name, refresh=True)
        old = [s.snapshot_id for s in table.metadata.snapshots
               if s.timestamp_ms < cutoff.timestamp() * 1000 and s.snapshot_id != table.metadata.current_snapshot_id]
        if old:
            table.maintenance.expire_snapshots().by_ids(old).commit()
            table = lake.table(name, refresh=True)
        expired[name] = len(old)
        removed[name] = _remove_orphans(lake, table, now - orphan_grace)
        say(f"{name}: expired {expired[name]} snapshot(s) older than {cutoff:%Y-%m-%d}, "
            f"removed {removed[name]} orphan file(s)")
    return HousekeepingResult(expired, removed)


def _remove_orphans(lake: Lake, table: Table, older_than: datetime) -> int:
    referenced = {lake.fs_path(table.metadata_location)}
    referenced |= {lake.fs_path(entry.metadata_file) for entry in table.metadata.metadata_log}
    manifests = {}
    for snapshot in table.metadata.snapshots:
        referenced.add(lake.fs_path(snapshot.manifest_list))
        manifests.update({m.manifest_path: m for m in snapshot.manifests(table.io)})
    for path, manifest in manifests.items():
        referenced.add(lake.fs_path(path))
        referenced |= {lake.fs_path(entry.data_file.file_path)
                       for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False)}
    base = lake.fs_path(table.metadata.location)
    orphans = [info.path for folder in ("data", "metadata") for info in list_files(lake.fs, f"{base}/{folder}")
               if info.path not in referenced and info.mtime is not None
               and info.mtime.replace(tzinfo=info.mtime.tzinfo or UTC) < older_than]
    return delete_files(lake.fs, orphans)
