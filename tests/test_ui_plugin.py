"""The report view: names looked up among what exists, the pages as published, and Airflow's auth in front.

The web app runs as the API server mounts it (the plugin's own app object under its prefix), with
Airflow's real simple auth manager (users, not "all admins") and a migrated Airflow database, so the
JWT checks and the DAG access check are Airflow's. The reports are files on local disk and on the
moto server's S3.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml

from patch_compliance.aws import storage_access
from patch_compliance.inputs import InputError
from patch_compliance.report_files import NotFound, ReportFiles
from patch_compliance.storage import open_location, write_bytes
from patch_compliance.ui_link import REPORT_DAG_ID, URL_PREFIX, URL_ROUTE, month_path, ui_url

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")
FLEET = b"<!DOCTYPE html><html><head><style>h1{color:#333}</style></head><body><h1>Fleet 2026-11: 87.5%</h1>"
PUBLISHED = {
    "2026-10/report.html": b"<html><body>October</body></html>",
    "2026-10/instance_status.csv": b"instance_id,status\ni-0a,COMPLIANT\n",
    "2026-11/report.html": FLEET,
    "2026-11/instance_status.csv": b"instance_id,status\ni-0b,NON_COMPLIANT\n",
    "2026-11/manifest.json": b'{"report_month": "2026-11"}',
    "2026-11/.hidden.csv": b"not listed",
    "2026-11/notes.txt": b"not a report file",
    "2026-11/teams/payments/report.html": b"<html><body>Team payments</body></html>",
    "2026-11/teams/payments/instance_status.csv": b"instance_id,status\ni-0b,NON_COMPLIANT\n",
    "2026-11/teams/web shop/report.html": b"<html><body>Team web shop</body></html>",
    "2026-11/teams/drafts/instance_status.csv": b"no page: not a team page",
    "2026-12/instance_status.csv": b"a month folder without its fleet page yet",
    "2026-13/report.html": b"no such month",
    "evidence/CVE-2026-0001/CVE-2026-0001.csv": b"cve evidence",
}


def publish(uri: str, access=None) -> None:
    location, fs = open_location(uri, access)
    for name, data in PUBLISHED.items():
        write_bytes(fs, location.join(*name.split("/")), data)


@pytest.fixture
def local_reports(tmp_path) -> Path:
    root = tmp_path / "reports"
    publish(str(root))
    return root


def test_the_reports_location_lists_months_teams_and_files_that_exist(local_reports) -> None:
    files = ReportFiles.open(str(local_reports))
    assert files.months() == ["2026-12", "2026-11", "2026-10"]
    assert files.latest() == "2026-11"  # 2026-12 has no fleet page yet
    assert files.teams("2026-11") == ["payments", "web shop"] and files.teams("2026-10") == []
    assert files.files("2026-11") == ["instance_status.csv", "manifest.json", "report.html"]
    assert files.files("2026-11", "payments") == ["instance_status.csv", "report.html"]
    assert files.read("2026-11", "report.html") == FLEET
    assert files.read("2026-11", "report.html", "web shop") == PUBLISHED["2026-11/teams/web shop/report.html"]
    assert ReportFiles.open(str(local_reports / "absent")).latest() is None


@pytest.mark.parametrize(("month", "name", "team"), [
    ("2026-13", "report.html", None), ("2026-1", "report.html", None), ("../2026-11", "report.html", None),
    ("2026-11/..", "report.html", None), ("2025-01", "report.html", None), ("evidence", "report.html", None),
    ("2026-11", "../2026-10/report.html", None), ("2026-11", "notes.txt", None), ("2026-11", ".hidden.csv", None),
    ("2026-11", "teams", None), ("2026-11", "report.html", "drafts"), ("2026-11", "report.html", ".."),
    ("2026-11", "report.html", "../../2026-10"), ("2026-11", "report.html", "payments/../web shop"),
    ("2026-11", "report.html", "Payments"), ("2026-11", "/etc/passwd", None),
])
def test_a_name_that_is_not_listed_is_refused(local_reports, month, name, team) -> None:
    with pytest.raises(NotFound):
        ReportFiles.open(str(local_reports)).read(month, name, team)


def test_the_same_names_on_s3(aws_env) -> None:
    boto3.client("s3", endpoint_url=aws_env.endpoint_url).create_bucket(
        Bucket="ui-reports", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    access = storage_access(aws_env.endpoint_url)
    publish("s3://ui-reports/reports", access)
    files = ReportFiles.open("s3://ui-reports/reports", access)
    assert files.months() == ["2026-12", "2026-11", "2026-10"] and files.latest() == "2026-11"
    assert files.teams("2026-11") == ["payments", "web shop"]
    assert files.files("2026-11", "payments") == ["instance_status.csv", "report.html"]
    assert files.read("2026-11", "report.html") == FLEET
    with pytest.raises(NotFound):
        files.read("2026-11", "report.html", "drafts")


def test_the_links_point_at_the_month_inside_the_ui() -> None:
    assert month_path("2026-11") == "/patch-compliance/reports/2026-11/"
    assert ui_url("2026-11", "http://127.0.0.1:8080/") == (
        "http://127.0.0.1:8080/plugin/compliance-reports/patch-compliance/reports/2026-11/")
    # Behind a path, the frame's path (from the server's root) carries it too.
    assert ui_url("2026-11", "https://airflow.example/ops") == (
        "https://airflow.example/ops/plugin/compliance-reports/ops/patch-compliance/reports/2026-11/")
    with pytest.raises(InputError):
        ui_url("2026-11/../../admin", "http://127.0.0.1:8080")
    assert f'dag_id="{REPORT_DAG_ID}"' in (REPO / "dags" / "patch_compliance_monthly_report.py").read_text()


def test_airflow_loads_the_plugin_from_the_package_entry_point_without_the_web_app(tmp_path) -> None:
    """What Airflow's loaders find: the installed package's entry point, nothing in the plugins folder (so no
    duplicate registration); a process that loads the plugin imports neither FastAPI nor the app."""
    code = (
        "import json, sys\n"
        "from airflow._shared.plugins_manager import _load_entrypoint_plugins, _load_plugins_from_plugin_directory\n"
        "folder, folder_errors = _load_plugins_from_plugin_directory(sys.argv[1])\n"
        "plugins, errors = _load_entrypoint_plugins()\n"
        "print(json.dumps({'errors': errors, 'folder': [p.name for p in folder], 'folder_errors': folder_errors,\n"
        "    'plugins': [{'name': p.name, 'views': p.external_views,\n"
        "    'apps': [a['url_prefix'] for a in p.fastapi_apps]} for p in plugins],\n"
        "    'loaded': sorted(m for m in ('fastapi', 'patch_compliance.ui_app') if m in sys.modules)}))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    result = subprocess.run([sys.executable, "-c", code, str(REPO / "plugins")], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["folder"] == [] and found["folder_errors"] == {}
    assert found["errors"] == {} and found["loaded"] == []
    (plugin,) = [p for p in found["plugins"] if p["name"] == "patch_compliance"]
    assert plugin["apps"] == [URL_PREFIX]
    (view,) = plugin["views"]
    assert (view["href"], view["url_route"], view["destination"]) == ("patch-compliance/", URL_ROUTE, "nav")
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["airflow.plugins"]
    assert declared == {"patch_compliance": "patch_compliance.ui_plugin:PatchComplianceUiPlugin"}


# --- the web app, mounted as the API server mounts it --------------------------------------------------

@pytest.fixture(scope="module")
def airflow_db() -> str:
    """The Airflow database this process uses (below the tests' AIRFLOW_HOME), migrated: the DAG access check
    reads it."""
    from airflow.configuration import conf

    database = conf.get("database", "sql_alchemy_conn")
    subprocess.run([str(AIRFLOW_BIN), "db", "migrate"], env={**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                                                           database}, check=True, capture_output=True, timeout=300)
    return database


@pytest.fixture
def auth(airflow_db, tmp_path, monkeypatch):
    """Airflow's simple auth manager with users (no "all admins"): tokens it signed, and a forged one."""
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "ann:viewer,bob:viewer")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(tmp_path / "passwords.json"))
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "unit-test-signing-key-" + "0123456789abcdef" * 4)
    from airflow.api_fastapi.app import init_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    purge_cached_app()
    manager = init_auth_manager()
    viewer = manager.generate_jwt(SimpleAuthManagerUser(username="ann", role="viewer"))
    header, claims, signature = viewer.split(".")
    raised = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4))) | {"role": "admin"}
    forged = base64.urlsafe_b64encode(json.dumps(raised).encode()).decode().rstrip("=")
    yield {"viewer": viewer, "forged": f"{header}.{forged}.{signature}",
           "no role": manager.generate_jwt(SimpleAuthManagerUser(username="bob", role=None))}
    purge_cached_app()


def web(reports_uri: str, tmp_path: Path, monkeypatch):
    """A test client for the API server's mount of the plugin's app, over a config naming ``reports_uri``."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from patch_compliance.ui_plugin import PatchComplianceUiPlugin

    raw = yaml.safe_load((REPO / "config" / "fleet.yaml").read_text())
    raw["storage"]["reports_uri"] = reports_uri
    config = tmp_path / "fleet.yaml"
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("PATCH_COMPLIANCE_CONFIG", str(config))
    (mounted,) = PatchComplianceUiPlugin.fastapi_apps
    server = FastAPI()
    server.mount(mounted["url_prefix"], mounted["app"])
    return TestClient(server, follow_redirects=False)


@pytest.fixture
def client(auth, local_reports, tmp_path, monkeypatch):
    client = web(str(local_reports), tmp_path, monkeypatch)
    client.cookies.set("_token", auth["viewer"])
    return client


def test_a_caller_airflow_has_not_authenticated_is_refused_or_sent_to_log_in(auth, local_reports, tmp_path,
                                                                             monkeypatch) -> None:
    anonymous = web(str(local_reports), tmp_path, monkeypatch)
    page = "/patch-compliance/reports/2026-11/report.html"
    assert anonymous.get(page).status_code == 401
    browser = anonymous.get(page, headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 303
    login = urlsplit(browser.headers["location"])
    assert login.path == "/auth/login" and parse_qs(login.query)["next"] == [f"http://testserver{page}"]
    for token in (auth["forged"], "not-a-jwt"):  # a viewer's token raised to admin, and no token at all
        assert anonymous.get(page, headers={"Authorization": f"Bearer {token}"}).status_code in (401, 403)
    assert anonymous.get(page, headers={"Cookie": f"_token={auth['no role']}"}).status_code == 403  # no access
    assert anonymous.get(page, headers={"Authorization": f"Bearer {auth['viewer']}"}).status_code == 200


def test_the_latest_month_opens_with_its_fleet_page_team_pages_and_files(client) -> None:
    latest = client.get("/patch-compliance/")
    assert latest.status_code == 307 and latest.headers["location"] == "/patch-compliance/reports/2026-11/"
    page = client.get(latest.headers["location"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert '<iframe name="report"' in html and 'src="report.html"' in html
    assert 'href="teams/payments/report.html"' in html and 'href="teams/web%20shop/report.html"' in html
    assert "drafts" not in html and ".hidden" not in html and "notes.txt" not in html
    assert 'href="../2026-10/"' in html and 'href="../2026-12/"' in html
    assert 'href="instance_status.csv" download' in html and 'href="manifest.json" download' in html


def test_pages_are_served_as_published_under_a_policy_without_script(client) -> None:
    fleet = client.get("/patch-compliance/reports/2026-11/report.html")
    assert fleet.status_code == 200 and fleet.content == FLEET
    policy = dict(part.strip().split(" ", 1) for part in fleet.headers["content-security-policy"].split(";"))
    assert policy == {"default-src": "'none'", "style-src": "'unsafe-inline'", "img-src": "data:",
                      "frame-ancestors": "'self'", "base-uri": "'none'", "form-action": "'none'"}
    assert fleet.headers["x-content-type-options"] == "nosniff" and fleet.headers["cache-control"] == "no-store"
    team = client.get("/patch-compliance/reports/2026-11/teams/web%20shop/report.html")
    assert team.status_code == 200 and team.text == "<html><body>Team web shop</body></html>"
    csv = client.get("/patch-compliance/reports/2026-11/teams/payments/instance_status.csv")
    assert csv.headers["content-type"].startswith("text/csv") and csv.headers["content-disposition"].startswith(
        "attachment")
    assert client.get("/patch-compliance/reports/2026-10/report.html").text == "<html><body>October</body></html>"


@pytest.mark.parametrize("path", [
    "/patch-compliance/reports/2026-13/report.html",
    "/patch-compliance/reports/2026-12/report.html",
    "/patch-compliance/reports/2026-11/notes.txt",
    "/patch-compliance/reports/2026-11/.hidden.csv",
    "/patch-compliance/reports/2026-11/..%2F2026-10%2Freport.html",
    "/patch-compliance/reports/..%2F..%2Fetc/passwd",
    "/patch-compliance/reports/2026-11/teams/..%2F..%2F2026-10/report.html",
    "/patch-compliance/reports/2026-11/teams/drafts/instance_status.csv",
    "/patch-compliance/reports/2026-11/teams/payments/..%2F..%2Fmanifest.json",
    "/patch-compliance/reports/evidence/CVE-2026-0001/CVE-2026-0001.csv",
    "/patch-compliance/reports/%2Fetc/passwd",
])
def test_a_path_naming_nothing_listed_is_not_found(client, path) -> None:
    assert client.get(path).status_code == 404


def test_before_any_report_the_view_says_so(auth, tmp_path, monkeypatch) -> None:
    client = web(str(tmp_path / "no-reports-yet"), tmp_path, monkeypatch)
    client.cookies.set("_token", auth["viewer"])
    page = client.get("/patch-compliance/")
    assert page.status_code == 200 and "No monthly report has been published" in page.text
    assert REPORT_DAG_ID in page.text


def test_an_unreadable_reports_location_is_a_short_502(auth, tmp_path, monkeypatch) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the reports location should be")
    client = web(str(tmp_path / "not-a-folder"), tmp_path, monkeypatch)
    client.cookies.set("_token", auth["viewer"])
    answer = client.get("/patch-compliance/")
    assert answer.status_code == 502 and answer.text == "The reports location cannot be read right now."
