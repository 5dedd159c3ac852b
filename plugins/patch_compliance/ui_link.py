"""Where the report view lives in Airflow: its web app's prefix, its UI page, and the report task's extra link.

Kept free of the web app's imports: the DAG file and every task run import this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseOperatorLink

from patch_compliance.inputs import InputError, parse_month

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

REPORT_DAG_ID = "patch_compliance_monthly_report"  # whoever may read its task instances may read its reports
URL_PREFIX = "/patch-compliance"  # the web app, mounted in the API server
URL_ROUTE = "compliance-reports"  # the view's page in Airflow's UI: /plugin/<URL_ROUTE>


def month_path(month: str) -> str:
    """The month's page in the web app, below the API server's root."""
    parse_month(month)
    return f"{URL_PREFIX}/reports/{month}/"


def ui_url(month: str, base_url: str) -> str:
    """The month's page inside Airflow's UI: the view's page, its frame opened at the month.

    Airflow's UI opens ``/plugin/<route>/<path>`` with the view's frame at ``/<path>``, a path from
    the server's root, so a ``base_url`` with a path (``https://host/airflow``) appears twice.
    """
    root = base_url.rstrip("/")
    return f"{root}/plugin/{URL_ROUTE}{urlsplit(root).path}{month_path(month)}"


def _base_url() -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback=None) or "http://localhost:8080"


class MonthlyReportLink(BaseOperatorLink):
    """The report task's button: that run's month in the report view.

    Airflow 3 resolves an operator's link when the task ends, in the worker, and keeps it in XCom
    for the UI; the month comes from the task's return value, so a failed run has no link.
    """

    name = "Monthly report"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        report: Any = XCom.get_value(ti_key=ti_key, key="return_value")
        month = report.get("month") if isinstance(report, dict) else None
        try:
            return ui_url(month, _base_url()) if isinstance(month, str) else ""
        except InputError:
            return ""
