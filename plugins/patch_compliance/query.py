"""One place that runs the project's SQL: DuckDB over the lake (default) or Athena at fleet scale.

The ``.sql`` files under ``sql/`` are written in the Athena engine v3 (Trino) dialect, the
production truth. The DuckDB engine transpiles them with sqlglot and runs them over the lake's
Iceberg data files (as the day records list them) registered as views (``patch_compliance``,
``instances``, ``ec2_inventory``, ``patch_catalog``, ``baselines``); the Athena engine sends the
very same text to Athena through the amazon provider. Every query takes positional ``?`` parameters, bound by
the engine (DuckDB prepared statement, Athena ``ExecutionParameters``), never pasted into SQL.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any, Protocol

import pyarrow as pa

from patch_compliance.config import QUERY_ENGINES, Settings, load_sql
from patch_compliance.inputs import InputError, parse_location
from patch_compliance.lake import DayRecord, Lake

QUERY_TABLES = ("patch_compliance", "instances", "ec2_inventory", "patch_catalog", "baselines")
LAKE_FS_PROTOCOL = "pclake"  # the fsspec protocol under which an S3 lake is registered in DuckDB


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


@cache
def to_duckdb(trino_sql: str) -> str:
    """Transpile Trino SQL to DuckDB (cached: the report runs the same few queries).

    Strict: a construct sqlglot cannot translate raises instead of passing through untranslated.
    """
    import sqlglot
    from sqlglot.errors import ErrorLevel

    return sqlglot.transpile(trino_sql, read="trino", write="duckdb", unsupported_level=ErrorLevel.RAISE)[0]


# Per table, what a query may read: snapshot dates (their records in force) or exact day records.
Scope = Mapping[str, Sequence[date] | Sequence[DayRecord]]


class QueryEngine(Protocol):
    """Runs a ``sql/`` file with bound parameters and returns an Arrow table."""

    name: str
    used: dict[str, str]  # relative SQL path -> SHA-256 of the text that ran

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

    def __post_init__(self) -> None:
        import duckdb

        self._con = duckdb.connect()
        self._con.execute("SET enable_progress_bar = false")
        self._con.execute("SET TimeZone = 'UTC'")
        self._prefix = ""
        if self.lake.location.scheme == "s3":
            self._con.register_filesystem(_lake_filesystem(self.lake))
            self._prefix = f"{LAKE_FS_PROTOCOL}://"
        self._views: dict[str, tuple[str, ...]] = {}

    def _register(self, table: str, chosen: Sequence[date] | Sequence[DayRecord] | None) -> None:
        if chosen and isinstance(chosen[0], DayRecord):
            uris = self.lake.committed_files(table, records=chosen)  # type: ignore[arg-type]
        else:
            uris = self.lake.committed_files(table, chosen)  # type: ignore[arg-type]
        files = tuple(self._prefix + self.lake.fs_path(uri) for uri in uris)
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

    def close(self) -> None:
        self._con.close()


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


def _lake_filesystem(lake: Lake):
    """The lake's pyarrow S3 filesystem as an fsspec filesystem DuckDB can read through."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    class LakeFS(ArrowFSWrapper):
        protocol = LAKE_FS_PROTOCOL

        @classmethod
        def _strip_protocol(cls, path):
            path = path[0] if isinstance(path, list) else path
            prefix = f"{cls.protocol}://"
            return path[len(prefix):] if path.startswith(prefix) else path

    return LakeFS(lake.fs)


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
    """An Athena query ended FAILED or CANCELLED (the message carries Athena's reason)."""


@dataclass
class AthenaEngine:
    """The same SQL on Athena (engine v3) through the amazon provider's ``AthenaHook``.

    The lake tables are the Iceberg tables of the Glue catalog (``storage.catalog: glue``), which
    Athena queries as they are, so ``scope`` is ignored: the SQL's own ``snapshot_date``
    predicates prune partitions.
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
    query_ids: list[str] = field(default_factory=list)

    def _hook(self):
        from airflow.providers.amazon.aws.hooks.athena import AthenaHook

        from patch_compliance.aws import client_config

        return AthenaHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, log_query=False,
                          config=client_config())

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
        query_id = self._hook().get_conn().start_query_execution(**request)["QueryExecutionId"]
        self.query_ids.append(query_id)
        return query_id

    def wait(self, query_id: str) -> None:
        """Poll until the query finishes; raise with Athena's reason unless it SUCCEEDED."""
        hook = self._hook()
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            state = hook.check_query_status(query_id)
            if state == "SUCCEEDED":
                return
            if state in ("FAILED", "CANCELLED"):
                reason = hook.get_state_change_reason(query_id) or "no reason given"
                raise AthenaQueryError(f"Athena query {query_id} {state}: {reason}")
            if time.monotonic() > deadline:
                hook.stop_query(query_id)
                raise AthenaQueryError(f"Athena query {query_id} still {state} after "
                                       f"{self.timeout_seconds:.0f} s; stopped it")
            time.sleep(self.poll_seconds)

    def run(self, relative: str, params: Sequence[object], scope: Scope | None = None) -> pa.Table:
        query = sql_file(relative)
        self.used[relative] = query.sha256
        query_id = self.submit(query.text, params)
        self.wait(query_id)
        paginator = self._hook().get_query_results_paginator(query_id)
        return athena_rows_to_arrow(list(paginator or []))

    def execute(self, relative: str, params: Sequence[object]) -> str:
        """Run a statement without a result set (DDL, INSERT INTO); returns the execution id."""
        query = sql_file(relative)
        self.used[relative] = query.sha256
        query_id = self.submit(query.text, params)
        self.wait(query_id)
        return query_id


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


ATHENA_DDL_ORDER = (
    "athena/rds_compliance_item.sql", "athena/rds_compliance_summary.sql", "athena/rds_patch_summary.sql",
    "athena/rds_instance_information.sql", "athena/rds_tag.sql",
    "athena/staging_patch_compliance.sql", "athena/staging_instances.sql",
)
_DDL_PLACEHOLDER_RE = re.compile(r"\{\{(\w+)\}\}")


def render_athena_ddl(relative: str, settings: Settings, first_snapshot_date: date) -> str:
    """Fill a DDL file's ``{{…}}`` placeholders from validated config (DDL takes no bound parameters).

    Only locations (validated S3 URIs), account ids and Regions (validated by config) and a date are
    substituted; an unknown placeholder is an error, so a DDL file cannot pull in anything else.
    """
    lake = parse_location(settings.storage.lake_uri, "config storage.lake_uri")
    sync = parse_location(settings.storage.sync_uri, "config storage.sync_uri")
    if lake.scheme != "s3" or sync.scheme != "s3":
        raise InputError("the Athena tables need s3:// lake_uri and sync_uri in config storage")
    if not settings.accounts:
        raise InputError("the Athena tables need config accounts (their ids and Regions drive partition projection)")
    values = {
        "lake_uri": lake.uri,
        "sync_uri": sync.uri,
        "account_ids": ",".join(a.id for a in settings.accounts),
        "regions": ",".join(sorted({r for a in settings.accounts for r in a.regions})),
        "first_snapshot_date": first_snapshot_date.isoformat(),
    }

    def substitute(match: re.Match[str]) -> str:
        if match[1] not in values:
            raise InputError(f"{relative}: unknown placeholder {{{{{match[1]}}}}}")
        return values[match[1]]

    return _DDL_PLACEHOLDER_RE.sub(substitute, sql_file(relative).text)


def create_athena_tables(engine: AthenaEngine, settings: Settings, first_snapshot_date: date) -> list[str]:
    """Create (if absent) the raw RDS and staging tables in the engine's database.

    The lake tables themselves are Iceberg tables created through the catalog (``Lake.ensure_tables``).
    """
    ids = []
    for relative in ATHENA_DDL_ORDER:
        text = render_athena_ddl(relative, settings, first_snapshot_date)
        engine.used[relative] = sql_file(relative).sha256
        query_id = engine.submit(text, [])
        engine.wait(query_id)
        ids.append(query_id)
    return ids
