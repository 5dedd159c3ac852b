"""``make demo`` / ``make ui``: a month of patch compliance history, every day a run of the real daily DAG.

``python -m sim.demo run`` (what ``make demo`` calls):

1. starts a moto server on 127.0.0.1 and a local Slack receiver, seeds the simulated fleet's EC2
   instances and the buckets into moto, migrates Airflow's SQLite database in ``./airflow_home``;
2. runs ``patch_compliance_daily`` with ``dag.test()`` in this process for each older day as an
   *archived run*: the simulator renders the day's RDS tree on local disk (and the day's EC2
   inventory into the lake) and publishes the day's patch catalog to the stand-in, and the run
   ingests that tree (``rds_source``), fills the day's catalog snapshot and validates it. An
   800-node day through moto's S3 costs over a minute of HTTP, so only the newest days go live;
3. runs the most recent ``--live-days`` days *live*: scan commands sent through the SsmHook, the
   simulated agents answering them by writing RDS JSON into moto S3, the sensors, the inventory,
   ingest, validation, baselines, the asset;
4. runs ``patch_compliance_monthly_report`` for the month, copies the report (team pages included)
   to ``./out/``, prints the Team x Environment table, the paths and where each team's page is, and
   stops what it started.

``python -m sim.demo ui`` (``make ui``) starts Airflow's api-server, scheduler, dag-processor and
triggerer on 127.0.0.1 only (``sim.airflow_cluster``) over that home, so the month of runs shows in
the UI.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import gc
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import yaml

from patch_compliance.config import project_home
from patch_compliance.inputs import parse_date

REPO = project_home()
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")
STARTED = time.monotonic()


DAILY, MONTHLY = "patch_compliance_daily", "patch_compliance_monthly_report"
CONSOLE: TextIO = sys.stdout  # the terminal, even while a DAG run's output goes to its log file


@dataclass(frozen=True)
class DemoPlan:
    """Which days the demo runs and which month it reports."""

    archived: list[date]  # consecutive days, each an archived run
    live: list[date]  # the most recent days, run live
    month: str  # YYYY-MM reported by the monthly DAG


def plan_days(end: date, live_days: int, days: int | None = None) -> DemoPlan:
    """By default the last complete month (``end``'s month when ``end`` is its last day): every day of it
    is a run, so the report has a whole month of trend; then ``end`` itself, live. The days between
    the month's end and ``end`` are not simulated. With ``days``: that many consecutive days ending
    ``end``, and ``end``'s month reported (quick runs)."""
    if live_days < 1:
        raise ValueError("--live-days must be at least 1")
    live = [end - timedelta(days=n) for n in range(live_days - 1, -1, -1)]
    if days is not None:
        if not live_days <= days:
            raise ValueError("--live-days must be between 1 and --days")
        first = end - timedelta(days=days - 1)
        return DemoPlan([first + timedelta(days=n) for n in range(days - live_days)], live, f"{end:%Y-%m}")
    month_end = end if (end + timedelta(days=1)).day == 1 else end.replace(day=1) - timedelta(days=1)
    first = month_end.replace(day=1)
    last_archived = min(month_end, live[0] - timedelta(days=1))
    archived = [first + timedelta(days=n) for n in range((last_archived - first).days + 1)]
    return DemoPlan(archived, live, f"{month_end:%Y-%m}")


@dataclass
class PhaseClock:
    """Wall time per demo phase, printed at the end (docs/performance.md has the budget)."""

    phases: dict[str, float] = field(default_factory=dict)
    _mark: float = field(default_factory=time.monotonic)

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._mark
        self._mark = now

    def lines(self) -> list[str]:
        total = sum(self.phases.values())
        return [f"  {name:<34} {seconds:7.1f} s" for name, seconds in self.phases.items()] + [
            f"  {'total (after the install)':<34} {total:7.1f} s"]


def say(message: str) -> None:
    elapsed = time.monotonic() - STARTED
    print(f"[demo {int(elapsed // 60):02d}:{int(elapsed % 60):02d}] {message}", file=CONSOLE, flush=True)


def demo_config(home: Path, endpoint_url: str) -> Path:
    """config/fleet.yaml with the local stand-in's adjustments, written into the Airflow home.

    moto counts instances without the SSM Agent in a command's TargetCount (real SSM targets managed
    nodes only), so the share of targeted nodes that can sync is lower locally; waits are short. The
    Amazon Linux 2023 catalog feed is the simulator's repository on the stand-in (no internet).
    """
    from sim.catalog_service import feed_url

    raw = yaml.safe_load((REPO / "config" / "fleet.yaml").read_text())
    raw["scan"].update({"sync_min_share": 0.7, "sync_wait_minutes": 5, "command_timeout_minutes": 10})
    for feed in raw["patch_catalog"]["feeds"]:
        if feed["name"] == "al2023":
            feed["mirror_list"] = feed_url(endpoint_url)
    raw["airflow"] = {**(raw.get("airflow") or {}), "retries": 1, "retry_delay_seconds": 5,
                      "command_poke_seconds": 2, "sync_poke_seconds": 3}
    path = home / "fleet.yaml"
    path.write_text("# Written by `make demo` (sim/demo.py): config/fleet.yaml for the local stand-in.\n"
                    + yaml.safe_dump(raw, sort_keys=False))
    return path


def local_airflow_settings(home: Path) -> dict[str, str]:
    """A local Airflow over this repository: SQLite in ``home``, its DAGs and plugins, every user admin.

    Shared by the demo, ``make ui`` and the DAG tests, so all three run the same Airflow.
    """
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
    }


def airflow_env(home: Path, config: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Airflow command of the demo (and ``make ui``) runs with."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update({
        **local_airflow_settings(home),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "PATCH_COMPLIANCE_CONFIG": str(config),
        "PATH": os.pathsep.join([str(AIRFLOW_BIN.parent), os.environ.get("PATH", "")]),
        **(extra or {}),
    })
    return env


class InProcessAirflow:
    """Runs the DAGs with ``dag.test()`` inside this process: one Airflow start-up for the whole demo.

    A run of ``airflow dags test`` pays Airflow's import and DAG-folder parse each time (seconds);
    a month of daily runs pays it once here. Each run's output (its task logs) goes to its own file,
    while the console keeps the demo's progress lines. ``os.environ`` must already hold the demo's
    Airflow environment: Airflow reads it when first imported.

    Such a process holds millions of long-lived objects (Airflow, SQLAlchemy, Great Expectations,
    pyiceberg), and CPython's full collections walk them all: ≈0.5 s each, 14-17 s of CPU over an
    8-day demo (measured with ``gc.callbacks``). After each run what is still alive is moved out of
    the collector's reach (``gc.freeze``, as Airflow's LocalExecutor does before forking workers), and
    full collections are made rarer: 4.7 s over the same demo, the same peak memory.
    """

    COLLECTOR_THRESHOLDS = (10_000, 10, 100)

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self._dags: dict[str, Any] = {}
        gc.set_threshold(*self.COLLECTOR_THRESHOLDS)

    def dag(self, dag_id: str) -> Any:
        if dag_id not in self._dags:
            spec = importlib.util.spec_from_file_location(f"demo_dag_{dag_id}", REPO / "dags" / f"{dag_id}.py")
            module = importlib.util.module_from_spec(spec)
            with self.output_to(self.logs / "airflow-import.log"):
                spec.loader.exec_module(module)
            self._dags[dag_id] = module.dag
            gc.freeze()
        return self._dags[dag_id]

    def test(self, dag_id: str, logical_date: datetime, conf: dict[str, Any] | None, log_name: str) -> str:
        """One ``dag.test()`` run; returns its final state ("success" or "failed")."""
        dag = self.dag(dag_id)
        with self.output_to(self.logs / log_name):
            # run_after = logical date, as for a scheduled run: the run id and the UI's "Run After" name the day.
            run = dag.test(logical_date=logical_date, run_after=logical_date, run_conf=conf)
        self._record_real_start(run.id)
        gc.freeze()
        return str(getattr(run.state, "value", run.state))

    @staticmethod
    def _record_real_start(run_id: int) -> None:
        """``dag.test()`` records a run's start as its logical date, so the UI would show a run of
        seconds as lasting days; record when its first task started instead, as a scheduler would."""
        from airflow import settings
        from airflow.models.dagrun import DagRun

        with settings.Session() as session:
            run = session.get(DagRun, run_id)
            starts = [ti.start_date for ti in run.get_task_instances(session=session) if ti.start_date]
            if starts:
                run.start_date = min(starts)
                session.commit()

    @staticmethod
    @contextlib.contextmanager
    def output_to(path: Path):
        """Point this process's stdout and stderr (file descriptors 1 and 2) at ``path`` for a while."""
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        with open(path, "ab") as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])


# What the first daily run imports beyond Airflow (Great Expectations alone took 8 s of that run's 28 s):
# imported while the fleet is seeded and Airflow's database migrates. The tasks import them as they
# always do; they only find them loaded.
WARM_MODULES = ("great_expectations", "pyiceberg.catalog.glue", "pyiceberg.io.pyarrow", "patch_compliance.ingest",
                "patch_compliance.quality", "patch_compliance.inventory", "patch_compliance.patch_catalog")


def warm_imports() -> threading.Thread:
    """Import ``WARM_MODULES`` on a thread (joined before Airflow is imported); a failure is left to the run."""
    def load() -> None:
        for name in WARM_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # the task that needs it imports it again and fails there, with its own error
                return

    thread = threading.Thread(target=load, name="warm-imports", daemon=True)
    thread.start()
    return thread


def enter_environment(env: dict[str, str]) -> None:
    """Make ``env`` this process's whole environment (the in-process Airflow reads it on import)."""
    os.environ.clear()
    os.environ.update(env)


def run(args: argparse.Namespace) -> int:
    global CONSOLE
    from patch_compliance.aws import storage_access
    from patch_compliance.lake import Lake
    from sim.agent import Agent, AgentRunner
    from sim.catalog_service import publish_catalog
    from sim.fleet import CLEAN_FLEET, create_buckets, seed_moto
    from sim.history import build_history
    from sim.moto_server import LOCAL_CREDENTIALS, MotoServer
    from sim.state import SimState, build_world
    from tests.fixtures.slack_receiver import SlackReceiver

    root = Path(args.root).resolve()
    home, out, work = (root / "airflow_home"), (root / "out"), (root / ".demo")
    end = parse_date(args.end, "--end") if args.end else datetime.now(UTC).date()
    try:
        plan = plan_days(end, args.live_days, args.days)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    clock = PhaseClock()
    for directory in (home, work):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    out.mkdir(exist_ok=True)
    logs = work / "logs"
    logs.mkdir()
    CONSOLE = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)  # stays on the terminal during runs
    os.environ.update(LOCAL_CREDENTIALS)

    archived_days = len(plan.archived)
    gap = (plan.live[0] - plan.archived[-1]).days - 1 if plan.archived else 0
    say(f"{archived_days + len(plan.live)} simulated days ({args.fleet} fleet of {args.size}), every one a run of the "
        f"real patch_compliance_daily DAG: {archived_days} archived runs "
        + (f"{plan.archived[0]} .. {plan.archived[-1]} " if plan.archived else "")
        + f"(the simulator's RDS tree of the day -> ingest -> validate), then {len(plan.live)} live "
        f"({', '.join(map(str, plan.live))}: SSM scan, sync into moto S3, sensors); report {plan.month}"
        + (f"; the {gap} day(s) between are not simulated" if gap > 0 else ""))
    with MotoServer() as moto, SlackReceiver() as slack:
        endpoint = moto.endpoint_url
        say(f"moto server on {endpoint}; Slack receiver on {slack.base_url}")
        config = demo_config(home, endpoint)
        enter_environment(airflow_env(home, config, {
            **LOCAL_CREDENTIALS,
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
                "conn_type": "aws", "login": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "password": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                "extra": {"endpoint_url": endpoint, "region_name": "eu-west-1"}}),
            "AIRFLOW_CONN_SLACK_WEBHOOK": slack.connection_json(),
        }))
        migrate_log = (logs / "airflow-db-migrate.log").open("w")  # closed after migrate.wait()
        migrate = subprocess.Popen([str(AIRFLOW_BIN), "db", "migrate"], cwd=REPO,
                                   stdout=migrate_log, stderr=subprocess.STDOUT)

        archived_end = plan.archived[-1] if plan.archived else plan.live[0] - timedelta(days=1)
        state = SimState(seed=args.seed, size=args.size, sim_date=archived_end, endpoint_url=endpoint,
                         fleet=dict(CLEAN_FLEET) if args.fleet == "clean" else {})
        state.save(work / "sim-state.json")
        world = build_world(state)
        create_buckets(endpoint, world.settings)
        warming = warm_imports()
        state.id_map = seed_moto(world.fleet, endpoint, end, world.settings)
        state.save()
        world = build_world(state)
        say(f"seeded {len(state.id_map)} EC2 instances ({len(world.fleet.nodes)} nodes incl. on-prem mi-) "
            f"in {len(world.settings.accounts)} accounts")
        migrated = migrate.wait()
        migrate_log.close()
        if migrated != 0:
            raise SystemExit(f"airflow db migrate failed; see {logs / 'airflow-db-migrate.log'}")
        warming.join()
        airflow = InProcessAirflow(logs)
        airflow.dag(DAILY)
        say("Airflow metadata database migrated (SQLite); DAGs loaded")
        clock.lap("set-up (stand-in, fleet, Airflow DB)")

        lake_uri = world.settings.storage.lake_uri
        paths: dict[date, str] = {}
        failed: list[str] = []

        def daily_run(day: date, conf: dict[str, Any] | None, path: str) -> None:
            started = time.monotonic()
            # What SSM and the AL2023 repository know that day; the run's fill_patch_catalog task reads it.
            publish_catalog(endpoint, world.catalog, day, world.settings.aws.region)
            verdict = airflow.test(DAILY, datetime(day.year, day.month, day.day, tzinfo=UTC), conf,
                                   f"{DAILY}-{day}.log")
            paths[day] = f"{path} run, {verdict}" + (f": rds_source {conf['rds_source']}" if conf.get("rds_source") else
                                                       ": SSM scan, Resource Data Sync into moto S3")
            if verdict != "success":
                failed.append(f"{DAILY} {day} (see {logs}/{DAILY}-{day}.log)")
            say(f"  {day}: {path} run {verdict} in {time.monotonic() - started:.1f} s")

        if archived_days:
            say(f"archived runs: {archived_days} days {archived_end - timedelta(days=archived_days - 1)} .. "
                f"{archived_end} into {lake_uri}")
            result = build_history(
                world, archived_days, archived_end, lake_uri, work / "history", endpoint_url=endpoint,
                progress=lambda _message: None,
                keep_copies=work / "sync-archive",
                ingest_day=lambda day, kept: daily_run(day, {"rds_source": str(kept)}, "archived"))
            say(f"archived runs done in {result['seconds']:.0f} s ({result['objects']} RDS objects written)")
            clock.lap(f"{archived_days} archived daily runs")

        with AgentRunner(Agent(endpoint, state.path), interval=0.5) as agent:
            for day in plan.live:
                state.sim_date = day
                state.save()  # the agent re-reads the state file: it answers scans as of this day
                say(f"live run for {day}: scan -> wait -> RDS sync -> inventory -> ingest -> validate")
                daily_run(day, {"rds_source": None}, "live")  # explicit: in-process runs share the DAG's params
                say(f"  agent answered {len(agent.agent.reports)} scan commands so far")
        clock.lap(f"{len(plan.live)} live daily run(s)")

        month = plan.month
        say(f"monthly report DAG for {month}")
        verdict = airflow.test(MONTHLY, datetime(end.year, end.month, end.day, 8, tzinfo=UTC), {"month": month},
                               f"{MONTHLY}.log")
        if verdict != "success":
            failed.append(f"{MONTHLY} (see {logs}/{MONTHLY}.log)")
        report_dir = out / f"report-{month}"
        clock.lap("monthly report run")
        copied = copy_report(world.settings.storage.reports_uri, month, endpoint, report_dir)
        snapshots = Lake(lake_uri, storage_access(endpoint)).snapshot_dates()
        in_month = [d for d in snapshots if f"{d:%Y-%m}" == month]
        slack_dir = out / "slack"
        shutil.rmtree(slack_dir, ignore_errors=True)
        slack_dir.mkdir()
        for n, request in enumerate(slack.requests, start=1):
            (slack_dir / f"message-{n:02d}.json").write_text(json.dumps(request.body, indent=2))
        messages = len(slack.requests)

    say("how each day's snapshot was made (every day is a patch_compliance_daily run in Airflow):")
    echo = functools.partial(print, file=CONSOLE)
    for day in sorted(paths):
        echo(f"    {day}  {paths[day]}")
    echo(f"\nLake snapshots: {len(snapshots)} ({snapshots[0]} .. {snapshots[-1]})" if snapshots else "no snapshots")
    summary = report_dir / "team_environment_summary.csv"
    if summary.exists():
        echo(f"\nTeam x Environment, {month}: {len(in_month)} daily snapshots "
             f"{in_month[0]} .. {in_month[-1]} (from {summary}):\n" if in_month else
             f"\nTeam x Environment, {month} (from {summary}):\n")
        echo(format_summary(summary.read_text()))
    echo("\nPaths:")
    echo(f"  report          {report_dir}/ ({', '.join(n for n in copied if '/' not in n)})")
    teams = team_pages(report_dir)
    echo(f"  team pages      {report_dir}/teams/ ({len(teams)} teams, each with its CSVs):")
    for team, page in teams:
        echo(f"    {team:<22} {page}")
    echo(f"  Slack messages  {slack_dir}/ ({messages} captured)")
    echo(f"  Airflow home    {home} (SQLite, {len(paths) + 1} DAG runs; `make ui` shows them)")
    echo(f"  logs            {logs}/")
    clock.lap("report copy, summary")
    echo("\nPhase timings (wall):")
    for line in clock.lines():
        echo(line)
    say("done; moto server and Slack receiver stopped"
        + (f"; {len(failed)} run(s) FAILED: {'; '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def copy_report(reports_uri: str, month: str, endpoint: str, target: Path) -> list[str]:
    """Copy the month's report files (team folders included) from the reports bucket (moto) into ``target``."""
    from patch_compliance.aws import storage_access
    from patch_compliance.storage import list_files, open_location, read_bytes

    location, fs = open_location(f"{reports_uri.rstrip('/')}/{month}", storage_access(endpoint), "reports")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    prefix = location.fs_path.rstrip("/") + "/"
    names = []
    for info in list_files(fs, location.fs_path):
        name = info.path.removeprefix(prefix)
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(read_bytes(fs, info.path))
        names.append(name)
    return sorted(names)


def team_pages(report_dir: Path) -> list[tuple[str, Path]]:
    """Each team of the copied report with its page (the manifest maps teams to their folders)."""
    manifest = report_dir / "manifest.json"
    teams = json.loads(manifest.read_text()).get("teams", {}) if manifest.exists() else {}
    return [(team, report_dir / "teams" / folder / "report.html") for team, folder in sorted(teams.items())]


def format_summary(text: str) -> str:
    rows = list(csv.DictReader(io.StringIO(text)))
    columns = ["team", "environment", "instances", "compliant", "non_compliant", "stale", "no_data", "unmanaged",
               "compliance_pct", "instances_missing_critical_14d"]
    headers = ["team", "environment", "inst", "compl", "non-compl", "stale", "no-data", "unmanaged", "compl %",
               "missing crit >14d"]
    table = [headers] + [[row.get(c, "") for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    return "\n".join("  " + "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w)
                                       in enumerate(zip(r, widths, strict=True))) for r in table)


def ui_config(config: Path, out: Path, home: Path) -> Path:
    """``config`` with its reports location at the demo's copies (``out/report-<YYYY-MM>/``), linked by month.

    The stand-in whose bucket the demo wrote the reports to is stopped; the UI's report view reads these.
    """
    reports = home / "ui-reports"
    shutil.rmtree(reports, ignore_errors=True)
    reports.mkdir()
    for copy in sorted(out.glob("report-[0-9][0-9][0-9][0-9]-[0-9][0-9]")):
        (reports / copy.name.removeprefix("report-")).symlink_to(copy.resolve(), target_is_directory=True)
    raw = yaml.safe_load(config.read_text())
    raw.setdefault("storage", {})["reports_uri"] = str(reports)
    path = home / "fleet-ui.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def ui(args: argparse.Namespace) -> int:
    """Airflow's four components on 127.0.0.1 over the demo's Airflow home (DAGs stay paused).

    Not ``airflow standalone``: its log servers listen on every interface. Scheduled runs are off
    (the demo's config points at a stand-in that is no longer running); manual triggers still run.
    The report view shows the reports the demo copied to ``out/``.
    """
    from sim.airflow_cluster import AirflowCluster

    root = Path(args.root).resolve()
    home = root / "airflow_home"
    if not (home / "airflow.db").exists():
        raise SystemExit(f"no Airflow database in {home}: run `make demo` first")
    config = home / "fleet.yaml"
    env = airflow_env(home, ui_config(config if config.exists() else REPO / "config" / "fleet.yaml", root / "out",
                                      home), {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})
    cluster = AirflowCluster(home, env, port=args.port)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the components as Ctrl-C does
    with cluster:
        print(f"Airflow UI on {cluster.base_url}/dags/patch_compliance_daily/runs "
              f"(no login: every local user is admin), the reports on {cluster.base_url}/plugin/compliance-reports; "
              f"component logs in {home / 'components'}; Ctrl-C stops it.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                cluster.check_alive()
                time.sleep(2)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("run", help="build the history, run the DAGs, copy the report to ./out")
    demo.add_argument("--days", type=int,
                      help="simulated days in all, ending --end, reporting --end's month (default: every day of "
                           "the last complete month, then --end live, reporting that month)")
    demo.add_argument("--live-days", type=int, default=1,
                      help="most recent days run live: SSM scans answered by the simulated agents, RDS output "
                           "into moto S3, the sensors (default 1; the days before run as archived runs)")
    demo.add_argument("--size", type=int, default=800, help="EC2 instances in the fleet")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--fleet", choices=("clean", "defects"), default="defects",
                      help="defects (default): the simulator's realistic tag gaps, wrong-case values, stale "
                           "agents and unmanaged hosts, which the daily DAG's validation reports to Slack as "
                           "warnings; clean: a fleet without them")
    demo.add_argument("--end", help="last simulated day YYYY-MM-DD (default: today, UTC)")
    demo.add_argument("--root", default=str(REPO),
                      help="where airflow_home/, out/ and .demo/ go (default: the project directory)")
    demo.set_defaults(func=run)
    show = sub.add_parser("ui", help="the Airflow UI over ./airflow_home, on 127.0.0.1 only")
    show.add_argument("--port", type=int, default=8080)
    show.add_argument("--root", default=str(REPO), help="the directory `run --root` used")
    show.set_defaults(func=ui)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
