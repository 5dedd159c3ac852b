"""The stand-in's Athena executes queries (sim/moto_ext/athena*.py), over real HTTP, Iceberg and DuckDB."""

from __future__ import annotations

import csv
import io
import json

import boto3
import pytest

from patch_compliance.config import load_settings
from patch_compliance.ingest_athena import render_raw_ddl
from patch_compliance.lake import Lake
from sim.moto_ext.api import NOT_EMULATED

ACCOUNT, OTHER, UNLISTED = "111111111111", "222222222222", "999999999999"
NODE_KEY = "rds/AWS:{type}/accountid={account}/region=eu-west-1/resourcetype=ManagedInstanceInventory/{node}.json"


@pytest.fixture
def athena(aws_env):
    s3 = boto3.client("s3", region_name="eu-west-1")
    for bucket in ("results", "patch-rds-sync", "patch-compliance-lake"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    boto3.client("glue", region_name="eu-west-1").create_database(DatabaseInput={"Name": "patch_compliance"})
    return boto3.client("athena", region_name="eu-west-1")


def start(client, query: str, parameters: list[str] | None = None, **extra) -> str:
    request = {"QueryString": query, "QueryExecutionContext": {"Database": "patch_compliance"},
               "ResultConfiguration": {"OutputLocation": "s3://results/q/"}, **extra}
    if parameters:
        request["ExecutionParameters"] = parameters
    return client.start_query_execution(**request)["QueryExecutionId"]


def run(client, query: str, parameters: list[str] | None = None) -> dict:
    """Start a query and return its execution once final (the stand-in answers the final state at once)."""
    execution = client.get_query_execution(QueryExecutionId=start(client, query, parameters))["QueryExecution"]
    assert execution["Status"]["State"] in ("SUCCEEDED", "FAILED")
    return execution


def rows(client, query_id: str, **paging) -> list[list[str | None]]:
    page = client.get_query_results(QueryExecutionId=query_id, **paging)
    return [[cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"]]


def succeeded(client, query: str, parameters: list[str] | None = None) -> list[list[str | None]]:
    execution = run(client, query, parameters)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"].get("StateChangeReason")
    return rows(client, execution["QueryExecutionId"])


def test_a_select_answers_athenas_types_and_text_pages_its_rows_and_writes_the_csv(athena) -> None:
    execution = run(athena, """
        SELECT CAST('2026-11-15' AS DATE) AS d, CAST(7 AS BIGINT) AS n, 7 AS i, CAST(0.5 AS DOUBLE) AS x,
               TRUE AS ok, 'O''Brien' AS s, CAST(NULL AS VARCHAR) AS missing, ARRAY['a', 'b'] AS arr,
               MAP(ARRAY['k'], ARRAY['v']) AS m, TIMESTAMP '2026-11-15 03:10:04.123456' AS t,
               from_iso8601_timestamp('2026-11-15T03:10:04.123456Z') AS tz, CAST(1E10 AS DOUBLE) AS big""")
    assert execution["Status"]["State"] == "SUCCEEDED" and execution["StatementType"] == "DML"
    assert execution["EngineVersion"]["EffectiveEngineVersion"] == "Athena engine version 3"
    page = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    types = {c["Name"]: c["Type"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]}
    assert types == {"d": "date", "n": "bigint", "i": "integer", "x": "double", "ok": "boolean", "s": "varchar",
                     "missing": "varchar", "arr": "array", "m": "map", "t": "timestamp",
                     "tz": "timestamp with time zone", "big": "double"}
    header, values = rows(athena, execution["QueryExecutionId"])
    assert header == list(types)  # the header row comes first, as on Athena
    assert values == ["2026-11-15", "7", "7", "0.5", "true", "O'Brien", None, "[a, b]", "{k=v}",
                      "2026-11-15 03:10:04.123456", "2026-11-15 03:10:04.123000 UTC", "1.0E10"]
    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"s3://results/q/{execution['QueryExecutionId']}.csv"
    body = boto3.client("s3").get_object(Bucket="results", Key=location.split("/", 3)[3])["Body"].read().decode()
    assert body.splitlines()[0] == ",".join(f'"{name}"' for name in types)
    assert body.splitlines()[1].startswith('"2026-11-15","7","7","0.5","true","O\'Brien",,"[a, b]"')
    assert list(csv.reader(io.StringIO(body)))[1][5] == "O'Brien"


def test_results_page_with_max_results_and_next_token(athena) -> None:
    query_id = run(athena, "SELECT n FROM UNNEST(SEQUENCE(1, 5)) AS t(n) ORDER BY n")["QueryExecutionId"]
    first = athena.get_query_results(QueryExecutionId=query_id, MaxResults=4)
    assert [r["Data"][0]["VarCharValue"] for r in first["ResultSet"]["Rows"]] == ["n", "1", "2", "3"]
    second = athena.get_query_results(QueryExecutionId=query_id, MaxResults=4, NextToken=first["NextToken"])
    assert [r["Data"][0]["VarCharValue"] for r in second["ResultSet"]["Rows"]] == ["4", "5"]
    assert "NextToken" not in second
    other = run(athena, "SELECT 1 AS one")["QueryExecutionId"]
    with pytest.raises(athena.exceptions.InvalidRequestException, match="NextToken is not valid"):
        athena.get_query_results(QueryExecutionId=other, NextToken=first["NextToken"])
    with pytest.raises(athena.exceptions.InvalidRequestException, match="MaxResults"):
        athena.get_query_results(QueryExecutionId=query_id, MaxResults=1001)
    pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id,
                                                                PaginationConfig={"PageSize": 2})
    assert sum(len(p["ResultSet"]["Rows"]) for p in pages) == 6


def test_execution_parameters_are_bound_in_order_as_literals(athena) -> None:
    assert succeeded(athena, "SELECT CAST(? AS DATE) AS d, ? AS f, '?' AS q, ? AS s -- ?",
                     ["'2026-11-15'", "26.0", "'it''s'"])[1] == ["2026-11-15", "26.0", "?", "it's"]
    failed = run(athena, "SELECT ?, ?", ["1"])
    assert failed["Status"]["State"] == "FAILED"
    assert "Incorrect number of parameters: expected 2 but found 1" in failed["Status"]["StateChangeReason"]
    injected = run(athena, "SELECT ?", ["1); DROP TABLE x; --"])
    assert injected["Status"]["State"] == "FAILED" and "is not a literal" in injected["Status"]["StateChangeReason"]
    execution = run(athena, "SELECT CAST(? AS DATE)", ["'2026-11-15'"])
    assert execution["ExecutionParameters"] == ["'2026-11-15'"]


def _put(key: str, body: str) -> None:
    boto3.client("s3").put_object(Bucket="patch-rds-sync", Key=key, Body=body.encode())


def test_raw_json_tables_read_the_projected_partitions_case_insensitively_and_null_malformed_lines(athena) -> None:
    settings = load_settings()
    for table in ("rds_tag", "rds_instance_information"):
        ddl = run(athena, render_raw_ddl(table, settings, "s3://patch-rds-sync/rds"))
        assert ddl["Status"]["State"] == "SUCCEEDED" and ddl["StatementType"] == "DDL"
    glue = boto3.client("glue").get_table(DatabaseName="patch_compliance", Name="rds_tag")["Table"]
    assert glue["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert glue["Parameters"]["projection.accountid.values"] == "111111111111,222222222222,333333333333"
    assert [c["Name"] for c in glue["PartitionKeys"]] == ["accountid", "region", "resourcetype"]
    _put(NODE_KEY.format(type="Tag", account=ACCOUNT, node="i-0a"),
         '{"Key":"Team","Value":"web","resourceId":"i-0a"}\n{not json\n'
         '{"KEY":"Env","VALUE":"prod","RESOURCEID":"i-0a"}\n{"Key":"a","key":"b","resourceId":"i-0a"}\n')
    _put(NODE_KEY.format(type="Tag", account=OTHER, node="mi-0b"), '{"Key":"Team","Value":"db","resourceId":"mi-0b"}')
    _put(NODE_KEY.format(type="Tag", account=UNLISTED, node="i-0c"), '{"Key":"Team","Value":"x","resourceId":"i-0c"}')
    _put(f"rds/AWS:Tag/accountid={ACCOUNT}/test.json", '{"Key":"probe"}')  # RDS's probe object: no partition
    _put(f"rds/AWS:Tag/accountid={ACCOUNT}/region=eu-west-1/resourcetype=ManagedInstanceInventory/_tmp", '{"Key":"x"}')
    execution = run(athena, 'SELECT "key", "value", resourceid, accountid, region, resourcetype FROM rds_tag '
                            "ORDER BY accountid, resourceid NULLS LAST, \"key\"")
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["Statistics"]["DataScannedInBytes"] > 100
    assert rows(athena, execution["QueryExecutionId"])[1:] == [
        ["Env", "prod", "i-0a", ACCOUNT, "eu-west-1", "ManagedInstanceInventory"],
        ["Team", "web", "i-0a", ACCOUNT, "eu-west-1", "ManagedInstanceInventory"],
        # the malformed line and the one repeating a key (case-insensitively): rows of NULLs, as the SerDe reads them
        [None, None, None, ACCOUNT, "eu-west-1", "ManagedInstanceInventory"],
        [None, None, None, ACCOUNT, "eu-west-1", "ManagedInstanceInventory"],
        ["Team", "db", "mi-0b", OTHER, "eu-west-1", "ManagedInstanceInventory"]]
    # The node's own ResourceType attribute, through mapping.node_resource_type, not the partition column.
    _put(NODE_KEY.format(type="InstanceInformation", account=ACCOUNT, node="i-0a"),
         json.dumps({"InstanceId": "i-0a", "ResourceType": "EC2Instance", "resourceId": "i-0a"}))
    assert succeeded(athena, "SELECT node_resource_type, resourcetype FROM rds_instance_information")[1:] == [
        ["EC2Instance", "ManagedInstanceInventory"]]


def test_a_json_table_without_ignore_malformed_json_fails_on_a_malformed_line(athena) -> None:
    assert run(athena, "CREATE EXTERNAL TABLE strict (a STRING) ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
                       "LOCATION 's3://patch-rds-sync/strict/'")["Status"]["State"] == "SUCCEEDED"
    _put("strict/one.json", '{"a":"1"}\nnot json\n')
    failed = run(athena, "SELECT a FROM strict")
    assert failed["Status"]["State"] == "FAILED"
    assert failed["Status"]["StateChangeReason"].startswith("HIVE_BAD_DATA: Row is not a valid JSON Object")


@pytest.mark.parametrize(("query", "what"), [
    ("SHOW TABLES", "the SHOW statement"),
    ("UPDATE instances SET team = 'x'", "the UPDATE statement"),
    ("MERGE INTO instances t USING instances s ON t.instance_id = s.instance_id WHEN MATCHED THEN DELETE",
     "the MERGE statement"),
    ("CREATE TABLE copy AS SELECT 1 AS one", "the CREATE statement"),
    ("SELECT n FROM UNNEST(SEQUENCE(1, 3)) AS t(n) ORDER BY n FETCH FIRST 1 ROWS WITH TIES", "WITH TIES"),
    ("SELECT MAP(ARRAY['a'], ARRAY[1])['b']", "the [] subscript"),
    ("SELECT 7 / 2", "'/' without an operand cast to DOUBLE"),
    ("SELECT approx_percentile(x, 0.5) FROM (VALUES 1.0) AS t(x)", "approx_percentile"),
    ("SELECT word_stem('running')", "function word_stem"),
])
def test_what_is_not_emulated_fails_the_query_saying_so(athena, query, what) -> None:
    failed = run(athena, query)
    assert failed["Status"]["State"] == "FAILED"
    reason = failed["Status"]["StateChangeReason"]
    assert what in reason and reason.endswith(NOT_EMULATED), reason
    assert failed["Status"]["AthenaError"]["ErrorCategory"] == 2
    with pytest.raises(athena.exceptions.InvalidRequestException, match="Final query state: FAILED"):
        athena.get_query_results(QueryExecutionId=failed["QueryExecutionId"])


def test_insert_into_an_iceberg_table_is_one_commit_and_a_partition_delete_another(athena) -> None:
    lake = Lake("s3://patch-compliance-lake/lake")
    lake.ensure_tables()
    before = lake.table("quarantine").metadata.current_snapshot_id
    insert = run(athena, """
        INSERT INTO quarantine (snapshot_date, account_id, region, source_key, rds_type, line_number, error, raw_line)
        SELECT CAST(? AS DATE), '111111111111', 'eu-west-1', 'k', 'AWS:Tag', n, 'e', 'r'
        FROM UNNEST(SEQUENCE(1, 3)) AS t(n)""", ["'2026-11-15'"])
    assert insert["Status"]["State"] == "SUCCEEDED", insert["Status"].get("StateChangeReason")
    assert athena.get_query_results(QueryExecutionId=insert["QueryExecutionId"])["UpdateCount"] == 3
    table = lake.table("quarantine", refresh=True)
    snapshot = table.current_snapshot()
    assert snapshot.snapshot_id != before and snapshot.summary.operation.value == "append"
    assert snapshot.summary["added-records"] == "3"
    assert succeeded(athena, "SELECT COUNT(*) AS n FROM quarantine WHERE snapshot_date = DATE '2026-11-15'")[1] == ["3"]

    mismatch = run(athena, "INSERT INTO quarantine (snapshot_date, line_number) SELECT DATE '2026-11-15', 'one'")
    assert "TYPE_MISMATCH" in mismatch["Status"]["StateChangeReason"]
    row_level = run(athena, "DELETE FROM quarantine WHERE line_number = 2")
    assert "row-level DELETE" in row_level["Status"]["StateChangeReason"]
    deleted = run(athena, "DELETE FROM quarantine WHERE snapshot_date = CAST(? AS DATE)", ["'2026-11-15'"])
    assert deleted["Status"]["State"] == "SUCCEEDED"
    table = lake.table("quarantine", refresh=True)
    assert table.current_snapshot().snapshot_id != snapshot.snapshot_id
    assert table.scan().to_arrow().num_rows == 0
    assert table.scan(snapshot_id=snapshot.snapshot_id).to_arrow().num_rows == 3
    assert succeeded(athena, f"SELECT COUNT(*) FROM quarantine FOR VERSION AS OF {snapshot.snapshot_id}")[1] == ["3"]


def test_requests_are_checked_as_the_api_reference_says(athena) -> None:
    token = "0123456789abcdef0123456789abcdef"
    first = start(athena, "SELECT 1", ClientRequestToken=token)
    assert start(athena, "SELECT 1", ClientRequestToken=token) == first  # idempotent
    with pytest.raises(athena.exceptions.InvalidRequestException, match="Idempotent parameters do not match"):
        start(athena, "SELECT 2", ClientRequestToken=token)
    with pytest.raises(athena.exceptions.InvalidRequestException, match="No output location provided"):
        athena.start_query_execution(QueryString="SELECT 1")
    with pytest.raises(athena.exceptions.InvalidRequestException, match="WorkGroup nowhere is not found"):
        start(athena, "SELECT 1", WorkGroup="nowhere")
    with pytest.raises(athena.exceptions.InvalidRequestException, match="was not found"):
        athena.get_query_execution(QueryExecutionId="00000000-0000-0000-0000-000000000000")
    athena.stop_query_execution(QueryExecutionId=first)  # finished: nothing changes
    assert athena.get_query_execution(QueryExecutionId=first)["QueryExecution"]["Status"]["State"] == "SUCCEEDED"
    assert first in athena.list_query_executions()["QueryExecutionIds"]
    failed = run(athena, "SELECT * FROM nowhere")
    assert failed["Status"]["StateChangeReason"] == (
        "TABLE_NOT_FOUND: Table 'awsdatacatalog.patch_compliance.nowhere' does not exist")


def test_a_reset_stand_in_forgets_its_executions(athena, aws_env) -> None:
    query_id = start(athena, "SELECT 1")
    aws_env.reset()
    with pytest.raises(athena.exceptions.InvalidRequestException, match="was not found"):
        athena.get_query_execution(QueryExecutionId=query_id)
