"""docker-compose.yaml, checked statically (Docker cannot run here): services, profiles, mounts, wiring, no secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer")
MOUNTS = {"./dags": "/opt/airflow/dags", "./plugins": "/opt/airflow/plugins", "./sql": "/opt/airflow/sql",
          "./expectations": "/opt/airflow/expectations", "./config": "/opt/airflow/config"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def test_core_services_run_airflow_3_3_without_a_profile(compose) -> None:
    services = compose["services"]
    assert {"postgres", *AIRFLOW_SERVICES} <= set(services)
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"] == "api-server" and commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor" and commands["airflow-triggerer"] == "triggerer"
    assert "airflow db migrate" in " ".join(commands["airflow-init"])
    for name in ("postgres", *AIRFLOW_SERVICES):
        assert "profiles" not in services[name], name
    for name in AIRFLOW_SERVICES:
        assert re.fullmatch(r"\$\{AIRFLOW_IMAGE:-apache/airflow:3\.3\.\d+-python3\.11\}", services[name]["image"])
        env = services[name]["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:${")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["PATCH_COMPLIANCE_CONFIG"] == "/opt/airflow/config/fleet.yaml"
        assert {"AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_SLACK_WEBHOOK"} <= set(env)
        mounts = dict(volume.split(":")[:2] for volume in services[name]["volumes"] if volume.startswith("./"))
        assert mounts == MOUNTS, name
        if name != "airflow-init":
            assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
            assert "healthcheck" in services[name]
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_local_profile_adds_moto_and_the_simulator(compose) -> None:
    services = compose["services"]
    assert services["moto"]["profiles"] == ["local"] and services["simulator"]["profiles"] == ["local"]
    moto = services["moto"]
    assert moto["command"][:3] == ["python", "-m", "sim.moto_ext"] and "moto[server]" in str(moto["environment"])
    assert "./sim:/opt/airflow/sim:ro" in moto["volumes"]
    simulator = services["simulator"]
    assert "python -m sim seed" in simulator["command"][0] and "python -m sim agent" in simulator["command"][0]
    assert simulator["environment"]["AWS_ENDPOINT_URL"] == "http://moto:5000"
    assert "./sim:/opt/airflow/sim:ro" in simulator["volumes"]


def test_ports_bind_to_localhost_only(compose) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_no_secrets_in_the_file() -> None:
    text = (REPO / "docker-compose.yaml").read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert not re.search(r"hooks\.slack\.com/services/T\w+", text)
    assert not re.search(r"-----BEGIN", text)
    compose = yaml.safe_load(text)
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|FERNET|TOKEN|CONN_", key) and key not in ("AWS_SECRET_ACCESS_KEY",):
                assert str(value).startswith("${") and ":?" in str(value), (name, key, value)
    # The simulator's AWS keys are moto placeholders, overridable, and only in the local profile.
    simulator = compose["services"]["simulator"]["environment"]
    assert simulator["AWS_SECRET_ACCESS_KEY"] == "${MOTO_SECRET_ACCESS_KEY:-testing}"
