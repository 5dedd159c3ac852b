"""The query engines (patch_compliance.query): the SQL files' dialect, their transpilation to DuckDB, Athena's
literals and results, and the Athena engine on the stand-in's executing Athena.

The report and the evidence run on the stand-in's Athena (``sim/moto_ext/athena``: the same SQL on
DuckDB over the lake's Iceberg tables and the raw RDS JSON) and must give exactly what the embedded
engine gives. What the stand-in does not emulate is listed in docs/athena.md; the stand-in itself is
tested in ``test_moto_ext_athena.py``, the daily snapshot on Athena in ``test_ingest_athena.py``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import pytest
import sqlglot

from patch_compliance.config import QuerySettings, load_settings, sql_dir
from patch_compliance.evidence import collect_evidence
from patch_compliance.inputs import DataCheckError, InputError
from patch_compliance.query import (
    AthenaEngine,
    AthenaQueryError,
    athena_literal,
    athena_rows_to_arrow,
    engine_options,
    make_engine,
)
from patch_compliance.report import build_report
from tests.fixtures import report_lakes as sc
from tests.fixtures.athena_stand_in import ALL_SQL, LAKE, SNAPSHOT_DAY, athena_options, executions

pytestmark = pytest.mark.xdist_group("report_lake")

QUERY_SQL = [p for p in ALL_SQL if not p.startswith("athena/")]


@pytest.mark.parametrize("relative", ALL_SQL)
def test_every_sql_file_parses_as_athena_and_trino(relative):
    # DDL placeholders are filled (from validated config) before Athena sees the text.
    text = re.sub(r"\{\{\w+\}\}", "placeholder", (sql_dir() / relative).read_text())
    for dialect in ("athena", "trino"):
        assert sqlglot.parse_one(text, read=dialect) is not None


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


@pytest.fixture
def athena(aws_env, monkeypatch) -> dict:
    return athena_options(aws_env, monkeypatch)


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


def test_a_failed_athena_query_names_the_file_the_id_and_athenas_reason(athena):
    engine = AthenaEngine(**athena)
    with pytest.raises(AthenaQueryError, match=r"^report/instance_status.sql: Athena query [0-9a-f-]{36} FAILED: "
                                               r"TABLE_NOT_FOUND: Table 'awsdatacatalog.patch_compliance.instances'"):
        boto3.client("glue", region_name="eu-west-1").create_database(DatabaseInput={"Name": "patch_compliance"})
        engine.run("report/instance_status.sql", [SNAPSHOT_DAY])
    (failed,) = engine.executions
    assert failed["state"] == "FAILED" and failed["sql"] == "report/instance_status.sql"


def test_the_embedded_engine_reads_an_s3_lake_from_copies_checked_against_the_day_records(aws_env, tmp_path):
    """DuckDB reads local copies (no Python filesystem in its scan threads); a file whose bytes differ from its
    record is fetched again, then refused with its path, never read into a report."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="checked-lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    day = sc.DAYS[1]
    lake = sc.land(tmp_path, {day: sc.november_nodes(day)}, "s3://checked-lake/lake")
    entries = lake.committed_file_entries("patch_compliance")
    engine = make_engine("duckdb", lake)
    copies = engine._local_files(entries)
    for entry, copy in zip(entries, copies, strict=True):
        bucket, _, key = lake.fs_path(entry["path"]).partition("/")
        data = Path(copy).read_bytes()
        assert data == s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    rows = engine.run("report/instance_status.sql", [day], scope={"instances": [lake.record(day, "instances")]})
    local = sc.land(tmp_path / "local", {day: sc.november_nodes(day)})  # the same day in a local lake
    expected = make_engine("duckdb", local).run("report/instance_status.sql", [day],
                                                scope={"instances": [local.record(day, "instances")]})
    assert rows.num_rows > 0 and rows.to_pylist() == expected.to_pylist()
    engine.close()
    assert not any(Path(c).exists() for c in copies)  # the scratch copies go with the engine

    bucket, _, key = lake.fs_path(entries[0]["path"]).partition("/")
    s3.put_object(Bucket=bucket, Key=key, Body=b"PAR1 not the committed file PAR1")
    with pytest.raises(DataCheckError, match=re.escape(entries[0]["path"])):
        make_engine("duckdb", lake)._local_files(entries)
