"""
### Monthly patch compliance report

Runs at **08:00 UTC on the last Friday of every month** (`CronTriggerTimetable("0 8 * * L5")`; a
Friday the scheduler missed still runs once when it is back) and reports on that month, from the
latest daily snapshot in the lake:

* per instance: COMPLIANT, NON_COMPLIANT, STALE, NO_DATA or UNMANAGED;
* missing critical patches (Security/Critical updates, Critical/Important) older than 14 days;
* all of it broken down by the `Team` and `Environment` tags (untagged instances under `(untagged)`).

The report (CSV files, a self-contained HTML page and an audit manifest listing every input file with
its checksum, and a page with its CSVs per team under `teams/<team>/`) is written to
`storage.reports_uri/<YYYY-MM>/` in the reports bucket. Slack: each team mapped in
`notifications.teams` gets its headline in its own channel; the default channel gets one summary
(headline figures, the worst Team x Environment cells, every other team's headline, the link). The
`build_report` task's **Monthly report** button opens the month in the UI's *Compliance reports* view.
The SQL runs on the worker (DuckDB) or, with `query.engine: athena`, on Athena; each Athena query's
id and data scanned are in the task log and the manifest (`docs/athena.md`).

**Trigger manually** (e.g. to re-issue a month): set `month` to `YYYY-MM` in the trigger form; empty
means the month the run falls in. Docs: `docs/airflow.md`, `docs/report.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, CronTriggerTimetable, Param, task

from patch_compliance.tasks import common, monthly_report
from patch_compliance.ui_link import MonthlyReportLink

# "L5": the last Friday of the month. With catchup=False a missed Friday (scheduler down) still runs
# once when the scheduler returns, so a month is never silently left unreported.
MONTHLY_SCHEDULE = CronTriggerTimetable("0 8 * * L5", timezone="UTC")

with DAG(
    dag_id="patch_compliance_monthly_report",
    description="Monthly compliance report (last Friday 08:00 UTC) to the reports bucket and Slack",
    schedule=MONTHLY_SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=common.default_args(),
    tags=["patch-compliance", "monthly", "report"],
    doc_md=__doc__,
    on_failure_callback=common.run_failure_notifier(),
    params={
        "month": Param(None, type=["null", "string"], pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                       title="Month (YYYY-MM)",
                       description="The month to report on; empty = the month of the run's data interval."),
    },
) as dag:

    @task(multiple_outputs=False, inlets=[common.lake_asset()])
    def build_report(params=None, data_interval_end=None, dag_run=None) -> dict:
        """Report for the month from the lake, written to the reports bucket."""
        month = monthly_report.report_month(params.get("month"), data_interval_end or dag_run.run_after)
        return monthly_report.monthly_report(month)

    @task
    def post_summary(report: dict) -> None:
        """Headline figures, worst cells, the headlines of teams without a channel and the link, to Slack."""
        monthly_report.post_report_summary(report)

    @task
    def teams_with_channels(report: dict) -> list:
        """The report's teams that notifications.teams maps to a Slack connection."""
        return monthly_report.team_channels(report)

    # A mapped task takes no docstring as its UI doc: given here.
    @task(doc_md="One team's headline to its own Slack channel (one task instance per mapped team).")
    def post_team_headline(report: dict, team: str) -> None:
        monthly_report.post_team_headline(report, team)

    report = build_report()
    # The task's "Monthly report" button: the month's page in the UI's report view.
    report.operator.operator_extra_links = [MonthlyReportLink()]
    post_summary(report)
    post_team_headline.partial(report=report).expand(team=teams_with_channels(report))
