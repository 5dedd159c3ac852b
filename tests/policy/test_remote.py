"""What an account holds as the policy sees it (patch_compliance.policy.remote), read from the extended moto server
after objects were made there with plain boto3."""

from __future__ import annotations

import boto3
import pytest

from patch_compliance import policy as pol
from tests.fixtures.policy_world import MANAGED, REGION, pytestmark_moto, settings_with


def _state(bindings: dict[tuple[str, str], str], default_ids: frozenset[str] = frozenset()) -> pol.RemoteState:
    return pol.RemoteState({}, {}, {}, {}, bindings, [], default_ids)


def test_a_group_is_unbound_when_it_falls_back_to_an_aws_or_the_accounts_default():
    state = _state({("a", "WINDOWS"): "pb-1", ("b", "WINDOWS"): "pb-1", ("c", "WINDOWS"): "pb-2"},
                   frozenset({"pb-9"}))
    assert state.is_unbound("") and state.is_unbound("arn:aws:ssm:eu-west-1:123456789012:patchbaseline/pb-0")
    assert state.is_unbound("pb-9") and not state.is_unbound("pb-1")
    assert state.groups_bound_to("pb-1") == ["a", "b"] and state.groups_bound_to("pb-3") == []


@pytestmark_moto
def test_the_state_splits_managed_from_unmanaged_objects_by_their_tag(aws_env):
    policy = pol.load_policy(settings_with())
    ssm = boto3.client("ssm", region_name=REGION)
    managed = ssm.create_patch_baseline(Name="prod-linux", OperatingSystem="AMAZON_LINUX_2023",
                                        Tags=[MANAGED])["BaselineId"]
    ssm.register_patch_baseline_for_patch_group(BaselineId=managed, PatchGroup="prod-linux")
    foreign = ssm.create_patch_baseline(Name="hand-made", OperatingSystem="WINDOWS",
                                        Tags=[{"Key": "ManagedBy", "Value": "someone-else"}])["BaselineId"]
    window = ssm.create_maintenance_window(Name="prod-install", Schedule="cron(0 2 ? * SAT *)", Duration=4,
                                           Cutoff=1, AllowUnassociatedTargets=False, Tags=[MANAGED])["WindowId"]
    target = ssm.register_target_with_maintenance_window(
        WindowId=window, ResourceType="INSTANCE", Name="prod-install-targets",
        Targets=[{"Key": "tag:Environment", "Values": ["prod"]}])["WindowTargetId"]
    ssm.register_task_with_maintenance_window(
        WindowId=window, Name="prod-install-install", TaskArn="AWS-RunPatchBaseline", TaskType="RUN_COMMAND",
        Targets=[{"Key": "WindowTargetIds", "Values": [target]}], MaxConcurrency="10%", MaxErrors="5%",
        TaskInvocationParameters={"RunCommand": {"Parameters": {"Operation": ["Install"]}}})
    other = ssm.create_maintenance_window(Name="ops-reboots", Schedule="cron(0 3 ? * SUN *)", Duration=2, Cutoff=0,
                                          AllowUnassociatedTargets=True)["WindowId"]

    state = pol.read_state(pol.SsmGateway(ssm), policy)
    assert state.baseline_ids() == {"prod-linux": managed}
    assert state.baselines["prod-linux"].patch_groups == ["prod-linux"]
    assert state.baselines["prod-linux"].operating_system == "AMAZON_LINUX_2023"
    assert state.unmanaged_baselines == {"hand-made": foreign}
    assert list(state.windows) == ["prod-install"] and state.unmanaged_windows == {"ops-reboots": other}
    remote = state.windows["prod-install"]
    assert remote.window_id == window and remote.target("prod-install-targets")["WindowTargetId"] == target
    task = remote.task("prod-install-install")
    assert task["TaskInvocationParameters"]["RunCommand"]["Parameters"]["Operation"] == ["Install"]
    assert remote.target("nope") is None and remote.task("nope") is None
    assert set(state.bindings) == set(policy.bindings())
    assert state.bindings[("prod-linux", "AMAZON_LINUX_2023")] == managed
    assert state.is_unbound(state.bindings[("dev-linux", "AMAZON_LINUX_2023")])
    assert state.syncs == []  # the policy declares a sync; none exists yet


@pytestmark_moto
def test_two_managed_baselines_of_one_name_stop_the_read(aws_env):
    ssm = boto3.client("ssm", region_name=REGION)
    ids = [ssm.create_patch_baseline(Name="prod-linux", OperatingSystem="AMAZON_LINUX_2023",
                                     Tags=[MANAGED])["BaselineId"] for _ in range(2)]
    with pytest.raises(pol.PolicyError, match=rf"two managed baselines are named 'prod-linux' \({ids[0]}, {ids[1]}\)"):
        pol.read_state(pol.SsmGateway(ssm), pol.load_policy(settings_with()))
