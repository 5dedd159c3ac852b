"""The report's queries: every ``sql/report/*.sql`` run once with its bound parameters and its lake scope.

Per-instance facts, causes, the age of every missing critical item, the trend per team and every
remediation are the SQL's; what is done here is joining those answers by key and counting them, so
what an auditor reads is what the SQL computed. Each query is given only the day records it needs
(the DuckDB engine reads no other file; Athena prunes by the SQL's own date predicates).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from patch_compliance.config import Settings
from patch_compliance.lake import DayRecord
from patch_compliance.query import QueryEngine
from patch_compliance.remediation import remediation_rows
from patch_compliance.report_model import STATUSES, PolicyFacts, ReportData, ReportScope, compliance_pct, summarise

SQL_INSTANCE_STATUS = "report/instance_status.sql"
SQL_MISSING_CRITICAL = "report/missing_critical_patches.sql"
SQL_TREND = "report/trend.sql"
SQL_BASELINES = "report/baselines.sql"
SQL_CAUSES = "report/causes.sql"
SQL_REMEDIATION = "report/remediation.sql"
SQL_OPEN_ITEMS = "report/open_items.sql"
TABLES = ("patch_compliance", "instances", "ec2_inventory", "patch_catalog", "baselines")


def _rows(engine: QueryEngine, sql: str, params: Sequence[object],
          **reads: Sequence[DayRecord]) -> list[dict[str, Any]]:
    """Run one query; tables not named in ``reads`` are given no day record at all."""
    table: pa.Table = engine.run(sql, params, scope={t: list(reads.get(t, ())) for t in TABLES})
    return table.to_pylist()


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["account_id"], row["region"], row["instance_id"]


def fleet_trend(team_trend: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fleet's trend rows: the teams' counts summed per snapshot."""
    days: dict[Any, Counter[str]] = defaultdict(Counter)
    coverage: dict[Any, bool] = {}
    for row in team_trend:
        days[row["snapshot_date"]].update({k: row[k] for k in ("instances", *(s.lower() for s in STATUSES))})
        coverage[row["snapshot_date"]] = row["coverage_known"]
    return [{"snapshot_date": day, **counts, "coverage_known": coverage[day],
             "compliance_pct": compliance_pct(counts["compliant"], counts["instances"], counts["stopped"])}
            for day, counts in sorted(days.items())]


def collect(engine: QueryEngine, scope: ReportScope, settings: Settings, policy: PolicyFacts) -> ReportData:
    """Run the report SQL and derive the per-instance 14-day counts, causes, summary and remediation figures."""
    report = settings.report
    d = scope.report_date
    day = [scope.report_record]
    inventory = [r for r in scope.inventory_records if r.snapshot_date == d]
    catalog = [scope.catalog_record] if scope.catalog_record else []
    baselines_read = [scope.baselines_record] if scope.baselines_record else []
    critical = [",".join(report.critical_classifications), ",".join(report.critical_severities)]
    instances = _rows(engine, SQL_INSTANCE_STATUS, [d], instances=day, ec2_inventory=inventory)
    missing = _rows(engine, SQL_MISSING_CRITICAL, [d, *critical], patch_compliance=scope.history_records,
                    instances=day, patch_catalog=catalog)
    team_trend = _rows(engine, SQL_TREND, [scope.month_dates[0].replace(day=1), d], instances=scope.month_records,
                       ec2_inventory=scope.inventory_records)
    baselines = _rows(engine, SQL_BASELINES, [d], baselines=baselines_read) if baselines_read else []
    causes = {_key(r): r["cause"] for r in _rows(
        engine, SQL_CAUSES, [d, *policy.sql_params()], patch_compliance=scope.history_records, instances=day,
        ec2_inventory=inventory, baselines=baselines_read)}
    remediated = _rows(engine, SQL_REMEDIATION, [d, *critical], patch_compliance=scope.history_records,
                       patch_catalog=catalog)
    open_items = _rows(engine, SQL_OPEN_ITEMS, [d], patch_compliance=day, instances=day)

    threshold = int(report.missing_critical_age_days)
    per_instance: Counter[tuple[str, str, str]] = Counter(_key(m) for m in missing if m["age_days"] >= threshold)
    for row in instances:
        row["missing_critical_14d_items"] = None if row["non_compliant_items"] is None else per_instance[_key(row)]
        row["cause"] = causes.get(_key(row), "")
    for row in team_trend:
        row["compliance_pct"] = compliance_pct(row["compliant"], row["instances"], row["stopped"])
        row["coverage_known"] = row["snapshot_date"] in scope.inventory_dates
    remediation = remediation_rows(remediated, open_items, missing, d, threshold)
    return ReportData(scope, instances, missing, summarise(instances), fleet_trend(team_trend), baselines, threshold,
                      policy, team_trend, remediation)
