"""The stand-in's Athena, part 2: the tables a query names, as Athena finds them in Glue and S3.

Athena keeps no tables of its own: ``CREATE EXTERNAL TABLE`` writes a table into the Glue Data
Catalog, and a query reads what Glue says. So does the stand-in, in the caller's account and
Region (moto's Glue backend), with the caller's access key for S3 and Glue calls over the
server's own HTTP endpoint:

- an Iceberg table (``table_type=ICEBERG``, ``metadata_location``) is read by pyiceberg at its
  current snapshot (or ``FOR VERSION AS OF``) and written by pyiceberg through the Glue catalog,
  whose ``UpdateTable`` is the compare-and-swap Athena's commits use;
- a Hive table with the OpenX JSON SerDe is read from the objects under its location: partition
  projection (``enum`` types, ``storage.location.template`` with any ``${column}``, the ``AWS:``
  colon included), one row per line, keys matched case-insensitively unless
  ``case.insensitive=false``, ``mapping.<column>`` keys, every column a STRING; a line that is not
  a JSON object (or repeats a key) fails the query, or with ``ignore.malformed.json=true`` becomes a
  row whose columns are all NULL (the partition values still set), as the OpenX SerDe does.

Anything else (other formats and SerDe properties, projection types other than ``enum``, Glue
partitions, non-STRING JSON columns, nested JSON values, compressed objects, objects in subfolders
of a partition) is refused as not emulated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import product
from typing import Any

import pyarrow as pa

from sim.moto_ext.athena_sql import QueryFailed, not_emulated

OPENX = "org.openx.data.jsonserde.JsonSerDe"
SERDE_PROPERTIES = {"ignore.malformed.json", "case.insensitive", "serialization.format"}
COMPRESSED = (".gz", ".bz2", ".zst", ".snappy", ".lz4", ".deflate", ".zip")
JSON_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Caller:
    """Who asked: their account, Region and access key, and this server's own endpoint."""

    account_id: str
    region: str
    access_key: str
    endpoint: str

    def client(self, service: str) -> Any:
        return _client(self, service)

    def io_properties(self) -> dict[str, str]:
        return {"s3.endpoint": self.endpoint, "s3.region": self.region, "s3.access-key-id": self.access_key,
                "s3.secret-access-key": "local-stand-in"}

    def catalog(self) -> Any:
        return _catalog(self)

    def glue(self) -> Any:
        from moto.glue.models import glue_backends

        return glue_backends[self.account_id][self.region]


@cache  # one client per caller and service (botocore clients are thread-safe)
def _client(caller: Caller, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=caller.endpoint, region_name=caller.region,
                        aws_access_key_id=caller.access_key, aws_secret_access_key="local-stand-in")  # noqa: S106


@cache
def _catalog(caller: Caller) -> Any:
    from pyiceberg.catalog.glue import GlueCatalog

    return GlueCatalog("athena", **{"glue.endpoint": caller.endpoint, "glue.region": caller.region,
                                    "glue.access-key-id": caller.access_key,
                                    "glue.secret-access-key": "local-stand-in", **caller.io_properties()})


def describe(caller: Caller, database: str, name: str) -> dict[str, Any]:
    """The Glue table (``GetTable``'s ``Table``), or Athena's error for a missing schema or table."""
    from moto.glue.exceptions import DatabaseNotFoundException, TableNotFoundException

    try:
        return caller.glue().get_table(database, name).as_dict()
    except DatabaseNotFoundException as exc:
        raise QueryFailed(f"SCHEMA_NOT_FOUND: Schema '{database}' does not exist") from exc
    except TableNotFoundException as exc:
        raise QueryFailed(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{database}.{name}' does not exist") from exc


def is_iceberg(table: dict[str, Any]) -> bool:
    return (table.get("Parameters") or {}).get("table_type", "").upper() == "ICEBERG"


def read(caller: Caller, table: dict[str, Any], snapshot_id: int | None = None) -> tuple[pa.Table, int]:
    """A table's rows as Arrow and the bytes read for them."""
    if is_iceberg(table):
        return _read_iceberg(caller, table, snapshot_id)
    if snapshot_id is not None:
        raise not_emulated("FOR VERSION AS OF on a table that is not Iceberg")
    return _read_json(caller, table)


def _read_iceberg(caller: Caller, table: dict[str, Any], snapshot_id: int | None) -> tuple[pa.Table, int]:
    from pyiceberg.table import StaticTable

    iceberg = StaticTable.from_metadata(table["Parameters"]["metadata_location"], caller.io_properties())
    if snapshot_id is not None and iceberg.metadata.snapshot_by_id(snapshot_id) is None:
        raise QueryFailed(f"INVALID_ARGUMENTS: Iceberg snapshot ID does not exists: {snapshot_id}")
    scan = iceberg.scan(snapshot_id=snapshot_id)
    scanned = sum(task.file.file_size_in_bytes for task in scan.plan_files())
    return scan.to_arrow(), scanned


def iceberg_table(caller: Caller, database: str, name: str) -> Any:
    """The Iceberg table a DML statement changes, loaded through the Glue catalog (commits are CAS)."""
    table = describe(caller, database, name)
    if not is_iceberg(table):
        raise not_emulated(f"DML on {database}.{name}, which is not an Iceberg table,")
    return caller.catalog().load_table((database, name))


# --- Hive JSON tables ---------------------------------------------------------------------------------


def _read_json(caller: Caller, table: dict[str, Any]) -> tuple[pa.Table, int]:
    storage = table.get("StorageDescriptor") or {}
    serde = storage.get("SerdeInfo") or {}
    if serde.get("SerializationLibrary") != OPENX:
        raise not_emulated(f"reading a table with SerDe {serde.get('SerializationLibrary')!r} (only {OPENX})")
    options = serde.get("Parameters") or {}
    unknown = sorted(k for k in options if k not in SERDE_PROPERTIES and not k.startswith("mapping."))
    if unknown:
        raise not_emulated(f"the SerDe properties {unknown}")
    columns = [c["Name"] for c in storage.get("Columns") or []]
    odd = [f"{c['Name']} {c['Type']}" for c in storage.get("Columns") or [] if c["Type"].lower() != "string"]
    if odd:
        raise not_emulated(f"JSON columns of types other than STRING ({', '.join(odd)})")
    partitions = [c["Name"] for c in table.get("PartitionKeys") or []]
    insensitive = options.get("case.insensitive", "true").lower() == "true"
    keys = {c: options.get(f"mapping.{c}", c) for c in columns}
    keys = {c: k.lower() if insensitive else k for c, k in keys.items()}
    lenient = options.get("ignore.malformed.json", "false").lower() == "true"
    rows: dict[str, list[str | None]] = {name: [] for name in [*columns, *partitions]}
    scanned = 0
    s3 = caller.client("s3")
    for values, location in _partition_locations(table, partitions):
        for body in _objects(s3, location):
            scanned += len(body)
            for line in _lines(body):
                record = _record(line, insensitive, lenient)
                for column in columns:
                    rows[column].append(_text(record.get(keys[column])))
                for column, value in zip(partitions, values, strict=True):
                    rows[column].append(value)
    return pa.table({name: pa.array(values, pa.string()) for name, values in rows.items()}), scanned


def _partition_locations(table: dict[str, Any], partitions: list[str]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(partition values, S3 location) of every partition the table's projection declares."""
    location = table["StorageDescriptor"]["Location"].rstrip("/")
    if not partitions:
        yield (), location
        return
    params = table.get("Parameters") or {}
    if params.get("projection.enabled", "false").lower() != "true":
        raise not_emulated("a partitioned table without partition projection (Glue partitions)")
    choices = []
    for column in partitions:
        kind = params.get(f"projection.{column}.type")
        if kind != "enum":
            raise not_emulated(f"partition projection of type {kind!r} (column {column}; only enum)")
        choices.append([v.strip() for v in params.get(f"projection.{column}.values", "").split(",") if v.strip()])
    template = params.get("storage.location.template")
    for values in product(*choices):
        if template:
            path = template
            for column, value in zip(partitions, values, strict=True):
                path = path.replace("${" + column + "}", value)
        else:
            path = location + "".join(f"/{c}={v}" for c, v in zip(partitions, values, strict=True))
        yield values, path.rstrip("/")


def _objects(s3: Any, location: str) -> Iterator[bytes]:
    """The bodies of the data objects directly under a location (hidden ``_``/``.`` names skipped)."""
    match = re.fullmatch(r"s3a?://([^/]+)/?(.*)", location)
    if not match:
        raise not_emulated(f"a table location that is not s3:// ({location})")
    bucket, prefix = match[1], (match[2] + "/" if match[2] else "")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            name = entry["Key"][len(prefix):]
            if not name or name.endswith("/") or name.startswith(("_", ".")):
                continue
            if "/" in name:
                raise not_emulated(f"objects in subfolders of a table location (s3://{bucket}/{entry['Key']})")
            if name.lower().endswith(COMPRESSED):
                raise not_emulated(f"compressed objects (s3://{bucket}/{entry['Key']})")
            yield s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()


def _lines(body: bytes) -> list[bytes]:
    lines = JSON_LINE_END.split(body)
    return lines[:-1] if lines and lines[-1] == b"" else lines


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise ValueError(f'Duplicate key "{key}"')
        record[key] = value
    return record


def _record(line: bytes, insensitive: bool, lenient: bool) -> dict[str, Any]:
    """One line as the SerDe sees it: its keys (lower-cased unless case-sensitive), or {} if malformed."""
    try:
        parsed = json.loads(line.decode("utf-8", "replace"), object_pairs_hook=_unique)
        if not isinstance(parsed, dict):
            raise ValueError("A JSONObject text must begin with '{'")
        return _unique([(k.lower() if insensitive else k, v) for k, v in parsed.items()])
    except ValueError as exc:
        if lenient:
            return {}
        raise QueryFailed(f"HIVE_BAD_DATA: Row is not a valid JSON Object - JSONException: {exc}") from exc


def _text(value: Any) -> str | None:
    """A JSON value as a STRING column reads it."""
    if value is None or isinstance(value, str):
        if isinstance(value, str) and any("\ud800" <= ch <= "\udfff" for ch in value):
            raise not_emulated("a JSON string with an unpaired UTF-16 surrogate escape")
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise not_emulated("a JSON number with a fraction or exponent, or a nested object or array, in a STRING column")


# --- DDL --------------------------------------------------------------------------------------------


def create_external_table(caller: Caller, database: str, tree: Any) -> None:
    """``CREATE EXTERNAL TABLE`` as Athena does it: a Glue table (Hive JSON only here)."""
    from moto.glue.exceptions import TableAlreadyExistsException
    from sqlglot import exp

    name = tree.this.this.name
    describe_database(caller, database)
    properties = tree.args["properties"].expressions
    serde = next((p for p in properties if isinstance(p, exp.RowFormatSerdeProperty)), None)
    if serde is None or serde.this.name != OPENX:
        raise not_emulated("CREATE EXTERNAL TABLE other than ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'")
    location = next((p.this.name for p in properties if isinstance(p, exp.LocationProperty)), None)
    if not location:
        raise QueryFailed("SYNTAX_ERROR: CREATE EXTERNAL TABLE needs a LOCATION")
    supported = (exp.ExternalProperty, exp.PartitionedByProperty, exp.RowFormatSerdeProperty, exp.LocationProperty,
                 exp.Property)
    odd = [p.sql(dialect="athena") for p in properties if not isinstance(p, supported)]
    if odd:
        raise not_emulated(f"the table properties {odd}")
    partitioned = next((p for p in properties if isinstance(p, exp.PartitionedByProperty)), None)

    def columns(defs: list[Any]) -> list[dict[str, str]]:
        return [{"Name": c.name, "Type": c.args["kind"].sql(dialect="hive").lower()} for c in defs]

    serde_params = {p.this.name: p.args["value"].name for p in serde.args["serde_properties"].expressions} \
        if serde.args.get("serde_properties") else {}
    table_input = {
        "Name": name, "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", **{p.this.name: p.args["value"].name for p in properties
                                              if type(p) is exp.Property}},
        "PartitionKeys": columns(partitioned.this.expressions) if partitioned else [],
        "StorageDescriptor": {
            "Columns": columns(tree.this.expressions), "Location": location,
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": OPENX, "Parameters": serde_params},
        },
    }
    try:
        caller.glue().create_table(database, name, table_input)
    except TableAlreadyExistsException as exc:
        if not tree.args.get("exists"):
            raise QueryFailed(f"ALREADY_EXISTS: Table 'awsdatacatalog.{database}.{name}' already exists") from exc


def drop_table(caller: Caller, database: str, tree: Any) -> None:
    from moto.glue.exceptions import TableNotFoundException

    for table in tree.args["tables"]:
        db = table.db or database
        describe_database(caller, db)
        try:
            existing = caller.glue().get_table(db, table.name).as_dict()
        except TableNotFoundException as exc:
            if tree.args.get("exists"):
                continue
            raise QueryFailed(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{db}.{table.name}' does not exist") from exc
        if is_iceberg(existing):
            raise not_emulated("DROP TABLE of an Iceberg table (Athena deletes its data)")
        caller.glue().delete_table(db, table.name)


def describe_database(caller: Caller, database: str) -> None:
    from moto.glue.exceptions import DatabaseNotFoundException

    try:
        caller.glue().get_database(database)
    except DatabaseNotFoundException as exc:
        raise QueryFailed(f"SCHEMA_NOT_FOUND: Schema '{database}' does not exist") from exc
