"""Policy change -> SSM -> simulated scan: shortening prod's soak raises prod's missing-patch count exactly
as the simulator's own model predicts for the declared baseline."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import date

import boto3
import pytest
import yaml

from patch_compliance import policy as pol
from patch_compliance.aws import Aws
from patch_compliance.config import default_config_path, parse_settings
from sim.agent import Agent
from sim.baselines import baseline_from_ssm, default_baseline
from sim.catalog import OPERATING_SYSTEMS
from sim.fleet import create_buckets, seed_moto
from sim.state import SimState, build_world


def clients_at(endpoint_url):
    """The policy's SSM clients as the CLI makes them: boto3's chain, the given endpoint."""
    return pol.client_factory(Aws.from_session(endpoint_url=endpoint_url))


pytestmark = pytest.mark.xdist_group("policy")

RAW = yaml.safe_load(default_config_path().read_text())
PROD = "333333333333"
REGION = "eu-west-1"
ON = date(2026, 11, 26)


def settings_with_prod_soak(days: int):
    raw = copy.deepcopy(RAW)
    prod_linux = next(b for b in raw["baselines"] if b["name"] == "prod-linux")
    prod_linux["approval_rules"][0]["approve_after_days"] = days
    return parse_settings(raw)


def account_ssm(account_id: str, endpoint_url: str):
    role = next(a["role_arn"] for a in RAW["accounts"] if a["id"] == account_id)
    creds = boto3.client("sts", endpoint_url=endpoint_url, region_name=REGION).assume_role(
        RoleArn=role, RoleSessionName="soak-test")["Credentials"]
    return boto3.client("ssm", endpoint_url=endpoint_url, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


def missing_counts_written(endpoint_url: str) -> dict[str, int]:
    """MissingCount per prod-linux node, from the AWS:PatchSummary objects the simulated sync wrote."""
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=REGION)
    bucket, _, prefix = RAW["storage"]["sync_uri"].removeprefix("s3://").partition("/")
    counts = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/AWS:PatchSummary/accountid={PROD}/"):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".json") or item["Key"].endswith("/test.json"):
                continue
            line = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().splitlines()[0])
            if line["PatchGroup"] == "prod-linux" and line["captureTime"].startswith(ON.isoformat()):
                counts[line["resourceId"]] = int(line["MissingCount"])
    return counts


def predicted_missing(world, soak_days: int) -> dict[str, int]:
    """The simulator's model, evaluated directly with the declared baseline (no SSM, no pipeline)."""
    spec = pol.load_policy(settings_with_prod_soak(soak_days)).baseline("prod-linux")
    declared = baseline_from_ssm({"BaselineId": f"declared-soak-{soak_days}", "Name": spec.name, **spec.content()})
    counts = {}
    for node in world.fleet.in_account(PROD):
        scan = world.model.view(node, ON) if node.patch_group == "prod-linux" else None
        if scan is None or scan.day != ON or scan.items is None:
            continue
        in_force = declared if OPERATING_SYSTEMS[node.family] == spec.operating_system else \
            default_baseline("prod", node.family)
        counts[node.node_id] = sum(1 for i in world.model.items(node, ON, in_force) if i.state == "Missing")
    return counts


def scan_prod_linux(agent: Agent, endpoint_url: str) -> None:
    account_ssm(PROD, endpoint_url).send_command(
        DocumentName="AWS-RunPatchBaseline", Targets=[{"Key": "tag:PatchGroup", "Values": ["prod-linux"]}],
        Parameters={"Operation": ["Scan"], "SnapshotId": [str(uuid.uuid4())]}, Comment="soak test")
    reports = agent.poll_once()
    assert len(reports) == 1 and reports[0].fresh > 0


def test_shorter_prod_soak_raises_prod_missing_count_as_predicted(aws_env, tmp_path):
    endpoint = aws_env.endpoint_url
    settings = settings_with_prod_soak(7)
    state = SimState(seed=11, size=160, sim_date=ON, endpoint_url=endpoint)
    state.save(tmp_path / "state.json")
    create_buckets(endpoint, settings)
    state.id_map = seed_moto(build_world(state, settings).fleet, endpoint, ON, settings)
    state.save()

    factory = clients_at(endpoint)
    pol.apply(settings, factory)
    agent = Agent(endpoint, state, settings=settings)

    scan_prod_linux(agent, endpoint)
    before = missing_counts_written(endpoint)
    world = agent.world(agent.current_state())
    assert before == predicted_missing(world, 7)

    no_soak = settings_with_prod_soak(0)
    plan = pol.plan(no_soak, factory)
    assert [c.name for t in plan.targets for c in t.changes] == ["prod-linux"] * 3
    pol.apply(no_soak, factory)
    scan_prod_linux(agent, endpoint)
    after = missing_counts_written(endpoint)
    predicted = predicted_missing(world, 0)
    assert after == predicted
    assert after.keys() == before.keys() and all(after[n] >= before[n] for n in before)
    assert sum(after.values()) > sum(before.values()), "releases inside the 7-day soak are now Missing in prod"
