"""
### Patch policy: plan and apply baselines, patch groups, maintenance windows and the RDS sync

The policy is declared in `config/fleet.yaml` (`baselines`, `patch_groups`, `maintenance_windows`,
`resource_data_sync`) and reviewed like code. This DAG compares it with SSM in every configured account
and Region (the applier role `policy_apply.role_name` is assumed in each account through the `aws`
connection) and prints the difference like a plan: `+` create, `~` update, `-` delete.

**Trigger form**

- `mode`: `plan` (default) only shows the difference; `apply` then makes SSM match it. Applying is
  idempotent: a second apply changes nothing.
- `allow_delete`: managed objects that are no longer declared are deleted only when this is on;
  otherwise the plan lists them as held back.
- `accounts`: limit the run to these 12-digit account ids (empty: every configured account).

Tasks: **plan** logs the plan; **should_apply** stops here unless `mode` is `apply`; **apply** applies
it and logs every change; **record_baselines** writes the baselines in force (and their drift from the
declaration) to the lake's `baselines` table for the run's date. A failed task posts to Slack.
Docs: `docs/policy.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, Param, task

from patch_compliance.tasks import common, daily

with DAG(
    dag_id="patch_policy_apply",
    description="Reconcile the declared patch policy with SSM in every account and Region",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args={**common.default_args(), "owner": "platform-security"},
    tags=["patch-compliance", "policy", "aws-ssm", "on-demand"],
    doc_md=__doc__,
    on_failure_callback=common.run_failure_notifier(),
    params={
        "mode": Param("plan", type="string", enum=["plan", "apply"], title="Mode",
                      description="plan: show the difference only; apply: make SSM match the declared policy"),
        "allow_delete": Param(False, type="boolean", title="Allow delete",
                              description="Delete managed objects that are no longer declared"),
        "accounts": Param([], type="array", items={"type": "string", "pattern": r"^\d{12}$"}, uniqueItems=True,
                          title="Accounts", description="12-digit account ids; empty for every configured one"),
    },
) as dag:

    @task(multiple_outputs=False)
    def plan(params=None) -> dict:
        """The difference between the declared policy and SSM, logged like a plan."""
        from patch_compliance.tasks.policy_apply import run_in_airflow

        return run_in_airflow("plan", allow_delete=params["allow_delete"], accounts=params["accounts"])

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def should_apply(params=None) -> bool:
        """Continue to apply only when the run was triggered with mode=apply."""
        return params["mode"] == "apply"

    @task(multiple_outputs=False)
    def apply(params=None) -> dict:
        """Apply the plan (idempotent) and log every change made."""
        from patch_compliance.tasks.policy_apply import run_in_airflow

        return run_in_airflow("apply", allow_delete=params["allow_delete"], accounts=params["accounts"])

    @task(multiple_outputs=False, trigger_rule="none_failed")
    def record_baselines(logical_date=None, dag_run=None) -> dict:
        """Baselines in force per account/Region and their drift, to the lake's baselines table."""
        return daily.record_baselines_day(common.run_snapshot_date(logical_date, dag_run))

    applied = plan() >> should_apply() >> apply()
    applied >> record_baselines()
