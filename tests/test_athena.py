"""The Athena path: SQL dialect checks, the DDL, and the engine against the stand-in's executing Athena.

The report, the evidence and the daily snapshot run on the stand-in's Athena (``sim/moto_ext/athena``:
the same SQL on DuckDB over the lake's Iceberg tables and the raw RDS JSON, DML committed to
Iceberg) and must give exactly what the embedded engine gives. What the stand-in does not emulate is
listed in docs/athena.md; the stand-in itself is tested in ``test_moto_ext_athena.py``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from patch_compliance.config import QuerySettings, load_settings, sql_dir
from patch_compliance.evidence import collect_evidence
from patch_compliance.ingest import ingest_snapshot
from patch_compliance.ingest_athena import RAW_TABLES, athena_snapshot, render_raw_ddl
from patch_compliance.inputs import InputError
from patch_compliance.lake import INGEST_TABLES, SPECS, TABLES, ConcurrentWriteError, Lake
from patch_compliance.query import (
    AthenaEngine,
    AthenaQueryError,
    athena_literal,
    athena_rows_to_arrow,
    engine_options,
    make_engine,
    to_duckdb,
)
from patch_compliance.report import build_report
from tests.fixtures import report_lakes as sc

pytestmark = pytest.mark.xdist_group("report_lake")

ALL_SQL = sorted(p.relative_to(sql_dir()).as_posix() for folder in ("report", "evidence", "athena")
                 for p in (sql_dir() / folder).glob("*.sql"))
QUERY_SQL = [p for p in ALL_SQL if not p.startswith("athena/")]


@pytest.mark.parametrize("relative", ALL_SQL)
def test_every_sql_file_parses_as_athena_and_trino(relative):
    # DDL placeholders are filled (from validated config) before Athena sees the text.
    text = re.sub(r"\{\{\w+\}\}", "placeholder", (sql_dir() / relative).read_text())
    for dialect in ("athena", "trino"):
        assert sqlglot.parse_one(text, read=dialect) is not None


@pytest.mark.parametrize("relative", QUERY_SQL)
def test_queries_transpile_to_duckdb_and_bind_parameters_only_as_placeholders(relative):
    text = (sql_dir() / relative).read_text()
    tree = sqlglot.parse_one(text, read="trino")
    placeholders = list(tree.find_all(exp.Placeholder))
    params = tree.find(exp.CTE)
    assert params is not None and params.alias == "params"
    assert placeholders and all(p.find_ancestor(exp.CTE) is params for p in placeholders)
    assert to_duckdb(text).count("?") == len(placeholders)


def test_a_construct_duckdb_cannot_express_is_refused_not_passed_through() -> None:
    """Strict transpilation: Trino's ``array_sort`` with a comparator has no DuckDB form: refused, not run."""
    from sqlglot.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="comparator"):
        to_duckdb("SELECT array_sort(patch_ids, (a, b) -> IF(a < b, 1, -1)) FROM instances")


def _ddl_schema(relative: str) -> tuple[list[tuple[str, str]], list[str]]:
    tree = sqlglot.parse_one((sql_dir() / relative).read_text(), read="athena")
    columns = [(c.name, c.args["kind"].sql(dialect="hive").upper()) for c in tree.this.expressions]
    partitioned = tree.find(exp.PartitionedByProperty)
    partitions = [c.name for c in partitioned.this.expressions]
    return columns, partitions


def test_lake_tables_are_iceberg_tables_in_glue_that_athena_reads_as_they_are(aws_env):
    """No lake DDL and no partition projection: pyiceberg registers each table in Glue as Iceberg."""
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="glue-lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    lake = Lake("s3://glue-lake/lake")
    assert lake.config.kind == "glue"
    lake.ensure_tables()
    glue = boto3.client("glue", region_name="eu-west-1")
    for name, schema in TABLES.items():
        table = glue.get_table(DatabaseName="patch_compliance", Name=name)["Table"]
        assert table["Parameters"]["table_type"].upper() == "ICEBERG"
        assert table["Parameters"]["metadata_location"].startswith(f"s3://glue-lake/lake/{name}/metadata/")
        assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == schema.names
        iceberg = lake.table(name)
        assert [f.name for f in iceberg.spec().fields] == list(SPECS[name].partition_by)
        assert [iceberg.schema().find_column_name(f.source_id) for f in iceberg.sort_order().fields] == list(
            SPECS[name].sort_by)
    assert not [p for p in ALL_SQL if p.startswith("athena/lake_")]


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


def test_athena_literals_and_result_conversion():
    assert athena_literal(date(2026, 11, 2)) == "'2026-11-02'"
    assert athena_literal("O'Brien") == "'O''Brien'"
    assert athena_literal(26.0) == "26.0" and athena_literal(7) == "7" and athena_literal(True) == "TRUE"
    with pytest.raises(TypeError):
        athena_literal(object())
    page = {"ResultSet": {"ResultSetMetadata": {"ColumnInfo": [
        {"Name": "d", "Type": "date"}, {"Name": "n", "Type": "bigint"}, {"Name": "t", "Type": "timestamp"},
        {"Name": "s", "Type": "varchar"}]}, "Rows": [
        {"Data": [{"VarCharValue": "d"}, {"VarCharValue": "n"}, {"VarCharValue": "t"}, {"VarCharValue": "s"}]},
        {"Data": [{"VarCharValue": "2026-11-02"}, {"VarCharValue": "3"},
                  {"VarCharValue": "2026-11-02 03:10:04.000"}, {}]}]}}
    table = athena_rows_to_arrow([page])
    assert table.to_pylist() == [{"d": date(2026, 11, 2), "n": 3,
                                  "t": datetime(2026, 11, 2, 3, 10, 4, tzinfo=UTC), "s": None}]


def test_engine_options_come_from_the_query_section_or_the_override():
    settings = load_settings()
    assert engine_options(settings) == ("duckdb", {})
    engine, athena = engine_options(settings, "athena")
    assert athena == {"database": "patch_compliance", "output_location": "s3://patch-compliance-athena-results/queries/",
                      "workgroup": "primary", "aws_conn_id": "aws_default", "region_name": "eu-west-1"}
    bare = replace(settings, query=QuerySettings())
    assert engine_options(bare, "athena")[1]["region_name"] == settings.aws.region
    with pytest.raises(InputError, match=r"needs database, output_location \(config query.athena_\*\)"):
        engine, options = engine_options(bare, "athena")
        make_engine(engine, **options)


# --- On the stand-in's executing Athena (real HTTP, real Iceberg, real DuckDB) ---

LAKE = "s3://patch-compliance-lake/lake"
RESULTS = "s3://athena-results/q/"
SNAPSHOT_DAY = date(2026, 11, 15)


@pytest.fixture
def athena(aws_env, monkeypatch) -> dict:
    """The aws connection at the stand-in, the lake and results buckets, and the engine's options."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": aws_env.endpoint_url, "region_name": "eu-west-1"}}))
    s3 = boto3.client("s3", region_name="eu-west-1")
    for bucket in ("athena-results", "patch-compliance-lake", "patch-rds-sync"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return {"database": "patch_compliance", "output_location": RESULTS, "region_name": "eu-west-1",
            "poll_seconds": 0.05}


def executions() -> list[dict]:
    client = boto3.client("athena", region_name="eu-west-1")
    ids = client.list_query_executions()["QueryExecutionIds"]
    return [client.get_query_execution(QueryExecutionId=q)["QueryExecution"] for q in ids]


def test_report_and_evidence_on_athena_equal_the_embedded_engine(athena, tmp_path):
    lake = sc.land_november(tmp_path, LAKE)
    duck_out, athena_out = tmp_path / "duck", tmp_path / "athena"
    build_report(lake.uri, "2026-11", "2026-11-15", str(duck_out))
    manifest = build_report(lake.uri, "2026-11", "2026-11-15", str(athena_out), engine="athena", athena=athena)
    for name in ("team_environment_summary.csv", "instance_status.csv", "missing_critical_patches.csv",
                 "remediation.csv"):
        assert (athena_out / name).read_text() == (duck_out / name).read_text(), name
    assert manifest["engine"] == "athena"
    queries = {q["sql"]: q for q in manifest["athena_queries"]}
    assert set(queries) == {"report/instance_status.sql", "report/missing_critical_patches.sql",
                            "report/trend.sql", "report/baselines.sql", "report/causes.sql",
                            "report/remediation.sql", "report/open_items.sql"}
    assert all(q["state"] == "SUCCEEDED" and q["data_scanned_bytes"] > 0 for q in queries.values())

    # What Athena received: the SQL file text verbatim, and the parameters as ExecutionParameters.
    by_id = {e["QueryExecutionId"]: e for e in executions()}
    status = by_id[queries["report/instance_status.sql"]["query_execution_id"]]
    status_sql = (sql_dir() / "report/instance_status.sql").read_text()
    assert status["Query"] == status_sql and status["ExecutionParameters"] == ["'2026-11-15'"]
    assert status["QueryExecutionContext"]["Database"] == "patch_compliance"
    assert status["Statistics"]["DataScannedInBytes"] == queries["report/instance_status.sql"]["data_scanned_bytes"]
    missing = by_id[queries["report/missing_critical_patches.sql"]["query_execution_id"]]
    assert missing["ExecutionParameters"] == ["'2026-11-15'", "'Security,SecurityUpdates,CriticalUpdates'",
                                              "'Critical,Important'"]
    assert manifest["sql"]["report/instance_status.sql"]["sha256"] == hashlib.sha256(status_sql.encode()).hexdigest()

    # CVE evidence through the same engine: the CVE id travels as an ExecutionParameter.
    local = collect_evidence(lake.uri, sc.CVE_FIXED)
    remote = collect_evidence(lake.uri, sc.CVE_FIXED.lower(), engine="athena", athena=athena)
    assert remote.csv == local.csv and len(remote.rows) == 2
    (query,) = remote.queries
    assert by_id.get(query["query_execution_id"]) is None  # a new execution, listed since
    assert {e["QueryExecutionId"]: e for e in executions()}[query["query_execution_id"]][
        "ExecutionParameters"] == [f"'{sc.CVE_FIXED}'"]


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


def test_a_failed_athena_query_names_the_file_the_id_and_athenas_reason(athena):
    engine = AthenaEngine(**athena)
    with pytest.raises(AthenaQueryError, match=r"^report/instance_status.sql: Athena query [0-9a-f-]{36} FAILED: "
                                               r"TABLE_NOT_FOUND: Table 'awsdatacatalog.patch_compliance.instances'"):
        boto3.client("glue", region_name="eu-west-1").create_database(DatabaseInput={"Name": "patch_compliance"})
        engine.run("report/instance_status.sql", [SNAPSHOT_DAY])
    (failed,) = engine.executions
    assert failed["state"] == "FAILED" and failed["sql"] == "report/instance_status.sql"
