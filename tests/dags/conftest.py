"""Airflow test harness: a per-worker AIRFLOW_HOME with SQLite, migrated once, and connections by env.

Real DAG runs go through the real CLI (``airflow dags test``) in a subprocess whose environment
holds the connections (``AIRFLOW_CONN_AWS_DEFAULT`` pointing at the moto server, the Slack webhook
pointing at the local receiver) and a test copy of the fleet config with short waits. Running them
out of process keeps this worker's own interpreter free of Airflow's import-time configuration.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.demo import local_airflow_settings

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")

# DagBag parsing in this process (integrity tests) sees only this repository (AIRFLOW_HOME: tests/conftest.py).
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO / "plugins"))


@pytest.fixture(scope="session")
def dagbag():
    """Every DAG file parsed once, as the dag-processor would."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def write_test_config(tmp_path: Path, endpoint_url: str | None = None, **overrides: dict[str, Any]) -> Path:
    """A copy of config/fleet.yaml with short waits and no retries, section values overridden.

    Nothing may reach the internet: the Amazon Linux 2023 catalog feed is the simulator's repository
    on the stand-in at ``endpoint_url``, or no feed at all without one.
    """
    from sim.catalog_service import feed_url

    raw = yaml.safe_load((REPO / "config" / "fleet.yaml").read_text())
    raw["patch_catalog"]["feeds"] = [{**feed, "mirror_list": feed_url(endpoint_url)}
                                     for feed in raw["patch_catalog"]["feeds"] if feed["name"] == "al2023"
                                     ] if endpoint_url else []
    # moto counts agentless instances in a command's TargetCount (real SSM targets managed nodes only),
    # so the share of targeted nodes that can ever sync is lower here than in production.
    raw.setdefault("scan", {}).update({"sync_wait_minutes": 1, "command_timeout_minutes": 2,
                                       "sync_min_share": 0.75})
    # A 40-instance fleet with the simulator's realistic tag gaps: one untagged host is 3 % of it.
    raw.setdefault("quality", {}).update({"tag_coverage_min": 0.85, "fresh_share_min": 0.85})
    raw["airflow"] = {**(raw.get("airflow") or {}), "retries": 0, "retry_delay_seconds": 1,
                      "command_poke_seconds": 1, "sync_poke_seconds": 2}
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@dataclass
class AirflowHome:
    """One worker's Airflow: its home, database and the environment for CLI subprocesses."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def database(self) -> Path:
        return self.home / "airflow.db"

    def run(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 300,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(AIRFLOW_BIN), *args], env={**self.env, **(extra_env or {})},
                                capture_output=True, text=True, timeout=timeout, cwd=REPO)
        if check and result.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
        return result

    def query(self, sql: str, *parameters: object) -> list[tuple]:
        with sqlite3.connect(self.database) as con:
            return con.execute(sql, parameters).fetchall()

    def latest_run_id(self, dag_id: str) -> str:
        """The newest run of a DAG (``dags test`` names runs after the time they were made)."""
        rows = self.query("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", dag_id)
        assert rows, f"no run of {dag_id} in {self.database}"
        return rows[0][0]

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return rows[0][0] if rows else None

    def task_states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
        rows = self.query("SELECT task_id, map_index, state FROM task_instance "
                          "WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return {(task_id, map_index): state for task_id, map_index, state in rows}


def isolated_airflow_env(home: Path) -> dict[str, str]:
    """The environment of a test Airflow over ``home``: nobody's own Airflow, AWS or product settings."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "AWS_", "PATCH_COMPLIANCE"))}
    return {**env, **local_airflow_settings(home), "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> AirflowHome:
    """This worker's AIRFLOW_HOME (SQLite), migrated once for the session."""
    home = tmp_path_factory.mktemp("airflow_home")
    airflow = AirflowHome(home, isolated_airflow_env(home))
    airflow.run("db", "migrate", timeout=180)
    return airflow


@pytest.fixture
def airflow_run_env(airflow_home: AirflowHome, aws_env, tmp_path) -> dict[str, str]:
    """Connections by environment: the aws connection at the (reset) moto server, the test config."""
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": aws_env.endpoint_url, "region_name": "eu-west-1"},
        }),
        "PATCH_COMPLIANCE_CONFIG": str(write_test_config(tmp_path, aws_env.endpoint_url)),
    }


# The name other test modules import it by (as ``config_for_test``, so pytest does not collect it).
test_config = write_test_config
