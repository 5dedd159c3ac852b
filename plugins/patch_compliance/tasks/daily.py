"""The daily DAG's task bodies: branch, scan, wait, inventory, ingest, catalog, validate, baselines,
housekeeping.

Every function takes plain values (dates, dicts, run ids) and the settings, so it can be called
and tested without a scheduler. Heavy libraries (pyarrow, duckdb, pandas, boto3) are imported
inside the functions: the DAG processor imports this module on every parse.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

from patch_compliance.config import Settings, load_settings
from patch_compliance.inputs import InputError
from patch_compliance.tasks.common import fail_fast

log = logging.getLogger(__name__)


# The daily DAG's branch: which tasks follow ``choose_sync_source`` directly in each kind of run.
LIVE_RUN_TASKS = ["resolve_targets", "ingest"]
ARCHIVED_RUN_TASKS = ["snapshot_kept_inventory", "ingest"]


def archived_source(params: dict[str, Any] | None) -> str | None:
    """The run's validated ``rds_source`` param: a kept copy of a sync to ingest, or None for a live run."""
    from patch_compliance.inputs import parse_location

    value = (params or {}).get("rds_source")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    location = parse_location(value, "rds_source")
    if location.scheme == "file" and not Path(location.path).is_dir():
        raise InputError(f"rds_source: {location.path} is not an existing directory on this worker; give the "
                         "local directory that holds the kept copy, or its s3:// URI")
    return location.uri


@fail_fast
def choose_sync_source(params: dict[str, Any] | None, snapshot_date: date) -> list[str]:
    """Branch: a live run scans and waits for the sync; an archived run ingests the given copy only.

    An archived run asks EC2 nothing and records no baselines: both would describe the fleet as it
    is now, not as it was on the snapshot date; its EC2 inventory is the copy's own, when kept.
    """
    source = archived_source(params)
    if source is None:
        log.info("live run for %s: scan every target, wait for Resource Data Sync, ingest %s", snapshot_date,
                 load_settings().storage.sync_uri)
        return LIVE_RUN_TASKS
    log.info("archived run for %s: ingest the kept sync copy %s (and its kept EC2 inventory, if any); no scan, "
             "no baselines", snapshot_date, source)
    return ARCHIVED_RUN_TASKS


@fail_fast
def ingest_day(snapshot_date: date, source_uri: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """RDS JSON (the sync bucket, or an archived copy) -> the day's lake snapshot, on the connection's identity.

    ``query.engine: athena``: Athena DML writes the day into the lake's tables (``ingest_athena``);
    otherwise the embedded ingest does, on this worker.
    """
    from patch_compliance.aws import Aws
    from patch_compliance.query import engine_options

    settings = settings or load_settings()
    access = Aws.from_settings(settings).storage()
    source = source_uri or settings.storage.sync_uri
    engine, options = engine_options(settings)
    if engine == "athena":
        from patch_compliance.ingest_athena import athena_snapshot
        from patch_compliance.lake import Lake
        from patch_compliance.query import AthenaEngine

        athena = AthenaEngine(**options)
        manifest = athena_snapshot(athena, Lake(settings.storage.lake_uri, access, settings), snapshot_date,
                                   settings, source)
        log.info("committed snapshot %s by Athena (run %s): %s instances; %d queries, %d bytes scanned",
                 snapshot_date, manifest["run_id"], manifest["instances"], len(manifest["athena_queries"]),
                 manifest["athena_data_scanned_bytes"])
    else:
        from patch_compliance.ingest import ingest_snapshot

        manifest = ingest_snapshot(source, settings.storage.lake_uri, snapshot_date, settings=settings,
                                   access=access, progress=log.info)
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


@fail_fast
def kept_inventory_day(snapshot_date: date, source_uri: str, settings: Settings | None = None) -> dict[str, Any]:
    """Archived run: the day's ``ec2_inventory`` from the copy's kept DescribeInstances documents, if any."""
    from patch_compliance.aws import Aws
    from patch_compliance.inventory import snapshot_kept_inventory
    from patch_compliance.rds import KEPT_INVENTORY_DIR

    settings = settings or load_settings()
    manifest = snapshot_kept_inventory(settings, source_uri, snapshot_date, Aws.from_settings(settings).storage())
    if manifest is None:
        log.info("%s holds no %s/: no ec2_inventory for %s (validation skips coverage, the report has no "
                 "UNMANAGED hosts that day)", source_uri, KEPT_INVENTORY_DIR, snapshot_date)
        return {"snapshot_date": snapshot_date.isoformat(), "rows": {"ec2_inventory": 0}, "kept": False}
    return {**_manifest_summary(manifest), "kept": True}


def inventory_day(targets: list[dict[str, str]], snapshot_date: date,
                  settings: Settings | None = None) -> dict[str, Any]:
    from patch_compliance.inventory import snapshot_inventory

    settings = settings or load_settings()
    manifest = snapshot_inventory(settings, targets, snapshot_date)
    return _manifest_summary(manifest)



@fail_fast
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


def validate_day(snapshot_date: date, run_url: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Great Expectations over the day's snapshot: one Slack alert on failed checks, a critical one fails.

    Warnings only: the alert is posted here and the task succeeds. A critical failure: the task fails
    with the same message attached, which the task-failure notifier posts (one alert, not two).
    """
    from patch_compliance.aws import Aws
    from patch_compliance.messages import quality_alert_blocks, quality_run_text
    from patch_compliance.notifiers import AlertingFailure
    from patch_compliance.notify import send_slack
    from patch_compliance.quality import validate_snapshot

    settings = settings or load_settings()
    result = validate_snapshot(settings.storage.lake_uri, snapshot_date, settings=settings,
                               access=Aws.from_settings(settings).storage())
    log.info("data quality of snapshot %s:\n%s", snapshot_date, result.format_table())
    failed = len(result.critical_failures) + len(result.warnings)
    status = "failed" if not result.success else ("warnings" if failed else "passed")
    text = quality_run_text(result, status, snapshot_date)
    message = (text, quality_alert_blocks(result, run_url=run_url,
                                          data_docs_url=browser_url(result.data_docs_index)))
    if not result.success:
        names = "; ".join(f"{c.suite}: {c.description} (observed {c.observed})" for c in result.critical_failures)
        raise AlertingFailure(f"snapshot {snapshot_date} failed critical data-quality checks: {names}", message)
    if failed:
        try:
            send_slack(*message, conn_id=settings.airflow.slack_connection_id)
        except Exception:  # an undeliverable alert must not fail a usable day; the verdict is in the log
            log.exception("could not post the data-quality alert to Slack")
    return {"status": status, "checks": len(result.checks), "critical_failures": 0,
            "warnings": len(result.warnings), "results": result.results_path}


def browser_url(uri: str | None) -> str | None:
    """Where a person opens a lake object: the S3 console for ``s3://``; nothing for a local path."""
    from urllib.parse import quote

    if not uri or not uri.startswith("s3://"):
        return uri if uri and uri.startswith(("https://", "http://")) else None
    bucket, _, key = uri[len("s3://"):].partition("/")
    return f"https://s3.console.aws.amazon.com/s3/object/{quote(bucket)}?prefix={quote(key)}"


def run_url(dag_id: str, run_id: str) -> str:
    """The run's page in the Airflow UI, from ``[api] base_url`` (set it where users reach the UI)."""
    from urllib.parse import quote

    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback=None) or "http://localhost:8080"
    return f"{base.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


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
