"""The scan: targets, freshness arithmetic, the RDS prefix, and per-account provider hooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patch_compliance import scan
from patch_compliance.config import load_settings, parse_settings
from patch_compliance.inputs import InputError


def test_targets_are_every_account_times_region_with_its_role() -> None:
    settings = parse_settings({
        "accounts": [{"id": "111111111111", "name": "dev", "regions": ["eu-west-1", "us-east-1"],
                      "role_arn": "arn:aws:iam::111111111111:role/Scanner"},
                     {"id": "222222222222", "name": "prod", "regions": ["eu-west-1"]}],
        "scan": {"target_tag_values": ["dev-linux"]}})
    targets = scan.resolve_targets(settings)
    assert [(t["account_id"], t["region"], t["role_arn"]) for t in targets] == [
        ("111111111111", "eu-west-1", "arn:aws:iam::111111111111:role/Scanner"),
        ("111111111111", "us-east-1", "arn:aws:iam::111111111111:role/Scanner"),
        ("222222222222", "eu-west-1", "")]


@pytest.mark.parametrize(("raw", "message"), [
    ({"scan": {"target_tag_values": ["x"]}}, "no accounts"),
    ({"accounts": [{"id": "111111111111", "name": "dev", "regions": ["eu-west-1"]}]}, "target_tag_values"),
])
def test_targets_refuse_a_config_that_would_scan_nothing(raw, message) -> None:
    with pytest.raises(InputError, match=message):
        scan.resolve_targets(parse_settings(raw))


@pytest.mark.parametrize(("expected", "share", "required"), [
    (440, 0.95, 418), (20, 0.95, 19), (3, 0.75, 3), (1, 0.5, 1), (0, 0.95, 0), (100, 1.0, 100), (7, 0.0, 1)])
def test_required_nodes_round_up(expected: int, share: float, required: int) -> None:
    assert scan._required(expected, share) == required


def test_rds_prefix_is_the_patch_summary_partition_of_the_target() -> None:
    bucket, prefix = scan.rds_prefix(load_settings(), "333333333333", "eu-west-1")
    assert bucket == "patch-rds-sync"
    assert prefix == ("rds/AWS:PatchSummary/accountid=333333333333/region=eu-west-1/"
                      "resourcetype=ManagedInstanceInventory/")
    with pytest.raises(InputError):
        scan.rds_prefix(load_settings(), "3333", "eu-west-1")


def test_sync_deadline_counts_from_the_scan_start() -> None:
    started = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    facts = {"scan_started_at": started.isoformat()}
    assert not scan.wait_deadline_passed(facts, 30, now=started + timedelta(minutes=29, seconds=59))
    assert scan.wait_deadline_passed(facts, 30, now=started + timedelta(minutes=30, seconds=1))


def test_account_hooks_assume_each_accounts_role_with_adaptive_retries(aws_env, monkeypatch) -> None:
    """Against the moto server: the provider hook for an account sees that account's instances only."""
    import json

    from airflow.providers.amazon.aws.hooks.ec2 import EC2Hook
    from airflow.providers.amazon.aws.hooks.ssm import SsmHook

    from sim.fleet import account_session

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": aws_env.endpoint_url, "region_name": "eu-west-1"}}))
    settings = load_settings()
    staging = next(t for t in scan.resolve_targets(settings) if t["account_name"] == "staging")
    dev = next(t for t in scan.resolve_targets(settings) if t["account_name"] == "dev")
    ec2 = account_session(aws_env.endpoint_url, staging["account_id"], "eu-west-1").client(
        "ec2", endpoint_url=aws_env.endpoint_url)
    made = ec2.run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2)["Instances"]

    def instance_ids(target: dict[str, str]) -> set[str]:
        client = scan.account_hook(EC2Hook, settings, target, api_type="client_type").conn
        return {i["InstanceId"] for r in client.describe_instances()["Reservations"] for i in r["Instances"]}

    assert instance_ids(staging) == {i["InstanceId"] for i in made}
    assert instance_ids(dev) == set()
    hook = scan.account_hook(SsmHook, settings, staging)
    assert hook.conn_config.role_arn == staging["role_arn"]
    assert hook.conn.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 10}
