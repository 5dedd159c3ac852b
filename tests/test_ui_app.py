"""The report view's web app (patch_compliance.ui_app): the pages as published, and Airflow's auth in front.

The web app runs as the API server mounts it (the plugin's own app object under its prefix), with
Airflow's real simple auth manager (users, not "all admins") and a migrated Airflow database, so the
JWT checks and the DAG access check are Airflow's. The reports are files on local disk.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from patch_compliance.ui_link import REPORT_DAG_ID
from tests.fixtures.published_reports import FLEET, published_at

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")


@pytest.fixture
def local_reports(tmp_path) -> Path:
    return published_at(tmp_path / "reports")


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
