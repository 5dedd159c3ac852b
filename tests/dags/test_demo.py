"""``make demo`` end to end on a small fleet: every simulated day is a daily DAG run in the demo's Airflow home.

This is what ``make ui`` shows, so the test reads the runs from that home's metadata database: one
successful ``patch_compliance_daily`` run per day (archived runs with their ``rds_source``, the last
day live), the monthly report run, and the report copied out.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta

import pytest

from tests.dags.conftest import REPO

pytestmark = [pytest.mark.xdist_group("demo"), pytest.mark.e2e]

END = date(2026, 11, 26)
DAYS = 4


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """The demo with its own config (production quality gates), so the fleet is clean and big enough:
    on a 40-node fleet one stale host breaks the 95 % freshness gate, and an account with 7 targets
    cannot reach the demo's sync share when moto counts agentless instances as targets."""
    root = tmp_path_factory.mktemp("demo")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "AWS_", "PATCH_COMPLIANCE"))}
    env["PYTHONPATH"] = f"{REPO / 'plugins'}:{REPO}"
    result = subprocess.run(
        [sys.executable, "-m", "sim.demo", "run", "--root", str(root), "--days", str(DAYS), "--live-days", "1",
         "--size", "150", "--fleet", "clean", "--end", str(END)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    return root, result.stdout


def test_every_day_is_a_successful_daily_run_in_the_ui_home(demo_root) -> None:
    root, _ = demo_root
    with sqlite3.connect(root / "airflow_home" / "airflow.db") as con:
        runs = con.execute("SELECT logical_date, state, conf, julianday(end_date) - julianday(start_date), run_id "
                           "FROM dag_run WHERE dag_id = 'patch_compliance_daily' ORDER BY logical_date").fetchall()
        monthly = con.execute("SELECT state FROM dag_run WHERE dag_id = 'patch_compliance_monthly_report'").fetchall()
        skipped = con.execute("SELECT DISTINCT task_id FROM task_instance WHERE dag_id = 'patch_compliance_daily' "
                              "AND state = 'skipped'").fetchall()
    days = [END - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    assert [r[0][:10] for r in runs] == [str(d) for d in days]
    assert [r[4] for r in runs] == [f"manual__{d}T00:00:00+00:00" for d in days]  # the UI lists runs by these
    assert {r[1] for r in runs} == {"success"}
    # Archived runs, each of its own kept copy of the day's sync output, then the live run.
    sources = [(json.loads(r[2]) if r[2] else {}).get("rds_source") for r in runs]
    assert sources[:-1] == [str(root / ".demo" / "sync-archive" / str(d)) for d in days[:-1]]
    assert sources[-1] is None
    # The UI shows real durations (seconds to minutes), not the days since the logical date.
    assert all(0 < r[3] * 86400 < 900 for r in runs), [r[3] * 86400 for r in runs]
    assert monthly == [("success",)]
    assert ("send_scan",) in skipped  # the archived runs skipped the scan


def test_report_and_summary_are_written_and_printed(demo_root) -> None:
    root, stdout = demo_root
    report = root / "out" / f"report-{END:%Y-%m}"
    assert {p.name for p in report.iterdir()} >= {"report.html", "team_environment_summary.csv", "manifest.json"}
    assert "Team x Environment" in stdout and str(report) in stdout
    teams = json.loads((report / "manifest.json").read_text())["teams"]
    assert teams and f"team pages      {report}/teams/ ({len(teams)} teams" in stdout
    for team, folder in teams.items():  # every team's page is printed and was copied out
        page = report / "teams" / folder / "report.html"
        assert page.is_file() and f"{team:<22} {page}" in stdout
    for day in (END - timedelta(days=1), END):
        assert f"{day}: {'live' if day == END else 'archived'} run success" in stdout
