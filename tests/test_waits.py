"""The deferrable waits against the moto server: each check's verdict, the trigger's one event, the task's end."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from patch_compliance import scan, waits
from patch_compliance.aws import resolve_targets
from patch_compliance.config import load_settings
from sim.fleet import account_session


@pytest.fixture
def connection(aws_env, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": aws_env.endpoint_url, "region_name": "eu-west-1"}}))
    return aws_env


@pytest.fixture
def sent_scan(connection):
    """A real Scan command to two tagged instances of the staging account (moto completes it at once)."""
    settings = load_settings()
    target = next(t for t in resolve_targets(settings) if t["account_name"] == "staging")
    ec2 = account_session(connection.endpoint_url, target["account_id"], target["region"]).client(
        "ec2", endpoint_url=connection.endpoint_url)
    tag = {"Key": settings.scan.target_tag_key, "Value": settings.scan.target_tag_values[0]}
    ec2.run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2,
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [tag]}])
    bucket, _ = scan.rds_prefix(settings, target["account_id"], target["region"])
    boto3.client("s3", endpoint_url=connection.endpoint_url).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return settings, scan.send_scan(settings, target, "manual__test", "snapshot-1")


def test_a_completed_command_is_done_with_its_counts(sent_scan) -> None:
    settings, facts = sent_scan
    verdict = waits.check_command(settings, facts)
    assert verdict.state == waits.DONE and verdict.result is not None
    assert verdict.result["completed_count"] == facts["target_count"] == 2
    assert verdict.result["command_id"] == facts["command_id"]


def test_rds_output_waits_then_times_out_with_the_counts(sent_scan) -> None:
    settings, facts = sent_scan
    assert waits.check_rds_output(settings, facts).state == waits.WAITING  # nothing synced yet
    late = datetime.now(UTC) + timedelta(minutes=settings.scan.sync_wait_minutes + 1)
    verdict = waits.check_rds_output(settings, facts, now=late)
    assert verdict.state == waits.TIMED_OUT
    assert "Resource Data Sync output is not fresh" in verdict.message and "0 of 2 targeted nodes" in verdict.message


def test_the_trigger_polls_until_done_and_yields_exactly_one_event(sent_scan) -> None:
    _, facts = sent_scan
    trigger = waits.ScanWaitTrigger(waits.COMMAND, facts, poke_seconds=0.1)
    classpath, kwargs = trigger.serialize()
    assert classpath == "patch_compliance.waits.ScanWaitTrigger"
    rebuilt = waits.ScanWaitTrigger(**kwargs)  # as the triggerer does, from the serialized form

    async def events() -> list:
        return [event async for event in rebuilt.run()]

    (event,) = asyncio.run(events())
    assert event.payload["state"] == waits.DONE and event.payload["result"]["command_id"] == facts["command_id"]


@pytest.mark.parametrize(("state", "raised"), [(waits.TIMED_OUT, AirflowSensorTimeout),
                                               (waits.FAILED, AirflowFailException)])
def test_a_verdict_other_than_done_fails_the_task_without_retry(state, raised) -> None:
    operator = waits.ScanWaitOperator(task_id="wait", wait=waits.RDS_OUTPUT, scan_facts={}, poke_seconds=1,
                                      deadline_minutes=1)
    with pytest.raises(raised, match="what went wrong"):
        operator.execute_complete({}, {"state": state, "message": "what went wrong", "result": None})
    assert operator.execute_complete({}, {"state": waits.DONE, "message": "ok", "result": {"a": 1}}) == {"a": 1}


def test_an_unknown_wait_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown wait"):
        waits.ScanWaitTrigger("nap", {}, 1)


def test_a_wait_already_over_returns_without_deferring(sent_scan) -> None:
    """moto completes commands at once: the operator's own check ends the wait, no trigger is made."""
    _, facts = sent_scan
    operator = waits.ScanWaitOperator(task_id="wait", wait=waits.COMMAND, scan_facts=facts, poke_seconds=1,
                                      deadline_minutes=1)
    assert operator.execute({})["command_id"] == facts["command_id"]  # TaskDeferred would raise here
