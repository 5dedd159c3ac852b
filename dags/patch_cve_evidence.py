"""
### CVE evidence: which instances received a fix for a CVE, and when?

**Trigger with a CVE id** (e.g. `CVE-2026-12345`). The form rejects anything else.

From every daily snapshot in the lake, the run lists each instance that ever had a patch item
carrying that CVE: when it was first seen missing, when it was installed (and by which execution),
and its state in the latest snapshot, with its Team and Environment tags. The evidence CSV (plus a
manifest of the snapshots read) is written to `storage.reports_uri/evidence/<CVE id>/`, and the
table is printed in the task log. The lake is the only history: Resource Data Sync overwrites
every scan, so evidence starts at the first daily snapshot. With `query.engine: athena` the query
runs on Athena (its id and data scanned in the task log). Docs: `docs/airflow.md`, `docs/athena.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, Param, task

from patch_compliance.tasks import common
from patch_compliance.tasks import cve_evidence as evidence

CVE_PATTERN = r"^CVE-\d{4}-\d{4,}$"

with DAG(
    dag_id="patch_cve_evidence",
    description="Evidence CSV for one CVE id: which instances received the fix, and when",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    dagrun_timeout=timedelta(hours=1),
    default_args=common.default_args(),
    tags=["patch-compliance", "evidence", "on-demand"],
    doc_md=__doc__,
    on_failure_callback=common.run_failure_notifier(),
    params={
        "cve_id": Param(type="string", pattern=CVE_PATTERN, minLength=13, maxLength=20,
                        title="CVE id", description="For example CVE-2026-12345"),
    },
) as dag:

    @task(multiple_outputs=False, inlets=[common.lake_asset()])
    def cve_evidence(params=None, run_id=None) -> dict:
        """Evidence CSV to the reports bucket; the table goes to this log."""
        return evidence.cve_evidence(params["cve_id"])

    cve_evidence()
