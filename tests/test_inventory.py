"""The EC2 inventory snapshot: every instance of every account x Region, managed or not, tags resolved."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from patch_compliance.aws import resolve_targets
from patch_compliance.config import load_settings
from patch_compliance.inventory import inventory_rows, snapshot_inventory
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
