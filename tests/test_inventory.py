"""The EC2 inventory snapshot: every instance of every account x Region, managed or not, tags resolved."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime

import pytest
from pyarrow import fs as pafs

from patch_compliance.aws import resolve_targets
from patch_compliance.config import load_settings
from patch_compliance.inputs import InputError
from patch_compliance.inventory import inventory_rows, snapshot_inventory, snapshot_kept_inventory
from patch_compliance.lake import Lake

DAY = date(2026, 11, 2)
NOW = datetime(2026, 11, 2, 3, tzinfo=UTC)


def test_rows_resolve_tags_like_the_ingest_and_keep_every_tag() -> None:
    settings = load_settings()
    described = [
        {"InstanceId": "i-0123456789abcdef0", "State": {"Name": "stopped"}, "PlatformDetails": "Windows",
         "LaunchTime": NOW, "Tags": [{"Key": "Patch Group", "Value": "prod-windows"}, {"Key": "Team", "Value": ""},
                                     {"Key": "Owner", "Value": "=cmd|' /C calc'!A0"}]},
        {"InstanceId": "i-0123456789abcdef1", "State": {"Name": "running"}},  # no tags, no platform
    ]
    first, second = inventory_rows(described, settings, "111111111111", "eu-west-1", NOW)
    assert (first["state"], first["platform"], first["patch_group"], first["team"]) == (
        "stopped", "Windows", "prod-windows", None)  # an empty Team tag is no Team
    assert dict(first["tags"])["Owner"] == "=cmd|' /C calc'!A0"  # kept verbatim; the report neutralises it
    assert (second["platform"], second["tags"], second["name"]) == ("Linux/UNIX", [], None)


def test_snapshot_reads_each_account_through_its_role(aws_env, monkeypatch, tmp_path) -> None:
    from sim.fleet import account_session

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": aws_env.endpoint_url, "region_name": "eu-west-1"}}))
    settings = load_settings()
    targets = resolve_targets(settings)
    made = {}
    for n, target in enumerate(targets[:2], start=1):
        ec2 = account_session(aws_env.endpoint_url, target["account_id"], target["region"]).client(
            "ec2", endpoint_url=aws_env.endpoint_url)
        instances = ec2.run_instances(ImageId="ami-12345678", MinCount=n, MaxCount=n, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Team", "Value": f"team-{n}"}]}])["Instances"]
        made.update({i["InstanceId"]: (target["account_id"], f"team-{n}") for i in instances})
    manifest = snapshot_inventory(settings, targets, DAY, str(tmp_path / "lake"))
    rows = Lake(str(tmp_path / "lake")).read("ec2_inventory", [DAY]).to_pylist()
    assert {r["instance_id"]: (r["account_id"], r["team"]) for r in rows} == made
    assert manifest["tables"]["ec2_inventory"]["rows"] == len(made) == 3


# --- An archived day's inventory: the DescribeInstances documents kept with the sync copy ----------

def _keep(copy, account: str, region: str, body: str, captured: datetime = NOW) -> None:
    path = copy / "_ec2_inventory" / f"accountid={account}" / f"region={region}" / "describe-instances.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    os.utime(path, (captured.timestamp(), captured.timestamp()))


def _described(*instances: tuple[str, str]) -> str:
    return json.dumps({"Reservations": [{"Instances": [
        {"InstanceId": iid, "State": {"Code": 16, "Name": state}, "LaunchTime": "2026-10-01T08:00:00.000Z",
         "PlatformDetails": "Linux/UNIX", "Tags": [{"Key": "Team", "Value": "web"}]}]} for iid, state in instances]})


def test_a_kept_inventory_is_the_day_s_ec2_inventory_captured_when_it_was_kept(tmp_path) -> None:
    copy = tmp_path / "copy"
    _keep(copy, "111111111111", "eu-west-1", _described(("i-0000000000000000a", "running"),
                                                         ("i-0000000000000000b", "stopped")))
    _keep(copy, "222222222222", "us-east-1", _described(("i-0000000000000000c", "terminated")),
          datetime(2026, 11, 2, 3, 30, tzinfo=UTC))
    lake = Lake(str(tmp_path / "lake"))
    manifest = snapshot_kept_inventory(load_settings(), str(copy), DAY, lake_uri=lake.uri)
    assert manifest is not None and manifest["documents"] == 2
    rows = sorted(lake.read("ec2_inventory", [DAY]).to_pylist(), key=lambda r: r["instance_id"])
    assert [(r["account_id"], r["region"], r["instance_id"], r["state"], r["team"]) for r in rows] == [
        ("111111111111", "eu-west-1", "i-0000000000000000a", "running", "web"),
        ("111111111111", "eu-west-1", "i-0000000000000000b", "stopped", "web"),
        ("222222222222", "us-east-1", "i-0000000000000000c", "terminated", "web")]
    assert [r["captured_at"] for r in rows] == [NOW, NOW, datetime(2026, 11, 2, 3, 30, tzinfo=UTC)]
    assert rows[0]["launch_time"] == datetime(2026, 10, 1, 8, tzinfo=UTC)


def test_a_copy_without_a_kept_inventory_writes_none(tmp_path) -> None:
    (tmp_path / "copy").mkdir()
    lake_uri = str(tmp_path / "lake")
    assert snapshot_kept_inventory(load_settings(), str(tmp_path / "copy"), DAY, lake_uri=lake_uri) is None
    assert Lake(str(tmp_path / "lake")).snapshot_dates("ec2_inventory") == []


@pytest.mark.parametrize(("account", "region", "body", "message"), [
    ("1111", "eu-west-1", _described(), "a kept inventory is _ec2_inventory/accountid=<12 digits>"),
    ("111111111111", "Not_A_Region", _described(), "a kept inventory is _ec2_inventory/accountid=<12 digits>"),
    ("111111111111", "eu-west-1", '{"Instances": []}', "not DescribeInstances JSON"),
    ("111111111111", "eu-west-1", "[1, 2", "not DescribeInstances JSON"),
])
def test_a_malformed_kept_inventory_is_refused_and_nothing_is_written(tmp_path, account, region, body,
                                                                      message) -> None:
    _keep(tmp_path / "copy", account, region, body)
    with pytest.raises(InputError, match=message):
        snapshot_kept_inventory(load_settings(), str(tmp_path / "copy"), DAY, lake_uri=str(tmp_path / "lake"))
    assert Lake(str(tmp_path / "lake")).snapshot_dates("ec2_inventory") == []


def test_ingest_does_not_read_a_kept_inventory_as_rds_output(tmp_path) -> None:
    from patch_compliance.rds import SKIP_KEPT_INVENTORY, list_source

    _keep(tmp_path, "111111111111", "eu-west-1", _described())
    listing = list_source(pafs.LocalFileSystem(), str(tmp_path))
    assert listing.skipped == {SKIP_KEPT_INVENTORY: 1} and listing.object_count == 0
