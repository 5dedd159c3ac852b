"""The monthly report DAG and the CVE evidence DAG, run for real (``airflow dags test``) over a lake in moto S3.

The lake is built by the simulator's history builder (its RDS trees through the real ingest), so
both DAGs' outputs can be compared with the simulator's ground truth.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import boto3
import pytest

from patch_compliance.aws import storage_access
from patch_compliance.config import load_settings
from patch_compliance.ingest import ingest_snapshot
from patch_compliance.inventory import snapshot_kept_inventory
from patch_compliance.lake import Lake
from patch_compliance.patch_catalog import catalog_sources, fill_patch_catalog
from sim.catalog_service import CATALOGUED_FAMILIES, publish_catalog
from sim.fleet import create_buckets
from sim.history import build_history
from sim.state import SimState, build_world
from sim.truth import ground_truth, views_on
from tests.dags.conftest import AirflowHome, write_test_config
from tests.fixtures.slack_receiver import SlackReceiver

pytestmark = [pytest.mark.xdist_group("airflow"), pytest.mark.e2e]

END = date(2026, 11, 20)
DAYS = 4
LAKE_URI = "s3://patch-compliance-lake/lake"


@pytest.fixture(scope="module")
def lake_in_moto(moto_server, tmp_path_factory):
    """Four simulated days in the lake bucket of a freshly reset moto server, each ingested and then
    catalogued by the product's own catalog task against what the stand-in's SSM and AL2023
    repository publish that day (as the daily DAG does)."""
    work = tmp_path_factory.mktemp("report_dags")
    endpoint = moto_server.endpoint_url
    moto_server.reset()
    world = build_world(SimState(seed=3, size=50, sim_date=END))
    create_buckets(endpoint, world.settings)
    config = write_test_config(work, endpoint)
    settings = load_settings(config)
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="eu-west-1")

    def ingest_and_catalogue(day: date, tree) -> None:
        snapshot_kept_inventory(settings, str(tree), day, storage_access(endpoint), LAKE_URI)
        ingest_snapshot(str(tree), LAKE_URI, day, settings=settings, access=storage_access(endpoint))
        publish_catalog(endpoint, world.catalog, day)
        fill_patch_catalog(Lake(LAKE_URI, storage_access(endpoint), settings), day,
                           catalog_sources(settings, ssm, day), settings, progress=lambda _m: None)

    result = build_history(world, DAYS, END, LAKE_URI, work / "history", endpoint_url=endpoint,
                           progress=lambda _m: None, ingest_day=ingest_and_catalogue)
    dates = [date.fromisoformat(d) for d in result["truth"]["snapshot_dates"]]
    truth = ground_truth(world, END, dates, catalog_families=CATALOGUED_FAMILIES)
    env = {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
               "conn_type": "aws", "login": "testing", "password": "testing",
               "extra": {"endpoint_url": endpoint, "region_name": "eu-west-1"}}),
           "PATCH_COMPLIANCE_CONFIG": str(config)}
    return {"truth": truth, "env": env, "endpoint_url": endpoint, "world": world}


def s3_text(endpoint_url: str, bucket: str, key: str) -> str:
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name="eu-west-1")
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def test_monthly_report_dag_uploads_the_report_and_posts_the_summary(airflow_home: AirflowHome,
                                                                       lake_in_moto) -> None:
    with SlackReceiver() as slack:
        env = {**lake_in_moto["env"], "AIRFLOW_CONN_SLACK_WEBHOOK": slack.connection_json()}
        result = airflow_home.run("dags", "test", "patch_compliance_monthly_report", "2026-11-27T08:00:00+00:00",
                                  "-c", json.dumps({"month": "2026-11"}), extra_env=env, timeout=300, check=False)
        posts = slack.wait_for(1, timeout=20)
    assert result.returncode == 0, result.stdout[-6000:]
    run_id = airflow_home.latest_run_id("patch_compliance_monthly_report")
    assert airflow_home.run_state("patch_compliance_monthly_report", run_id) == "success"

    endpoint = lake_in_moto["endpoint_url"]
    summary = list(csv.DictReader(io.StringIO(s3_text(
        endpoint, "patch-compliance-reports", "reports/2026-11/team_environment_summary.csv"))))
    expected = [{k: ("" if v is None else f"{v:.1f}") if k == "compliance_pct" else str(v) for k, v in row.items()}
                for row in lake_in_moto["truth"]["team_environment_summary"]]
    assert summary == expected
    missing = list(csv.DictReader(io.StringIO(s3_text(endpoint, "patch-compliance-reports",
                                                      "reports/2026-11/missing_critical_patches.csv"))))
    # Release dates come from the product's catalog task: known for the catalogued families, never for Ubuntu.
    world = lake_in_moto["world"]
    nodes = world.fleet.by_id()
    released = {(node_id, i.patch_id): i.release_date for node_id, scan in views_on(world, END).items()
                if scan is not None for i in scan.items or ()}
    assert missing and any(r["age_basis"] == "release_date" for r in missing)
    for row in missing:
        catalogued = nodes[row["instance_id"]].family in CATALOGUED_FAMILIES
        want = released[(row["instance_id"], row["patch_id"])] if catalogued else None
        assert (row["release_date"], row["age_basis"]) == (
            want.isoformat() if want else "", "release_date" if want else "first_seen_missing"), row
    aged = {(r["instance_id"], r["patch_id"]): (r["age_basis"], int(r["age_days"]), r["release_date"])
            for r in missing if int(r["age_days"]) >= 14}
    assert aged == {(r["instance_id"], r["patch_id"]): (r["age_basis"], r["age_days"], r["release_date"] or "")
                    for r in lake_in_moto["truth"]["missing_critical_14d"]}
    manifest = json.loads(s3_text(endpoint, "patch-compliance-reports", "reports/2026-11/manifest.json"))
    assert manifest["report_snapshot_date"] == END.isoformat()
    assert "<html" in s3_text(endpoint, "patch-compliance-reports", "reports/2026-11/report.html").lower()

    (post,) = [p for p in posts if "Patch compliance 2026-11" in p.body.get("text", "")]
    judged = sum(int(r["instances"]) - int(r["stopped"]) for r in summary)  # stopped hosts count neither way
    compliant = sum(int(r["compliant"]) for r in summary)
    assert f"{round(100 * compliant / judged, 1)}% of {judged} instances" in post.body["text"]
    assert "s3://patch-compliance-reports/reports/2026-11/report.html" in post.body["text"]
    worst = min((r for r in summary if int(r["instances"]) - int(r["stopped"])),
                key=lambda r: int(r["compliant"]) / (int(r["instances"]) - int(r["stopped"])))
    assert f"{worst['team']} / {worst['environment']}" in json.dumps(post.body)


def test_evidence_dag_writes_the_csv_for_a_cve(airflow_home: AirflowHome, lake_in_moto) -> None:
    history = lake_in_moto["truth"]["cve_history"]
    cve = history[0]["cve_id"]
    result = airflow_home.run("dags", "test", "patch_cve_evidence", "-c", json.dumps({"cve_id": cve}),
                              extra_env=lake_in_moto["env"], timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-6000:]
    rows = list(csv.DictReader(io.StringIO(s3_text(
        lake_in_moto["endpoint_url"], "patch-compliance-reports", f"reports/evidence/{cve}/{cve}.csv"))))
    expected = {(r["instance_id"], r["patch_id"]) for r in history if r["cve_id"] == cve}
    assert {(r["instance_id"], r["patch_id"]) for r in rows} == expected
    assert all(r["cve_id"] == cve for r in rows)
    assert history[0]["instance_id"] in result.stdout  # the table is in the task log


@pytest.mark.parametrize("bad", ["CVE-2026-1234' OR 1=1 --"])  # more malformed ids: test_dag_integrity
def test_evidence_dag_rejects_a_malformed_cve_id(airflow_home: AirflowHome, bad: str) -> None:
    before = airflow_home.query("SELECT count(*) FROM dag_run WHERE dag_id = 'patch_cve_evidence'")[0][0]
    result = airflow_home.run("dags", "test", "patch_cve_evidence", "-c", json.dumps({"cve_id": bad}),
                              timeout=120, check=False)
    assert result.returncode != 0
    assert "Invalid input for param cve_id" in result.stdout + result.stderr
    after = airflow_home.query("SELECT count(*) FROM dag_run WHERE dag_id = 'patch_cve_evidence'")[0][0]
    assert after == before, "a malformed CVE id must not even create a run"
