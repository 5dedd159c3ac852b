"""The DAGs under a real Airflow: api-server, scheduler, dag-processor and triggerer, driven through REST.

One Airflow for the module (LocalExecutor, SQLite), the moto server with the simulated fleet, and a
real local Slack receiver. Runs are triggered and observed only through the REST API: a live daily
run whose Resource Data Sync lands late (the waits defer to the triggerer, no worker slot is held),
a run whose sync never arrives (one alert, with its reason), a monthly report that cannot succeed
(fails at once, not retried), and the evidence and report DAGs over the day the scheduler wrote; the
month's report then shows in the UI's report view (headless Chromium), where the report task's link
leads.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

import pytest

from patch_compliance.aws import storage_access
from patch_compliance.lake import Lake
from patch_compliance.report_files import ReportFiles
from patch_compliance.report_model import compliance_pct
from patch_compliance.ui_link import ui_url
from sim.agent import Agent, AgentRunner
from sim.airflow_cluster import AirflowCluster
from tests.dags.conftest import isolated_airflow_env, write_test_config
from tests.fixtures.chromium import Chromium
from tests.fixtures.daily_world import (
    DAILY,
    LAKE_URI,
    ON,
    assert_catalog_knows_the_day,
    assert_snapshot_matches_truth,
    aws_connection,
    seed_world,
)
from tests.fixtures.slack_receiver import SlackReceiver

# Its own Airflow (not the shared dags-test home): a group of its own, so it runs beside the other e2e tests.
pytestmark = [pytest.mark.xdist_group("scheduler"), pytest.mark.e2e]

MONTHLY, EVIDENCE = "patch_compliance_monthly_report", "patch_cve_evidence"
WAITS = ("wait_for_command", "wait_for_rds_output")
SYNC_HELD_SECONDS = 3600  # the simulated sync waits for the test's release (below), not for a clock
QUIET_SECONDS = 8  # after a run ends, long enough for any late (e.g. DAG-level) alert to arrive


class StateWatcher:
    """Polls a run's task instances over REST while it runs and remembers every state each task showed."""

    def __init__(self, cluster: AirflowCluster, dag_id: str, run_id: str,
                 on_poll: Callable[[list[dict]], None] | None = None) -> None:
        self.cluster, self.dag_id, self.run_id, self.on_poll = cluster, dag_id, run_id, on_poll
        self.seen: dict[str, set[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            instances = self.cluster.task_instances(self.dag_id, self.run_id)
            for ti in instances:
                self.seen.setdefault(ti["task_id"], set()).add(ti["state"])
            if self.on_poll:
                self.on_poll(instances)
            self._stop.wait(0.5)

    def __enter__(self) -> StateWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def world(moto_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("scheduler-world")
    moto_server.reset()
    state, world = seed_world(moto_server.endpoint_url, workdir, sync_delay=SYNC_HELD_SECONDS)
    return {"state": state, "world": world, "workdir": workdir, "endpoint_url": moto_server.endpoint_url}


@pytest.fixture(scope="module")
def slack():
    with SlackReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def cluster(world, slack, tmp_path_factory):
    """One real Airflow for the module, its connections pointing at moto and the Slack receiver.

    Tasks retry once (so a test can tell a retried failure from a fail-fast one), and the sync wait
    is short enough for a run whose sync never arrives to end within the suite's budget.
    """
    home = tmp_path_factory.mktemp("scheduler-home")
    config = write_test_config(world["workdir"], world["endpoint_url"],
                               scan={"sync_wait_minutes": 1},
                               airflow={"retries": 1, "retry_delay_seconds": 1,
                                        "command_poke_seconds": 5, "sync_poke_seconds": 5})
    env = isolated_airflow_env(home)
    env.update({"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                # Only the runs a test triggers: no scheduled run of today may join in.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(world["endpoint_url"]),
                "AIRFLOW_CONN_SLACK_WEBHOOK": slack.connection_json(),
                "PATCH_COMPLIANCE_CONFIG": str(config)})
    with AirflowCluster(home, env) as airflow:
        for dag_id in (DAILY, MONTHLY, EVIDENCE):
            airflow.wait_for_dag(dag_id)
        yield airflow


def finished_run(cluster: AirflowCluster, slack: SlackReceiver, dag_id: str, logical_date: str | None,
                 conf: dict | None = None, timeout: float = 600,
                 on_poll: Callable[[list[dict]], None] | None = None) -> dict:
    """Trigger a run over REST, watch its task states until it ends, and collect what Slack received."""
    slack.requests.clear()
    run_id = cluster.trigger(dag_id, logical_date, conf)
    with StateWatcher(cluster, dag_id, run_id, on_poll) as watcher:
        state = cluster.wait_for_run(dag_id, run_id, timeout)
    time.sleep(QUIET_SECONDS)
    tasks = cluster.task_instances(dag_id, run_id)
    return {"run_id": run_id, "state": state, "seen": watcher.seen, "posts": list(slack.requests),
            "tasks": {(t["task_id"], t["map_index"]): t for t in tasks}}


@pytest.fixture(scope="module")
def live_run(cluster, slack, world):
    """A live daily run for ON whose RDS output lands only once every wait_for_rds_output is deferred.

    The simulated agents hold the sync until the test releases it, so the waits must be found
    waiting (in the triggerer) however long the scheduler takes to reach them on a loaded machine.
    """
    state = world["state"]
    targets = sum(len(a.regions) for a in world["world"].settings.accounts)

    def release_when_deferred(instances: list[dict]) -> None:
        # A wait that never defers is not released: it times out (scan.sync_wait_minutes) and the test fails.
        waiting = [t for t in instances if t["task_id"] == "wait_for_rds_output" and t["state"] == "deferred"]
        if state.faults.get("sync_delay_seconds") and len(waiting) == targets:
            state.faults = {**state.faults, "sync_delay_seconds": 0}
            state.save()  # the agents re-read their state: the held sync lands now

    agent = Agent(world["endpoint_url"], state.path)
    with AgentRunner(agent, interval=0.5):
        run = finished_run(cluster, slack, DAILY, f"{ON}T00:00:00+00:00", on_poll=release_when_deferred)
    return {**run, "reports": list(agent.reports)}


def test_live_run_succeeds_and_the_lake_matches_ground_truth(live_run, world) -> None:
    assert live_run["state"] == "success", {k: v["state"] for k, v in live_run["tasks"].items()}
    assert {task: t["state"] for (task, _), t in live_run["tasks"].items() if t["state"] != "success"} == {
        "snapshot_kept_inventory": "skipped"}  # the archived runs' inventory
    accounts = {a.id for a in world["world"].settings.accounts}
    assert {r.account_id for r in live_run["reports"]} == accounts and len(live_run["reports"]) == len(accounts)
    assert all(live_run["run_id"] in r.comment for r in live_run["reports"])
    lake = Lake(LAKE_URI, storage_access(world["endpoint_url"]))
    assert lake.snapshot_dates() == [ON]
    assert_snapshot_matches_truth(lake, world["world"], ON)
    inventory = lake.read("ec2_inventory", [ON])
    assert sorted(inventory["instance_id"].to_pylist()) == sorted(
        n.node_id for n in world["world"].fleet.nodes if not n.is_hybrid)
    assert lake.snapshot_dates("baselines") == [ON]
    assert_catalog_knows_the_day(lake, world["world"], ON, world["endpoint_url"])
    assert live_run["posts"] == [], [p.text_content() for p in live_run["posts"]]


def test_the_waits_deferred_to_the_triggerer_and_never_failed(live_run, cluster, world) -> None:
    """The held sync kept wait_for_rds_output waiting: in the triggerer (deferred), on its first try."""
    targets = sum(len(a.regions) for a in world["world"].settings.accounts)
    for wait in WAITS:
        tries = [t for (task, _), t in live_run["tasks"].items() if task == wait]
        assert len(tries) == targets, wait
        assert {t["try_number"] for t in tries} == {1}, f"{wait} was retried: a wait must never fail spuriously"
    assert "deferred" in live_run["seen"]["wait_for_rds_output"], live_run["seen"]
    assert "up_for_reschedule" not in set().union(*live_run["seen"].values())
    # The triggerer wrote each deferred wait's own trigger log: the polling happened there, not in a worker.
    run_logs = cluster.home / "logs" / f"dag_id={DAILY}" / f"run_id={live_run['run_id']}"
    trigger_logs = sorted(run_logs.glob("task_id=wait_for_rds_output/map_index=*/attempt=1.log.trigger.*.log"))
    assert trigger_logs and all("Trigger fired event" in path.read_text() for path in trigger_logs)


def test_rest_api_lists_the_run_and_its_task_log(live_run, cluster) -> None:
    (run,) = [r for r in cluster.get(f"/api/v2/dags/{DAILY}/dagRuns")["dag_runs"]
              if r["dag_run_id"] == live_run["run_id"]]
    assert run["state"] == "success" and run["logical_date"].startswith(str(ON))
    log = cluster.task_log(DAILY, live_run["run_id"], "ingest", 1)
    assert "snapshot" in log.lower(), log[-2000:]


def test_browser_shows_the_run_in_the_ui(live_run, cluster) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as profile:
        dom = ""
        for budget in (15000, 30000):  # the UI is a React app: give it virtual time to fetch and render
            dom = subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", f"--virtual-time-budget={budget}", "--dump-dom",
                 f"{cluster.base_url}/dags/{DAILY}/runs"],
                capture_output=True, text=True, timeout=120).stdout
            if live_run["run_id"] in dom:
                break
    assert live_run["run_id"] in dom, dom[-2000:]


def test_evidence_dag_answers_over_the_scheduled_day(live_run, cluster, slack) -> None:
    run = finished_run(cluster, slack, EVIDENCE, None, {"cve_id": "CVE-2026-0001"})
    assert run["state"] == "success", {k: v["state"] for k, v in run["tasks"].items()}
    assert run["posts"] == []


# The report view's page as Chromium sees it inside Airflow's UI: Airflow's frame (titled with the
# view's name) holds the month's page, whose own frame holds the published report.
REPORT_VIEW = """(() => {
  const view = document.querySelector('iframe[title="Compliance reports"]');
  const month = view && view.contentDocument;
  const frame = month && month.querySelector('iframe[name=report]');
  const report = frame && frame.contentDocument;
  if (!report || !report.querySelector('table.summary')) return null;
  return {
    page: location.pathname, view: view.contentWindow.location.pathname,
    month: month.querySelector('nav a[aria-current]').textContent,
    teams: [...month.querySelectorAll('nav a.team')].map(a => a.textContent),
    headline: report.querySelector('.card .v').textContent.trim(),
    tables: [...report.querySelectorAll('table.summary')].map(table =>
      [...table.rows].map(tr => [...tr.cells].map(cell => cell.textContent.trim()))),
  };
})()"""


@pytest.fixture(scope="module")
def monthly_run(live_run, cluster, slack) -> dict:
    """The month of the scheduled day, reported by the monthly DAG under the scheduler."""
    return finished_run(cluster, slack, MONTHLY, None, {"month": f"{ON:%Y-%m}"})


def test_the_report_view_shows_the_month_inside_the_ui_where_the_task_links(monthly_run, cluster, world,
                                                                             tmp_path) -> None:
    """Logged in, Chromium follows the report task's link into the view and finds the report's figures
    there: the fleet's compliance % and every Team x Environment row, as the published CSV files say."""
    assert monthly_run["state"] == "success", {k: v["state"] for k, v in monthly_run["tasks"].items()}
    month = f"{ON:%Y-%m}"
    links = cluster.get(f"/api/v2/dags/{MONTHLY}/dagRuns/{quote(monthly_run['run_id'], safe='')}"
                        "/taskInstances/build_report/links")["extra_links"]
    assert links == {"Monthly report": ui_url(month, cluster.base_url)}

    published = ReportFiles.open(world["world"].settings.storage.reports_uri, storage_access(world["endpoint_url"]))
    statuses = [r["status"] for r in csv.DictReader(io.StringIO(published.read(month, "instance_status.csv").decode()))]
    summary = list(csv.DictReader(io.StringIO(published.read(month, "team_environment_summary.csv").decode())))

    with Chromium(tmp_path / "profile") as browser:
        page = browser.open(f"{cluster.base_url}/auth/token/login?next={quote(links['Monthly report'], safe='')}")
        shown = page.wait_for(REPORT_VIEW, timeout=120)
        page.screenshot(tmp_path / "report-view.png")
        refused = [text for text in page.console() if "Content Security Policy" in text]
    assert shown["page"] == f"/plugin/compliance-reports/patch-compliance/reports/{month}/"
    assert (shown["view"], shown["month"]) == (f"/patch-compliance/reports/{month}/", month)
    assert shown["teams"] == published.teams(month)
    assert shown["headline"] == compliance_pct(statuses.count("COMPLIANT"), len(statuses),
                                               statuses.count("STOPPED")) + "%"
    # The Team x Environment table: the first with those two columns and the compliance figure.
    header, *rows = next(t for t in shown["tables"] if t[0][:2] == ["Team", "Environment"] and "Compliance %" in t[0])
    shown_rows = [dict(zip(header, row, strict=True)) for row in rows]
    assert [(r["Team"], r["Environment"], r["Instances"], r["Compliance %"]) for r in shown_rows] == [
        (r["team"], r["environment"], r["instances"], r["compliance_pct"]) for r in summary]
    assert len(summary) > 1 and refused == []


def test_a_sync_that_never_arrives_fails_once_with_one_alert_naming_the_reason(live_run, cluster, slack,
                                                                               world) -> None:
    """No agent: nothing writes RDS output. The wait times out (no retry) and Slack gets exactly one post."""
    run = finished_run(cluster, slack, DAILY, "2026-11-23T00:00:00+00:00")
    assert run["state"] == "failed"
    waits = [t for (task, _), t in run["tasks"].items() if task == "wait_for_rds_output"]
    assert {t["state"] for t in waits} == {"failed"} and {t["try_number"] for t in waits} == {1}
    assert run["tasks"][("ingest", -1)]["state"] == "upstream_failed"
    assert len(run["posts"]) == len(waits), [p.text_content() for p in run["posts"]]  # one per failed task
    for post in run["posts"]:
        text = post.text_content()
        assert "wait_for_rds_output" in text and "Resource Data Sync output is not fresh" in text and "0 of" in text
    assert Lake(LAKE_URI, storage_access(world["endpoint_url"])).snapshot_dates() == [ON]  # the good day is untouched


def test_a_month_without_snapshots_fails_at_once_with_one_alert(live_run, cluster, slack) -> None:
    run = finished_run(cluster, slack, MONTHLY, None, {"month": "2025-01"})
    assert run["state"] == "failed"
    build = run["tasks"][("build_report", -1)]
    assert build["state"] == "failed" and build["try_number"] == 1, "bad input is not retried"
    (post,) = run["posts"]
    assert "build_report" in post.text_content() and "2025-01" in post.text_content()


def test_every_component_listens_on_127_0_0_1_only(cluster) -> None:
    pids = {str(p.pid) for p in cluster.processes.values()}
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout.splitlines()
    ours = [line for line in listening if any(f"pid={pid}," in line for pid in pids) or
            any(f"pid={child}," in line for pid in pids for child in children_of(pid))]
    assert ours, listening
    for line in ours:
        local = line.split()[3]
        assert local.startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:")), line


def children_of(pid: str) -> list[str]:
    found = subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split()
    return found + [grandchild for child in found for grandchild in children_of(child)]
