"""The daily snapshot on Athena (patch_compliance.ingest_athena): the raw tables' DDL and the snapshot's SQL, and
the day Athena writes on the stand-in's executing Athena, row for row the embedded ingest's."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import boto3
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from patch_compliance.config import load_settings, sql_dir
from patch_compliance.ingest import ingest_snapshot
from patch_compliance.ingest_athena import RAW_TABLES, athena_snapshot, render_raw_ddl
from patch_compliance.inputs import InputError
from patch_compliance.lake import INGEST_TABLES, SPECS, ConcurrentWriteError, Lake
from patch_compliance.query import AthenaEngine
from patch_compliance.report import build_report
from tests.fixtures import report_lakes as sc
from tests.fixtures.athena_stand_in import LAKE, SNAPSHOT_DAY, athena_options, executions

pytestmark = pytest.mark.xdist_group("report_lake")


@pytest.fixture
def athena(aws_env, monkeypatch) -> dict:
    return athena_options(aws_env, monkeypatch)


def _ddl_schema(relative: str) -> tuple[list[tuple[str, str]], list[str]]:
    tree = sqlglot.parse_one((sql_dir() / relative).read_text(), read="athena")
    columns = [(c.name, c.args["kind"].sql(dialect="hive").upper()) for c in tree.this.expressions]
    partitioned = tree.find(exp.PartitionedByProperty)
    partitions = [c.name for c in partitioned.this.expressions]
    return columns, partitions


def test_rds_ddl_avoids_the_duplicate_resourcetype_column():
    for table in RAW_TABLES:
        relative = f"athena/{table}.sql"
        columns, partitions = _ddl_schema(relative)
        assert partitions == ["accountid", "region", "resourcetype"]
        assert "resourcetype" not in {name for name, _ in columns}
        assert {"resourceid", "capturetime"} <= {name for name, _ in columns}
        text = (sql_dir() / relative).read_text()
        assert "'projection.resourcetype.values' = 'ManagedInstanceInventory'" in text
        assert "org.openx.data.jsonserde.JsonSerDe" in text


def test_render_ddl_fills_only_validated_config_values_and_its_own_fingerprint():
    settings = load_settings()
    text = render_raw_ddl("rds_compliance_item", settings, settings.storage.sync_uri)
    assert "{{" not in text
    assert "'projection.accountid.values' = '111111111111,222222222222,333333333333'" in text
    assert "LOCATION 's3://patch-rds-sync/rds/AWS:ComplianceItem/'" in text
    sqlglot.parse_one(text, read="athena")
    fingerprint = re.search(r"'patch_compliance.ddl_sha256' = '([0-9a-f]{64})'", text)[1]
    unfilled = text.replace(fingerprint, "{{ddl_sha256}}")
    assert hashlib.sha256(unfilled.encode()).hexdigest() == fingerprint
    other = render_raw_ddl("rds_compliance_item", settings, "s3://kept-copies/2026-11-20")
    assert "LOCATION 's3://kept-copies/2026-11-20/AWS:ComplianceItem/'" in other and fingerprint not in other
    with pytest.raises(InputError, match="not an s3:// location"):
        render_raw_ddl("rds_compliance_item", settings, "/tmp/kept")
    with pytest.raises(InputError, match="unknown raw table"):
        render_raw_ddl("instances", settings, settings.storage.sync_uri)


@pytest.mark.parametrize("relative", ["athena/snapshot_patch_compliance.sql", "athena/snapshot_instances.sql"])
def test_the_snapshot_inserts_name_every_lake_column_once_in_the_order_they_select(relative):
    tree = sqlglot.parse_one((sql_dir() / relative).read_text(), read="athena")
    target = tree.this.this.name
    listed = [c.name for c in tree.this.expressions]
    selected = [e.alias_or_name for e in tree.expression.expressions]
    assert sorted(listed) == sorted(SPECS[target].schema.names)
    assert selected == listed


def _normalised(table: pa.Table) -> list[dict]:
    """Rows in a stable order, map entries sorted: the same day whichever engine wrote it."""
    rows = table.to_pylist()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, list) and value and isinstance(value[0], tuple):
                row[key] = sorted(value)
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def upload(tree: Path, prefix: str) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    for path in sorted(tree.rglob("*.json")):
        s3.upload_file(str(path), "patch-rds-sync", f"{prefix}/{path.relative_to(tree).as_posix()}")


def test_the_athena_snapshot_is_the_embedded_ingests_day_recorded_like_it(athena, tmp_path):
    """DELETE + INSERT INTO on Athena equal the embedded ingest row for row; the record lists Athena's snapshots."""
    source = tmp_path / "rds"
    sc.write_rds_day(source, SNAPSHOT_DAY, sc.november_nodes(SNAPSHOT_DAY))
    upload(source, "rds")
    settings = load_settings()
    engine = AthenaEngine(**athena)
    lake = Lake(LAKE)
    manifest = athena_snapshot(engine, lake, SNAPSHOT_DAY, settings)
    ingest_snapshot(str(source), str(tmp_path / "embedded"), SNAPSHOT_DAY)  # the robust reference time, too
    embedded = Lake(str(tmp_path / "embedded"))
    for table in ("patch_compliance", "instances"):
        assert _normalised(lake.read(table, [SNAPSHOT_DAY])) == _normalised(embedded.read(table, [SNAPSHOT_DAY]))
        assert lake.read(table, [SNAPSHOT_DAY]).num_rows > 5
    assert manifest["reference_time"] == embedded.manifest(SNAPSHOT_DAY)["reference_time"]
    assert manifest["status_counts"] == embedded.manifest(SNAPSHOT_DAY)["status_counts"]

    record = lake.record(SNAPSHOT_DAY)
    assert record.details["engine"] == "athena" and record.rows("quarantine") == 0
    for table in ("patch_compliance", "instances"):
        iceberg = lake.table(table, refresh=True)
        version = record.tables[table]
        assert iceberg.metadata.snapshot_by_id(version["iceberg_snapshot_id"]) is not None
        assert {f["path"] for f in version["files"]} == {t.file.file_path for t in iceberg.scan(
            snapshot_id=version["iceberg_snapshot_id"]).plan_files()}
    sqls = [q["sql"] for q in manifest["athena_queries"]]
    assert sqls == [*(f"athena/{t}.sql" for t in RAW_TABLES), *(f"athena/delete_day_{t}.sql" for t in INGEST_TABLES),
                    "athena/snapshot_patch_compliance.sql", "athena/snapshot_instances.sql"]
    insert = {e["QueryExecutionId"]: e for e in executions()}[manifest["athena_queries"][-1]["query_execution_id"]]
    assert insert["ExecutionParameters"] == ["'2026-11-15'", "26.0", "2.0", "'Team'", "'Environment'",
                                             "'PatchGroup,Patch Group'", "'Name'"]
    assert insert["Statistics"]["DataScannedInBytes"] > 0

    # A rerun replaces the day (the raw tables are left alone: their DDL did not change).
    again = athena_snapshot(AthenaEngine(**athena), lake, SNAPSHOT_DAY, settings)
    assert again["athena_queries"][0]["sql"] == "athena/delete_day_patch_compliance.sql"
    assert lake.record(SNAPSHOT_DAY).run_id == again["run_id"] != manifest["run_id"]
    assert _normalised(lake.read("instances", [SNAPSHOT_DAY])) == _normalised(embedded.read("instances",
                                                                                         [SNAPSHOT_DAY]))
    # An archived copy elsewhere: the raw tables are pointed at it (dropped and created again).
    upload(source, "kept/2026-11-15")
    kept = athena_snapshot(AthenaEngine(**athena), lake, SNAPSHOT_DAY, settings, "s3://patch-rds-sync/kept/2026-11-15")
    assert [q["sql"] for q in kept["athena_queries"]][:2] == ["athena/drop_raw_table.sql",
                                                              "athena/rds_compliance_item.sql"]
    assert kept["source"] == {"uri": "s3://patch-rds-sync/kept/2026-11-15"}

    # The embedded engine reads the Athena-written day through its record, like any other.
    build_report(lake.uri, "2026-11", None, str(tmp_path / "report"))
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report" / "instance_status.csv").read_text())))
    assert {r["instance_id"] for r in rows} == {r["instance_id"] for r in embedded.read("instances").to_pylist()
                                                if r["in_population"]}


def test_a_second_writer_of_the_date_is_refused_and_the_winners_day_stands(athena, tmp_path):
    source = tmp_path / "rds"
    sc.write_rds_day(source, SNAPSHOT_DAY, sc.november_nodes(SNAPSHOT_DAY))
    upload(source, "rds")
    settings = load_settings()
    lake = Lake(LAKE)
    lake.ensure_tables()
    engine = AthenaEngine(**athena)
    loser = lake.external_day(SNAPSHOT_DAY, run_id="20261115T030000-loser001")
    winner = athena_snapshot(engine, lake, SNAPSHOT_DAY, settings)
    with pytest.raises(ConcurrentWriteError, match=r"committed by run .* while run 20261115T030000-loser001"):
        loser.commit({})
    # Its own INSERT after the winner's: two writers of the date since it began.
    late = lake.external_day(SNAPSHOT_DAY, run_id="20261115T030000-late0001")
    tags = settings.tags
    for _ in range(2):
        engine.execute("athena/snapshot_patch_compliance.sql", [SNAPSHOT_DAY, ",".join(tags.team),
                                                                ",".join(tags.environment), ",".join(tags.patch_group)])
    with pytest.raises(ConcurrentWriteError, match="2 commits added patch_compliance rows for this date"):
        late.locate()
    assert lake.record(SNAPSHOT_DAY).run_id == winner["run_id"]
