"""The stand-in's Athena, part 4: a result as Athena hands it out (type names, value text, CSV).

``GetQueryResults`` gives every value as text (``VarCharValue``, absent for NULL) and the columns'
Trino type names; the CSV in the output location quotes every value and leaves NULL empty. Values
are written as Trino writes them: ``true``/``false``, dates ``2026-11-15``, timestamps
``2026-11-15 03:10:04.000000`` with as many fraction digits as the column's precision (``... UTC``
with a time zone), arrays ``[a, b]``, maps ``{k=v}``, rows ``{f=v}``, doubles as Java prints them
(``26.0``, ``1.0E-4``). The precision is DuckDB's: microseconds for computed timestamps, where
Trino may have fewer digits (``from_iso8601_timestamp`` gives milliseconds).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa


def type_name(kind: pa.DataType) -> str:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "varchar"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_integer(kind):
        return {8: "tinyint", 16: "smallint", 32: "integer", 64: "bigint"}[kind.bit_width]
    if pa.types.is_floating(kind):
        return "double" if kind.bit_width == 64 else "real"
    if pa.types.is_decimal(kind):
        return "decimal"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamp with time zone" if kind.tz else "timestamp"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return "array"
    if pa.types.is_map(kind):
        return "map"
    if pa.types.is_struct(kind):
        return "row"
    if pa.types.is_null(kind):
        return "unknown"
    if pa.types.is_binary(kind):
        return "varbinary"
    raise ValueError(f"no Athena type for {kind}")


PRECISION = {"varchar": 2147483647, "bigint": 19, "integer": 10, "smallint": 5, "tinyint": 3, "double": 17,
             "real": 7, "timestamp": 3, "timestamp with time zone": 3}


def column_info(schema: pa.Schema) -> list[dict[str, Any]]:
    infos = []
    for column in schema:
        name = type_name(column.type)
        precision = column.type.precision if pa.types.is_decimal(column.type) else PRECISION.get(name, 0)
        infos.append({"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": column.name,
                      "Label": column.name, "Type": name, "Precision": precision,
                      "Scale": column.type.scale if pa.types.is_decimal(column.type) else 0,
                      "Nullable": "UNKNOWN", "CaseSensitive": name == "varchar"})
    return infos


def java_double(value: float) -> str:
    """``Double.toString``: plain between 10^-3 and 10^7, else ``d.dddE±n``; always a fraction digit."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        plain = repr(float(value))  # never scientific in this range
        return plain if "." in plain else plain + ".0"
    sign, digits, exponent = Decimal(repr(float(value))).as_tuple()
    significant = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) - 1 + int(exponent)
    return f"{'-' if sign else ''}{significant[0]}.{significant[1:] or '0'}E{power}"


DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def text(value: Any, top: bool = True, digits: int = 6) -> str | None:
    """A value as Athena's ``VarCharValue`` (None for NULL at the top level, ``null`` inside a collection)."""
    if value is None:
        return None if top else "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, int | Decimal | str):
        return str(value)
    if isinstance(value, datetime):
        stamp = f"{value:%Y-%m-%d %H:%M:%S}" + (f".{value.microsecond:06d}"[:digits + 1] if digits else "")
        return stamp + " UTC" if value.tzinfo else stamp
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={text(v, False)}" for k, v in value.items()) + "}"
    if isinstance(value, list) and value and isinstance(value[0], tuple):  # an Arrow map: [(key, value), ...]
        return "{" + ", ".join(f"{text(k, False)}={text(v, False)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(str(text(v, False)) for v in value) + "]"
    raise ValueError(f"no Athena text for {type(value).__name__}")


def rows_of(table: pa.Table) -> list[list[str | None]]:
    from datetime import UTC

    digits = {c.name: DIGITS[c.type.unit] for c in table.schema if pa.types.is_timestamp(c.type)}
    values = []
    for row in table.to_pylist():
        cells = []
        for column in table.schema:
            value = row[column.name]
            if isinstance(value, datetime) and value.tzinfo:
                value = value.astimezone(UTC)
            cells.append(text(value, digits=digits.get(column.name, 6)))
        values.append(cells)
    return values


def csv_text(names: list[str], rows: list[list[str | None]]) -> str:
    """Athena's result CSV: a header, every value double-quoted, NULL as an empty field."""
    def cell(value: str | None) -> str:
        return "" if value is None else '"' + value.replace('"', '""') + '"'

    return "".join(",".join(cell(v) for v in row) + "\n" for row in [names, *rows])
