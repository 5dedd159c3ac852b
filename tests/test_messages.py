"""Every Slack message: fleet text arrives inert (no mention, no link), and the blocks have the agreed shape."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from patch_compliance.messages import (
    quality_alert_blocks,
    quality_alert_text,
    quality_run_text,
    report_summary_message,
    run_failure_message,
    slack_escape,
    task_failure_blocks,
    team_headline_message,
)
from patch_compliance.notify import send_slack
from patch_compliance.quality import CheckResult, QualityResult
from tests.fixtures.slack_receiver import slack_webhook  # noqa: F401  (fixture)

HOSTILE = "<!channel> & <https://evil.example|Open runbook> <@U123>"
INERT = "&lt;!channel&gt; &amp; &lt;https://evil.example|Open runbook&gt; &lt;@U123&gt;"
RAW_MARKUP = ("<!channel>", "<https://evil.example", "<@U123>", "<!here>")


def mrkdwn_texts(blocks: list[dict]) -> list[str]:
    """Every text of the blocks (section texts and fields, context elements)."""
    texts = []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [f["text"] for f in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return texts


def assert_inert(blocks: list[dict]) -> None:
    body = json.dumps(blocks)
    for markup in RAW_MARKUP:
        assert markup not in body, f"{markup!r} reached Slack unescaped"


@pytest.mark.parametrize(("raw", "escaped"), [
    ("<!channel>", "&lt;!channel&gt;"),
    ("<!here|here>", "&lt;!here|here&gt;"),
    ("<@U123>", "&lt;@U123&gt;"),
    ("<https://evil.example|Open runbook>", "&lt;https://evil.example|Open runbook&gt;"),
    ("R&D", "R&amp;D"),
    ("&lt;", "&amp;lt;"),  # an already escaped entity stays visible as typed
    ("@channel", "@channel"),  # bare text is not a mention in mrkdwn: only <, > and & are special
    ("web-prod *bold* _it_", "web-prod *bold* _it_"),
    (42, "42"),
])
def test_slack_escape_neutralises_exactly_the_three_control_characters(raw, escaped) -> None:
    assert slack_escape(raw) == escaped


def test_task_failure_message_exact_blocks() -> None:
    ti = SimpleNamespace(dag_id="patch_compliance_daily", task_id="ingest", run_id="scheduled__2026-11-24",
                         try_number=2, log_url="http://airflow.example:8080/dags/patch_compliance_daily/log")
    text, blocks = task_failure_blocks({"ti": ti, "exception": ValueError(f"rds_source {HOSTILE} is bad")})
    assert text == "Airflow task failed: patch_compliance_daily.ingest (run scheduled__2026-11-24)"
    assert blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": ":x: Task failed: ingest"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": "*DAG*\n`patch_compliance_daily`"},
            {"type": "mrkdwn", "text": "*Task*\n`ingest`"},
            {"type": "mrkdwn", "text": "*Run*\n`scheduled__2026-11-24`"},
            {"type": "mrkdwn", "text": "*Try*\n2"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```ValueError: rds_source {INERT} is bad```"}},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Task log"},
             "url": "http://airflow.example:8080/dags/patch_compliance_daily/log"}]},
    ]
    assert_inert(blocks)


def test_task_failure_message_without_a_task_instance_names_what_it_knows() -> None:
    dag_run = SimpleNamespace(dag_id="patch_cve_evidence", run_id="manual__1")
    text, blocks = task_failure_blocks({"dag_run": dag_run})
    assert text == "Airflow task failed: patch_cve_evidence.? (run manual__1)"
    assert [b["type"] for b in blocks] == ["header", "section"]  # no exception, no log link


def test_run_failure_message_escapes_the_run_and_the_reason() -> None:
    text, blocks = run_failure_message("patch_compliance_daily", "manual__<!here>", f"timed out {HOSTILE}")
    assert text == f"Airflow run failed: patch_compliance_daily (run manual__<!here>): timed out {HOSTILE}"  # plain
    assert blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": ":x: Run failed: patch_compliance_daily"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Run*\n`manual__&lt;!here&gt;`"},
                                       {"type": "mrkdwn", "text": f"*Reason*\ntimed out {INERT}"}]},
    ]
    assert_inert(blocks)


def test_fleet_text_cannot_mention_or_link_in_slack(slack_webhook):  # noqa: F811
    """A tag value like <!channel> or <https://evil|Open runbook> arrives as inert text."""
    assert slack_escape("<!channel> & <https://evil.example|Open runbook>") == (
        "&lt;!channel&gt; &amp; &lt;https://evil.example|Open runbook&gt;")
    _, blocks = task_failure_blocks({"exception": ValueError("rds_source <!here> is not a directory")})
    send_slack("failed", blocks)
    [request] = slack_webhook.wait_for(1)
    body = str(request.body)
    assert "<!here>" not in body and "&lt;!here&gt;" in body


def quality_result() -> QualityResult:
    def check(severity: str, success: bool) -> CheckResult:
        return CheckResult(suite="tag_coverage", frame="instances",
                           expectation_type="expect_column_values_to_not_be_null", column="team",
                           check="team_not_null", severity=severity, success=success,
                           description=f"Team tag {HOSTILE}", observed=f"97% pass {HOSTILE}",
                           expected="at least 0.99 & no <b>", unexpected_count=6, element_count=200,
                           offending=("i-0123456789abcdef0",))
    offender = {"instance_id": "i-0123456789abcdef0", "account_id": "111111111111", "account_name": "dev&test",
                "region": "eu-west-1", "name": "<https://evil.example|Open runbook>", "environment": "<!here>",
                "patch_group": None, "team": "<!channel>", "team_source": "Team tag on 2026-11-01",
                "capture_age_hours": 40.0, "problems": ["no Team tag <@U123>"], "detail": "age <!here>",
                "severity": "critical"}
    return QualityResult(snapshot_date=date(2026, 11, 24), reference_time=datetime(2026, 11, 24, 3, tzinfo=UTC),
                         checks=[check("critical", False), check("warning", False), check("warning", True)],
                         offenders=[offender], skipped={"volume": f"no previous snapshot {HOSTILE}"})


def test_quality_alert_escapes_checks_offenders_and_skips() -> None:
    result = quality_result()
    blocks = quality_alert_blocks(result, run_url="http://airflow.example/run/1",
                                  data_docs_url="http://docs.example/index.html")
    assert_inert(blocks)
    text = "\n".join(mrkdwn_texts(blocks))
    assert (f"`tag_coverage` · Team tag {INERT}\nobserved: 97% pass {INERT}\n"
            "expected: at least 0.99 &amp; no &lt;b&gt;") in text
    assert ("• `i-0123456789abcdef0` team *&lt;!channel&gt;* (Team tag on 2026-11-01) — "
            "&lt;https://evil.example|Open runbook&gt; · &lt;!here&gt; · account dev&amp;test (111111111111) · "
            "eu-west-1: no Team tag &lt;@U123&gt; (age &lt;!here&gt;)") in text
    assert f"Skipped: volume: no previous snapshot {INERT}" in text
    assert blocks[0] == {"type": "header", "text": {
        "type": "plain_text", "text": "Patch compliance data quality FAILED: snapshot 2026-11-24"}}
    assert blocks[-1]["elements"][1]["url"] == "http://docs.example/index.html"


def test_quality_fallback_texts_carry_the_verdict_and_counts() -> None:
    result = quality_result()
    assert quality_alert_text(result) == "Patch compliance data quality FAILED for 2026-11-24: 1 critical, 1 warning"
    assert quality_run_text(result, "failed", result.snapshot_date) == (
        "Patch compliance data quality failed for snapshot 2026-11-24: 1 critical, 1 warning check(s)")


def test_report_summary_escapes_team_and_environment_of_the_worst_cells() -> None:
    report = {"month": "2026-11", "uri": "s3://patch-compliance-reports/reports/2026-11",
              "report_snapshot_date": "2026-11-27"}
    worst = {"team": "<!channel>", "environment": "prod & <@U123>", "compliance_pct": "50.0", "instances": "4",
             "instances_missing_critical_14d": "2", "stale": "1", "unmanaged": "0"}
    head = {"instances": 10, "compliant": 6, "non_compliant": 2, "stale": 1, "no_data": 0, "unmanaged": 0,
            "stopped": 2, "instances_missing_critical_14d": 2, "compliance_pct": 75.0, "worst": [worst]}
    link = "https://reports.example/2026-11/report.html"
    text, blocks = report_summary_message(report, head, link, 14)
    assert text == ("Patch compliance 2026-11: 75.0% of 8 instances compliant (2 stopped, counted neither way); "
                    "2 with critical patches missing > 14 days. Report: https://reports.example/2026-11/report.html")
    assert_inert(blocks)
    texts = mrkdwn_texts(blocks)
    assert ("*Worst Team x Environment cells*\n• *&lt;!channel&gt; / prod &amp; &lt;@U123&gt;*: 50.0% compliant of 4, "
            "2 missing critical, 1 stale, 0 unmanaged") in texts
    assert "*Missing critical > 14 d*\n2 instances" in texts
    assert texts[-1] == f"<{link}|Open the report> · `{report['uri']}/`"  # the product's own link stays a link


def test_report_summary_without_cells_says_none() -> None:
    head = {"instances": 0, "compliant": 0, "non_compliant": 0, "stale": 0, "no_data": 0, "unmanaged": 0,
            "stopped": 0, "instances_missing_critical_14d": 0, "compliance_pct": 0.0, "worst": []}
    text, blocks = report_summary_message({"month": "2026-11", "uri": "/tmp/r", "report_snapshot_date": "x"},
                                          head, "/tmp/r/report.html", 14)
    assert "(" not in text.split(";")[0]  # no stopped clause
    assert "*Worst Team x Environment cells*\nnone" in mrkdwn_texts(blocks)


def _team(name: str, n: int = 0) -> dict:
    head = {"instances": 5, "compliant": 3, "non_compliant": 1, "stale": 0, "no_data": 0, "unmanaged": 1,
            "stopped": 1, "instances_missing_critical_14d": 1, "compliance_pct": 75.0, "worst": []}
    cell = {"team": name, "environment": "prod <!here>", "compliance_pct": "75.0", "instances": "5",
            "instances_missing_critical_14d": "1", "stale": "0", "unmanaged": "1"}
    return {"team": name, "head": head, "cells": [cell], "causes": [("not_in_window", 2), ("no_agent", 1)],
            "link": f"https://reports.example/2026-11/teams/t{n}/report.html"}


REPORT = {"month": "2026-11", "uri": "s3://r/reports/2026-11", "report_snapshot_date": "2026-11-27"}


def test_a_team_headline_escapes_the_team_and_links_its_page() -> None:
    text, blocks = team_headline_message(REPORT, _team("<!channel> ops"), 14)
    assert text == ("Patch compliance 2026-11, team &lt;!channel&gt; ops: 75.0% of 4 instances compliant; 1 with "
                    "critical patches missing >= 14 days. Team report: https://reports.example/2026-11/teams/t0/report.html")
    assert_inert(blocks[1:])  # the header is plain_text, which Slack never parses
    assert blocks[0]["text"] == {"type": "plain_text", "text": "Patch compliance 2026-11: team <!channel> ops"}
    texts = mrkdwn_texts(blocks)
    assert ("*Why*: not_in_window 2, no_agent 1\n*Environments of &lt;!channel&gt; ops*\n"
            "• *prod &lt;!here&gt;*: 75.0% compliant of 5, 1 missing critical, 0 stale, 1 unmanaged") in texts
    assert texts[-1] == "<https://reports.example/2026-11/teams/t0/report.html|Open the team report>"


def test_the_summary_carries_the_other_teams_headlines_in_sections_slack_accepts() -> None:
    head = {**_team("x")["head"], "worst": []}
    others = [_team(f"team-{n:02d} <@U1>", n) for n in range(45)]
    _, blocks = report_summary_message(REPORT, head, "https://reports.example/2026-11/report.html", 14, others)
    assert_inert(blocks)
    texts = mrkdwn_texts(blocks)
    lines = [line for t in texts for line in t.split("\n") if line.startswith("• *team-")]
    assert len(lines) == 40 and "… and 5 more teams: see the report" in "\n".join(texts)
    assert lines[0] == ("• *team-00 &lt;@U1&gt;*: 75.0% of 4 compliant, 1 missing critical ≥ 14 d; causes: "
                        "not_in_window 2, no_agent 1 · "
                        "<https://reports.example/2026-11/teams/t0/report.html|team page>")
    assert all(len(t) <= 3000 for t in texts) and len(blocks) <= 50
    assert texts[-1].startswith("<https://reports.example/2026-11/report.html|Open the report>")
