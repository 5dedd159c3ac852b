"""The daily snapshot at fleet scale: Athena reads the raw RDS tables and the lake's day writer publishes.

Beside ``ingest`` (the embedded DuckDB path, the default): the same snapshot SQL in the Athena
dialect (``sql/athena/snapshot_*.sql``) run by Athena's ``INSERT INTO`` through the query engine,
then published into the Iceberg tables exactly as an embedded ingest would (docs/athena.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

from patch_compliance.config import Settings
from patch_compliance.inputs import InputError
from patch_compliance.lake import Lake
from patch_compliance.query import AthenaEngine


def _tag_keys(keys: Sequence[str]) -> str:
    if any("," in key for key in keys):
        raise InputError(f"tag keys may not contain commas: {list(keys)}")
    return ",".join(keys)


def athena_snapshot(engine: AthenaEngine, lake: Lake, snapshot_date: date, reference_time: datetime,
                    settings: Settings, run_id: str | None = None) -> dict[str, object]:
    """The daily snapshot at fleet scale: Athena INSERT INTO from the raw RDS tables, then publish.

    Athena writes Parquet under ``<lake>/_athena_staging/<table>/run_id=…``; those files are then
    published into the Iceberg tables by the lake's own day writer (contract schema, checksums,
    one commit per table and the day record) and the staging files are removed. A re-run replaces
    the date, as the embedded ingest does. Malformed JSON lines are skipped by the JSON SerDe
    (``ignore.malformed.json``), so this path has no quarantine rows.
    """
    import pyarrow.dataset as ds

    from patch_compliance.lake import SPECS
    from patch_compliance.storage import delete_files, list_files

    writer = lake.day_writer(snapshot_date, run_id=run_id)
    run_id = writer.run_id
    if not re.fullmatch(r"[0-9A-Za-z-]{8,64}", run_id):
        raise InputError(f"run id must be 8-64 letters, digits or dashes, got {run_id!r}")
    tags = settings.tags
    reference_time = reference_time.astimezone(UTC).replace(tzinfo=None)
    query_ids = [
        engine.execute("athena/snapshot_patch_compliance.sql", [
            run_id, snapshot_date, _tag_keys(tags.team), _tag_keys(tags.environment), _tag_keys(tags.patch_group)]),
        engine.execute("athena/snapshot_instances.sql", [
            run_id, snapshot_date, reference_time, float(settings.ingest.freshness_hours),
            float(settings.ingest.future_capture_tolerance_hours), _tag_keys(tags.team),
            _tag_keys(tags.environment), _tag_keys(tags.patch_group), _tag_keys(tags.name)]),
    ]
    counts: dict[str, int] = {}
    staged: list[str] = []
    for table in ("patch_compliance", "instances"):
        base = lake.location.join("_athena_staging", table, f"run_id={run_id}",
                                  f"snapshot_date={snapshot_date.isoformat()}")
        files = [info.path for info in list_files(lake.fs, base) if not info.base_name.startswith((".", "_"))]
        staged += files
        partitions: dict[tuple[str, str], list[str]] = {}
        for path in files:
            match = re.search(r"account_id=(\d{12})/region=([a-z0-9-]+)/", path)
            if not match:
                raise InputError(f"unexpected staging file {path}: no account_id=/region= partition")
            partitions.setdefault((match[1], match[2]), []).append(path)
        counts[table] = 0
        for (account_id, region), paths in sorted(partitions.items()):
            data = ds.dataset(paths, format="parquet", filesystem=lake.fs).to_table()
            schema = SPECS[table].row_schema
            data = data.select(schema.names).cast(schema)
            writer.write(table, data, account_id=account_id, region=region)
            counts[table] += data.num_rows
    if not counts["instances"]:
        raise InputError(f"Athena wrote no instances for {snapshot_date} (run {run_id}); is the sync prefix "
                         f"empty, or do the raw tables point at the wrong location? Nothing was published.")
    record = writer.commit({"engine": "athena", "athena_query_ids": query_ids, "athena_run_id": run_id,
                            "reference_time": reference_time.isoformat() + "Z",
                            "freshness_hours": settings.ingest.freshness_hours, "rows": counts})
    delete_files(lake.fs, staged)
    return record.as_manifest()
