"""The monthly report DAG's task bodies: the month to report, the Slack summary's headline figures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from patch_compliance.tasks import monthly_report


def test_report_headline_totals_and_worst_cells() -> None:
    cells = [
        {"team": "a", "environment": "prod", "instances": "10", "compliant": "9", "non_compliant": "1", "stale": "0",
         "no_data": "0", "unmanaged": "0", "instances_missing_critical_14d": "0"},
        {"team": "b", "environment": "dev", "instances": "4", "compliant": "1", "non_compliant": "2", "stale": "1",
         "no_data": "0", "unmanaged": "0", "instances_missing_critical_14d": "2"},
        {"team": "(untagged)", "environment": "dev", "instances": "2", "compliant": "1", "non_compliant": "1",
         "stale": "0", "no_data": "0", "unmanaged": "0", "instances_missing_critical_14d": "1"},
    ]
    head = monthly_report.report_headline(cells)
    assert (head["instances"], head["compliant"], head["compliance_pct"]) == (16, 11, 68.8)
    assert [(c["team"], c["environment"]) for c in head["worst"]] == [("b", "dev"), ("(untagged)", "dev"),
                                                                      ("a", "prod")]
    # Two stopped hosts more in b/dev: in the instance count, out of the denominators (11 of 16 again).
    cells[1] = {**cells[1], "instances": "6", "stopped": "2"}
    head = monthly_report.report_headline(cells)
    assert (head["instances"], head["stopped"], head["compliance_pct"]) == (18, 2, 68.8)
    assert (head["worst"][0]["team"], head["worst"][0]["environment"]) == ("b", "dev")


def test_report_month_prefers_the_form_and_validates_it() -> None:
    moment = datetime(2026, 12, 25, 8, tzinfo=UTC)
    assert monthly_report.report_month(None, moment) == "2026-12"
    assert monthly_report.report_month("2026-11", moment) == "2026-11"
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="2026-13"):  # bad input: no retry
        monthly_report.report_month("2026-13", moment)
