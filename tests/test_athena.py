"""The Athena path: SQL dialect checks, the snapshot SQL run locally, and the engine against moto's Athena.

What cannot be tested here: moto's Athena executes nothing, so the report queries' results are
queued (taken from the DuckDB run of the same SQL) and the INSERT INTO's output files are placed
where Athena would write them (produced by running the same INSERT on DuckDB). Partition
projection, the JSON SerDe and Athena's own type handling are only exercised on real Athena.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import urllib.request
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from patch_compliance import rds
from patch_compliance.config import QuerySettings, load_settings, sql_dir
from patch_compliance.evidence import collect_evidence
from patch_compliance.ingest_athena import athena_snapshot
from patch_compliance.inputs import InputError
from patch_compliance.lake import SPECS, TABLES, Lake
from patch_compliance.query import (
    ATHENA_DDL_ORDER,
    AthenaEngine,
    DuckDBEngine,
    athena_literal,
    athena_rows_to_arrow,
    create_athena_tables,
    engine_options,
    make_engine,
    render_athena_ddl,
    to_duckdb,
)
from patch_compliance.report import build_report
from patch_compliance.report_causes import policy_facts
from patch_compliance.storage import list_files, open_location
from tests.fixtures import report_lakes as sc

pytestmark = pytest.mark.xdist_group("report_lake")

ALL_SQL = sorted(p.relative_to(sql_dir()).as_posix() for folder in ("report", "evidence", "athena")
                 for p in (sql_dir() / folder).glob("*.sql"))
QUERY_SQL = [p for p in ALL_SQL if not p.startswith("athena/")]
HIVE_TYPES = {"STRING": pa.string(), "TIMESTAMP": pa.timestamp("us", tz="UTC"), "BIGINT": pa.int64(),
              "BOOLEAN": pa.bool_(), "DATE": pa.date32(), "MAP<STRING, STRING>": pa.map_(pa.string(), pa.string()),
              "ARRAY<STRING>": pa.list_(pa.string())}


@pytest.mark.parametrize("relative", ALL_SQL)
def test_every_sql_file_parses_as_athena_and_trino(relative):
    text = (sql_dir() / relative).read_text()
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
    for relative in ATHENA_DDL_ORDER:
        if not relative.startswith("athena/rds_"):
            continue
        columns, partitions = _ddl_schema(relative)
        assert partitions == ["accountid", "region", "resourcetype"]
        assert "resourcetype" not in {name for name, _ in columns}
        assert {"resourceid", "capturetime"} <= {name for name, _ in columns}
        text = (sql_dir() / relative).read_text()
        assert "'projection.resourcetype.values' = 'ManagedInstanceInventory'" in text
        assert "org.openx.data.jsonserde.JsonSerDe" in text


def test_render_ddl_fills_only_validated_config_values():
    settings = load_settings()
    text = render_athena_ddl("athena/rds_compliance_item.sql", settings, date(2026, 1, 1))
    assert "{{" not in text
    assert "'projection.accountid.values' = '111111111111,222222222222,333333333333'" in text
    assert "LOCATION 's3://patch-rds-sync/rds/AWS:ComplianceItem/'" in text
    sqlglot.parse_one(text, read="athena")
    local = replace(settings, storage=replace(settings.storage, lake_uri="/tmp/lake"))
    with pytest.raises(InputError, match="need s3://"):
        render_athena_ddl("athena/rds_compliance_item.sql", local, date(2026, 1, 1))


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


# --- The snapshot INSERT INTO, run on DuckDB over the same RDS JSON the embedded ingest reads ---

RAW_TYPES = {"rds_compliance_item": rds.COMPLIANCE_ITEM, "rds_compliance_summary": rds.COMPLIANCE_SUMMARY,
             "rds_patch_summary": rds.PATCH_SUMMARY, "rds_instance_information": rds.INSTANCE_INFORMATION,
             "rds_tag": rds.TAG}
SNAPSHOT_DAY = date(2026, 11, 15)


def raw_tables(source: Path) -> dict[str, pa.Table]:
    """The raw RDS tables as Athena's JSON SerDe presents them: lower-case string columns + key partitions."""
    location, fs = open_location(str(source))
    listing = rds.list_source(fs, location.fs_path)
    tables = {}
    for name, rds_type in RAW_TYPES.items():
        columns = [c for c, _ in _ddl_schema(f"athena/{name}.sql")[0]]
        rows = []
        for (account_id, region), objects in listing.groups.items():
            for obj in objects:
                if obj.rds_type != rds_type:
                    continue
                for line in Path(obj.path).read_text().splitlines():
                    record = {k.lower(): v for k, v in json.loads(line).items()}
                    if "resourcetype" in record:
                        record["node_resource_type"] = record.pop("resourcetype")
                    rows.append({**{c: record.get(c) for c in columns}, "accountid": account_id, "region": region,
                                 "resourcetype": "ManagedInstanceInventory"})
        schema = pa.schema([(c, pa.string()) for c in [*columns, "accountid", "region", "resourcetype"]])
        tables[name] = pa.Table.from_pylist(rows, schema=schema)
    return tables


def run_snapshot_sql_on_duckdb(source: Path, run_id: str) -> dict[str, pa.Table]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # Trino's MAP_AGG has no DuckDB namesake; this macro is the only local stand-in.
    con.execute("CREATE MACRO map_agg(k, v) AS map_from_entries(list(struct_pack(k := k, v := v)))")
    for name, table in raw_tables(source).items():
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
    staging_extra = [("run_id", pa.string()), ("snapshot_date", pa.date32()), ("account_id", pa.string()),
                     ("region", pa.string())]
    for name in ("patch_compliance", "instances"):
        con.register("empty", pa.schema([*SPECS[name].row_schema, *staging_extra]).empty_table())
        con.execute(f"CREATE TABLE staging_{name} AS SELECT * FROM empty")
    tags = load_settings().tags
    con.execute(to_duckdb((sql_dir() / "athena/snapshot_patch_compliance.sql").read_text()),
                [run_id, SNAPSHOT_DAY, ",".join(tags.team), ",".join(tags.environment), ",".join(tags.patch_group)])
    con.execute(to_duckdb((sql_dir() / "athena/snapshot_instances.sql").read_text()),
                [run_id, SNAPSHOT_DAY, sc.reference_time(SNAPSHOT_DAY).replace(tzinfo=None), 26.0, 2.0,
                 ",".join(tags.team), ",".join(tags.environment), ",".join(tags.patch_group), ",".join(tags.name)])
    return {name: con.sql(f"SELECT * FROM staging_{name}").to_arrow_table()
            for name in ("patch_compliance", "instances")}


def _normalised(table: pa.Table, columns: list[str], key: list[str]) -> list[dict]:
    rows = table.select(columns).to_pylist()
    for row in rows:
        for k, v in row.items():
            if isinstance(v, list) and v and isinstance(v[0], tuple):
                row[k] = sorted(v)
            elif isinstance(v, datetime):
                row[k] = v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: tuple(str(r[c]) for c in key))


@pytest.fixture(scope="module")
def snapshot_fixture(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("athena-snapshot")
    source = tmp / "rds"
    sc.write_rds_day(source, SNAPSHOT_DAY, sc.november_nodes(SNAPSHOT_DAY))
    embedded = sc.land(tmp / "embedded", {SNAPSHOT_DAY: sc.november_nodes(SNAPSHOT_DAY)})
    return source, embedded, run_snapshot_sql_on_duckdb(source, "20261115T030000-athena01")


@pytest.mark.parametrize("table", ["patch_compliance", "instances"])
def test_athena_snapshot_sql_equals_the_embedded_ingest(snapshot_fixture, table):
    _, embedded, staged = snapshot_fixture
    lake_rows = embedded.read(table, [SNAPSHOT_DAY])
    columns = SPECS[table].undated_schema.names
    key = ["account_id", "instance_id", "patch_id"] if table == "patch_compliance" else ["account_id", "instance_id"]
    expected = _normalised(lake_rows, columns, key)
    actual = _normalised(staged[table], columns, key)
    assert len(actual) == len(expected) > 5
    for got, want in zip(actual, expected, strict=True):
        assert got == want


# --- The engine against moto's Athena (real HTTP) ---

def queue_athena_results(endpoint: str, tables: list[pa.Table]) -> None:
    """Queue results on moto's Athena, in Athena's wire format (header row, all values as strings)."""
    def cell(value):
        if value is None:
            return {}
        if isinstance(value, datetime):
            return {"VarCharValue": value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]}
        if isinstance(value, bool):
            return {"VarCharValue": "true" if value else "false"}
        return {"VarCharValue": str(value)}

    def athena_type(arrow_type: pa.DataType) -> str:
        return ("date" if pa.types.is_date(arrow_type) else "timestamp" if pa.types.is_timestamp(arrow_type)
                else "bigint" if pa.types.is_integer(arrow_type) else "boolean" if pa.types.is_boolean(arrow_type)
                else "varchar")

    results = []
    for table in tables:
        header = [{"Data": [{"VarCharValue": name} for name in table.column_names]}]
        rows = [{"Data": [cell(row[c]) for c in table.column_names]} for row in table.to_pylist()]
        results.append({"rows": header + rows, "column_info": [
            {"Name": f.name, "Label": f.name, "Type": athena_type(f.type), "CatalogName": "hive", "SchemaName": "",
             "TableName": "", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True}
            for f in table.schema]})
    body = json.dumps({"account_id": "123456789012", "region": "eu-west-1", "results": results}).encode()
    request = urllib.request.Request(  # noqa: S310 - the local moto server
        f"{endpoint}/moto-api/static/athena/query-results", method="POST", data=body,
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:  # noqa: S310 - the local moto server
        assert response.status == 201


@pytest.fixture
def athena_engine(aws_env, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": aws_env.endpoint_url, "region_name": "eu-west-1"}}))
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="athena-results", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return AthenaEngine(database="patch_compliance", output_location="s3://athena-results/q/", region_name="eu-west-1",
                        poll_seconds=0.05)


def test_report_through_athena_engine_matches_duckdb(athena_engine, aws_env, tmp_path):
    lake = sc.land_november(tmp_path)
    settings = load_settings()
    duck_out, athena_out = tmp_path / "duck", tmp_path / "athena"
    build_report(lake.uri, "2026-11", "2026-11-15", str(duck_out))
    # Queue, in the order the report runs them, what Athena would return: the DuckDB results.
    duck = DuckDBEngine(lake)
    d = date(2026, 11, 15)
    critical = [",".join(settings.report.critical_classifications), ",".join(settings.report.critical_severities)]
    history = [x for x in lake.snapshot_dates() if x <= d]
    queue_athena_results(aws_env.endpoint_url, [
        duck.run("report/instance_status.sql", [d], {"instances": [d], "ec2_inventory": [d]}),
        duck.run("report/missing_critical_patches.sql", [d, *critical],
                 {"patch_compliance": history, "instances": [d], "patch_catalog": [date(2026, 11, 1)]}),
        duck.run("report/trend.sql", [date(2026, 11, 1), d], {"instances": [x for x in sc.DAYS if x.month == 11
                                                                          and x <= d],
                                                           "ec2_inventory": list(sc.INVENTORY_DAYS)}),
        duck.run("report/baselines.sql", [d], {"baselines": [date(2026, 11, 1)]}),
        duck.run("report/causes.sql", [d, *policy_facts(settings, d).sql_params()],
                 {"patch_compliance": history, "instances": [d], "ec2_inventory": [d],
                  "baselines": [date(2026, 11, 1)]}),
        duck.run("report/remediation.sql", [d, *critical],
                 {"patch_compliance": history, "patch_catalog": [date(2026, 11, 1)]}),
        duck.run("report/open_items.sql", [d], {"patch_compliance": [d], "instances": [d]}),
    ])
    manifest = build_report(lake.uri, "2026-11", "2026-11-15", str(athena_out), engine="athena", athena={
        "database": "patch_compliance", "output_location": "s3://athena-results/q/", "region_name": "eu-west-1",
        "poll_seconds": 0.05})
    for name in ("team_environment_summary.csv", "instance_status.csv", "missing_critical_patches.csv",
                 "remediation.csv", "teams/payments/instance_status.csv"):
        assert (athena_out / name).read_text() == (duck_out / name).read_text(), name
    assert manifest["engine"] == "athena"
    # What Athena received: the SQL file text verbatim, and the parameters as ExecutionParameters.
    client = boto3.client("athena", region_name="eu-west-1")
    executions = [client.get_query_execution(QueryExecutionId=q)["QueryExecution"]
                  for q in client.list_query_executions()["QueryExecutionIds"]]
    by_text = {e["Query"]: e for e in executions}
    status_sql = (sql_dir() / "report/instance_status.sql").read_text()
    assert by_text[status_sql]["ExecutionParameters"] == ["'2026-11-15'"]
    assert by_text[status_sql]["QueryExecutionContext"]["Database"] == "patch_compliance"
    missing_sql = (sql_dir() / "report/missing_critical_patches.sql").read_text()
    assert by_text[missing_sql]["ExecutionParameters"] == [
        "'2026-11-15'", "'Security,SecurityUpdates,CriticalUpdates'", "'Critical,Important'"]
    assert manifest["sql"]["report/instance_status.sql"]["sha256"] == hashlib.sha256(status_sql.encode()).hexdigest()

    # CVE evidence through the same engine: the CVE id travels as an ExecutionParameter.
    local = collect_evidence(lake.uri, sc.CVE_FIXED)
    queue_athena_results(aws_env.endpoint_url, [duck.run("evidence/cve_evidence.sql", [sc.CVE_FIXED], {
        "patch_compliance": lake.snapshot_dates(), "patch_catalog": lake.snapshot_dates("patch_catalog")})])
    remote = collect_evidence(lake.uri, sc.CVE_FIXED.lower(), engine="athena", athena={
        "database": "patch_compliance", "output_location": "s3://athena-results/q/", "region_name": "eu-west-1",
        "poll_seconds": 0.05})
    assert remote.csv == local.csv and len(remote.rows) == 2
    evidence_sql = (sql_dir() / "evidence/cve_evidence.sql").read_text()
    executions = [client.get_query_execution(QueryExecutionId=q)["QueryExecution"]
                  for q in client.list_query_executions()["QueryExecutionIds"]]
    assert [e["ExecutionParameters"] for e in executions if e["Query"] == evidence_sql] == [[f"'{sc.CVE_FIXED}'"]]


def test_create_tables_and_athena_snapshot_publish_a_lake_snapshot(athena_engine, aws_env, snapshot_fixture):
    _, embedded, staged = snapshot_fixture
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="patch-compliance-lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    settings = load_settings()
    ddl_ids = create_athena_tables(athena_engine, settings, date(2026, 1, 1))
    assert len(ddl_ids) == len(ATHENA_DDL_ORDER)

    # Place, where Athena's INSERT INTO writes, the files that the same INSERT produced on DuckDB
    # (timestamps as INT96, as Hive-style Parquet writers do).
    run_id = "20261115T030000-athena01"
    for table, rows in staged.items():
        for (account_id, region) in {(r["account_id"], r["region"]) for r in rows.select(["account_id", "region"])
                                     .to_pylist()}:
            part = rows.filter(pc.and_(pc.equal(rows["account_id"], account_id), pc.equal(rows["region"], region)))
            part = part.select(SPECS[table].row_schema.names)
            buffer = io.BytesIO()
            pq.write_table(part, buffer, use_deprecated_int96_timestamps=True)
            s3.put_object(Bucket="patch-compliance-lake", Body=buffer.getvalue(),
                          Key=f"lake/_athena_staging/{table}/run_id={run_id}/snapshot_date=2026-11-15/"
                              f"account_id={account_id}/region={region}/20261115_000{len(account_id)}_part0")
    lake = Lake("s3://patch-compliance-lake/lake")
    manifest = athena_snapshot(athena_engine, lake, SNAPSHOT_DAY, sc.reference_time(SNAPSHOT_DAY), settings,
                               run_id=run_id)
    assert manifest["engine"] == "athena" and len(manifest["athena_query_ids"]) == 2
    assert lake.snapshot_dates() == [SNAPSHOT_DAY]
    for table in ("patch_compliance", "instances"):
        columns = SPECS[table].undated_schema.names
        key = ["account_id", "instance_id", "patch_id"][: 3 if table == "patch_compliance" else 2]
        assert _normalised(lake.read(table), columns, key) == _normalised(embedded.read(table), columns, key)
    assert not list_files(lake.fs, lake.location.join("_athena_staging"))
    client = boto3.client("athena", region_name="eu-west-1")
    insert = client.get_query_execution(QueryExecutionId=manifest["athena_query_ids"][1])["QueryExecution"]
    assert insert["Query"].startswith("-- Daily snapshot on Athena")
    assert insert["ExecutionParameters"][:4] == [f"'{run_id}'", "'2026-11-15'", "'2026-11-15 03:00:00.000000'",
                                                 "26.0"]

    # A report over the published S3 lake, on DuckDB, reads it like any other snapshot; it can write to S3.
    build_report(lake.uri, "2026-11", None, "s3://patch-compliance-lake/reports/2026-11")
    body = s3.get_object(Bucket="patch-compliance-lake", Key="reports/2026-11/instance_status.csv")["Body"].read()
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert {r["instance_id"] for r in rows} == {r["instance_id"] for r in embedded.read("instances").to_pylist()
                                                if r["in_population"]}
    listed = s3.list_objects_v2(Bucket="patch-compliance-lake", Prefix="reports/2026-11/")["Contents"]
    assert {o["Key"].removeprefix("reports/2026-11/") for o in listed
            if not o["Key"].endswith("/") and "/teams/" not in o["Key"]} == {
        "team_environment_summary.csv", "instance_status.csv", "missing_critical_patches.csv", "remediation.csv",
        "report.html", "manifest.json"}
    assert any(o["Key"].endswith("/teams/payments/report.html") for o in listed)
