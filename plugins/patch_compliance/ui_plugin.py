"""The Airflow plugin of the report view: an entry in the UI's navigation and the web app it frames.

Airflow loads plugins in every process, each task run included, while only the API server serves
the web app: the app (FastAPI and the API server's auth, a second of imports) is imported on its
first request, so a task run pays only for this module.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from patch_compliance.ui_link import URL_PREFIX, URL_ROUTE


class _WebApp:
    """ASGI app that hands every request to ``patch_compliance.ui_app.app``, imported on the first."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from patch_compliance.ui_app import app

        await app(scope, receive, send)


class PatchComplianceUiPlugin(AirflowPlugin):
    """The published monthly reports inside Airflow's UI, behind Airflow's login."""

    # Lists, as AirflowPlugin declares them (Airflow's loader edits them in place).
    name = "patch_compliance"
    fastapi_apps = [{"app": _WebApp(), "url_prefix": URL_PREFIX, "name": "Patch compliance reports"}]  # noqa: RUF012
    external_views = [{  # noqa: RUF012
        "name": "Compliance reports",
        "href": f"{URL_PREFIX.lstrip('/')}/",  # relative: Airflow's UI resolves it against its base URL
        "url_route": URL_ROUTE,
        "destination": "nav",
        "nav_top_level": True,
    }]
