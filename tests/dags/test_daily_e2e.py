"""The real daily DAG (``airflow dags test``) against the moto server: archived runs and concurrent ingests.

Live runs under the scheduler (late sync, a sync that never arrives, the alerts) are in
``test_under_scheduler.py``.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime

import pytest

from patch_compliance.aws import storage_access
from patch_compliance.lake import Lake
from sim.demo import local_airflow_settings
from sim.history import DayWriter, describe_instances_documents, write_kept_inventory
from sim.rds_writer import Renderer, sink_for
from sim.truth import views_on
from tests.dags.conftest import AIRFLOW_BIN, AirflowHome
from tests.fixtures.daily_world import DAILY, FLEET_SIZE, LAKE_URI, assert_snapshot_matches_truth, seed_world
from tests.fixtures.slack_receiver import SlackReceiver

pytestmark = [pytest.mark.xdist_group("airflow"), pytest.mark.e2e]

def dags_test(airflow: AirflowHome, env: dict[str, str], logical_date: str, dag_id: str = DAILY,
              conf: dict | None = None) -> subprocess.CompletedProcess[str]:
    args = ["dags", "test", dag_id, logical_date] + (["-c", json.dumps(conf)] if conf else [])
    return airflow.run(*args, extra_env=env, timeout=420, check=False)


ARCHIVED_ON = date(2026, 11, 20)
LIVE_ONLY_TASKS = {"resolve_targets", "send_scan", "wait_for_command", "wait_for_rds_output",
                   "snapshot_ec2_inventory", "record_baselines", "lake_housekeeping"}


def test_archived_run_ingests_a_kept_sync_copy_without_scanning(airflow_home: AirflowHome, aws_env,
                                                                 airflow_run_env, tmp_path) -> None:
    """``rds_source`` set: the branch skips scan, waits, EC2 calls and baselines; the snapshot is the day's truth,
    and the EC2 inventory is the one kept with the copy."""
    state, world = seed_world(aws_env.endpoint_url, tmp_path)
    kept = tmp_path / "kept-sync"
    written = DayWriter(world, sink_for(str(kept)), Renderer(state.seed)).write(ARCHIVED_ON,
                                                                                 views_on(world, ARCHIVED_ON))
    assert written > FLEET_SIZE
    kept_documents = describe_instances_documents(world, ARCHIVED_ON)
    assert write_kept_inventory(world, ARCHIVED_ON, kept) == len(kept_documents) > 1
    env = dict(airflow_run_env)
    with SlackReceiver() as slack:
        env["AIRFLOW_CONN_SLACK_WEBHOOK"] = slack.connection_json()
        result = dags_test(airflow_home, env, f"{ARCHIVED_ON}T00:00:00+00:00", conf={"rds_source": str(kept)})
    assert result.returncode == 0, result.stdout[-8000:]
    run_id = airflow_home.latest_run_id(DAILY)
    assert airflow_home.run_state(DAILY, run_id) == "success"
    states = airflow_home.task_states(DAILY, run_id)
    assert {task for (task, _), s in states.items() if s == "skipped"} == LIVE_ONLY_TASKS, sorted(states.items())
    assert {task for (task, _), s in states.items() if s == "success"} == {
        "choose_sync_source", "snapshot_kept_inventory", "ingest", "fill_patch_catalog", "validate", "publish"}, states

    lake = Lake(LAKE_URI, storage_access(aws_env.endpoint_url))
    assert lake.snapshot_dates() == [ARCHIVED_ON]
    assert_snapshot_matches_truth(lake, world, ARCHIVED_ON)
    assert lake.manifest(ARCHIVED_ON)["source"]["uri"] == str(kept)
    # send_scan was skipped unexpanded (nothing sent); nothing describing today was filed under that date.
    assert ("send_scan", -1) in states
    assert lake.snapshot_dates("baselines") == []
    # The day's EC2 inventory is the copy's DescribeInstances documents, captured that day at 03:00 UTC.
    assert lake.snapshot_dates("ec2_inventory") == [ARCHIVED_ON]
    inventory = lake.read("ec2_inventory", [ARCHIVED_ON]).to_pylist()
    expected = {(account, i["InstanceId"], i["State"]["Name"]) for (account, _), document in kept_documents.items()
                for r in document["Reservations"] for i in r["Instances"]}
    assert {(r["account_id"], r["instance_id"], r["state"]) for r in inventory} == expected
    assert {r["captured_at"] for r in inventory} == {datetime(2026, 11, 20, 3, tzinfo=UTC)}
    assert lake.snapshot_dates("patch_catalog") == [ARCHIVED_ON]  # archived runs fill the catalog too


def test_archived_run_rejects_a_source_that_is_not_s3_or_a_directory(airflow_home: AirflowHome, aws_env,
                                                                     airflow_run_env) -> None:
    result = dags_test(airflow_home, airflow_run_env, "2026-11-19T00:00:00+00:00",
                       conf={"rds_source": "https://sync.example.com/rds"})
    assert result.returncode != 0
    run_id = airflow_home.latest_run_id(DAILY)
    states = airflow_home.task_states(DAILY, run_id)
    assert states[("choose_sync_source", -1)] == "failed"
    assert states[("ingest", -1)] in {"upstream_failed", None}
    assert "rds_source: only s3:// URIs and local paths are supported" in result.stdout + result.stderr
    assert Lake(LAKE_URI, storage_access(aws_env.endpoint_url)).snapshot_dates() == []


def test_two_airflow_ingest_task_runs_of_one_day_leave_one_whole_day(airflow_home: AirflowHome, aws_env,
                                                                      airflow_run_env, tmp_path) -> None:
    """A zombie ingest and its retry, as two real ``airflow tasks test`` processes on two workers."""
    from tests.fixtures import report_lakes as sc

    day = date(2026, 11, 18)
    import boto3

    boto3.client("s3", endpoint_url=aws_env.endpoint_url).create_bucket(
        Bucket=LAKE_URI.split("/")[2], CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    Lake(LAKE_URI, storage_access(aws_env.endpoint_url)).ensure_tables()
    sources = {}
    for patch in ("alpha", "beta"):
        sources[patch] = tmp_path / f"rds-{patch}"
        sc.write_rds_day(sources[patch], day, [  # big enough for the two runs to overlap
            sc.Node(f"i-{n:017x}", tags={"Team": "web", "Environment": "prod", "PatchGroup": "prod-linux"},
                    items=[sc.Item(f"{patch}.x86_64", "Missing"),
                           *(sc.Item(f"pkg{k}.x86_64", "Installed") for k in range(30))]) for n in range(1, 1201)])
    second = AirflowHome(tmp_path / "worker-2", {**airflow_home.env, **local_airflow_settings(tmp_path / "worker-2")})
    second.run("db", "migrate", timeout=180)
    processes = {
        patch: subprocess.Popen(
            [str(AIRFLOW_BIN), "tasks", "test", DAILY, "ingest", day.isoformat(),
             "--task-params", json.dumps({"rds_source": str(sources[patch])})],
            env={**home.env, **airflow_run_env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for patch, home in (("alpha", airflow_home), ("beta", second))}
    outputs = {patch: p.communicate(timeout=300)[0] for patch, p in processes.items()}
    # ``airflow tasks test`` exits 0 even when the task fails: the task's own log says what happened.
    refused = {patch for patch, out in outputs.items() if "ConcurrentWriteError: snapshot 2026-11-18" in out}
    lake = Lake(LAKE_URI, storage_access(aws_env.endpoint_url))
    patch_ids = set(lake.read("patch_compliance", [day], columns=["patch_id"]).column("patch_id").to_pylist())
    (winner,) = [patch for patch in sources if f"{patch}.x86_64" in patch_ids]  # one run's day, never a mix
    loser = "beta" if winner == "alpha" else "alpha"
    assert f"{loser}.x86_64" not in patch_ids and winner not in refused
    record = lake.record(day)
    assert f"(run {record.run_id})" in outputs[winner]  # the day in force is the winner's whole run
    assert lake.read("instances", [day]).num_rows == record.rows("instances") == 1200
    if refused:  # they overlapped: the second writer was refused and says by whom
        # Refused by Iceberg on a table, or by the day record's compare-and-swap: either way by the winner.
        (reason,) = [line for line in outputs[loser].splitlines() if line.startswith("patch_compliance.lake."
                                                                                        "ConcurrentWriteError")]
        assert refused == {loser} and f"run {record.run_id}" in reason and "Rerun to replace it" in reason
