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


def test_team_headlines_match_neutralised_cells_and_route_to_channels() -> None:
    from dataclasses import replace

    from patch_compliance.config import NotificationSettings, load_settings

    hostile = "=cmd|' /C calc'!A0"
    cell = {"instances": "4", "compliant": "2", "non_compliant": "2", "stale": "0", "no_data": "0", "unmanaged": "0",
            "stopped": "0", "instances_missing_critical_14d": "1", "cause_install_failed": "1",
            "cause_not_in_window": "2", "cause_no_agent": "0"}
    report = {"month": "2026-11", "uri": "s3://r/reports/2026-11", "report_snapshot_date": "2026-11-27",
              "teams": {"payments": "payments", hostile: "cmd-c-calc-a0-1a2b3c4d", "web": "web"},
              "cells": [{**cell, "team": "payments", "environment": "prod"},
                        {**cell, "team": "'" + hostile, "environment": "dev"},  # as the CSV neutralised it
                        {**cell, "team": "web", "environment": "dev", "compliant": "4", "non_compliant": "0",
                         "cause_install_failed": "0", "cause_not_in_window": "0"}]}
    settings = replace(load_settings(), notifications=NotificationSettings(
        teams={hostile: "slack_hostile", "payments": "slack_payments", "absent": "slack_absent"}))
    heads = {h["team"]: h for h in monthly_report.team_headlines(report, settings)}
    assert heads[hostile]["head"]["compliance_pct"] == 50.0 and heads[hostile]["conn_id"] == "slack_hostile"
    assert heads[hostile]["causes"] == [("not_in_window", 2), ("install_failed", 1)]
    assert heads["web"]["causes"] == [] and heads["web"]["conn_id"] is None
    assert heads["payments"]["link"] == "s3://r/reports/2026-11/teams/payments/report.html"
    assert monthly_report.team_channels(report, settings) == [hostile, "payments"]  # "absent" has no host
