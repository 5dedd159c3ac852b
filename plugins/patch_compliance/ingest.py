"""Resource Data Sync JSON -> one day's snapshot in the Iceberg lake.

Per account/Region (so memory is bounded by the largest one, not the day): read the node objects
concurrently, parse each type's JSON Lines with pyarrow's multi-threaded reader (one buffer per
type), type, join and classify them in DuckDB (``sql/ingest/``), and write Parquet data files aside.
The day is published at the end by the lake's ``DayWriter`` (one Iceberg commit per table, then the
day record), so a failure anywhere leaves the previous snapshot of that date untouched. Lines that
cannot be parsed are kept verbatim in ``quarantine``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from patch_compliance import rds
from patch_compliance.aws import StorageAccess
from patch_compliance.config import Settings, load_settings, load_sql
from patch_compliance.inputs import DataCheckError, InputError
from patch_compliance.lake import SPECS, Lake, sha256
from patch_compliance.storage import BulkReader, open_location

Progress = Callable[[str], None]
STATUSES = ("COMPLIANT", "NON_COMPLIANT", "STALE", "NO_DATA", "STOPPED")
QUARANTINE_SCHEMA = SPECS["quarantine"].row_schema


class SourceError(InputError):
    """The source holds no usable Resource Data Sync objects."""


class QuarantineThresholdError(DataCheckError):
    """Too many malformed lines: the snapshot is not published."""


@dataclass
class ParsedType:
    """One RDS type's lines for an account/Region: typed-as-string columns plus provenance."""

    table: pa.Table  # FIELDS + envelope + source_file (int32) + line_number (int64)
    quarantine: list[dict[str, object]] = field(default_factory=list)
    lines: int = 0


def _string_schema(rds_type: str) -> pa.Schema:
    return pa.schema([(name, pa.string()) for name in (*rds.FIELDS[rds_type], *rds.ENVELOPE_FIELDS)])


RAW_COPY_BYTES = 4096  # an oversized line is kept as its first bytes, so quarantine stays small


def _quarantine_row(obj: rds.RdsObject, line_number: int, error: str, raw: bytes) -> dict[str, object]:
    """A quarantined line, verbatim as far as text allows (invalid UTF-8 bytes become U+FFFD)."""
    return {"source_key": obj.path, "rds_type": obj.rds_type, "line_number": line_number,
            "error": error, "raw_line": raw.decode("utf-8", "replace"), "node_id": obj.node_id}


def _has_surrogate(value: str) -> bool:
    """A lone UTF-16 surrogate (from a ``\\ud800`` escape) cannot be stored as UTF-8 text."""
    return any("\ud800" <= char <= "\udfff" for char in value)


@dataclass
class TypeBatch:
    """One type's objects of an account/Region as one JSON Lines buffer, and each object's bytes in it.

    ``contents`` are views into ``buffer`` (not copies), so a group's bytes are held once.
    """

    objects: list[rds.RdsObject]
    contents: list[memoryview]
    buffer: bytes
    line_counts: np.ndarray

    def release(self) -> None:
        """Drop the bytes once parsed (the objects and line counts stay): a group's JSON is not kept
        while DuckDB shapes it."""
        self.contents, self.buffer = [], b""


def make_batch(objects: list[rds.RdsObject], contents: list[bytes]) -> TypeBatch:
    """Concatenate the objects (each ending in a newline) so one parser pass covers them all."""
    pieces = [c if not c or c.endswith(b"\n") else c + b"\n" for c in contents]
    buffer = b"".join(pieces)
    line_counts = np.fromiter((piece.count(b"\n") for piece in pieces), dtype=np.int64, count=len(pieces))
    view, views, start = memoryview(buffer), [], 0
    for content, piece in zip(contents, pieces, strict=True):
        views.append(view[start:start + len(content)])
        start += len(piece)
    return TypeBatch(objects, views, buffer, line_counts)


def _parse_fast(schema: pa.Schema, batch: TypeBatch, max_line_bytes: int,
                required: tuple[str, ...]) -> pa.Table | None:
    """Parse all objects in one multi-threaded pass; None when any line needs the careful path.

    pyarrow's reader passes invalid UTF-8 through into string columns (which DuckDB then refuses),
    so the buffer is checked first; an object larger than the line cap may hold an oversized line.
    Its keys are matched exactly, so a line missing a required attribute is read again carefully.
    """
    if not batch.buffer:
        return pa.table({name: pa.array([], pa.string()) for name in schema.names})
    if any(len(content) > max_line_bytes for content in batch.contents):
        return None
    if not batch.buffer.isascii():  # ASCII is valid UTF-8: checked in place; otherwise decode to check
        try:
            batch.buffer.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        table = pajson.read_json(
            pa.BufferReader(batch.buffer),
            read_options=pajson.ReadOptions(block_size=4 << 20),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != int(batch.line_counts.sum()):  # blank lines: row i no longer maps to a file line
        return None
    if any(table[name].null_count for name in required):  # a key in another case, or InstanceId only
        return None
    return table


def _check_line(raw: bytes, max_line_bytes: int) -> tuple[dict[str, object] | None, str]:
    """The line as a JSON object, or None and why it is quarantined."""
    if len(raw) > max_line_bytes:
        return None, (f"line of {len(raw):,} bytes exceeds ingest.max_line_bytes ({max_line_bytes:,}); "
                      f"the first {RAW_COPY_BYTES:,} bytes are kept")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}"
    try:
        record = json.loads(text)
    except ValueError as exc:
        return None, f"invalid JSON: {exc}"
    if not isinstance(record, dict):
        return None, "line is not a JSON object"
    if any(isinstance(v, str) and _has_surrogate(v) for v in record.values()):
        return None, "a value holds an unpaired UTF-16 surrogate escape (not representable as text)"
    return record, ""


def _value(record: dict[str, object], name: str, folded: dict[str, str]) -> object:
    """The attribute's value: the exact key first, else the same key in any case."""
    if name in record:
        return record[name]
    key = folded.get(name.lower())
    return None if key is None else record[key]


def _parse_careful(rds_type: str, schema: pa.Schema, objects: list[rds.RdsObject], contents: list[memoryview],
                   parsed: ParsedType, max_line_bytes: int) -> pa.Table:
    """Line by line: malformed lines go to quarantine, keys match in any case, non-string scalars stay text."""
    rows: list[dict[str, object]] = []
    for index, (obj, content) in enumerate(zip(objects, contents, strict=True)):
        for number, raw in enumerate(bytes(content).split(b"\n"), start=1):
            if not raw.strip():
                continue
            parsed.lines += 1
            record, error = _check_line(raw, max_line_bytes)
            if record is None:
                parsed.quarantine.append(_quarantine_row(obj, number, error, raw[:RAW_COPY_BYTES]))
                continue
            folded: dict[str, str] = {}
            for key in record:
                folded.setdefault(key.lower(), key)
            row: dict[str, object] = {}
            for name in schema.names:
                value = _value(record, name, folded)
                row[name] = None if value is None else value if isinstance(value, str) else json.dumps(value)
            if not row["resourceId"] and rds_type == rds.INSTANCE_INFORMATION:
                row["resourceId"] = row["InstanceId"]  # must still match the object's node (checked later)
            row["source_file"] = index
            row["line_number"] = number
            rows.append(row)
    full = pa.schema([*schema, ("source_file", pa.int32()), ("line_number", pa.int64())])
    return pa.Table.from_pylist(rows, schema=full)


def parse_type(rds_type: str, batch: TypeBatch, max_line_bytes: int) -> ParsedType:
    """Parse one type's objects; every kept row knows its object and line number."""
    schema = _string_schema(rds_type)
    parsed = ParsedType(pa.table({}))
    objects, contents, line_counts = batch.objects, batch.contents, batch.line_counts
    table = _parse_fast(schema, batch, max_line_bytes, rds.REQUIRED_FIELDS[rds_type])
    if table is not None:
        parsed.lines = table.num_rows
        source_file = np.repeat(np.arange(len(contents), dtype=np.int32), line_counts)
        starts = np.repeat(np.cumsum(line_counts) - line_counts, line_counts)
        line_number = np.arange(table.num_rows, dtype=np.int64) - starts + 1
        table = table.append_column("source_file", pa.array(source_file)).append_column(
            "line_number", pa.array(line_number))
    else:
        table = _parse_careful(rds_type, schema, objects, contents, parsed, max_line_bytes)
    # A line must belong to the node its object is named after; anything else is quarantined.
    node_ids = np.array([o.node_id for o in objects], dtype=object)
    expected = node_ids[table["source_file"].to_numpy()] if table.num_rows else np.array([], dtype=object)
    actual = table["resourceId"].to_numpy(zero_copy_only=False)
    mismatched = np.flatnonzero(expected != actual)
    if len(mismatched):
        for row in mismatched.tolist():
            obj = objects[table["source_file"][row].as_py()]
            number = table["line_number"][row].as_py()
            raw = bytes(contents[table["source_file"][row].as_py()]).split(b"\n")[number - 1]
            error = (f"resourceId {actual[row]!r} does not match the object's node {obj.node_id!r}"
                     if actual[row] else f"no resourceId on the line (the object's node is {obj.node_id!r})")
            parsed.quarantine.append(_quarantine_row(obj, number, error, raw))
        keep = np.ones(table.num_rows, dtype=bool)
        keep[mismatched] = False
        table = table.filter(pa.array(keep))
    parsed.table = table
    return parsed


def read_group(reader: BulkReader, objects: list[rds.RdsObject]) -> tuple[dict[str, TypeBatch], list[str]]:
    """Read, checksum and batch one account/Region (runs in the background, ahead of parsing)."""
    contents = reader.read([o.path for o in objects])
    digests = [hashlib.sha256(data).hexdigest() for data in contents]
    batches = {}
    for rds_type in rds.INGESTED_TYPES:
        selected = [(o, c) for o, c in zip(objects, contents, strict=True) if o.rds_type == rds_type]
        batches[rds_type] = make_batch([o for o, _ in selected], [c for _, c in selected])
    return batches, digests


def _tag_roles(settings: Settings) -> pa.Table:
    rows = [(role, key, priority) for role in ("team", "environment", "patch_group", "name")
            for priority, key in enumerate(getattr(settings.tags, role))]
    return pa.table({"role": [r[0] for r in rows], "tag_key": [r[1] for r in rows],
                     "priority": [r[2] for r in rows]})


@dataclass
class GroupResult:
    patch_compliance: pa.Table
    instances: pa.Table
    quarantine: list[dict[str, object]]
    invalid_values: pa.Table
    lines: int


def _node_quarantine(quarantine: list[dict[str, object]]) -> pa.Table:
    """Quarantined lines per node: all of them, and those of AWS:ComplianceItem."""
    counts: dict[str, list[int]] = {}
    for row in quarantine:
        entry = counts.setdefault(str(row["node_id"]), [0, 0])
        entry[0] += 1
        entry[1] += row["rds_type"] == rds.COMPLIANCE_ITEM
    return pa.table({"instance_id": pa.array(list(counts), pa.string()),
                     "quarantined_lines": pa.array([c[0] for c in counts.values()], pa.int64()),
                     "quarantined_item_lines": pa.array([c[1] for c in counts.values()], pa.int64())})


def _source_keys(batches: dict[str, TypeBatch]) -> pa.Table:
    """(type, index in its batch) -> object key: how a parsed row names the object it came from."""
    rows = [(rds_type, index, obj.path) for rds_type, batch in batches.items()
            for index, obj in enumerate(batch.objects)]
    return pa.table({"rds_type": pa.array([r[0] for r in rows], pa.string()),
                     "source_file": pa.array([r[1] for r in rows], pa.int32()),
                     "source_key": pa.array([r[2] for r in rows], pa.string())})


def process_group(con: duckdb.DuckDBPyConnection, account_id: str, region: str,
                  objects: list[rds.RdsObject], batches: dict[str, TypeBatch], max_line_bytes: int) -> GroupResult:
    """Parse and shape one account/Region in DuckDB (tag_roles must already be registered)."""
    quarantine: list[dict[str, object]] = []
    lines = 0
    for rds_type in rds.INGESTED_TYPES:
        parsed = parse_type(rds_type, batches[rds_type], max_line_bytes)
        batches[rds_type].release()
        quarantine += parsed.quarantine
        lines += parsed.lines
        con.register(rds.RAW_TABLE[rds_type], parsed.table)
    con.register("sources", pa.table({"node_id": [o.node_id for o in objects]}))
    con.register("source_keys", _source_keys(batches))
    con.register("node_quarantine", _node_quarantine(quarantine))
    invalid_values = con.sql(load_sql("ingest/invalid_timestamps.sql")).to_arrow_table()
    con.register("invalid_values", invalid_values)
    con.execute(load_sql("ingest/node_attributes.sql"))
    patch_compliance = con.sql(load_sql("ingest/patch_compliance.sql")).to_arrow_table()
    con.register("pc", patch_compliance)
    instances = con.sql(load_sql("ingest/instances.sql"),
                        params={"account_id": account_id, "region": region}).to_arrow_table()
    return GroupResult(patch_compliance, instances, quarantine, invalid_values, lines)


REFERENCE_QUANTILE = 0.95


def robust_reference_time(instances: pa.Table) -> datetime | None:
    """The day's reference time: a high quantile of the nodes' patch-data captures, never the maximum.

    One node whose clock runs days ahead must not make every other node read STALE; the 95th
    percentile (the lower of two neighbours, so it is a real capture) ignores up to 5 % of such nodes.
    """
    captures = instances["last_capture_time"].drop_null()
    if len(captures) == 0:
        return None
    micros = np.sort(captures.cast(pa.int64()).to_numpy())
    chosen = int(micros[int(np.floor(REFERENCE_QUANTILE * (len(micros) - 1)))])
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=chosen)


def _classify(con: duckdb.DuckDBPyConnection, instances: pa.Table, reference_time: datetime,
              settings: Settings) -> pa.Table:
    con.register("instances_all", instances)
    stale_before = reference_time - timedelta(hours=settings.ingest.freshness_hours)
    future_after = reference_time + timedelta(hours=settings.ingest.future_capture_tolerance_hours)
    return con.sql(load_sql("ingest/instance_status.sql"),
                   params={"stale_before": stale_before, "reference_time": reference_time,
                           "future_after": future_after}).to_arrow_table()


def _counts(column: pa.ChunkedArray) -> dict[str, int]:
    """Value -> rows, NULL as "none" (for the day record)."""
    counts: dict[str, int] = {}
    for value in column.to_pylist():
        key = value or "none"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _sources_digest(digests: dict[str, str]) -> str:
    """One SHA-256 over every source object's key and SHA-256: what the snapshot was built from."""
    lines = sorted(f"{path}\t{digest}" for path, digest in digests.items())
    return sha256("\n".join(lines).encode())


def ingest_snapshot(source_uri: str, lake_uri: str, snapshot_date: date, reference_time: datetime | None = None,
                    settings: Settings | None = None, access: StorageAccess | None = None,
                    progress: Progress | None = None) -> dict[str, object]:
    """Snapshot a Resource Data Sync prefix into the lake for one date; returns the committed manifest."""
    settings = settings or load_settings()
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    source, source_fs = open_location(source_uri, access, "source")
    lake = Lake(lake_uri, access, settings)
    listing = rds.list_source(source_fs, source.fs_path)
    if listing.nested_prefixes:
        nested = ", ".join(f"{source.uri}/{p}" for p in listing.nested_prefixes[:5])
        raise SourceError(
            f"{source.uri} holds {len(listing.nested_prefixes)} nested cop(ies) of the Resource Data Sync layout "
            f"({nested}); only the layout directly under the source prefix is one day's data, and merging "
            f"older copies would forge history. Point the source at one copy, or move the others away.")
    if listing.object_count == 0:
        examples = [key for keys in listing.skipped_examples.values() for key in keys][:3]
        hint = f"; found {listing.skipped_total} other keys, e.g. {examples}" if examples else ""
        raise SourceError(
            f"no Resource Data Sync objects under {source.uri}: expected keys like "
            f"{source.uri}/AWS:ComplianceItem/accountid=<12 digits>/region=<region>/"
            f"resourcetype=ManagedInstanceInventory/<i-… or mi-…>.json{hint}")
    skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(listing.skipped.items())) or "none"
    say(f"source {source.uri}: {listing.object_count} objects ({listing.total_bytes / 1e6:.1f} MB) in "
        f"{len(listing.groups)} account/Region groups; keys not read: {skipped}")
    if listing.skipped.get(rds.SKIP_SYMLINK):
        say(f"  {listing.skipped[rds.SKIP_SYMLINK]} symbolic link(s) not followed, e.g. "
            f"{listing.skipped_examples[rds.SKIP_SYMLINK][0]}")

    groups = list(listing.groups.items())
    # Three stages overlap: the next group is read while this one is parsed, and Parquet files are
    # encoded and written in the background (one writer thread keeps the writer's order). The lake's
    # catalog and tables open on that writer thread first (imports and metadata reads), while the
    # first group is read and parsed (file I/O, hashing, pyarrow and DuckDB: mostly outside the lock).
    reader, background = ThreadPoolExecutor(1, "rds-read"), ThreadPoolExecutor(1, "lake-write")
    objects_reader = BulkReader(source_fs, settings.ingest.read_threads, access)
    pending = reader.submit(read_group, objects_reader, groups[0][1])
    opening = background.submit(lake.day_writer, snapshot_date)

    def write(table_name: str, table: pa.Table, **constants: str) -> None:
        opening.result().write(table_name, table, **constants)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(load_sql("ingest/macros.sql"))
    con.register("tag_roles", _tag_roles(settings))
    invalid_counts: dict[str, dict[str, int]] = {}
    instances_parts: list[pa.Table] = []
    quarantine: list[dict[str, object]] = []
    digests: dict[str, str] = {}
    total_lines = items = 0
    try:
        with reader, background:
            writes: list[Future] = []
            for number, ((account_id, region), objects) in enumerate(groups, start=1):
                t0 = time.perf_counter()
                if opening.done():
                    opening.result()  # a lake that could not be opened fails the run now, not after the reads
                batches, group_digests = pending.result()
                if number < len(groups):
                    pending = reader.submit(read_group, objects_reader, groups[number][1])
                digests.update(zip((o.path for o in objects), group_digests, strict=True))
                result = process_group(con, account_id, region, objects, batches, settings.ingest.max_line_bytes)
                del batches
                writes.append(background.submit(write, "patch_compliance", result.patch_compliance,
                                                account_id=account_id, region=region))
                if result.invalid_values.num_rows:
                    writes.append(background.submit(write, "invalid_values", result.invalid_values,
                                                    account_id=account_id, region=region))
                    for rds_type, field_name in zip(result.invalid_values["rds_type"].to_pylist(),
                                                    result.invalid_values["field"].to_pylist(), strict=True):
                        per_type = invalid_counts.setdefault(rds_type, {})
                        per_type[field_name] = per_type.get(field_name, 0) + 1
                if result.quarantine:
                    rows = pa.Table.from_pylist(result.quarantine, schema=QUARANTINE_SCHEMA)
                    writes.append(background.submit(write, "quarantine", rows,
                                                    account_id=account_id, region=region))
                instances_parts.append(result.instances)
                quarantine += result.quarantine
                total_lines += result.lines
                items += result.patch_compliance.num_rows
                say(f"[{number}/{len(groups)}] {account_id}/{region}: {result.instances.num_rows} nodes, "
                    f"{len(objects)} objects, {result.patch_compliance.num_rows} patch items, "
                    f"{len(result.quarantine)} quarantined lines ({time.perf_counter() - t0:.2f} s)")
            for written in writes:
                written.result()
        writer = opening.result()

        share = len(quarantine) / total_lines if total_lines else 0.0
        if share > settings.ingest.max_quarantine_share:
            sample = "; ".join(f"{q['source_key']}:{q['line_number']}: {q['error']}" for q in quarantine[:3])
            raise QuarantineThresholdError(
                f"{len(quarantine)} of {total_lines} lines ({share:.2%}) are malformed, above the allowed "
                f"{settings.ingest.max_quarantine_share:.2%} (ingest.max_quarantine_share); the snapshot for "
                f"{snapshot_date} was not published. First: {sample}")
        unclassified = pa.concat_tables(instances_parts)
        if reference_time is None:
            reference_time = robust_reference_time(unclassified)
            if reference_time is None:
                raise SourceError(f"no patch data captureTime under {source.uri}; pass --reference-time")
        reference_time = reference_time.astimezone(UTC)
        instances = _classify(con, unclassified, reference_time, settings)
        writer.write("instances", instances)

        status_counts = dict.fromkeys(STATUSES, 0)
        population = instances.filter(instances["in_population"])
        for status in population["compliance_status"].to_pylist():
            status_counts[status] += 1
        record = writer.commit({
            "source": {"uri": source.uri, "objects": listing.object_count, "bytes": listing.total_bytes,
                       "skipped_keys": listing.skipped_total, "skipped": listing.skipped,
                       "other_types": listing.other_types, "objects_sha256": _sources_digest(digests)},
            "future_captures": int(pc.sum(instances["capture_in_future"]).as_py() or 0),
            "invalid_timestamps": {t: dict(sorted(f.items())) for t, f in sorted(invalid_counts.items())},
            "summary_items_mismatches": int(pc.sum(instances["summary_items_mismatch"]).as_py() or 0),
            "capture_basis": _counts(instances["capture_basis"]),
            "reference_time": reference_time.isoformat().replace("+00:00", "Z"),
            "freshness_hours": settings.ingest.freshness_hours,
            "lines": total_lines,
            "quarantined_lines": len(quarantine),
            "instances": instances.num_rows,
            "population": population.num_rows,
            "terminated": instances.num_rows - population.num_rows,
            "status_counts": status_counts,
            "seconds": round(time.perf_counter() - started, 3),
        })
    except BaseException:
        reader.shutdown(cancel_futures=True)
        background.shutdown(cancel_futures=True)
        if opening.done() and opening.exception() is None:
            opening.result().abort()
        raise
    finally:
        con.close()
    invalid = sum(n for fields in invalid_counts.values() for n in fields.values())
    if invalid:
        say(f"  {invalid} timestamp(s) did not parse and read NULL (kept in invalid_values): "
            + ", ".join(f"{t} {f} {n}" for t, fields in sorted(invalid_counts.items()) for f, n in fields.items()))
    say(f"committed snapshot {snapshot_date} to {lake.uri} (run {record.run_id}): {instances.num_rows} instances, "
        f"{items} patch items, {len(quarantine)} quarantined lines in {time.perf_counter() - started:.2f} s")
    return record.as_manifest()
