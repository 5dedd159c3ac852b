"""The report view behind a real login: Airflow's API server with the simple auth manager's users.

Not "all admins" (as the demo and the scheduler tests run): a request without a session is refused,
a browser is sent to Airflow's login page, and Chromium logs in there by typing a user's password,
lands back on the month's page and finds the published report's compliance %.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from patch_compliance.report import build_report
from patch_compliance.report_model import compliance_pct
from sim.airflow_cluster import AirflowCluster
from tests.dags.conftest import REPO, isolated_airflow_env
from tests.fixtures import report_lakes
from tests.fixtures.chromium import Chromium

pytestmark = [pytest.mark.xdist_group("airflow"), pytest.mark.e2e]

USER, PASSWORD = "auditor", "a-long-test-password-of-the-auditor"
MONTH = "2026-11"
FLEET_PAGE = """(() => {
  const frame = document.querySelector('iframe[name=report]');
  const card = frame && frame.contentDocument && frame.contentDocument.querySelector('.card .v');
  return card && {page: location.pathname, headline: card.textContent.trim()};
})()"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """A real report of the crafted November lake, published to a local reports location."""
    tmp = tmp_path_factory.mktemp("login-reports")
    report_lakes.land_november(tmp)
    build_report(str(tmp / "lake"), MONTH, None, str(tmp / "reports" / MONTH))
    return tmp / "reports"


@pytest.fixture(scope="module")
def server(reports, tmp_path_factory):
    home = tmp_path_factory.mktemp("login-home")
    raw = yaml.safe_load((REPO / "config" / "fleet.yaml").read_text())
    raw["storage"]["reports_uri"] = str(reports)
    (home / "fleet.yaml").write_text(yaml.safe_dump(raw))
    (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    env = isolated_airflow_env(home)
    env.update({"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
                "AIRFLOW__API_AUTH__JWT_SECRET": "login-test-signing-key-" + "0123456789abcdef" * 4,
                "PATCH_COMPLIANCE_CONFIG": str(home / "fleet.yaml")})
    with AirflowCluster(home, env, components=("api-server",)) as airflow:
        yield airflow


def status(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and Location of one request, redirects not followed."""
    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (the test's 127.0.0.1 server)
    try:
        with urllib.request.build_opener(Stay).open(request, timeout=30) as response:
            return response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def test_without_a_session_the_view_is_refused_or_sends_to_the_login(server) -> None:
    page = f"{server.base_url}/patch-compliance/reports/{MONTH}/report.html"
    assert status(page) == (401, "")
    code, location = status(page, {"Accept": "text/html"})
    assert code == 303 and location.startswith("/auth/login?next=")
    assert status(page, {"Authorization": "Bearer not-a-token"})[0] in (401, 403)


def test_a_user_logs_in_on_airflows_page_and_reads_the_report(server, reports, tmp_path) -> None:
    statuses = [r["status"] for r in csv.DictReader(io.StringIO((reports / MONTH / "instance_status.csv").read_text()))]
    with Chromium(tmp_path / "profile") as browser:
        page = browser.open(f"{server.base_url}/patch-compliance/")
        page.wait_for("document.querySelector('input[name=username]') && location.pathname", timeout=60)
        assert page.evaluate("location.pathname") == "/auth/login"
        page.type_into("input[name=username]", USER)
        page.type_into("input[name=password]", PASSWORD)
        page.evaluate("document.querySelector('button[type=submit]').click()")
        shown = page.wait_for(FLEET_PAGE, timeout=60)
        page.screenshot(tmp_path / "after-login.png")
    assert shown["page"] == f"/patch-compliance/reports/{MONTH}/"
    assert shown["headline"] == compliance_pct(statuses.count("COMPLIANT"), len(statuses),
                                               statuses.count("STOPPED")) + "%"
