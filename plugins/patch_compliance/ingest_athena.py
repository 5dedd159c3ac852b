"""The daily snapshot at fleet scale: Athena DML from the raw RDS tables straight into the Iceberg lake.

Beside ``ingest`` (the embedded DuckDB path, the default). The raw Resource Data Sync tables
(``sql/athena/rds_*.sql``) are made to describe the run's source, then the day is rewritten by
Athena itself: ``DELETE`` of the date in every table of the ingest group and ``INSERT INTO
patch_compliance`` / ``INSERT INTO instances`` (``sql/athena/snapshot_*.sql``, the same rules as the
embedded ingest), each one Iceberg commit. Nothing is read back and rewritten on the worker: the
lake's ``ExternalDay`` finds the snapshots those statements made and records the day
(docs/athena.md).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from patch_compliance.config import Settings, load_sql
from patch_compliance.inputs import InputError, parse_location
from patch_compliance.lake import INGEST_TABLES, Lake
from patch_compliance.query import AthenaEngine

RAW_TABLES = ("rds_compliance_item", "rds_compliance_summary", "rds_patch_summary", "rds_instance_information",
              "rds_tag")
DROP_RAW_TABLE = "athena/drop_raw_table.sql"
SNAPSHOT_PATCH_COMPLIANCE = "athena/snapshot_patch_compliance.sql"
SNAPSHOT_INSTANCES = "athena/snapshot_instances.sql"
FINGERPRINT = "patch_compliance.ddl_sha256"  # the table property holding the rendered DDL's SHA-256
_DDL_PLACEHOLDER_RE = re.compile(r"\{\{(\w+)\}\}")


def _fill(relative: str, text: str, values: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match[1] not in values:
            raise InputError(f"{relative}: unknown placeholder {{{{{match[1]}}}}}")
        return values[match[1]]

    return _DDL_PLACEHOLDER_RE.sub(substitute, text)


def render_raw_ddl(table: str, settings: Settings, source_uri: str) -> str:
    """A raw table's DDL over ``source_uri`` with its placeholders filled (DDL takes no bound parameters).

    Only the source location (a validated s3:// URI), the account ids and Regions (validated by
    config), the table name (one of ``RAW_TABLES``) and the text's own SHA-256 are substituted; an
    unknown placeholder is an error, so a DDL file cannot pull in anything else.
    """
    if table not in RAW_TABLES:
        raise InputError(f"unknown raw table {table!r}; known: {list(RAW_TABLES)}")
    source = parse_location(source_uri, "the Resource Data Sync source")
    if source.scheme != "s3":
        raise InputError(f"the Athena ingest reads Resource Data Sync output through raw tables over S3; "
                         f"{source.uri} is not an s3:// location (ingest it with query.engine: duckdb)")
    if not settings.accounts:
        raise InputError("the Athena tables need config accounts (their ids and Regions drive partition projection)")
    values = {"sync_uri": source.uri, "table": table, "account_ids": ",".join(a.id for a in settings.accounts),
              "regions": ",".join(sorted({r for a in settings.accounts for r in a.regions}))}
    relative = f"athena/{table}.sql"
    text = _fill(relative, load_sql(relative), {**values, "ddl_sha256": "{{ddl_sha256}}"})
    return _fill(relative, text, {"ddl_sha256": hashlib.sha256(text.encode()).hexdigest()})


def ensure_raw_tables(engine: AthenaEngine, settings: Settings, source_uri: str) -> list[str]:
    """Create the raw RDS tables, or recreate one whose DDL (or source) changed; idempotent.

    A table whose ``patch_compliance.ddl_sha256`` property matches the rendered DDL is left alone.
    Returns the ids of the statements run.
    """
    ids = []
    for table in RAW_TABLES:
        text = render_raw_ddl(table, settings, source_uri)
        wanted = re.search(rf"'{re.escape(FINGERPRINT)}' = '([0-9a-f]{{64}})'", text)
        current = engine.table_parameters(table)
        if current is not None and wanted and current.get(FINGERPRINT) == wanted[1]:
            continue
        if current is not None:
            ids.append(engine.execute(DROP_RAW_TABLE, [], _fill(DROP_RAW_TABLE, load_sql(DROP_RAW_TABLE),
                                                                 {"table": table})))
        ids.append(engine.execute(f"athena/{table}.sql", [], text))
    return ids


def _tag_keys(keys: Sequence[str]) -> str:
    if any("," in key for key in keys):
        raise InputError(f"tag keys may not contain commas: {list(keys)}")
    return ",".join(keys)


def athena_snapshot(engine: AthenaEngine, lake: Lake, snapshot_date: date, settings: Settings,
                    source_uri: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """The day's snapshot by Athena DML into the lake's Iceberg tables, then the day record.

    The reference time is the day's robust one, computed in the SQL as the embedded ingest does.
    Malformed JSON lines are read as rows of NULLs by the JSON SerDe and dropped, so this path has
    no quarantine rows. A date is replaced on a rerun; the record is refused if another run wrote or
    recorded the date meanwhile (``ConcurrentWriteError``).
    """
    started = time.perf_counter()
    source = source_uri or settings.storage.sync_uri
    lake.ensure_tables()
    first = len(engine.executions)
    ensure_raw_tables(engine, settings, source)
    day = lake.external_day(snapshot_date, run_id=run_id)
    tags = settings.tags
    for table in INGEST_TABLES:
        engine.execute(f"athena/delete_day_{table}.sql", [snapshot_date])
    engine.execute(SNAPSHOT_PATCH_COMPLIANCE, [snapshot_date, _tag_keys(tags.team), _tag_keys(tags.environment),
                                               _tag_keys(tags.patch_group)])
    engine.execute(SNAPSHOT_INSTANCES, [
        snapshot_date, float(settings.ingest.freshness_hours), float(settings.ingest.future_capture_tolerance_hours),
        _tag_keys(tags.team), _tag_keys(tags.environment), _tag_keys(tags.patch_group), _tag_keys(tags.name)])
    instances = day.read("instances", ["compliance_status", "in_population", "reference_time", "capture_in_future",
                                       "summary_items_mismatch", "capture_basis"]).to_pylist()
    if not instances:
        raise InputError(f"Athena wrote no instances for {snapshot_date} from {source} (run {day.run_id}); is the "
                         "prefix empty, or do the raw tables point at the wrong location? Nothing was recorded.")
    references = {row["reference_time"] for row in instances}
    if None in references:
        raise InputError(f"no patch data captureTime under {source} for {snapshot_date}: no reference time, so "
                         "every node would read STALE; nothing was recorded")
    (reference,) = references
    record = day.commit(_details(instances, reference, engine.executions[first:], source, settings, started))
    return record.as_manifest()


def _details(instances: list[dict[str, Any]], reference: datetime, executions: list[dict[str, Any]], source: str,
             settings: Settings, started: float) -> dict[str, Any]:
    """The day record's facts, with the same keys as the embedded ingest's where they apply."""
    population = [row for row in instances if row["in_population"]]
    statuses = dict.fromkeys(("COMPLIANT", "NON_COMPLIANT", "STALE", "NO_DATA", "STOPPED"), 0)
    for row in population:
        statuses[row["compliance_status"]] += 1
    bases: dict[str, int] = {}
    for row in instances:
        bases[row["capture_basis"] or "none"] = bases.get(row["capture_basis"] or "none", 0) + 1
    return {
        "engine": "athena", "athena_queries": executions, "source": {"uri": parse_location(source).uri},
        "reference_time": reference.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "freshness_hours": settings.ingest.freshness_hours, "quarantined_lines": 0,
        "future_captures": sum(1 for row in instances if row["capture_in_future"]),
        "summary_items_mismatches": sum(1 for row in instances if row["summary_items_mismatch"]),
        "capture_basis": dict(sorted(bases.items())), "instances": len(instances), "population": len(population),
        "terminated": len(instances) - len(population), "status_counts": statuses,
        "athena_data_scanned_bytes": sum(e["data_scanned_bytes"] for e in executions),
        "seconds": round(time.perf_counter() - started, 3),
    }
