"""The daily, monthly report and CVE evidence DAGs with ``query.engine: athena`` give the embedded engine's outputs.

One simulated day of the seeded fleet is written to the sync bucket, then each engine's config runs
the three DAGs for real (``airflow dags test``) against the stand-in, into its own lake (its own
Glue database) and reports prefix. On Athena the daily ingest is Athena DML into the Iceberg tables
and the report and evidence SQL runs on the stand-in's executing Athena; the lake rows of the day,
the report CSVs and the evidence CSV must equal the DuckDB run's, row for row.
"""

from __future__ import annotations

import json

import boto3
import pytest

from patch_compliance.aws import storage_access
from patch_compliance.config import load_settings
from patch_compliance.lake import Lake
from sim.history import DayWriter
from sim.rds_writer import Renderer, sink_for
from sim.truth import views_on
from tests.dags.conftest import AirflowHome, write_test_config
from tests.fixtures.daily_world import DAILY, ON, aws_connection, seed_world
from tests.fixtures.slack_receiver import SlackReceiver

pytestmark = [pytest.mark.xdist_group("airflow"), pytest.mark.e2e]

SYNC = "s3://patch-rds-sync/rds"
REPORTS = "patch-compliance-reports"
ATHENA_RESULTS = "s3://patch-compliance-athena-results/queries/"
MONTH = f"{ON:%Y-%m}"


def engine_config(tmp_path, endpoint: str, engine: str) -> str:
    """The test config of one engine: its own lake and Glue database, its own reports prefix."""
    home = tmp_path / engine
    home.mkdir()
    database = "patch_compliance" if engine == "athena" else "patch_compliance_duck"
    path = write_test_config(home, endpoint, storage={
        "lake_uri": f"s3://patch-compliance-lake/{engine}", "reports_uri": f"s3://{REPORTS}/{engine}",
        "catalog": "glue", "catalog_database": database},
        query={"engine": engine, "athena_database": database, "athena_output_location": ATHENA_RESULTS})
    return str(path)


def run_dag(airflow: AirflowHome, env: dict[str, str], dag_id: str, *args: str) -> str:
    result = airflow.run("dags", "test", dag_id, *args, extra_env=env, timeout=420, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    run_id = airflow.latest_run_id(dag_id)
    assert airflow.run_state(dag_id, run_id) == "success"
    return result.stdout + result.stderr


def rows(lake: Lake, table: str) -> list[dict]:
    """The day's rows in a stable order, map entries sorted: the same day whichever engine wrote it."""
    found = lake.read(table, [ON]).to_pylist()
    for row in found:
        for key, value in row.items():
            if isinstance(value, list) and value and isinstance(value[0], tuple):
                row[key] = sorted(value)
    return sorted(found, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def s3_text(key: str) -> str:
    return boto3.client("s3", region_name="eu-west-1").get_object(Bucket=REPORTS, Key=key)["Body"].read().decode()


def test_the_dags_on_athena_give_the_embedded_engines_outputs(airflow_home: AirflowHome, aws_env, tmp_path) -> None:
    endpoint = aws_env.endpoint_url
    state, world = seed_world(endpoint, tmp_path)
    written = DayWriter(world, sink_for(SYNC, endpoint), Renderer(state.seed)).write(ON, views_on(world, ON))
    assert written > 40
    boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1").create_bucket(
        Bucket="patch-compliance-athena-results", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

    outputs: dict[str, dict] = {}
    with SlackReceiver() as slack:
        for engine in ("duckdb", "athena"):
            config = engine_config(tmp_path, endpoint, engine)
            env = {"AIRFLOW_CONN_AWS_DEFAULT": aws_connection(endpoint), "PATCH_COMPLIANCE_CONFIG": config,
                   "AIRFLOW_CONN_SLACK_WEBHOOK": slack.connection_json()}
            daily = run_dag(airflow_home, env, DAILY, f"{ON}T00:00:00+00:00", "-c", json.dumps({"rds_source": SYNC}))
            lake = Lake(load_settings(config).storage.lake_uri, storage_access(endpoint), load_settings(config))
            if engine == "duckdb":  # a CVE of the day, for the evidence DAG
                cve = next(c for r in lake.read("patch_compliance", [ON]).to_pylist() for c in r["cve_ids"] or [])
            monthly = run_dag(airflow_home, env, "patch_compliance_monthly_report", f"{ON}T08:00:00+00:00",
                              "-c", json.dumps({"month": MONTH}))
            evidence = run_dag(airflow_home, env, "patch_cve_evidence", "-c", json.dumps({"cve_id": cve}))
            outputs[engine] = {
                "lake": lake, "logs": daily + monthly + evidence,
                "patch_compliance": rows(lake, "patch_compliance"), "instances": rows(lake, "instances"),
                **{name: s3_text(f"{engine}/{MONTH}/{name}") for name in (
                    "team_environment_summary.csv", "instance_status.csv", "missing_critical_patches.csv",
                    "remediation.csv")},
                "manifest": json.loads(s3_text(f"{engine}/{MONTH}/manifest.json")),
                "evidence": s3_text(f"{engine}/evidence/{cve}/{cve}.csv")}

    duck, athena = outputs["duckdb"], outputs["athena"]
    for table in ("patch_compliance", "instances"):
        assert len(athena[table]) == len(duck[table]) > 30
        assert athena[table] == duck[table], table
    for name in ("team_environment_summary.csv", "instance_status.csv", "missing_critical_patches.csv",
                 "remediation.csv", "evidence"):
        assert athena[name] == duck[name], name
    assert len(duck["evidence"].splitlines()) > 1 and len(duck["instance_status.csv"].splitlines()) > 20

    # On Athena: the day record and the report manifest list every query, its id and data scanned; so do the logs.
    record = athena["lake"].record(ON)
    assert record.details["engine"] == "athena" and duck["lake"].record(ON).details.get("engine") is None
    day_queries = record.details["athena_queries"]
    assert {q["sql"] for q in day_queries} >= {"athena/snapshot_patch_compliance.sql", "athena/snapshot_instances.sql"}
    report_queries = athena["manifest"]["athena_queries"]
    assert athena["manifest"]["engine"] == "athena" and duck["manifest"]["athena_queries"] == []
    assert {q["sql"] for q in report_queries} == {  # no baselines: an archived run records none
        "report/instance_status.sql", "report/missing_critical_patches.sql", "report/trend.sql",
        "report/causes.sql", "report/remediation.sql", "report/open_items.sql"}
    assert all(q["data_scanned_bytes"] > 0 for q in report_queries)
    for query in [*day_queries, *report_queries]:
        assert f"Athena query {query['query_execution_id']} ({query['sql']}) SUCCEEDED: " \
               f"{query['data_scanned_bytes']} bytes scanned" in athena["logs"]
    assert "evidence/cve_evidence.sql) SUCCEEDED" in athena["logs"]
    assert "Athena query" not in duck["logs"]
