"""
### Daily patch compliance snapshot

Every day at 00:00 UTC, **choose_sync_source** starts a *live* run; then, for every account x Region
in `config/fleet.yaml`:

1. **send_scan** sends `AWS-RunPatchBaseline` (Operation=Scan, one SnapshotId for the whole run) to the
   nodes tagged `scan.target_tag_key` = `scan.target_tag_values`; the command's Comment names this run.
2. **wait_for_command** polls `ListCommands` until the command's aggregate status is final
   (TargetCount / CompletedCount / ErrorCount are logged). A failed or timed-out command fails here.
3. **wait_for_rds_output** waits (deferred to the triggerer: no worker slot held) until Resource Data Sync has
   written output newer than the scan for `scan.sync_min_share` of the targeted nodes. After
   `scan.sync_wait_minutes` it fails with an alert saying how many nodes synced.

Then, once for the run: **snapshot_ec2_inventory** (coverage: instances without the SSM Agent),
**ingest** (RDS JSON -> the Iceberg lake for the run's logical date; with `query.engine: athena`,
as Athena DML from the raw RDS tables, every query's id and data scanned in the log and the day
record), **validate** (Great Expectations;
a critical failure fails the run and posts to Slack), **record_baselines** (patch baselines in force)
and **publish** (updates the `patch_compliance` lake asset, which downstream DAGs can be scheduled on),
then **lake_housekeeping** (expires Iceberg snapshots older than `storage.retention_days`, removes
orphan files; live runs only). Beside them, after ingest, **fill_patch_catalog** writes the day's
`patch_catalog` snapshot: release dates, severities and CVEs of every patch version the day's nodes
reported, from SSM `DescribeAvailablePatches` (Amazon Linux 1/2, Windows Server) and the vendor feeds
of `patch_catalog.feeds` (Amazon Linux 2023's `updateinfo.xml`), cached from day to day, at most
`patch_catalog.max_lookups_per_day` lookups. Its log says how many patch ids were asked, found,
cached, unknown and deferred; a source that fails fails this task (the report then uses the previous
day's catalog) without holding back publish.

**Archived run:** trigger with `rds_source` set to a kept copy of Resource Data Sync output
(`s3://bucket/prefix` or a local directory) and the run ingests that copy for its logical date
instead of scanning: scan, waits, the EC2 inventory call and baselines are skipped (they describe the
fleet today, not that day); **snapshot_kept_inventory** takes the day's EC2 inventory from the copy's
`_ec2_inventory/` DescribeInstances documents when it holds them; ingest, fill_patch_catalog,
validate and publish run as usual. This is how saved
sync copies become history, and how `make demo` builds its month of runs.

**Rerun a day:** clear the run; a snapshot is replaced, never duplicated. **Backfill:**
`airflow backfill create --dag-id patch_compliance_daily --from-date … --to-date …` (one run at a time;
RDS keeps no history, so a backfilled day snapshots what the sync bucket holds when it runs).
Any failed task posts to Slack. Docs: `docs/airflow.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, Param, task

from patch_compliance.config import load_settings
from patch_compliance.tasks import common, daily
from patch_compliance.waits import COMMAND, RDS_OUTPUT, ScanWaitOperator

SETTINGS = load_settings()
KNOBS = SETTINGS.airflow
LAKE_ASSET = common.lake_asset()

with DAG(
    dag_id="patch_compliance_daily",
    description="Scan every account x Region, wait for Resource Data Sync, snapshot into the lake, validate",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    default_args=common.default_args(),
    tags=["patch-compliance", "daily", "aws-ssm"],
    doc_md=__doc__,
    on_failure_callback=common.run_failure_notifier(),
    params={
        "rds_source": Param(None, type=["null", "string"], maxLength=1024, title="Archived sync copy (optional)",
                            description="Leave empty to scan and wait for the live sync. Set to s3://bucket/prefix "
                                        "or a local directory holding a kept copy of Resource Data Sync output to "
                                        "ingest that copy for this run's date instead."),
    },
) as dag:

    @task.branch
    def choose_sync_source(params=None, logical_date=None, dag_run=None) -> list[str]:
        """Live run (scan, wait, inventory, ingest, baselines) or archived run (ingest the given copy)."""
        return daily.choose_sync_source(params, common.run_snapshot_date(logical_date, dag_run))

    @task
    def resolve_targets() -> list[dict[str, str]]:
        """Accounts x Regions from config (one mapped branch each)."""
        return daily.resolve_targets()

    # Mapped tasks take their UI docs from doc_md (a docstring is not carried over to the mapped operator).
    @task(multiple_outputs=False, map_index_template="{{ target['account_name'] }} {{ target['region'] }}",
          doc_md="AWS-RunPatchBaseline Scan to the target's tagged nodes (one SnapshotId per run).")
    def send_scan(target: dict[str, str], run_id: str | None = None, dag_run=None) -> dict:
        return daily.send_scan(target, dag_run.dag_id, run_id)

    # Deferrable: the triggerer polls, no worker slot is held (patch_compliance.waits says why not the provider's).
    wait_for_command = ScanWaitOperator.partial(
        task_id="wait_for_command", wait=COMMAND, poke_seconds=KNOBS.command_poke_seconds,
        deadline_minutes=SETTINGS.scan.command_timeout_minutes,
        map_index_template="{{ task.scan_facts['account_name'] }} {{ task.scan_facts['region'] }}",
        doc_md="Waits (deferred) until the scan command's aggregate status in ListCommands is final.")
    wait_for_rds_output = ScanWaitOperator.partial(
        task_id="wait_for_rds_output", wait=RDS_OUTPUT, poke_seconds=KNOBS.sync_poke_seconds,
        deadline_minutes=SETTINGS.scan.sync_wait_minutes,
        map_index_template="{{ task.scan_facts['account_name'] }} {{ task.scan_facts['region'] }}",
        doc_md="Waits (deferred) for Resource Data Sync objects newer than the scan start for "
               "`scan.sync_min_share` of the targeted nodes; fails with an alert after "
               "`scan.sync_wait_minutes`.")

    @task(multiple_outputs=False)
    def snapshot_ec2_inventory(targets: list[dict[str, str]], scans: list[dict], logical_date=None,
                               dag_run=None) -> dict:
        """Every EC2 instance (managed or not) into the lake's ec2_inventory."""
        return daily.inventory_day(targets, common.run_snapshot_date(logical_date, dag_run))

    @task(multiple_outputs=False)
    def snapshot_kept_inventory(params=None, logical_date=None, dag_run=None) -> dict:
        """Archived run: the copy's kept DescribeInstances documents into the day's ec2_inventory (if kept)."""
        return daily.kept_inventory_day(common.run_snapshot_date(logical_date, dag_run),
                                        daily.archived_source(params))

    # Runs after the inventory: EC2's in a live run, the copy's in an archived one.
    @task(multiple_outputs=False, trigger_rule="none_failed_min_one_success")
    def ingest(params=None, logical_date=None, dag_run=None) -> dict:
        """Sync bucket (or the archived copy) -> the day's lake snapshot (patch_compliance, instances, quarantine)."""
        return daily.ingest_day(common.run_snapshot_date(logical_date, dag_run), daily.archived_source(params))

    @task(multiple_outputs=False)
    def fill_patch_catalog(manifest: dict, logical_date=None, dag_run=None) -> dict:
        """Release dates and CVEs of the day's patches (SSM DescribeAvailablePatches, vendor feeds), cached."""
        return daily.patch_catalog_day(common.run_snapshot_date(logical_date, dag_run))

    @task(multiple_outputs=False)
    def validate(manifest: dict, logical_date=None, dag_run=None) -> dict:
        """Great Expectations over the snapshot; Slack alert on failure, critical failures fail the run."""
        return daily.validate_day(common.run_snapshot_date(logical_date, dag_run),
                                  run_url=daily.run_url(dag_run.dag_id, dag_run.run_id))

    @task(multiple_outputs=False)
    def record_baselines(params=None, logical_date=None, dag_run=None) -> dict:
        """Patch baselines in force per account/Region (and drift from the declared policy); skipped if archived."""
        return daily.record_baselines_day(common.run_snapshot_date(logical_date, dag_run),
                                          archived=daily.archived_source(params) is not None)

    # Baselines skip in archived runs.
    @task(multiple_outputs=False, outlets=[LAKE_ASSET], trigger_rule="none_failed_min_one_success")
    def publish(manifest: dict, quality: dict, outlet_events=None) -> dict:
        """Mark the lake asset updated for this snapshot date."""
        outlet_events[LAKE_ASSET].extra = {"snapshot_date": manifest["snapshot_date"],
                                           "rows": manifest["rows"], "quality": quality.get("status")}
        return manifest

    @task(multiple_outputs=False)
    def lake_housekeeping(params=None) -> dict:
        """Expire old Iceberg snapshots and remove orphan files; skipped in archived runs."""
        return daily.lake_housekeeping(archived=daily.archived_source(params) is not None)

    source = choose_sync_source()
    targets = resolve_targets()
    scans = send_scan.expand(target=targets)
    finished = wait_for_command.expand(scan_facts=scans)
    synced = wait_for_rds_output.expand(scan_facts=finished.output)
    inventory = snapshot_ec2_inventory(targets, synced.output)
    kept_inventory = snapshot_kept_inventory()
    manifest = ingest()
    source >> [targets, kept_inventory, manifest]
    [inventory, kept_inventory] >> manifest
    fill_patch_catalog(manifest)
    quality = validate(manifest)
    baselines = record_baselines()
    quality >> baselines
    baselines >> publish(manifest, quality) >> lake_housekeeping()
