"""The report view's web app, mounted in Airflow's API server: the published monthly reports, month by month.

Airflow authenticates no plugin app (a mount inherits none of the core API's dependencies), so every
route here depends on the API server's own ``get_user`` (the session cookie's or a bearer JWT) and
``requires_access_dag``: whoever may read the monthly report DAG's task instances may read its
reports. A browser that is not logged in is sent to Airflow's login page and back.

Pages are served as published, under a Content-Security-Policy that lets them apply their inline
CSS and nothing else: no script runs, nothing is fetched, and only Airflow's own pages may frame them.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag
from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException

from patch_compliance.config import load_settings
from patch_compliance.report_files import FLEET_PAGE, TEAMS, NotFound, ReportFiles, media_type
from patch_compliance.ui_link import REPORT_DAG_ID

log = logging.getLogger(__name__)

_FRAMED = "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
REPORT_CSP = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; {_FRAMED}"
INDEX_CSP = f"default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; {_FRAMED}"
HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store"}

app = FastAPI(title="Patch compliance reports", docs_url=None, redoc_url=None, openapi_url=None,
              dependencies=[Depends(get_user),
                            Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE, REPORT_DAG_ID))])
_pages = Environment(loader=PackageLoader("patch_compliance", "templates"), autoescape=select_autoescape(["j2"]),
                     trim_blocks=True, lstrip_blocks=True)


def report_files() -> ReportFiles:
    """The configured reports location (``storage.reports_uri``); on S3 through the ``aws`` connection."""
    from patch_compliance.aws import Aws

    settings = load_settings()
    uri = settings.storage.reports_uri
    return ReportFiles.open(uri, Aws.from_settings(settings).storage() if uri.startswith("s3://") else None)


Reports = Annotated[ReportFiles, Depends(report_files)]


@app.get("/")
def latest(request: Request, reports: Reports) -> Response:
    """The newest month's page, or a page saying there is none yet."""
    month = reports.latest()
    if month is None:
        return _html(_pages.get_template("report_index.html.j2").render(month=None, dag_id=REPORT_DAG_ID),
                     INDEX_CSP)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/reports/{month}/", status_code=307)


@app.get("/reports/{month}/")
def month_page(month: str, reports: Reports) -> Response:
    """The month's fleet page in a frame, under links to its team pages, its files and the other months."""
    listed = reports.month(month)
    teams = [(team, f"{TEAMS}/{quote(team, safe='')}/{FLEET_PAGE}") for team in reports.teams(listed)]
    files = [(name, quote(name, safe="")) for name in reports.files(listed) if name != FLEET_PAGE]
    page = _pages.get_template("report_index.html.j2").render(
        month=listed, months=reports.months(), fleet_page=FLEET_PAGE, teams=teams, files=files)
    return _html(page, INDEX_CSP)


@app.get("/reports/{month}/{name}")
def month_file(month: str, name: str, reports: Reports) -> Response:
    return _file(name, reports.read(month, name))


@app.get("/reports/{month}/teams/{team}/{name}")
def team_file(month: str, team: str, name: str, reports: Reports) -> Response:
    return _file(name, reports.read(month, name, team))


@app.exception_handler(HTTPException)
async def _log_in_first(request: Request, exc: HTTPException) -> Response:
    """A browser without a valid session goes to Airflow's login page, which sends it back here."""
    if exc.status_code == 401 and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
    return await http_exception_handler(request, exc)


@app.exception_handler(NotFound)
async def _not_found(request: Request, exc: NotFound) -> Response:
    return Response("Not found", status_code=404, media_type="text/plain", headers=HEADERS)


@app.exception_handler(OSError)
async def _unreadable(request: Request, exc: OSError) -> Response:
    log.warning("the reports location could not be read: %s", exc)
    return Response("The reports location cannot be read right now.", status_code=502, media_type="text/plain",
                    headers=HEADERS)


def _html(page: str, csp: str) -> Response:
    return Response(page, media_type="text/html; charset=utf-8", headers={**HEADERS, "Content-Security-Policy": csp})


def _file(name: str, body: bytes) -> Response:
    """A report file as published: pages under the report's policy, data files as downloads."""
    kind = media_type(name) or "application/octet-stream"
    headers = {**HEADERS, "Content-Security-Policy": REPORT_CSP}
    if not kind.startswith("text/html"):
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
    return Response(body, media_type=kind, headers=headers)
