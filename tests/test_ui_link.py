"""Where the report view lives (patch_compliance.ui_link): the month's page, its URL inside Airflow's UI, the link."""

from __future__ import annotations

from pathlib import Path

import pytest

from patch_compliance.inputs import InputError
from patch_compliance.ui_link import REPORT_DAG_ID, month_path, ui_url

REPO = Path(__file__).resolve().parents[1]


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


def test_a_month_that_is_not_yyyy_mm_has_no_page() -> None:
    for month in ("2026-13", "2026-1", "26-11", "2026-11/..", ""):
        with pytest.raises(InputError):
            month_path(month)


@pytest.mark.parametrize(("returned", "link"), [
    ({"month": "2026-11", "uri": "s3://reports/2026-11"},
     "https://airflow.example/ops/plugin/compliance-reports/ops/patch-compliance/reports/2026-11/"),
    (None, ""),  # a failed run returned nothing
    ({"month": "2026-13"}, ""),  # not a month: no link rather than a broken one
    ({"month": 202611}, ""),
    ("2026-11", ""),  # not the report task's return value
])
def test_the_report_tasks_button_opens_its_runs_month_under_the_configured_base_url(monkeypatch, returned,
                                                                                    link) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    from patch_compliance.ui_link import MonthlyReportLink

    asked = []

    def get_value(**kwargs):
        asked.append(kwargs)
        return returned

    monkeypatch.setattr(XCom, "get_value", get_value)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example/ops/")
    key = object()
    assert MonthlyReportLink().get_link(None, ti_key=key) == link  # type: ignore[arg-type]
    assert asked == [{"ti_key": key, "key": "return_value"}]
    assert MonthlyReportLink.name == "Monthly report"
