"""One place that runs the project's SQL: DuckDB over the lake (default) or Athena at fleet scale.

The ``.sql`` files under ``sql/`` are written in the Athena engine v3 (Trino) dialect, the
production truth. The DuckDB engine transpiles them with sqlglot and runs them over the lake's
Iceberg data files (as the day records list them) registered as views (``patch_compliance``,
``instances``, ``ec2_inventory``, ``patch_catalog``, ``baselines``); an S3 lake's files are fetched
first, each checked against its record's SHA-256; the Athena engine sends the
very same text to Athena through the amazon provider. Every query takes positional ``?`` parameters, bound by
the engine (DuckDB prepared statement, Athena ``ExecutionParameters``), never pasted into SQL.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, cached_property
from typing import Any, Protocol

import pyarrow as pa

from patch_compliance.config import QUERY_ENGINES, Settings, load_sql
from patch_compliance.inputs import DataCheckError, InputError
from patch_compliance.lake import DayRecord, Lake
from patch_compliance.storage import BulkReader
from patch_compliance.transpile import to_duckdb

log = logging.getLogger(__name__)
QUERY_TABLES = ("patch_compliance", "instances", "ec2_inventory", "patch_catalog", "baselines")


@dataclass(frozen=True)
class SqlFile:
    """A query as stored in ``sql/``: its path relative to ``sql/``, text and SHA-256."""

    relative: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@cache
def sql_file(relative: str) -> SqlFile:
    return SqlFile(relative, load_sql(relative))


# Per table, what a query may read: snapshot dates (their records in force) or exact day records.
Scope = Mapping[str, Sequence[date] | Sequence[DayRecord]]


class QueryEngine(Protocol):
    """Runs a ``sql/`` file with bound parameters and returns an Arrow table."""

    name: str
    used: dict[str, str]  # relative SQL path -> SHA-256 of the text that ran
    executions: list[dict[str, Any]]  # the remote query executions (id, data scanned); none for DuckDB

    def run(self, relative: str, params: Sequence[object], scope: Scope | None = None) -> pa.Table: ...


@dataclass
class DuckDBEngine:
    """DuckDB over the lake's Iceberg data files (the day records decide which files are read).

    ``scope`` names, per table, the snapshot dates (or the exact day records) the query may read:
    only those files are registered, so the date filters in the SQL never cost a scan of the whole
    history. Tables outside the scope are registered with every committed snapshot. The files a
    record lists are those of its table's partition at the recorded Iceberg snapshot (we write
    copy-on-write, no delete files), so this reads each table at that snapshot. Files are read by
    DuckDB's own Parquet reader (several times faster than an Arrow scan for the history
    queries); S3 lakes are reached through the lake's pyarrow filesystem, as DuckDB's httpfs
    extension is not available offline.
    """

    lake: Lake
    name: str = "duckdb"
    used: dict[str, str] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        import duckdb

        self._con = duckdb.connect()
        self._con.execute("SET enable_progress_bar = false")
        self._con.execute("SET TimeZone = 'UTC'")
        self._views: dict[str, tuple[str, ...]] = {}
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._fetched: dict[str, str] = {}  # S3 lake: file URI -> its checked local copy

    def _register(self, table: str, chosen: Sequence[date] | Sequence[DayRecord] | None) -> None:
        if chosen and isinstance(chosen[0], DayRecord):
            entries = self.lake.committed_file_entries(table, records=chosen)  # type: ignore[arg-type]
        else:
            entries = self.lake.committed_file_entries(table, chosen)  # type: ignore[arg-type]
        files = tuple(self._local_files(entries))
        if self._views.get(table) == files:
            return
        self._con.execute(f"DROP VIEW IF EXISTS {table}")
        if files:
            self._con.execute(f"SET VARIABLE files_{table} = ?", [list(files)])
            self._con.execute(
                f"CREATE TEMP VIEW {table} AS SELECT * FROM read_parquet(getvariable('files_{table}'), "
                "hive_partitioning = false)")
        else:
            self._con.execute(f"CREATE TEMP VIEW {table} AS SELECT {_empty_columns(table)} WHERE FALSE")
        self._views[table] = files

    def run(self, relative: str, params: Sequence[object], scope: Scope | None = None) -> pa.Table:
        query = sql_file(relative)
        scope = scope or {}
        for table in QUERY_TABLES:
            chosen: Sequence[Any] | None = scope.get(table)
            self._register(table, None if chosen is None else list(chosen))
        self.used[relative] = query.sha256
        return self._con.sql(to_duckdb(query.text), params=list(params)).to_arrow_table()

    def _local_files(self, entries: Sequence[Mapping[str, Any]]) -> list[str]:
        """Paths DuckDB reads: a local lake's own; an S3 lake's files fetched once into a scratch folder.

        DuckDB reads local files natively (no Python filesystem in its scan threads), and every fetched
        file is checked against its day record (SHA-256, or the size for a file another engine wrote),
        once more fetched on a mismatch, so a damaged read can never become a report.
        """
        if self.lake.location.scheme != "s3":
            return [self.lake.fs_path(entry["path"]) for entry in entries]
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="patch-compliance-lake-")
            self._reader = BulkReader(self.lake.fs, access=self.lake.access)
        missing = [entry for entry in entries if entry["path"] not in self._fetched]
        for entry, data in zip(missing, self._reader.read([self.lake.fs_path(e["path"]) for e in missing]),
                               strict=True):
            if not _matches(entry, data):
                data = self._reader.read([self.lake.fs_path(entry["path"])])[0]
            if not _matches(entry, data):
                raise DataCheckError(
                    f"lake file {entry['path']} does not match its day record (sha256 {entry.get('sha256')}, "
                    f"{entry.get('bytes')} bytes; read {hashlib.sha256(data).hexdigest()}, {len(data)} bytes): "
                    "the lake was changed outside the product or is damaged; rerun the day's ingest")
            local = f"{self._scratch.name}/{len(self._fetched):06d}.parquet"
            with open(local, "wb") as out:
                out.write(data)
            self._fetched[entry["path"]] = local
        return [self._fetched[entry["path"]] for entry in entries]

    def close(self) -> None:
        self._con.close()
        if self._scratch is not None:
            self._scratch.cleanup()


def _duckdb_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_map(arrow_type):
        return f"MAP({_duckdb_type(arrow_type.key_type)}, {_duckdb_type(arrow_type.item_type)})"
    if pa.types.is_list(arrow_type):
        return _duckdb_type(arrow_type.value_type) + "[]"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    names = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN", pa.date32(): "DATE"}
    return names[arrow_type]


def _empty_columns(table: str) -> str:
    """A typed, empty select list for a table with no committed snapshot in scope.

    Built from the lake contract, not registered as an Arrow object: DuckDB's Arrow registration
    imports pandas, which costs more than the whole query.
    """
    from patch_compliance.lake import TABLES

    return ", ".join(f"CAST(NULL AS {_duckdb_type(f.type)}) AS {f.name}" for f in TABLES[table])


def _matches(entry: Mapping[str, Any], data: bytes) -> bool:
    if entry.get("sha256"):
        return hashlib.sha256(data).hexdigest() == entry["sha256"]
    return entry.get("bytes") is None or len(data) == entry["bytes"]


def athena_literal(value: object) -> str:
    """A bound parameter as Athena's ``ExecutionParameters`` expects it (a SQL literal).

    Only typed, already validated values are accepted; strings are quoted with quotes doubled.
    """
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return "'" + value.strftime("%Y-%m-%d %H:%M:%S.%f") + "'"
    if isinstance(value, date):
        return "'" + value.isoformat() + "'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"unsupported Athena parameter type {type(value).__name__}")


_ATHENA_TYPES: dict[str, pa.DataType] = {
    "varchar": pa.string(), "char": pa.string(), "string": pa.string(),
    "bigint": pa.int64(), "integer": pa.int64(), "int": pa.int64(), "smallint": pa.int64(),
    "tinyint": pa.int64(), "double": pa.float64(), "float": pa.float64(), "real": pa.float64(),
    "decimal": pa.float64(), "boolean": pa.bool_(), "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"), "timestamp with time zone": pa.timestamp("us", tz="UTC"),
}


def _athena_value(text: str | None, athena_type: str) -> Any:
    if text is None:
        return None
    kind = athena_type.lower()
    if kind in ("bigint", "integer", "int", "smallint", "tinyint"):
        return int(text)
    if kind in ("double", "float", "real", "decimal"):
        return float(text)
    if kind == "boolean":
        return text.lower() == "true"
    if kind == "date":
        return date.fromisoformat(text)
    if kind.startswith("timestamp"):
        from patch_compliance.inputs import parse_timestamp

        return parse_timestamp(text.removesuffix(" UTC").replace(" ", "T"), "Athena timestamp")
    return text


def athena_rows_to_arrow(pages: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Convert ``GetQueryResults`` pages (header row first) to a typed Arrow table."""
    if not pages:
        return pa.table({})
    columns = pages[0]["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    names = [c["Name"] for c in columns]
    types = [c["Type"] for c in columns]
    rows: list[list[str | None]] = []
    for page in pages:
        for row in page["ResultSet"]["Rows"]:
            rows.append([cell.get("VarCharValue") for cell in row["Data"]])
    if rows and rows[0] == names:
        rows = rows[1:]  # SELECT results repeat the column names as the first row
    arrays = {}
    for n, (name, kind) in enumerate(zip(names, types, strict=True)):
        arrow_type = _ATHENA_TYPES.get(kind.lower(), pa.string())
        arrays[name] = pa.array([_athena_value(r[n], kind) for r in rows], type=arrow_type)
    return pa.table(arrays)


class AthenaQueryError(RuntimeError):
    """An Athena query ended FAILED or CANCELLED, or ran past the timeout: the SQL file, id and reason."""


@dataclass
class AthenaEngine:
    """The same SQL on Athena (engine v3) through the amazon provider's ``AthenaHook``.

    The lake tables are the Iceberg tables of the Glue catalog (``storage.catalog: glue``), which
    Athena queries as they are, so ``scope`` is ignored: the SQL's own ``snapshot_date``
    predicates prune partitions. Every execution (SQL file, id, state, data scanned, engine time) is
    logged and kept in ``executions`` for the run's manifest. A failed or timed-out query raises
    ``AthenaQueryError``, which a task retries like any transient failure.
    Airflow is imported here only, so the library stays usable without it.
    """

    database: str
    output_location: str
    workgroup: str = "primary"
    aws_conn_id: str | None = "aws_default"
    region_name: str | None = None
    poll_seconds: float = 2.0
    timeout_seconds: float = 1800.0
    name: str = "athena"
    used: dict[str, str] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)

    @cached_property
    def _hook(self):
        from airflow.providers.amazon.aws.hooks.athena import AthenaHook

        from patch_compliance.aws import client_config

        return AthenaHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, log_query=False,
                          config=client_config())

    @cached_property
    def _client(self):
        return self._hook.get_conn()

    def submit(self, text: str, params: Sequence[object]) -> str:
        """Start a query with bound parameters and return its execution id."""
        request: dict[str, Any] = {
            "QueryString": text,
            "QueryExecutionContext": {"Database": self.database},
            "ResultConfiguration": {"OutputLocation": self.output_location},
            "WorkGroup": self.workgroup,
            "ClientRequestToken": str(uuid.uuid4()),
        }
        if params:
            request["ExecutionParameters"] = [athena_literal(p) for p in params]
        return self._client.start_query_execution(**request)["QueryExecutionId"]

    def wait(self, relative: str, query_id: str) -> dict[str, Any]:
        """Poll until the query finishes; record and log it; raise with Athena's reason unless it SUCCEEDED."""
        client = self._client
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            execution = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            state = execution["Status"]["State"]
            if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            if time.monotonic() > deadline:
                client.stop_query_execution(QueryExecutionId=query_id)
                self._record(relative, query_id, "TIMED_OUT", execution)
                raise AthenaQueryError(f"{relative}: Athena query {query_id} still {state} after "
                                       f"{self.timeout_seconds:.0f} s; stopped it")
            time.sleep(self.poll_seconds)
        record = self._record(relative, query_id, state, execution)
        if state != "SUCCEEDED":
            reason = execution["Status"].get("StateChangeReason") or "no reason given"
            raise AthenaQueryError(f"{relative}: Athena query {query_id} {state}: {reason}")
        return record

    def _record(self, relative: str, query_id: str, state: str, execution: dict[str, Any]) -> dict[str, Any]:
        statistics = execution.get("Statistics") or {}
        record = {"sql": relative, "query_execution_id": query_id, "state": state,
                  "data_scanned_bytes": int(statistics.get("DataScannedInBytes") or 0),
                  "engine_execution_ms": int(statistics.get("EngineExecutionTimeInMillis") or 0)}
        self.executions.append(record)
        log.info("Athena query %s (%s) %s: %d bytes scanned, %d ms", query_id, relative, state,
                 record["data_scanned_bytes"], record["engine_execution_ms"])
        return record

    def _text(self, relative: str, text: str | None) -> str:
        self.used[relative] = sql_file(relative).sha256
        return sql_file(relative).text if text is None else text

    def run(self, relative: str, params: Sequence[object], scope: Scope | None = None) -> pa.Table:
        query_id = self.submit(self._text(relative, None), params)
        self.wait(relative, query_id)
        paginator = self._hook.get_query_results_paginator(query_id)
        return athena_rows_to_arrow(list(paginator or []))

    def execute(self, relative: str, params: Sequence[object], text: str | None = None) -> str:
        """Run a statement without a result set (DDL, DML); ``text``: the file rendered (DDL placeholders).

        Returns the execution id.
        """
        query_id = self.submit(self._text(relative, text), params)
        self.wait(relative, query_id)
        return query_id

    @cached_property
    def _glue(self):
        from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook

        from patch_compliance.aws import client_config

        return GlueCatalogHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name,
                               config=client_config()).get_conn()

    def table_parameters(self, table: str) -> dict[str, str] | None:
        """A table's Glue parameters in the engine's database (None when there is no such table)."""
        glue = self._glue
        try:
            return glue.get_table(DatabaseName=self.database, Name=table)["Table"].get("Parameters", {})
        except glue.exceptions.EntityNotFoundException:
            return None


def make_engine(kind: str, lake: Lake | None = None, **athena: Any) -> QueryEngine:
    """``duckdb`` (needs the lake) or ``athena`` (needs ``database`` and ``output_location``)."""
    if kind == "duckdb":
        if lake is None:
            raise InputError("the duckdb engine needs a lake URI")
        return DuckDBEngine(lake)
    if kind == "athena":
        missing = [k for k in ("database", "output_location") if not athena.get(k)]
        if missing:
            raise InputError(f"the athena engine needs {', '.join(missing)} (config query.athena_*)")
        return AthenaEngine(**athena)
    raise InputError(f"query engine must be one of {list(QUERY_ENGINES)}, got {kind!r}")


def engine_options(settings: Settings, engine_override: str | None = None) -> tuple[str, dict[str, Any]]:
    """The engine to run (``--engine``, else ``query.engine``) and, for Athena, its options (``query:``)."""
    engine = engine_override or settings.query.engine
    if engine != "athena":
        return engine, {}
    query = settings.query
    return engine, {"database": query.athena_database, "output_location": query.athena_output_location,
                    "workgroup": query.athena_workgroup, "aws_conn_id": settings.aws.connection_id,
                    "region_name": query.athena_region or settings.aws.region}
