"""The monthly report DAG's task bodies: which month, build the report, the Slack summary and team headlines.

Each team whose Team tag ``notifications.teams`` maps to a Slack connection gets its headline in
its own channel (one task instance per team, so a failed post is retried alone); every other
team's headline rides in the one summary message on ``airflow.slack_connection_id``.
"""

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
            "files": sorted(manifest["outputs"]), "cells": cells, "teams": manifest["teams"], "engine": engine,
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


def report_link(report: dict[str, Any], settings: Settings | None = None, page: str = "report.html") -> str:
    """The link to a page of the report (``page`` relative to the month's folder)."""
    base = (settings or load_settings()).airflow.report_link_base
    return f"{base.rstrip('/')}/{report['month']}/{page}" if base else f"{report['uri']}/{page}"


def cause_counts(cells: list[dict[str, str]]) -> list[tuple[str, int]]:
    """The causes of the cells' hosts, most frequent first (ties in the causes' own order)."""
    from patch_compliance.report_model import CAUSES

    counts = [(cause, sum(int(c.get(f"cause_{cause}") or 0) for c in cells)) for cause in CAUSES]
    return sorted((pair for pair in counts if pair[1]), key=lambda pair: -pair[1])


def team_headlines(report: dict[str, Any], settings: Settings | None = None) -> list[dict[str, Any]]:
    """Per team of the report: its cells, headline, causes, page link and Slack connection (None: the default)."""
    from patch_compliance.report_model import neutralise

    settings = settings or load_settings()
    channels = settings.notifications.teams
    headlines = []
    for team, directory in sorted(report["teams"].items()):
        cells = [c for c in report["cells"] if c["team"] == neutralise(team)]  # the CSV's cells are neutralised
        headlines.append({"team": team, "cells": cells, "head": report_headline(cells), "causes": cause_counts(cells),
                          "link": report_link(report, settings, f"teams/{directory}/report.html"),
                          "conn_id": channels.get(team)})
    return headlines


def team_channels(report: dict[str, Any], settings: Settings | None = None) -> list[str]:
    """The report's teams that have a Slack connection of their own (``notifications.teams``)."""
    settings = settings or load_settings()
    unreported = sorted(set(settings.notifications.teams) - set(report["teams"]))
    if unreported:
        log.info("notifications.teams lists teams without a host in this report: %s", unreported)
    return [h["team"] for h in team_headlines(report, settings) if h["conn_id"]]


def post_report_summary(report: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Slack, the default channel: headline figures, the worst cells, the teams without a channel, the link."""
    from patch_compliance.messages import report_summary_message
    from patch_compliance.notify import send_slack

    settings = settings or load_settings()
    head = report_headline(report["cells"])
    others = [h for h in team_headlines(report, settings) if not h["conn_id"]]
    text, blocks = report_summary_message(report, head, report_link(report, settings),
                                          settings.report.missing_critical_age_days, others)
    send_slack(text, blocks, conn_id=settings.airflow.slack_connection_id)
    return {"text": text, "worst": head["worst"], "teams": [h["team"] for h in others]}


def post_team_headline(report: dict[str, Any], team: str, settings: Settings | None = None) -> dict[str, Any]:
    """Slack, the team's own channel: its headline, environments, causes and the link to its page."""
    from patch_compliance.messages import team_headline_message
    from patch_compliance.notify import send_slack

    settings = settings or load_settings()
    headline = next(h for h in team_headlines(report, settings) if h["team"] == team)
    text, blocks = team_headline_message(report, headline, settings.report.missing_critical_age_days)
    send_slack(text, blocks, conn_id=headline["conn_id"])
    return {"team": team, "conn_id": headline["conn_id"], "text": text}
