"""Dockerfile and docker-compose.yaml, checked statically (Docker cannot pull images here).

What is checked: the image's pins equal the lock, nothing installs at container start, every path
copied or mounted exists, every environment variable the product reads is set, the wiring of the
services and profiles, ports on 127.0.0.1 only, and no secrets in the files.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer")
MOUNTS = {"./config": "/opt/airflow/config"}  # the deployment's config; code, SQL and suites are in the image


def pins(lines: list[str]) -> dict[str, str]:
    """``name==version`` requirement strings, by normalised name."""
    found = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==([^\s;#]+).*", line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)  # PEP 503 names
    return found


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


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
        assert services[name]["build"] == {"context": ".", "target": "product"}
        assert services[name]["image"] == "${PATCH_COMPLIANCE_IMAGE:-patch-compliance:0.1.0}"
        env = services[name]["environment"]
        assert env["AIRFLOW__API__BASE_URL"].startswith("${AIRFLOW_BASE_URL:-")
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith("/opt/airflow/auth/")
        assert "airflow-auth:/opt/airflow/auth" in services[name]["volumes"]
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
    assert moto["command"][:3] == ["python", "-m", "sim.moto_ext"]
    assert moto["build"] == {"context": ".", "target": "local"}
    simulator = services["simulator"]
    assert simulator["image"] == moto["image"] == "${PATCH_COMPLIANCE_LOCAL_IMAGE:-patch-compliance:local}"
    assert "python -m sim seed" in simulator["command"][0] and "python -m sim agent" in simulator["command"][0]
    assert simulator["environment"]["AWS_ENDPOINT_URL"] == "http://moto:5000"


def test_nothing_is_installed_when_a_container_starts(compose) -> None:
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in (REPO / "docker-compose.yaml").read_text()
    for name, service in compose["services"].items():
        assert "pip install" not in json.dumps(service), name


def test_the_image_pins_equal_the_lock(dockerfile) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    locked = pins((REPO / "constraints.txt").read_text().splitlines())
    wanted = pins(project["optional-dependencies"]["dev"])
    (base,) = re.findall(r"^FROM apache/airflow:(\S+)-python(\S+) AS product$", dockerfile, re.M)
    assert base == (locked["apache-airflow"], "3.11")
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert len(installs) == 2 and all("--constraint /opt/patch-compliance/constraints.txt" in i for i in installs)
    assert '"moto[server]"' in installs[1] and locked["moto"] == wanted["moto"]
    for name, version in {**pins(project["dependencies"]), **wanted}.items():
        assert locked[name] == version, f"constraints.txt pins {name}=={locked[name]}, pyproject.toml {version}"


def test_every_path_the_image_copies_or_compose_mounts_exists(compose, dockerfile) -> None:
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                if not source.startswith("--"):
                    assert (REPO / source).exists(), source
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert (REPO / volume.split(":")[0]).exists(), volume


def test_every_environment_variable_the_product_reads_is_set(compose, dockerfile) -> None:
    read = set()
    for path in (REPO / "plugins" / "patch_compliance").rglob("*.py"):
        read |= set(re.findall(r"os\.environ\.get\(\"(PATCH_COMPLIANCE_\w+)\"", path.read_text()))
    assert read, "the product reads its config path from the environment"
    for name in AIRFLOW_SERVICES:
        env = compose["services"][name]["environment"]
        for variable in read - {"PATCH_COMPLIANCE_HOME"}:  # HOME only locates a source tree's config
            assert variable in env or f"ENV {variable}=" in dockerfile, (name, variable)


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
            secret = re.search(r"PASSWORD|SECRET|FERNET|TOKEN|CONN_", key) and not key.endswith("_FILE")
            if secret and key != "AWS_SECRET_ACCESS_KEY":
                assert str(value).startswith("${") and ":?" in str(value), (name, key, value)
    # The simulator's AWS keys are moto placeholders, overridable, and only in the local profile.
    simulator = compose["services"]["simulator"]["environment"]
    assert simulator["AWS_SECRET_ACCESS_KEY"] == "${MOTO_SECRET_ACCESS_KEY:-testing}"
