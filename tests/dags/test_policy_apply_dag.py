"""The patch_policy_apply DAG: policy checks, and a real `airflow dags test` run against the extended moto
server."""

from __future__ import annotations

import json

import boto3
import pytest

from patch_compliance.lake import Lake
from tests.dags.conftest import test_config as config_for_test

pytestmark = pytest.mark.xdist_group("airflow")

ACCOUNTS = {"111111111111": "dev", "222222222222": "staging", "333333333333": "prod"}


def test_policy_dag_is_manual_owned_documented_and_validates_params() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    from tests.dags.conftest import REPO

    dag = DagBag(dag_folder=str(REPO / "dags" / "patch_policy_apply.py")).dags["patch_policy_apply"]
    assert dag.schedule is None or str(dag.timetable.summary) == "None"
    assert dag.owner == "platform-security" and "policy" in dag.tags and "Trigger form" in dag.doc_md
    assert all(t.retries >= 1 and t.on_failure_callback for t in dag.tasks)
    assert [t.task_id for t in dag.topological_sort()] == ["plan", "should_apply", "apply", "record_baselines"]
    params = dag.params
    assert params.get_param("mode").value == "plan" and params.get_param("allow_delete").value is False
    assert params.get_param("accounts").value == []
    assert params.get_param("mode").resolve("apply") == "apply"
    assert params.get_param("accounts").resolve(["333333333333"]) == ["333333333333"]
    for name, bad in (("mode", "destroy"), ("accounts", ["3333"]), ("accounts", "333333333333"),
                      ("allow_delete", "yes")):
        with pytest.raises(ParamValidationError):
            params.get_param(name).resolve(bad)

def test_apply_run_reconciles_every_account_and_records_baselines(airflow_home, airflow_run_env, aws_env,
                                                                   tmp_path) -> None:
    lake = tmp_path / "lake"
    env = {**airflow_run_env,
           "PATCH_COMPLIANCE_CONFIG": str(config_for_test(tmp_path, storage={"lake_uri": str(lake)}))}
    airflow_home.run("dags", "test", "patch_policy_apply", "2026-11-26", "-c", json.dumps({"mode": "apply"}),
                     extra_env=env)
    states = airflow_home.task_states("patch_policy_apply", airflow_home.query(
        "SELECT run_id FROM dag_run WHERE dag_id = 'patch_policy_apply'")[-1][0])
    assert {task: state for (task, _), state in states.items()} == {
        "plan": "success", "should_apply": "success", "apply": "success", "record_baselines": "success"}

    for account_id in ACCOUNTS:  # SSM now holds the declared objects, checked with plain boto3
        creds = boto3.client("sts", endpoint_url=aws_env.endpoint_url, region_name="eu-west-1").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/PatchComplianceScanner", RoleSessionName="dag-check",
        )["Credentials"]
        ssm = boto3.client("ssm", endpoint_url=aws_env.endpoint_url, region_name="eu-west-1",
                           aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])
        own = ssm.describe_patch_baselines(Filters=[{"Key": "OWNER", "Values": ["Self"]}])["BaselineIdentities"]
        assert sorted(b["BaselineName"] for b in own) == ["nonprod-linux", "nonprod-windows", "prod-linux",
                                                          "prod-windows"]
        for baseline in own:
            tags = ssm.list_tags_for_resource(ResourceType="PatchBaseline", ResourceId=baseline["BaselineId"])
            assert tags["TagList"] == [{"Key": "ManagedBy", "Value": "patch-compliance"}]
        assert [s["SyncName"] for s in ssm.list_resource_data_sync()["ResourceDataSyncItems"]] == ["patch-compliance"]
        windows = sorted(w["Name"] for w in ssm.describe_maintenance_windows()["WindowIdentities"])
        assert windows == ["nonprod-install", "prod-install"]

    rows = Lake(str(lake)).read("baselines").to_pylist()
    assert len(rows) == 12 and {r["drift"] for r in rows} == {"in_sync"}
    assert {r["account_id"] for r in rows} == set(ACCOUNTS)
