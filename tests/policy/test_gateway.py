"""The policy's SSM access (patch_compliance.policy.gateway): clients per account and Region, the targets, and
each call against the extended moto server, checked with plain boto3."""

from __future__ import annotations

import boto3
import pytest

from patch_compliance import policy as pol
from patch_compliance.config import Account
from tests.fixtures.policy_world import (
    ACCOUNTS,
    MANAGED,
    PROD,
    RAW,
    REGION,
    clients_at,
    expected_rules,
    pytestmark_moto,
    settings_with,
)


def test_clients_retry_the_same_way_whatever_the_endpoint():
    account = Account(PROD, "prod", (REGION,), "")
    for endpoint in (None, "http://127.0.0.1:1", "https://ssm-fips.eu-west-1.amazonaws.com"):
        retries = clients_at(endpoint)(account, REGION).meta.config.retries
        assert retries == {"mode": "adaptive", "total_max_attempts": 10}, endpoint


def test_targets_are_every_declared_account_times_its_regions_or_those_asked_for():
    settings = settings_with()
    everything = [(a["id"], r) for a in RAW["accounts"] for r in a["regions"]]
    assert [(a.id, r) for a, r in pol.targets_of(settings)] == everything
    assert [(a.id, r) for a, r in pol.targets_of(settings, [PROD])] == [(PROD, r) for r in ACCOUNTS[PROD]["regions"]]
    assert {a.role_arn for a, _ in pol.targets_of(settings)} == {a["role_arn"] for a in RAW["accounts"]}
    applier = pol.targets_of(settings, [PROD], role_name="PatchPolicyApplier")
    assert {a.role_arn for a, _ in applier} == {f"arn:aws:iam::{PROD}:role/PatchPolicyApplier"}
    with pytest.raises(pol.PolicyError, match=r"accounts \['999999999999'\] are not in the config's accounts"):
        pol.targets_of(settings, [PROD, "999999999999"])


@pytestmark_moto
def test_a_baseline_made_through_the_gateway_is_tagged_marked_and_deleted_with_its_groups(aws_env):
    spec = pol.load_policy(settings_with()).baseline("prod-linux")
    ssm = boto3.client("ssm", region_name=REGION)
    gateway = pol.SsmGateway(ssm)
    baseline_id = gateway.create_baseline(spec)
    # what SSM holds, read with plain boto3
    content = ssm.get_patch_baseline(BaselineId=baseline_id)
    assert content["Name"] == "prod-linux" and content["Description"].startswith(RAW["baselines"][0]["description"])
    assert content["Description"].endswith(f"; spec {spec.fingerprint}]")
    assert content["ApprovalRules"]["PatchRules"] == expected_rules(RAW["baselines"][0])
    tags = ssm.list_tags_for_resource(ResourceType="PatchBaseline", ResourceId=baseline_id)["TagList"]
    assert tags == [MANAGED]
    assert gateway.tags("PatchBaseline", baseline_id) == {"ManagedBy": "patch-compliance"}
    assert [i["BaselineId"] for i in gateway.own_baselines()] == [baseline_id]
    assert "ResponseMetadata" not in gateway.baseline(baseline_id)

    unbound = gateway.bound_baseline("prod-linux", "AMAZON_LINUX_2023")
    assert unbound.startswith("arn:aws:ssm:"), "an unregistered group has the AWS default"
    gateway.bind(baseline_id, "prod-linux", current_id="")
    assert ssm.get_patch_baseline_for_patch_group(PatchGroup="prod-linux",
                                                  OperatingSystem="AMAZON_LINUX_2023")["BaselineId"] == baseline_id
    gateway.delete_baseline(baseline_id)  # registered: deregistered first, or SSM would refuse
    assert ssm.describe_patch_baselines(Filters=[{"Key": "OWNER", "Values": ["Self"]}])["BaselineIdentities"] == []
    assert ssm.get_patch_baseline_for_patch_group(PatchGroup="prod-linux",
                                                  OperatingSystem="AMAZON_LINUX_2023")["BaselineId"] == unbound
