"""The stand-in's Athena, part 3: run a prepared statement on an in-process DuckDB; commit DML to Iceberg.

A SELECT reads every table it names (``athena_tables``) into a fresh DuckDB connection and runs the
statement as ``athena_sql.duckdb_sql`` writes it. ``INSERT INTO <iceberg table> [(columns)] <query>``
runs the query the same way, coerces its columns to the table's types as Trino's INSERT does (the
implicit widenings only; anything else fails as ``TYPE_MISMATCH``) and appends the rows in one
Iceberg commit; no rows, no commit. ``DELETE FROM <iceberg table> [WHERE ...]`` is the metadata-only
delete Trino performs when the predicate compares identity partition columns with constants: whole
data files are removed in one commit. A row-level DELETE (merge-on-read position deletes) is refused.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from sim.moto_ext import athena_tables as tables
from sim.moto_ext.athena_sql import MACROS, QueryFailed, Statement, duckdb_sql, not_emulated


@dataclass
class Outcome:
    """A finished statement: its result (SELECT), the rows it changed (DML) and the bytes it read."""

    result: pa.Table | None = None
    update_count: int | None = None
    scanned: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def execute(statement: Statement, caller: tables.Caller, database: str | None) -> Outcome:
    kind = statement.kind
    if kind == "SELECT":
        result, scanned = _select(statement.tree, caller, database)
        return Outcome(result=result, scanned=scanned)
    if kind == "INSERT":
        return _insert(statement.tree, caller, database)
    if kind == "DELETE":
        return _delete(statement.tree, caller, database)
    if kind == "CREATE_EXTERNAL_TABLE":
        tables.create_external_table(caller, _schema(statement.tree.this.this, database), statement.tree)
        return Outcome()
    tables.drop_table(caller, _schema(None, database), statement.tree)
    return Outcome()


def _schema(table: exp.Table | None, database: str | None) -> str:
    if table is not None and table.catalog and table.catalog.lower() != "awsdatacatalog":
        raise not_emulated(f"the data catalog {table.catalog}")
    name = (table.db if table is not None else "") or database
    if not name:
        raise QueryFailed("SCHEMA_NOT_FOUND: no database: give QueryExecutionContext.Database or qualify the table")
    return name


def _select(tree: exp.Expression, caller: tables.Caller, database: str | None) -> tuple[pa.Table, int]:
    """Run a query: each table it names is read and registered under a private name first."""
    import duckdb

    tree = tree.copy()
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    con = duckdb.connect()
    scanned = 0
    read: dict[tuple[str, str, int | None], tuple[pa.Table, int]] = {}  # each table read once per statement
    try:
        con.execute("SET TimeZone = 'UTC'")
        for macro in MACROS:
            con.execute(macro)
        for number, table in enumerate(list(tree.find_all(exp.Table))):
            if not table.db and table.name in ctes:
                continue
            schema = _schema(table, database)
            version = table.args.get("version")
            key = (schema, table.name, int(version.expression.name) if version else None)
            if key not in read:
                read[key] = tables.read(caller, tables.describe(caller, schema, table.name), key[2])
            data, size = read[key]
            scanned += size  # as Trino scans a table once per reference
            private = f"__athena_table_{number}"
            con.register(private, data)
            alias = table.alias or table.name
            table.set("this", exp.to_identifier(private))
            for part in ("db", "catalog", "version"):
                table.set(part, None)
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        _name_columns(tree)
        relation = con.sql(duckdb_sql(tree))
        wide = [f'CAST("{name}" AS BIGINT) AS "{name}"' if str(kind) in ("HUGEINT", "UBIGINT") else f'"{name}"'
                for name, kind in zip(relation.columns, relation.types, strict=True)]
        return relation.project(", ".join(wide)).to_arrow_table(), scanned
    except duckdb.Error as exc:
        raise QueryFailed(f"GENERIC_USER_ERROR: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()


def _name_columns(tree: exp.Expression) -> None:
    """Trino names an output column without an alias ``_col<position>`` (a bare column keeps its name)."""
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return
    for position, column in enumerate(select.expressions):
        if not isinstance(column, exp.Alias | exp.Column | exp.Star):
            column.replace(exp.alias_(column.copy(), f"_col{position}"))


# --- INSERT INTO ------------------------------------------------------------------------------------


def _insert(tree: exp.Insert, caller: tables.Caller, database: str | None) -> Outcome:
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    listed = [c.name for c in tree.this.expressions] if isinstance(tree.this, exp.Schema) else None
    iceberg = tables.iceberg_table(caller, _schema(target, database), target.name)
    rows, scanned = _select(tree.expression, caller, database)
    data = coerce(rows, iceberg.schema().as_arrow(), listed)
    if data.num_rows:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            iceberg.append(data)
    return Outcome(update_count=data.num_rows, scanned=scanned)


def coerce(rows: pa.Table, schema: pa.Schema, listed: list[str] | None) -> pa.Table:
    """The query's columns as the table's (by position, into ``listed`` or every column), as Trino coerces."""
    names = listed if listed is not None else schema.names
    unknown = [n for n in names if n not in schema.names]
    if unknown:
        raise QueryFailed(f"COLUMN_NOT_FOUND: Insert column name does not exist in target table: {unknown[0]}")
    if len(names) != rows.num_columns:
        raise QueryFailed(f"TYPE_MISMATCH: Insert query has {rows.num_columns} columns, target table has "
                          f"{len(names)}")
    given = dict(zip(names, rows.columns, strict=True))
    arrays = []
    for target in schema:
        column = given.get(target.name)
        if column is None:
            arrays.append(pa.nulls(rows.num_rows, target.type))
            continue
        if not _coercible(column.type, target.type):
            raise QueryFailed(f"TYPE_MISMATCH: Insert query has mismatched column types: column {target.name} is "
                              f"{target.type} in the table, {column.type} in the query")
        if pa.types.is_timestamp(column.type) and column.type.tz is None and target.type.tz:
            column = pc.assume_timezone(column, "UTC")  # Athena's session time zone is UTC
        arrays.append(column.cast(target.type))
        if not target.nullable and arrays[-1].null_count:
            raise QueryFailed(f"CONSTRAINT_VIOLATION: NULL value not allowed for NOT NULL column: {target.name}")
    return pa.Table.from_arrays(arrays, schema=schema)


def _coercible(source: pa.DataType, target: pa.DataType) -> bool:
    """Trino's implicit INSERT coercions: the same type, a wider one, or NULL."""
    if source == target or pa.types.is_null(source):
        return True
    if pa.types.is_string(target) or pa.types.is_large_string(target):
        return pa.types.is_string(source) or pa.types.is_large_string(source)
    if pa.types.is_integer(target):
        return pa.types.is_integer(source) and source.bit_width <= target.bit_width
    if pa.types.is_floating(target):
        return pa.types.is_floating(source) and source.bit_width <= target.bit_width
    if pa.types.is_timestamp(target):
        return pa.types.is_timestamp(source) and (source.tz is None or target.tz is not None)
    if pa.types.is_map(target):
        return pa.types.is_map(source) and _coercible(source.key_type, target.key_type) and _coercible(
            source.item_type, target.item_type)
    if pa.types.is_list(target) or pa.types.is_large_list(target):
        return (pa.types.is_list(source) or pa.types.is_large_list(source)) and _coercible(
            source.value_type, target.value_type)
    return False


# --- DELETE -----------------------------------------------------------------------------------------


def _delete(tree: exp.Delete, caller: tables.Caller, database: str | None) -> Outcome:
    from pyiceberg.expressions import AlwaysTrue

    target = tree.this
    iceberg = tables.iceberg_table(caller, _schema(target, database), target.name)
    where = tree.args.get("where")
    predicate = _partition_predicate(where.this, iceberg) if where else AlwaysTrue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not match any records": nothing to delete
        iceberg.delete(predicate)
    return Outcome()


COMPARISONS = {exp.EQ: "EqualTo", exp.NEQ: "NotEqualTo", exp.GT: "GreaterThan", exp.GTE: "GreaterThanOrEqual",
               exp.LT: "LessThan", exp.LTE: "LessThanOrEqual"}


def _partition_predicate(node: exp.Expression, iceberg: Any) -> Any:
    """A WHERE of comparisons between identity partition columns and constants, as a pyiceberg filter."""
    import pyiceberg.expressions as ice
    from pyiceberg.transforms import IdentityTransform

    row_level = not_emulated("a row-level DELETE (merge-on-read position deletes; only a DELETE whose WHERE "
                             "compares identity partition columns with constants, a metadata-only delete,)")
    identity = {iceberg.schema().find_column_name(f.source_id) for f in iceberg.spec().fields
                if isinstance(f.transform, IdentityTransform)}
    if isinstance(node, exp.Paren):
        return _partition_predicate(node.this, iceberg)
    if isinstance(node, exp.And):
        return ice.And(_partition_predicate(node.this, iceberg), _partition_predicate(node.expression, iceberg))
    operator = COMPARISONS.get(type(node))
    if operator is None or not isinstance(node.this, exp.Column) or node.this.name not in identity:
        raise row_level
    if node.expression.find(exp.Column):
        raise row_level
    return getattr(ice, operator)(node.this.name, _constant(node.expression))


def _constant(node: exp.Expression) -> Any:
    """The value of a constant expression (``CAST('2026-11-15' AS DATE)``), evaluated as Trino would."""
    import duckdb

    with duckdb.connect() as con:
        try:
            row = con.execute(duckdb_sql(exp.select(node))).fetchone()
            return row[0] if row else None
        except duckdb.Error as exc:
            raise QueryFailed(f"GENERIC_USER_ERROR: {str(exc).splitlines()[0]}") from exc
