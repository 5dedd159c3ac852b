"""The monthly report DAG's task bodies: which month, build the report, the Slack summary."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from patch_compliance.config import Settings, load_settings
from patch_compliance.tasks.common import fail_fast

log = logging.getLogger(__name__)


@fail_fast
def report_month(requested: str | None, moment: datetime) -> str:
    """``YYYY-MM``: the trigger form's month when given, else the month of the run's interval end."""
    from patch_compliance.inputs import parse_month

    if requested:
        parse_month(requested)
        return requested
    return f"{moment.year:04d}-{moment.month:02d}"


@fail_fast
def monthly_report(month: str, settings: Settings | None = None) -> dict[str, Any]:
    """Build the month's report straight into the reports bucket; return what the Slack summary needs."""
    from patch_compliance.aws import Aws
    from patch_compliance.query import engine_options
    from patch_compliance.report import build_report
    from patch_compliance.storage import open_location, read_bytes

    settings = settings or load_settings()
    out_dir = f"{settings.storage.reports_uri.rstrip('/')}/{month}"
    access = Aws.from_settings(settings).storage()
    engine, athena = engine_options(settings)
    manifest = build_report(settings.storage.lake_uri, month, None, out_dir, settings=settings, access=access,
                            engine=engine, athena=athena)
    location, fs = open_location(out_dir, access, "reports")
    summary_csv = read_bytes(fs, location.join("team_environment_summary.csv")).decode()
    cells = _csv_rows(summary_csv)
    log.info("report for %s (snapshot %s) written to %s\n%s", month, manifest["report_snapshot_date"], out_dir,
             summary_csv)
    return {"month": month, "uri": out_dir, "report_snapshot_date": manifest["report_snapshot_date"],
            "files": sorted(manifest["outputs"]), "cells": cells, "engine": engine,
            "athena_queries": [q["query_execution_id"] for q in manifest["athena_queries"]]}


def _csv_rows(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def report_headline(cells: list[dict[str, str]]) -> dict[str, Any]:
    """Fleet totals and the worst Team x Environment cells (lowest compliance, then most missing critical)."""
    def number(row: dict[str, str], key: str) -> int:
        return int(row.get(key) or 0)

    def judged(row: dict[str, str]) -> int:  # stopped hosts count neither way
        return number(row, "instances") - number(row, "stopped")

    totals = {key: sum(number(c, key) for c in cells)
              for key in ("instances", "compliant", "non_compliant", "stale", "no_data", "unmanaged", "stopped",
                          "instances_missing_critical_14d")}
    population = totals["instances"] - totals["stopped"]
    share = totals["compliant"] / population if population else 0.0
    ranked = sorted((c for c in cells if judged(c)),
                    key=lambda c: (number(c, "compliant") / judged(c),
                                   -number(c, "instances_missing_critical_14d")))
    return {**totals, "compliance_pct": round(100 * share, 1), "worst": ranked[:3]}


def report_link(report: dict[str, Any], settings: Settings | None = None) -> str:
    base = (settings or load_settings()).airflow.report_link_base
    return f"{base.rstrip('/')}/{report['month']}/report.html" if base else f"{report['uri']}/report.html"


def post_report_summary(report: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Slack: headline figures, the worst Team x Environment cells and the report link."""
    from patch_compliance.messages import report_summary_message
    from patch_compliance.notify import send_slack

    settings = settings or load_settings()
    head = report_headline(report["cells"])
    link = report_link(report, settings)
    text, blocks = report_summary_message(report, head, link, settings.report.missing_critical_age_days)
    send_slack(text, blocks, conn_id=settings.airflow.slack_connection_id)
    return {"text": text, "worst": head["worst"]}
