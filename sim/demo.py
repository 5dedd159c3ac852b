"""``make demo`` / ``make ui``: a month of patch compliance history, run through the real DAGs locally.

``python -m sim.demo run`` (what ``make demo`` calls):

1. starts a moto server on 127.0.0.1 and a local Slack receiver, seeds the simulated fleet's EC2
   instances and the buckets into moto;
2. builds the older history (``--days`` minus ``--dag-days``) with the simulator's history builder:
   local RDS trees through the same ``ingest_snapshot`` into the lake in moto S3 (an 800-node day
   through moto's S3 costs ~18 s of HTTP alone, so older days take the fast path);
3. runs the real ``patch_compliance_daily`` DAG (``airflow dags test``) for the most recent
   ``--dag-days`` days: scan commands sent through the SsmHook, the simulated agents answering them by
   writing RDS JSON into moto S3, the sensors, ingest, validation, baselines, the asset;
4. runs ``patch_compliance_monthly_report`` for the month, copies the report to ``./out/``, prints
   the Team x Environment table and the paths, and stops what it started.

Airflow runs with SQLite in ``./airflow_home``; ``python -m sim.demo ui`` (``make ui``) starts
``airflow standalone`` on 127.0.0.1 over that home, so the demo's runs show in the UI.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from patch_compliance.config import project_home
from patch_compliance.inputs import parse_date

REPO = project_home()
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")
STARTED = time.monotonic()


def say(message: str) -> None:
    elapsed = time.monotonic() - STARTED
    print(f"[demo {int(elapsed // 60):02d}:{int(elapsed % 60):02d}] {message}", flush=True)


def demo_config(home: Path) -> Path:
    """config/fleet.yaml with the local stand-in's adjustments, written into the Airflow home.

    moto counts instances without the SSM Agent in a command's TargetCount (real SSM targets managed
    nodes only), so the share of targeted nodes that can sync is lower locally; waits are short.
    """
    raw = yaml.safe_load((REPO / "config" / "fleet.yaml").read_text())
    raw["scan"].update({"sync_min_share": 0.7, "sync_wait_minutes": 5, "command_timeout_minutes": 10})
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
        # `airflow standalone` starts its components as `airflow …` from PATH: the virtualenv's first.
        "PATH": os.pathsep.join([str(AIRFLOW_BIN.parent), os.environ.get("PATH", "")]),
        **(extra or {}),
    })
    return env


def airflow(env: dict[str, str], *args: str, log: Path | None = None, timeout: float = 900) -> int:
    with open(log, "a") if log else open(os.devnull, "w") as out:
        return subprocess.run([str(AIRFLOW_BIN), *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                              timeout=timeout, cwd=REPO).returncode


def run(args: argparse.Namespace) -> int:
    from patch_compliance.lake import Lake
    from sim.agent import Agent, AgentRunner
    from sim.fleet import CLEAN_FLEET, create_buckets, seed_moto
    from sim.history import build_history
    from sim.moto_server import LOCAL_CREDENTIALS, MotoServer
    from sim.state import SimState, build_world
    from tests.slack_receiver import SlackReceiver

    home, out, work = (REPO / "airflow_home"), (REPO / "out"), (REPO / ".demo")
    end = parse_date(args.end, "--end") if args.end else datetime.now(UTC).date()
    if not 1 <= args.dag_days <= args.days:
        raise SystemExit("--dag-days must be between 1 and --days")
    history_end = end - timedelta(days=args.dag_days)
    dag_days = [end - timedelta(days=n) for n in range(args.dag_days - 1, -1, -1)]
    for directory in (home, work):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    out.mkdir(exist_ok=True)
    logs = work / "logs"
    logs.mkdir()
    os.environ.update(LOCAL_CREDENTIALS)
    config = demo_config(home)
    os.environ["PATCH_COMPLIANCE_CONFIG"] = str(config)

    say(f"{args.days} simulated days ending {end} ({args.fleet} fleet of {args.size}): "
        f"{args.days - args.dag_days} via the history builder (local RDS trees -> ingest), "
        f"the last {args.dag_days} through the real daily DAG and moto")
    with MotoServer() as moto, SlackReceiver() as slack:
        endpoint = moto.endpoint_url
        say(f"moto server on {endpoint}; Slack receiver on {slack.base_url}")
        env = airflow_env(home, config, {
            **LOCAL_CREDENTIALS,
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
                "conn_type": "aws", "login": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "password": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                "extra": {"endpoint_url": endpoint, "region_name": "eu-west-1"}}),
            "AIRFLOW_CONN_SLACK_WEBHOOK": slack.connection_json(),
        })
        migrate_log = (logs / "airflow-db-migrate.log").open("w")  # closed after migrate.wait()
        migrate = subprocess.Popen([str(AIRFLOW_BIN), "db", "migrate"], env=env, cwd=REPO,
                                   stdout=migrate_log, stderr=subprocess.STDOUT)

        state = SimState(seed=args.seed, size=args.size, sim_date=history_end, endpoint_url=endpoint,
                         fleet=dict(CLEAN_FLEET) if args.fleet == "clean" else {})
        state.save(work / "sim-state.json")
        world = build_world(state)
        create_buckets(endpoint, world.settings)
        state.id_map = seed_moto(world.fleet, endpoint, end, world.settings)
        state.save()
        world = build_world(state)
        say(f"seeded {len(state.id_map)} EC2 instances ({len(world.fleet.nodes)} nodes incl. on-prem mi-) "
            f"in {len(world.settings.accounts)} accounts")

        lake_uri = world.settings.storage.lake_uri
        history_days = args.days - args.dag_days
        paths: dict[date, str] = {}
        if history_days:
            say(f"history builder: {history_days} days {history_end - timedelta(days=history_days - 1)} .. "
                f"{history_end} into {lake_uri}")
            result = build_history(world, history_days, history_end, lake_uri, work / "history", catalog=True,
                                   endpoint_url=endpoint, progress=lambda m: say(f"  history {m}"))
            for n in range(history_days):
                paths[history_end - timedelta(days=n)] = "history builder (local RDS tree -> ingest)"
            say(f"history built in {result['seconds']:.0f} s ({result['objects']} RDS objects)")
        migrated = migrate.wait()
        migrate_log.close()
        if migrated != 0:
            raise SystemExit(f"airflow db migrate failed; see {logs / 'airflow-db-migrate.log'}")

        failures = 0
        with AgentRunner(Agent(endpoint, state.path), interval=0.5) as agent:
            for day in dag_days:
                state.sim_date = day
                state.save()  # the agent re-reads the state file: it answers scans as of this day
                say(f"daily DAG for {day}: scan -> wait -> RDS sync -> inventory -> ingest -> validate")
                started = time.monotonic()
                code = airflow(env, "dags", "test", "patch_compliance_daily", f"{day}T00:00:00+00:00",
                               log=logs / f"patch_compliance_daily-{day}.log")
                verdict = "success" if code == 0 else f"FAILED (see {logs}/patch_compliance_daily-{day}.log)"
                failures += code != 0
                paths[day] = "Airflow patch_compliance_daily (SSM scan, RDS in moto S3, ingest, validate)"
                say(f"  {day}: {verdict} in {time.monotonic() - started:.0f} s; "
                    f"agent answered {len(agent.agent.reports)} scan commands so far")

        month = f"{end.year:04d}-{end.month:02d}"
        say(f"monthly report DAG for {month}")
        code = airflow(env, "dags", "test", "patch_compliance_monthly_report", f"{end}T08:00:00+00:00",
                       "-c", json.dumps({"month": month}), log=logs / "patch_compliance_monthly_report.log")
        failures += code != 0
        report_dir = out / f"report-{month}"
        copied = copy_report(world.settings.storage.reports_uri, month, endpoint, report_dir)
        snapshots = Lake(lake_uri, endpoint).snapshot_dates()
        slack_dir = out / "slack"
        shutil.rmtree(slack_dir, ignore_errors=True)
        slack_dir.mkdir()
        for n, request in enumerate(slack.requests, start=1):
            (slack_dir / f"message-{n:02d}.json").write_text(json.dumps(request.body, indent=2))
        messages = len(slack.requests)

    say("which path each day took:")
    for day in sorted(paths):
        print(f"    {day}  {paths[day]}")
    print(f"\nLake snapshots: {len(snapshots)} ({snapshots[0]} .. {snapshots[-1]})" if snapshots else "no snapshots")
    summary = report_dir / "team_environment_summary.csv"
    if summary.exists():
        print(f"\nTeam x Environment, {month} (from {summary}):\n")
        print(format_summary(summary.read_text()))
    print("\nPaths:")
    print(f"  report          {report_dir}/ ({', '.join(copied)})")
    print(f"  Slack messages  {slack_dir}/ ({messages} captured)")
    print(f"  Airflow home    {home} (SQLite; `make ui` shows these runs)")
    print(f"  logs            {logs}/")
    say("done; moto server and Slack receiver stopped" + (f"; {failures} run(s) FAILED" if failures else ""))
    return 1 if failures else 0


def copy_report(reports_uri: str, month: str, endpoint: str, target: Path) -> list[str]:
    """Copy the month's report files from the reports bucket (moto) into ``target``."""
    from patch_compliance.storage import list_files, open_location, read_bytes

    location, fs = open_location(f"{reports_uri.rstrip('/')}/{month}", endpoint, "reports")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    names = []
    for info in list_files(fs, location.fs_path):
        name = info.path.rsplit("/", 1)[-1]
        (target / name).write_bytes(read_bytes(fs, info.path))
        names.append(name)
    return sorted(names)


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


def ui(args: argparse.Namespace) -> int:
    """``airflow standalone`` on 127.0.0.1 over the demo's Airflow home (DAGs stay paused)."""
    home = REPO / "airflow_home"
    if not (home / "airflow.db").exists():
        raise SystemExit(f"no Airflow database in {home}: run `make demo` first")
    config = home / "fleet.yaml"
    env = airflow_env(home, config if config.exists() else REPO / "config" / "fleet.yaml",
                      {"AIRFLOW__API__PORT": str(args.port)})
    print(f"Airflow UI on http://127.0.0.1:{args.port}/dags/patch_compliance_daily/runs "
          f"(no login: every local user is admin); Ctrl-C stops it.", flush=True)
    os.chdir(REPO)
    # Replace this process, so Ctrl-C and signals reach Airflow and its components directly.
    os.execve(str(AIRFLOW_BIN), [str(AIRFLOW_BIN), "standalone"], env)  # noqa: S606 (fixed argv, no shell)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("run", help="build the history, run the DAGs, copy the report to ./out")
    demo.add_argument("--days", type=int, default=35, help="simulated days in all (default 35)")
    demo.add_argument("--dag-days", type=int, default=2, help="most recent days run by the daily DAG")
    demo.add_argument("--size", type=int, default=800, help="EC2 instances in the fleet")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--fleet", choices=("clean", "defects"), default="defects",
                      help="defects (default): the simulator's realistic tag gaps, wrong-case values, stale "
                           "agents and unmanaged hosts, which the daily DAG's validation reports to Slack as "
                           "warnings; clean: a fleet without them")
    demo.add_argument("--end", help="last simulated day YYYY-MM-DD (default: today, UTC)")
    demo.set_defaults(func=run)
    show = sub.add_parser("ui", help="airflow standalone over ./airflow_home on 127.0.0.1")
    show.add_argument("--port", type=int, default=8080)
    show.set_defaults(func=ui)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
