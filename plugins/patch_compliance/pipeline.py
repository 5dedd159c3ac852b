"""What the DAGs run: task bodies and DAG defaults, kept out of ``dags/`` so DAG files only wire.

Every function takes plain values (dates, dicts, run ids) and the settings, so it can be called
and tested without a scheduler. Heavy libraries (pyarrow, duckdb, pandas, boto3) are imported
inside the functions: the DAG processor imports this module on every parse.

Orchestration knobs live in the ``airflow:`` section of ``config/fleet.yaml`` (owner, retries,
backoff, poke intervals, the Slack connection; ``Settings.airflow``); see ``docs/airflow.md``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from patch_compliance.config import Settings, load_settings

log = logging.getLogger(__name__)


def task_failure_alert(context: dict[str, Any]) -> None:
    """``on_failure_callback`` for every task: the Slack alert (imported lazily: parse stays cheap)."""
    from patch_compliance.notify import on_task_failure

    on_task_failure(context, conn_id=load_settings().airflow.slack_connection_id)


def default_args() -> dict[str, Any]:
    """Owner, retries with exponential backoff and the Slack failure callback, for every DAG."""
    knobs = load_settings().airflow
    return {
        "owner": knobs.owner,
        "retries": knobs.retries,
        "retry_delay": timedelta(seconds=knobs.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=knobs.max_retry_delay_seconds),
        "on_failure_callback": task_failure_alert,
    }


def lake_asset_uri(settings: Settings | None = None) -> str:
    """The Airflow Asset the daily DAG updates: the lake's ``patch_compliance`` table."""
    settings = settings or load_settings()
    return f"{settings.storage.lake_uri.rstrip('/')}/patch_compliance"


# --- daily -------------------------------------------------------------------------------------------


# The daily DAG's branch: which tasks follow ``choose_sync_source`` directly in each kind of run.
LIVE_RUN_TASKS = ["resolve_targets", "ingest"]
ARCHIVED_RUN_TASKS = ["ingest"]


def archived_source(params: dict[str, Any] | None) -> str | None:
    """The run's validated ``rds_source`` param: a kept copy of a sync to ingest, or None for a live run."""
    from patch_compliance.inputs import parse_location

    value = (params or {}).get("rds_source")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_location(value, "rds_source").uri


def choose_sync_source(params: dict[str, Any] | None, snapshot_date: date) -> list[str]:
    """Branch: a live run scans and waits for the sync; an archived run ingests the given copy only.

    An archived run takes no EC2 inventory and records no baselines: both would describe the fleet
    as it is now, not as it was on the snapshot date.
    """
    source = archived_source(params)
    if source is None:
        log.info("live run for %s: scan every target, wait for Resource Data Sync, ingest %s", snapshot_date,
                 load_settings().storage.sync_uri)
        return LIVE_RUN_TASKS
    log.info("archived run for %s: ingest the kept sync copy %s; no scan, no EC2 inventory, no baselines",
             snapshot_date, source)
    return ARCHIVED_RUN_TASKS


def ingest_day(snapshot_date: date, source_uri: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """RDS JSON (the sync bucket, or an archived copy) -> the day's lake snapshot, on the connection's identity."""
    from patch_compliance.aws import Aws
    from patch_compliance.ingest import ingest_snapshot

    settings = settings or load_settings()
    access = Aws.from_settings(settings).storage()
    manifest = ingest_snapshot(source_uri or settings.storage.sync_uri, settings.storage.lake_uri,
                               snapshot_date, settings=settings, access=access, progress=log.info)
    return _manifest_summary(manifest)


def _manifest_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """The small part of a manifest worth an XCom: date, run id, row counts."""
    tables = manifest.get("tables", {})
    return {"snapshot_date": manifest.get("snapshot_date"), "run_id": manifest.get("run_id"),
            "rows": {name: info.get("rows") for name, info in tables.items()}}


def patch_catalog_day(snapshot_date: date, settings: Settings | None = None) -> dict[str, Any]:
    """After the day's ingest: the day's ``patch_catalog`` snapshot (SSM DescribeAvailablePatches + vendor feeds).

    The catalog is AWS's, the same in every account, so SSM is asked through the first configured
    account (its scanner role). Runs in archived runs too: the catalog only grows, so a backfilled
    day learns the release dates of what that day's nodes reported.
    """
    from patch_compliance.aws import Aws
    from patch_compliance.aws import resolve_targets as targets_of
    from patch_compliance.lake import Lake
    from patch_compliance.patch_catalog import catalog_sources, fill_patch_catalog

    settings = settings or load_settings()
    aws = Aws.from_settings(settings)
    ssm = aws.client("ssm", targets_of(settings)[0]) if settings.patch_catalog.ssm else None
    sources = catalog_sources(settings, ssm, snapshot_date)
    manifest = fill_patch_catalog(Lake(settings.storage.lake_uri, aws.storage(), settings), snapshot_date, sources,
                                  settings, progress=log.info)
    return {**_manifest_summary(manifest), "counts": manifest["counts"]}


def inventory_day(targets: list[dict[str, str]], snapshot_date: date,
                  settings: Settings | None = None) -> dict[str, Any]:
    from patch_compliance.inventory import snapshot_inventory

    settings = settings or load_settings()
    manifest = snapshot_inventory(settings, targets, snapshot_date)
    return _manifest_summary(manifest)


def snapshot_date_of(logical_date: datetime | None, run_after: datetime) -> date:
    """A run's snapshot date: its logical date (a manual run without one: the day it runs)."""
    return (logical_date or run_after).date()


def run_snapshot_date(logical_date: datetime | None, dag_run: Any) -> date:
    """A run's snapshot date: its logical date (a manual run without one: the day it runs after)."""
    return snapshot_date_of(logical_date, dag_run.run_after)


def resolve_targets(settings: Settings | None = None) -> list[dict[str, str]]:
    from patch_compliance.aws import resolve_targets as resolve

    targets = resolve(settings or load_settings())
    log.info("scan targets: %s", ", ".join(f"{t['account_name']}/{t['region']}" for t in targets))
    return targets


def send_scan(target: dict[str, str], dag_id: str, run_id: str,
              settings: Settings | None = None) -> dict[str, Any]:
    """One Scan command per target; the SnapshotId derives from the run, so retries reuse it."""
    import uuid

    from patch_compliance import scan

    snapshot_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"airflow://{dag_id}/{run_id}"))
    sent = scan.send_scan(settings or load_settings(), target, run_id, snapshot_id)
    log.info("sent %s to %s: command %s, %d target nodes, SnapshotId %s", scan.SCAN_DOCUMENT,
             scan.scan_target_of(target).label, sent["command_id"], sent["target_count"], snapshot_id)
    return sent


def poke_command(scan_facts: dict[str, Any], settings: Settings | None = None):
    """Sensor body: done when the command's aggregate status is final; a failed command fails the task."""
    from airflow.sdk import PokeReturnValue
    from airflow.sdk.exceptions import AirflowFailException

    from patch_compliance import scan

    progress = scan.command_progress(settings or load_settings(), scan_facts)
    log.info("command %s: %s", scan_facts["command_id"], progress.describe())
    if not progress.finished:
        return PokeReturnValue(is_done=False)
    if not progress.succeeded:
        raise AirflowFailException(
            f"scan command {scan_facts['command_id']} in {scan.scan_target_of(scan_facts).label} ended with "
            f"{progress.describe()}; see Systems Manager > Run Command for per-node output")
    finished = {**scan_facts, "completed_count": progress.completed_count,
                "error_count": progress.error_count}
    return PokeReturnValue(is_done=True, xcom_value=finished)


def poke_rds_output(scan_facts: dict[str, Any], settings: Settings | None = None):
    """Sensor body: done when enough nodes have RDS output newer than the scan; a clear timeout otherwise."""
    from airflow.sdk import PokeReturnValue
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from patch_compliance import scan

    settings = settings or load_settings()
    progress = scan.sync_progress(settings, scan_facts)
    label = scan.scan_target_of(scan_facts).label
    log.info("%s: %s", label, progress.describe())
    if progress.synced:
        return PokeReturnValue(is_done=True, xcom_value={**scan_facts, "fresh_nodes": progress.fresh_nodes})
    if scan.wait_deadline_passed(scan_facts, settings.scan.sync_wait_minutes):
        raise AirflowSensorTimeout(
            f"Resource Data Sync output is not fresh for {label} after "
            f"{settings.scan.sync_wait_minutes:g} min: "
            f"{progress.describe()}. Check the account's resource data sync (ListResourceDataSync "
            f"LastStatus) and the sync bucket {settings.storage.sync_uri}; the day's snapshot was not taken.")
    return PokeReturnValue(is_done=False)


def validate_day(snapshot_date: date, run_url: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Great Expectations over the day's snapshot: Slack on any failed check, raise on a critical one."""
    from airflow.sdk.exceptions import AirflowFailException

    from patch_compliance.aws import Aws
    from patch_compliance.notify import send_slack
    from patch_compliance.quality import quality_alert_blocks, validate_snapshot

    settings = settings or load_settings()
    result = validate_snapshot(settings.storage.lake_uri, snapshot_date, settings=settings,
                               endpoint_url=Aws.from_settings(settings).storage())
    log.info("data quality of snapshot %s:\n%s", snapshot_date, result.format_table())
    failed = len(result.critical_failures) + len(result.warnings)
    status = "failed" if not result.success else ("warnings" if failed else "passed")
    if failed:
        text = (f"Patch compliance data quality {status} for snapshot {snapshot_date}: "
                f"{len(result.critical_failures)} critical, {len(result.warnings)} warning check(s)")
        try:
            send_slack(text, quality_alert_blocks(result, run_url=run_url),
                       conn_id=settings.airflow.slack_connection_id)
        except Exception:  # an undeliverable alert must not hide the verdict below; it is in the log
            log.exception("could not post the data-quality alert to Slack")
    if not result.success:
        names = "; ".join(f"{c.suite}: {c.description} (observed {c.observed})" for c in result.critical_failures)
        raise AirflowFailException(f"snapshot {snapshot_date} failed critical data-quality checks: {names}")
    return {"status": status, "checks": len(result.checks), "critical_failures": 0,
            "warnings": len(result.warnings), "results": result.results_path}


def record_baselines_day(snapshot_date: date, archived: bool = False,
                         settings: Settings | None = None) -> dict[str, Any]:
    """Patch baselines in force per account/Region (and their drift) into the lake's ``baselines``.

    Skipped in an archived run: the baselines in force now say nothing about the snapshot date.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    from patch_compliance.aws import Aws
    from patch_compliance.policy import client_factory, record_baselines

    if archived:
        raise AirflowSkipException(f"archived run: the baselines in force today are not those of {snapshot_date}")
    settings = settings or load_settings()
    aws = Aws.from_settings(settings)
    manifest = record_baselines(settings, settings.storage.lake_uri, snapshot_date, client_factory(aws),
                                access=aws.storage())
    log.info("baselines in force: %s", manifest.get("drift_counts"))
    return {**_manifest_summary(manifest), "drift_counts": manifest.get("drift_counts")}


def lake_housekeeping(archived: bool = False, settings: Settings | None = None) -> dict[str, Any]:
    """Expire Iceberg snapshots older than ``storage.retention_days`` and remove orphan files (live runs)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from patch_compliance.aws import Aws
    from patch_compliance.lake import Lake, housekeeping

    if archived:
        raise AirflowSkipException("archived run: housekeeping runs with the live daily run")
    settings = settings or load_settings()
    result = housekeeping(Lake(settings.storage.lake_uri, Aws.from_settings(settings).storage(), settings),
                          progress=log.info)
    return {"expired_snapshots": sum(result.expired_snapshots.values()),
            "orphan_files_removed": sum(result.orphan_files_removed.values())}


# --- monthly report -----------------------------------------------------------------------------------


def report_month(requested: str | None, moment: datetime) -> str:
    """``YYYY-MM``: the trigger form's month when given, else the month of the run's interval end."""
    from patch_compliance.inputs import parse_month

    if requested:
        parse_month(requested)
        return requested
    return f"{moment.year:04d}-{moment.month:02d}"


def monthly_report(month: str, settings: Settings | None = None) -> dict[str, Any]:
    """Build the month's report straight into the reports bucket; return what the Slack summary needs."""
    from patch_compliance.aws import Aws
    from patch_compliance.report import build_report
    from patch_compliance.storage import open_location, read_bytes

    settings = settings or load_settings()
    out_dir = f"{settings.storage.reports_uri.rstrip('/')}/{month}"
    access = Aws.from_settings(settings).storage()
    manifest = build_report(settings.storage.lake_uri, month, None, out_dir, settings=settings, access=access)
    location, fs = open_location(out_dir, access, "reports")
    summary_csv = read_bytes(fs, location.join("team_environment_summary.csv")).decode()
    cells = _csv_rows(summary_csv)
    log.info("report for %s (snapshot %s) written to %s\n%s", month, manifest["report_snapshot_date"], out_dir,
             summary_csv)
    return {"month": month, "uri": out_dir, "report_snapshot_date": manifest["report_snapshot_date"],
            "files": sorted(manifest["outputs"]), "cells": cells}


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
    from patch_compliance.notify import send_slack, slack_escape

    settings = settings or load_settings()
    head = report_headline(report["cells"])
    link = report_link(report, settings)
    judged = head["instances"] - head["stopped"]
    stopped = f" ({head['stopped']} stopped, counted neither way)" if head["stopped"] else ""
    text = (f"Patch compliance {report['month']}: {head['compliance_pct']}% of {judged} instances "
            f"compliant{stopped}; {head['instances_missing_critical_14d']} with critical patches missing > "
            f"{settings.report.missing_critical_age_days} days. Report: {link}")
    worst = "\n".join(
        f"• *{slack_escape(c['team'])} / {slack_escape(c['environment'])}*: {c['compliance_pct']}% compliant of "
        f"{c['instances']}, "
        f"{c['instances_missing_critical_14d']} missing critical, {c['stale']} stale, {c['unmanaged']} unmanaged"
        for c in head["worst"]) or "none"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Patch compliance report {report['month']}"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn",
             "text": f"*Compliant*\n{head['compliance_pct']}% ({head['compliant']}/{judged})"},
            {"type": "mrkdwn", "text": f"*Non-compliant*\n{head['non_compliant']}"},
            {"type": "mrkdwn", "text": f"*Stale / no data*\n{head['stale']} / {head['no_data']}"},
            {"type": "mrkdwn", "text": f"*Unmanaged / stopped*\n{head['unmanaged']} / {head['stopped']}"},
            {"type": "mrkdwn", "text": f"*Missing critical > {settings.report.missing_critical_age_days} d*\n"
                                       f"{head['instances_missing_critical_14d']} instances"},
            {"type": "mrkdwn", "text": f"*Snapshot*\n{report['report_snapshot_date']}"},
        ]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Worst Team x Environment cells*\n{worst}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|Open the report> · `{report['uri']}/`"}},
    ]
    send_slack(text, blocks, conn_id=settings.airflow.slack_connection_id)
    return {"text": text, "worst": head["worst"]}


# --- CVE evidence ---------------------------------------------------------------------------------------


def cve_evidence(cve_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Evidence CSV for one (validated) CVE id into the reports bucket; the table goes to the log."""
    from patch_compliance.aws import Aws
    from patch_compliance.evidence import EVIDENCE_COLUMNS, collect_evidence, write_evidence
    from patch_compliance.inputs import validate_cve_id

    settings = settings or load_settings()
    cve = validate_cve_id(cve_id)
    out = f"{settings.storage.reports_uri.rstrip('/')}/evidence/{cve}/{cve}.csv"
    access = Aws.from_settings(settings).storage()
    evidence = collect_evidence(settings.storage.lake_uri, cve, access=access)
    written = write_evidence(evidence, out, access=access)
    log.info("%s\n%s", evidence.message, format_table(EVIDENCE_COLUMNS, evidence.rows))
    log.info("evidence CSV written to %s", written)
    return {"cve_id": cve, "uri": written, "rows": len(evidence.rows), "message": evidence.message}


def format_table(columns: tuple[str, ...], rows: list[dict[str, Any]], limit: int = 200) -> str:
    """A plain-text table for task logs (first ``limit`` rows)."""
    cells = [[str(c) for c in columns]] + [["" if r.get(c) is None else str(r.get(c)) for c in columns]
                                           for r in rows[:limit]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more rows in the CSV")
    return "\n".join(lines)
