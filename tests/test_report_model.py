"""The report's model: how values are written, the compliance percentage, CSV injection, the summary."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from patch_compliance.report_model import (
    CAUSES,
    FORMULA_TRIGGERS,
    STATUSES,
    SUMMARY_COLUMNS,
    CsvTable,
    PolicyFacts,
    ReportScope,
    compliance_pct,
    csv_bytes,
    format_value,
    neutralise,
    summarise,
)


@pytest.mark.parametrize(("value", "text"), [
    (None, ""),
    (date(2026, 11, 5), "2026-11-05"),
    (datetime(2026, 11, 5, 3, 4, 5, 999_999, tzinfo=UTC), "2026-11-05T03:04:05Z"),
    (datetime(2026, 11, 5, 1, 0, tzinfo=timezone(timedelta(hours=2))), "2026-11-04T23:00:00Z"),  # to UTC
    (True, "true"),
    (False, "false"),
    (0, "0"),
    (-3, "-3"),
    (12.5, "12.5"),
    ("COMPLIANT", "COMPLIANT"),
])
def test_format_value(value, text) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(("compliant", "instances", "stopped", "pct"), [
    (1, 3, 0, "33.3"),
    (2, 3, 0, "66.7"),
    (1, 16, 0, "6.3"),  # 6.25 rounds half up (a float or banker's rounding would give 6.2)
    (1, 8, 0, "12.5"),
    (7, 7, 0, "100.0"),
    (0, 5, 0, "0.0"),
    (0, 0, 0, ""),  # nobody to judge: no percentage, not 0
    (3, 5, 2, "100.0"),  # stopped hosts leave the denominator
    (9, 12, 2, "90.0"),
    (0, 2, 2, ""),  # only stopped hosts: nobody judged
])
def test_compliance_pct_rounds_half_up_and_leaves_stopped_hosts_out(compliant, instances, stopped, pct) -> None:
    assert compliance_pct(compliant, instances, stopped) == pct


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_neutralise_quotes_a_leading_formula_trigger(trigger) -> None:
    assert trigger in FORMULA_TRIGGERS
    assert neutralise(f"{trigger}HYPERLINK(\"https://evil.example\")") == f"'{trigger}HYPERLINK(\"https://evil.example\")"


@pytest.mark.parametrize("text", ["", "web-prod", "a=b", "team-a", "i-0123456789abcdef0", "'=already quoted"])
def test_neutralise_leaves_other_text_alone(text) -> None:
    assert neutralise(text) == text


def test_csv_bytes_neutralises_text_cells_and_formats_the_rest() -> None:
    rows = [
        {"team": "=cmd|' /C calc'!A0", "environment": "@SUM(1+1)", "count": -3, "day": date(2026, 11, 5),
         "flag": True, "note": None},
        {"team": "+team", "environment": "-prod", "count": 0, "day": None, "flag": False},
        {"team": "plain, with comma", "environment": "line\nbreak", "count": 7, "day": date(2026, 11, 6),
         "flag": None, "note": "x", "ignored": "not a column"},
    ]
    body = csv_bytes(("team", "environment", "count", "day", "flag", "note"), rows)
    assert body.endswith(b"\n") and b"\r\n" not in body.replace(b"line\nbreak", b"")
    parsed = list(csv.reader(io.StringIO(body.decode())))
    assert parsed == [
        ["team", "environment", "count", "day", "flag", "note"],
        ["'=cmd|' /C calc'!A0", "'@SUM(1+1)", "-3", "2026-11-05", "true", ""],  # a number is not neutralised
        ["'+team", "'-prod", "0", "", "false", ""],
        ["plain, with comma", "line\nbreak", "7", "2026-11-06", "", "x"],
    ]


def test_csv_bytes_of_no_rows_is_the_header() -> None:
    assert csv_bytes(SUMMARY_COLUMNS, []) == (",".join(SUMMARY_COLUMNS) + "\n").encode()


def test_a_csv_table_cut_to_a_team_is_the_csv_of_that_teams_rows() -> None:
    """The team files join the fleet's formatted lines: the same bytes as formatting the team's rows."""

    def team_bytes(team: str) -> bytes:
        return table.select(lambda row: row["team"] == team)

    columns = ("team", "instance_id", "note", "day")
    rows = [{"team": "=evil", "instance_id": "i-1", "note": "a, b", "day": date(2026, 11, 5)},
            {"team": "payments", "instance_id": "i-2", "note": "two\nlines", "day": None},
            {"team": "=evil", "instance_id": "i-3", "note": '"quoted"', "day": date(2026, 11, 6)},
            {"team": None, "instance_id": "i-4", "note": "+1", "day": None}]
    table = CsvTable.of(columns, rows)
    assert table.to_bytes() == csv_bytes(columns, rows)
    for team in ("=evil", "payments", "nobody"):
        assert team_bytes(team) == csv_bytes(columns, [r for r in rows if r["team"] == team]), team
    assert team_bytes("nobody") == b"team,instance_id,note,day\n"
    assert [line.split(",")[1] for line in team_bytes("=evil").decode().splitlines()] == [
        "instance_id", "i-1", "i-3"]


def test_summarise_counts_each_status_per_team_and_environment() -> None:
    def row(team: str, env: str, status: str, missing: int | None = 0, quarantined: int = 0, cause: str = "") -> dict:
        return {"team": team, "environment": env, "status": status, "missing_critical_14d_items": missing,
                "quarantined_lines": quarantined, "cause": cause}

    rows = [row("b", "prod", "COMPLIANT"), row("a", "dev", "NON_COMPLIANT", 3, cause="install_failed"),
            row("a", "dev", "COMPLIANT"), row("a", "dev", "STOPPED"),
            row("a", "dev", "STALE", None, quarantined=2, cause="stale_agent"),
            row("a", "dev", "NO_DATA", cause="no_patch_group"), row("a", "dev", "UNMANAGED", None, cause="no_agent"),
            row("a", "dev", "NON_COMPLIANT", 1, cause="install_failed")]
    summary = summarise(rows)
    assert [(s["team"], s["environment"]) for s in summary] == [("a", "dev"), ("b", "prod")]
    a = summary[0]
    assert set(a) == set(SUMMARY_COLUMNS)
    assert {k: a[k] for k in ("instances", "compliant", "non_compliant", "stale", "no_data", "unmanaged",
                              "stopped")} == {"instances": 7, "compliant": 1, "non_compliant": 2, "stale": 1,
                                              "no_data": 1, "unmanaged": 1, "stopped": 1}
    assert a["instances"] == sum(a[s.lower()] for s in STATUSES)
    assert a["compliance_pct"] == "16.7"  # 1 of the 6 judged (the stopped host counts neither way)
    assert (a["instances_missing_critical_14d"], a["missing_critical_14d_items"], a["quarantined_instances"]) == (
        2, 4, 1)
    assert summary[1]["compliance_pct"] == "100.0"
    assert {c: a[f"cause_{c}"] for c in CAUSES if a[f"cause_{c}"]} == {
        "install_failed": 2, "stale_agent": 1, "no_patch_group": 1, "no_agent": 1}
    assert not any(summary[1][f"cause_{c}"] for c in CAUSES)


def test_report_scope_dates_and_inputs() -> None:
    def record(day: int) -> SimpleNamespace:
        return SimpleNamespace(snapshot_date=date(2026, 11, day))

    month = (record(1), record(2), record(3))
    october_30 = SimpleNamespace(snapshot_date=date(2026, 10, 30))
    scope = ReportScope(month="2026-11", report_date=date(2026, 11, 3), excluded_dates=(date(2026, 11, 4),),
                        month_records=month, history_records=(october_30, *month), inventory_records=(record(2),),
                        catalog_record=record(3), baselines_record=None)
    assert scope.month_dates == (date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3))
    assert scope.history_dates[0] == date(2026, 10, 30) and scope.report_record is month[-1]
    assert not scope.coverage_known  # no inventory on the report day
    inputs = scope.inputs()
    assert inputs["instances"] == list(month) and inputs["patch_catalog"] == [scope.catalog_record]
    assert inputs["baselines"] == [] and inputs["ec2_inventory"] == [record(2)]


def test_policy_facts_bind_as_text_and_survive_the_manifest() -> None:
    facts = PolicyFacts(("prod-linux", "dev-linux"),
                        (("prod-install", "Environment", "prod"), ("prod-install", "Team", "web")),
                        (("prod-install", "2026-11-14 02:00:00", "2026-11-14 06:00:00"),), ("hourly-scan",))
    assert facts.sql_params() == ["prod-linux,dev-linux", "prod-install|Environment|prod,prod-install|Team|web",
                                  "prod-install|2026-11-14 02:00:00|2026-11-14 06:00:00"]
    assert PolicyFacts.from_manifest(json.loads(json.dumps(facts.as_manifest()))) == facts
    assert PolicyFacts((), (), ()).sql_params() == ["", "", ""]  # nothing declared: the rules that need it are off
