"""The real daily DAG (``airflow dags test``) against the moto server and the simulated fleet.

One completed run (late Resource Data Sync: the sensor reschedules, then succeeds) is shared by the
ground-truth check, the REST API test and the browser test; a run whose sync never arrives must fail
with the Slack alert captured by the local receiver.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from patch_compliance.aws import storage_access
from patch_compliance.lake import Lake
from sim.agent import Agent, AgentRunner
from sim.catalog_service import ROUTE, publish_catalog
from sim.demo import local_airflow_settings
from sim.fleet import create_buckets, seed_moto
from sim.history import DayWriter
from sim.rds_writer import Renderer, sink_for
from sim.state import SimState, build_world
from sim.truth import ground_truth, views_on
from tests.dags.conftest import AIRFLOW_BIN, AirflowHome, write_test_config
from tests.slack_receiver import SlackReceiver

pytestmark = [pytest.mark.xdist_group("airflow"), pytest.mark.e2e]

DAILY = "patch_compliance_daily"
ON = date(2026, 11, 24)
FLEET_SIZE = 40
LAKE_URI = "s3://patch-compliance-lake/lake"


def aws_connection(endpoint_url: str) -> str:
    return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                       "extra": {"endpoint_url": endpoint_url, "region_name": "eu-west-1"}})


def seed_world(endpoint_url: str, workdir: Path, sync_delay: float = 0.0):
    """Fresh moto state with the simulated fleet's EC2 instances, the three buckets and the patch catalog."""
    state = SimState(seed=7, size=FLEET_SIZE, sim_date=ON, endpoint_url=endpoint_url,
                     faults={"sync_delay_seconds": sync_delay} if sync_delay else {})
    state.save(workdir / "sim-state.json")
    world = build_world(state)
    create_buckets(endpoint_url, world.settings)
    state.id_map = seed_moto(world.fleet, endpoint_url, ON, world.settings)
    state.save()
    publish_catalog(endpoint_url, world.catalog, ON)
    return state, build_world(state)


def dags_test(airflow: AirflowHome, env: dict[str, str], logical_date: str, dag_id: str = DAILY,
              conf: dict | None = None) -> subprocess.CompletedProcess[str]:
    args = ["dags", "test", dag_id, logical_date] + (["-c", json.dumps(conf)] if conf else [])
    return airflow.run(*args, extra_env=env, timeout=420, check=False)


def assert_snapshot_matches_truth(lake: Lake, world, on: date) -> None:
    """The lake's ``instances`` for ``on`` against the simulator's own ground truth, node by node."""
    rows = {r["instance_id"]: r for r in lake.read("instances", [on]).to_pylist()}
    truth = ground_truth(world, on)
    checked = 0
    for expected in truth["instances"]:
        row = rows.get(expected["instance_id"])
        if expected["status"] == "UNMANAGED":
            assert row is None, expected["instance_id"]
            continue
        if expected["status"] == "TERMINATED":
            assert row["in_population"] is False
            continue
        assert row["compliance_status"] == expected["status"], expected["instance_id"]
        assert (row["team"] or "(untagged)") == expected["team"]
        assert row["non_compliant_items"] == expected["non_compliant_items"]
        checked += 1
    assert checked >= FLEET_SIZE // 2
    assert len(rows) == sum(1 for e in truth["instances"] if e["status"] != "UNMANAGED")


@pytest.fixture(scope="module")
def completed_daily_run(airflow_home: AirflowHome, moto_server, tmp_path_factory):
    """One successful daily run for ON, with RDS output landing 15 s after each scan command."""
    workdir = tmp_path_factory.mktemp("daily")
    moto_server.reset()
    state, world = seed_world(moto_server.endpoint_url, workdir, sync_delay=15)
    env = {"AIRFLOW_CONN_AWS_DEFAULT": aws_connection(moto_server.endpoint_url),
           "PATCH_COMPLIANCE_CONFIG": str(write_test_config(workdir, moto_server.endpoint_url))}
    started = time.perf_counter()
    with SlackReceiver() as slack, AgentRunner(Agent(moto_server.endpoint_url, state.path), interval=0.5) as agent:
        env["AIRFLOW_CONN_SLACK_WEBHOOK"] = slack.connection_json()
        result = dags_test(airflow_home, env, f"{ON}T00:00:00+00:00")
        reports = list(agent.agent.reports)
        posts = list(slack.requests)
    seconds = time.perf_counter() - started
    run_id = airflow_home.latest_run_id(DAILY)
    return {"result": result, "run_id": run_id, "world": world, "reports": reports, "seconds": seconds,
            "posts": posts, "endpoint_url": moto_server.endpoint_url}


def test_daily_run_succeeds_and_matches_ground_truth(completed_daily_run, airflow_home: AirflowHome) -> None:
    run = completed_daily_run
    assert run["result"].returncode == 0, run["result"].stdout[-8000:]
    assert airflow_home.run_state(DAILY, run["run_id"]) == "success"
    states = airflow_home.task_states(DAILY, run["run_id"])
    assert set(states.values()) == {"success"}, states
    world = run["world"]
    accounts = {a.id for a in world.settings.accounts}
    assert sorted(k for k in states if k[0] == "send_scan") == [("send_scan", i) for i in range(len(accounts))]
    # The agent saw exactly one Scan command per account, each carrying this run's id in its Comment.
    assert {r.account_id for r in run["reports"]} == accounts and len(run["reports"]) == len(accounts)
    assert all(run["run_id"] in r.comment for r in run["reports"])

    lake = Lake(LAKE_URI, storage_access(run["endpoint_url"]))
    assert lake.snapshot_dates() == [ON]
    assert_snapshot_matches_truth(lake, world, ON)

    # Coverage: the EC2 inventory holds every seeded EC2 instance (hybrid mi- nodes are not EC2).
    inventory = lake.read("ec2_inventory", [ON])
    assert sorted(inventory["instance_id"].to_pylist()) == sorted(
        n.node_id for n in world.fleet.nodes if not n.is_hybrid)
    # Validation evidence and the baselines in force were stored for the day.
    assert lake.snapshot_dates("baselines") == [ON]
    assert airflow_home.query("SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                              "WHERE a.uri = ?", f"{LAKE_URI}/patch_compliance")[0][0] == 1
    assert_catalog_knows_the_day(lake, world, ON, run["endpoint_url"])


def assert_catalog_knows_the_day(lake: Lake, world, on: date, endpoint_url: str) -> None:
    """The run's fill_patch_catalog asked the stand-in and dated every Missing item of a covered product."""
    catalog = {(r["patch_id"], r["title"]): r for r in lake.read("patch_catalog", [on]).to_pylist()}
    families = {n.node_id: n.family for n in world.fleet.nodes}
    checked = set()
    for node_id, scan in views_on(world, on).items():
        for item in (scan.items or ()) if scan else ():
            if item.state not in ("Missing", "Failed") or families[node_id] == "Ubuntu":
                continue
            row = catalog[(item.patch_id, item.title)]
            assert row["release_date"] == item.release_date, (node_id, item.patch_id)
            assert row["source"] == ("al2023" if families[node_id] == "AmazonLinux2023" else "ssm")
            checked.add(families[node_id])
    assert checked >= {"AmazonLinux2023", "AmazonLinux2"}, checked
    with urllib.request.urlopen(f"{endpoint_url}{ROUTE}") as response:  # noqa: S310 - the local stand-in
        assert json.loads(response.read())["requests"], "SSM DescribeAvailablePatches was asked"


def test_late_sync_made_the_sensor_wait_before_succeeding(completed_daily_run, airflow_home) -> None:
    reschedules = airflow_home.query(
        "SELECT count(*) FROM task_reschedule r JOIN task_instance t ON t.id = r.ti_id "
        "WHERE t.dag_id = ? AND t.run_id = ? AND t.task_id = 'wait_for_rds_output'", DAILY,
        completed_daily_run["run_id"])[0][0]
    assert reschedules >= 1, "RDS output arrived 15 s after each scan: the sensor must have rescheduled"


def test_never_syncing_run_fails_with_a_slack_alert(airflow_home: AirflowHome, aws_env, tmp_path) -> None:
    seed_world(aws_env.endpoint_url, tmp_path)
    env = {"AIRFLOW_CONN_AWS_DEFAULT": aws_connection(aws_env.endpoint_url),
           "PATCH_COMPLIANCE_CONFIG": str(write_test_config(tmp_path, scan={"sync_wait_minutes": 0.25}))}
    with SlackReceiver() as slack:  # no agent: nothing ever writes RDS output
        env["AIRFLOW_CONN_SLACK_WEBHOOK"] = slack.connection_json()
        result = dags_test(airflow_home, env, "2026-11-23T00:00:00+00:00")
        posts = slack.wait_for(1, timeout=30)
    run_id = airflow_home.latest_run_id(DAILY)
    assert result.returncode != 0
    assert airflow_home.run_state(DAILY, run_id) == "failed"
    states = airflow_home.task_states(DAILY, run_id)
    assert {s for (task, _), s in states.items() if task == "wait_for_rds_output"} == {"failed"}
    assert states[("ingest", -1)] == "upstream_failed"
    alerts = [p for p in posts if "wait_for_rds_output" in json.dumps(p.body)]
    assert alerts, [p.body for p in posts]
    body = json.dumps(alerts[0].body)
    assert "Resource Data Sync output is not fresh" in body and "0 of" in body
    assert Lake(LAKE_URI, storage_access(aws_env.endpoint_url)).snapshot_dates() == []


ARCHIVED_ON = date(2026, 11, 20)
LIVE_ONLY_TASKS = {"resolve_targets", "send_scan", "wait_for_command", "wait_for_rds_output",
                   "snapshot_ec2_inventory", "record_baselines", "lake_housekeeping"}


def test_archived_run_ingests_a_kept_sync_copy_without_scanning(airflow_home: AirflowHome, aws_env,
                                                                 airflow_run_env, tmp_path) -> None:
    """``rds_source`` set: the branch skips scan, waits, inventory and baselines; the snapshot is the day's truth."""
    state, world = seed_world(aws_env.endpoint_url, tmp_path)
    kept = tmp_path / "kept-sync"
    written = DayWriter(world, sink_for(str(kept)), Renderer(state.seed)).write(ARCHIVED_ON,
                                                                                 views_on(world, ARCHIVED_ON))
    assert written > FLEET_SIZE
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
        "choose_sync_source", "ingest", "fill_patch_catalog", "validate", "publish"}, states

    lake = Lake(LAKE_URI, storage_access(aws_env.endpoint_url))
    assert lake.snapshot_dates() == [ARCHIVED_ON]
    assert_snapshot_matches_truth(lake, world, ARCHIVED_ON)
    assert lake.manifest(ARCHIVED_ON)["source"]["uri"] == str(kept)
    # send_scan was skipped unexpanded (nothing sent); nothing describing today was filed under that date.
    assert ("send_scan", -1) in states
    assert lake.snapshot_dates("ec2_inventory") == [] and lake.snapshot_dates("baselines") == []
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def api_server(airflow_home: AirflowHome, completed_daily_run):
    """``airflow api-server`` on 127.0.0.1 over the same AIRFLOW_HOME (all users admin, no login)."""
    port = free_port()
    log = open(airflow_home.home / "api-server.log", "w")  # noqa: SIM115 (closed at teardown)
    process = subprocess.Popen([str(AIRFLOW_BIN), "api-server", "--host", "127.0.0.1", "--port", str(port)],
                               env=airflow_home.env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/version", timeout=2):  # noqa: S310
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = (airflow_home.home / "api-server.log").read_text()[-3000:]
                    raise RuntimeError(f"api-server did not start on {base}:\n{output}") from None
                time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_rest_api_lists_the_completed_run(api_server, completed_daily_run) -> None:
    with urllib.request.urlopen(f"{api_server}/api/v2/dags/{DAILY}/dagRuns", timeout=10) as response:  # noqa: S310
        runs = json.load(response)["dag_runs"]
    (run,) = [r for r in runs if r["dag_run_id"] == completed_daily_run["run_id"]]
    assert run["state"] == "success" and run["logical_date"].startswith(str(ON))
    url = f"{api_server}/api/v2/dags/{DAILY}/dagRuns/{completed_daily_run['run_id']}/taskInstances"
    with urllib.request.urlopen(url.replace("+", "%2B"), timeout=10) as response:  # noqa: S310
        tasks = json.load(response)["task_instances"]
    assert {t["task_id"] for t in tasks} >= {"send_scan", "wait_for_rds_output", "ingest", "validate", "publish"}
    assert {t["state"] for t in tasks} == {"success"}


def test_browser_shows_the_completed_run_in_the_ui(api_server, completed_daily_run) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as profile:
        dom = ""
        for budget in (15000, 30000):  # the UI is a React app: give it virtual time to fetch and render
            dom = subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", f"--virtual-time-budget={budget}", "--dump-dom",
                 f"{api_server}/dags/{DAILY}/runs"],
                capture_output=True, text=True, timeout=120).stdout
            if completed_daily_run["run_id"] in dom:
                break
    assert completed_daily_run["run_id"] in dom, dom[-2000:]
    assert "success" in dom.lower()


def test_two_airflow_ingest_task_runs_of_one_day_leave_one_whole_day(airflow_home: AirflowHome, aws_env,
                                                                      airflow_run_env, tmp_path) -> None:
    """A zombie ingest and its retry, as two real ``airflow tasks test`` processes on two workers."""
    from tests import report_lakes as sc

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
