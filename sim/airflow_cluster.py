"""A real local Airflow: api-server, scheduler, dag-processor and triggerer on 127.0.0.1, driven over REST.

Used by ``make ui`` and by the scheduler-driven tests. Each component is its own ``airflow``
process (LocalExecutor, SQLite), as a deployment runs them; the scheduler and the triggerer are
started with ``--skip-serve-logs`` because Airflow's log server binds every interface, and on one
machine the API server reads task logs from the shared log folder anyway.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.moto_server import free_port

AIRFLOW_BIN = Path(sys.executable).with_name("airflow")
COMPONENTS = {
    "api-server": ["api-server", "--host", "127.0.0.1", "--port", "{port}"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
FINISHED = frozenset({"success", "failed"})
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class ApiError(RuntimeError):
    """The REST API answered with an error status."""


@dataclass
class AirflowCluster:
    """The four components (or those named) over one ``AIRFLOW_HOME``; ``env`` holds connections and settings."""

    home: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    components: tuple[str, ...] = tuple(COMPONENTS)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def component_env(self) -> dict[str, str]:
        return {**self.env,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}

    def start(self, timeout: float = 120) -> AirflowCluster:
        env = self.component_env()
        subprocess.run([str(AIRFLOW_BIN), "db", "migrate"], env=env, check=True, capture_output=True,
                       timeout=timeout)
        logs = self.home / "components"
        logs.mkdir(parents=True, exist_ok=True)
        for name in self.components:
            argv = [str(AIRFLOW_BIN), *(a.format(port=self.port) for a in COMPONENTS[name])]
            with open(logs / f"{name}.log", "ab") as log:
                self.processes[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                        start_new_session=True)
        self._wait_until_serving(timeout)
        return self

    def _wait_until_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get("/api/v2/version")
                return
            except (OSError, ApiError):
                self.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"api-server did not answer on {self.base_url}: "
                                       f"{self.log_tail('api-server')}") from None
                time.sleep(0.5)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"airflow {name} exited {process.returncode}: {self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.home / "components" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=10)
        self.processes.clear()

    def __enter__(self) -> AirflowCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- REST ---------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method,  # noqa: S310
                                         headers=JSON_HEADERS)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (127.0.0.1 only)
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{method} {path}: HTTP {exc.code} {exc.read()[:500]!r}") from exc

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """Until the dag-processor has parsed the DAG and the API knows it; then unpause it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get(f"/api/v2/dags/{dag_id}")
                return self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            except ApiError:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"DAG {dag_id} was not parsed: {self.log_tail('dag-processor')}") from None
                time.sleep(1)

    def trigger(self, dag_id: str, logical_date: str, conf: dict[str, Any] | None = None) -> str:
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                           {"logical_date": logical_date, "conf": conf or {}})
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.run(dag_id, run_id)["state"]
            if state in FINISHED:
                return state
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} run {run_id} still {state} after {timeout:.0f} s")
            time.sleep(1)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        quoted = urllib.parse.quote(run_id, safe="")
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances?limit=1000")["task_instances"]

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        quoted = urllib.parse.quote(run_id, safe="")
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/{map_index}/tries"
        return self.get(path)["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        quoted = urllib.parse.quote(run_id, safe="")
        path = (f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}"
                f"?map_index={map_index}&full_content=true")
        content = self.get(path).get("content") or []
        return "\n".join(item.get("event", "") if isinstance(item, dict) else str(item) for item in content)
