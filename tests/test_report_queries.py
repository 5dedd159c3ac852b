"""The report's queries (patch_compliance.report_queries): each SQL file given only the day records it needs,
and the answers joined by host and counted. The engine here is a recording fake, so what is checked is
this module's work, not the SQL's (the SQL is checked on real lakes in tests/test_report*.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from patch_compliance.config import load_settings
from patch_compliance.lake import DayRecord
from patch_compliance.report_model import PolicyFacts, ReportScope
from patch_compliance.report_queries import (
    SQL_BASELINES,
    SQL_CAUSES,
    SQL_INSTANCE_STATUS,
    SQL_MISSING_CRITICAL,
    SQL_OPEN_ITEMS,
    SQL_REMEDIATION,
    SQL_TREND,
    TABLES,
    collect,
    fleet_trend,
)

NOV_2, NOV_9, NOV_16 = date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)
OCT_26 = date(2026, 10, 26)


def record(day: date, group: str = "ingest") -> DayRecord:
    return DayRecord(day, group, f"{group}-{day:%Y%m%d}", datetime(2026, 11, 30, tzinfo=UTC), "test", {}, {})


def trend_row(day: date, team: str, instances: int, compliant: int, stopped: int = 0, **other: int) -> dict:
    counts = {"compliant": compliant, "non_compliant": 0, "stale": 0, "no_data": 0, "unmanaged": 0,
              "stopped": stopped, **other}
    return {"snapshot_date": day, "team": team, "instances": instances, **counts, "coverage_known": True}


def test_the_fleet_trend_sums_the_teams_per_snapshot_and_recomputes_the_percentage() -> None:
    rows = [trend_row(NOV_9, "a", 4, 3, non_compliant=1), trend_row(NOV_2, "a", 4, 2, non_compliant=2),
            trend_row(NOV_2, "b", 6, 5, stopped=1), trend_row(NOV_9, "b", 6, 6)]
    fleet = fleet_trend(rows)
    assert [r["snapshot_date"] for r in fleet] == [NOV_2, NOV_9]  # sorted by day
    nov_2, nov_9 = fleet
    assert (nov_2["instances"], nov_2["compliant"], nov_2["non_compliant"], nov_2["stopped"]) == (10, 7, 2, 1)
    assert nov_2["compliance_pct"] == "77.8"  # 7 of the 9 judged (the stopped host is out): 77.77...
    assert (nov_9["instances"], nov_9["compliant"], nov_9["compliance_pct"]) == (10, 9, "90.0")
    assert fleet_trend([]) == []


class RecordingEngine:
    """Answers each SQL file with canned rows and keeps what it was asked."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.calls: dict[str, tuple[list[object], dict[str, list[DayRecord]]]] = {}

    def run(self, sql: str, params, scope=None) -> pa.Table:
        self.calls[sql] = (list(params), scope)
        return pa.Table.from_pylist(self.answers.get(sql, []))


A = {"account_id": "111111111111", "region": "eu-west-1", "instance_id": "i-0a"}
B = {"account_id": "111111111111", "region": "eu-west-1", "instance_id": "i-0b"}


def test_each_query_reads_only_its_tables_and_the_answers_are_joined_by_host() -> None:
    settings = load_settings()
    month = (record(NOV_2), record(NOV_9), record(NOV_16))
    inventory = (record(NOV_9, "ec2_inventory"), record(NOV_16, "ec2_inventory"))
    catalog = record(NOV_16, "patch_catalog")
    scope = ReportScope("2026-11", NOV_16, (), month, (record(OCT_26), *month), inventory, catalog, None)
    policy = PolicyFacts(("prod-linux",), (("prod-install", "Environment", "prod"),),
                         (("prod-install", "2026-11-14 02:00:00", "2026-11-14 06:00:00"),))
    engine = RecordingEngine({
        SQL_INSTANCE_STATUS: [
            {**A, "team": "web", "environment": "prod", "status": "NON_COMPLIANT", "non_compliant_items": 3},
            {**B, "team": "web", "environment": "prod", "status": "NO_DATA", "non_compliant_items": None}],
        SQL_MISSING_CRITICAL: [{**A, "team": "web", "patch_severity": "Critical", "age_days": age}
                               for age in (20, 14, 3)],
        SQL_TREND: [trend_row(NOV_2, "web", 2, 1), trend_row(NOV_16, "web", 2, 0)],
        SQL_CAUSES: [{**A, "cause": "window_not_run"}],
    })
    data = collect(engine, scope, settings, policy)

    assert SQL_BASELINES not in engine.calls  # no baselines record: not queried at all
    assert set(engine.calls) == {SQL_INSTANCE_STATUS, SQL_MISSING_CRITICAL, SQL_TREND, SQL_CAUSES, SQL_REMEDIATION,
                                 SQL_OPEN_ITEMS}
    for _, reads in engine.calls.values():
        assert set(reads) == set(TABLES)  # every table is scoped, most to nothing
    history, day = [record(OCT_26), *month], [month[-1]]
    expected_reads = {
        SQL_INSTANCE_STATUS: {"instances": day, "ec2_inventory": [inventory[-1]]},
        SQL_MISSING_CRITICAL: {"patch_compliance": history, "instances": day, "patch_catalog": [catalog]},
        SQL_TREND: {"instances": list(month), "ec2_inventory": list(inventory)},
        SQL_CAUSES: {"patch_compliance": history, "instances": day, "ec2_inventory": [inventory[-1]]},
        SQL_REMEDIATION: {"patch_compliance": history, "patch_catalog": [catalog]},
        SQL_OPEN_ITEMS: {"patch_compliance": day, "instances": day},
    }
    for sql, reads in expected_reads.items():
        assert {t: r for t, r in engine.calls[sql][1].items() if r} == reads, sql

    critical = [",".join(settings.report.critical_classifications), ",".join(settings.report.critical_severities)]
    assert engine.calls[SQL_INSTANCE_STATUS][0] == [NOV_16]
    assert engine.calls[SQL_MISSING_CRITICAL][0] == [NOV_16, *critical]
    assert engine.calls[SQL_TREND][0] == [date(2026, 11, 1), NOV_16]
    assert engine.calls[SQL_CAUSES][0] == [NOV_16, "prod-linux", "prod-install|Environment|prod",
                                           "prod-install|2026-11-14 02:00:00|2026-11-14 06:00:00"]

    by_host = {r["instance_id"]: r for r in data.instances}
    # A: two of its three missing critical items are at least 14 days old (the config's threshold)
    assert settings.report.missing_critical_age_days == 14 == data.threshold_days
    assert by_host["i-0a"]["missing_critical_14d_items"] == 2 and by_host["i-0a"]["cause"] == "window_not_run"
    assert by_host["i-0b"]["missing_critical_14d_items"] is None and by_host["i-0b"]["cause"] == ""  # no scan data
    assert [(r["snapshot_date"], r["coverage_known"], r["compliance_pct"]) for r in data.team_trend] == [
        (NOV_2, False, "50.0"), (NOV_16, True, "0.0")]  # no inventory on the 2nd: coverage unknown
    assert [(r["team"], r["environment"], r["instances"]) for r in data.summary] == [("web", "prod", 2)]
    assert data.baselines == [] and data.policy is policy
    # the missing rows are what is open: 3 critical items, 2 of them at or over the threshold
    assert [(r["month"], r["team"], r["severity"], r["open_critical"], r["open_critical_breaching"])
            for r in data.remediation] == [("2026-11", "web", "Critical", 3, 2)]
