"""Planning (patch_compliance.policy.plan): what differs between the declared policy and what SSM holds, on empty
accounts over HTTP (three accounts via STS) and on a state built by hand. Expected values are read off the YAML."""

from __future__ import annotations

import copy

from patch_compliance import policy as pol
from patch_compliance.config import Account
from tests.fixtures.policy_world import (
    ACCOUNTS,
    PROD,
    RAW,
    REGION,
    clients_at,
    expected_creates,
    pytestmark_moto,
    settings_with,
)


def test_differences_read_field_by_field_from_get_patch_baseline_shape():
    spec = pol.load_policy(settings_with()).baseline("prod-linux")
    content = {**spec.content(), "Description": spec.ssm_description}
    assert pol.baseline_differences(spec, content) == []
    edited = copy.deepcopy(content)
    edited["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] = 0
    edited["RejectedPatches"] = []
    differences = pol.baseline_differences(spec, edited)
    assert "rule 1 ApproveAfterDays: 0 -> 7" in differences
    assert any(d.startswith("RejectedPatches [] -> ['kernel-debug*']") for d in differences)


@pytestmark_moto
def test_plan_on_empty_accounts_lists_every_object(aws_env):
    factory = clients_at(aws_env.endpoint_url)
    roles = []

    def recording_factory(account, region):
        roles.append(account.role_arn)
        return factory(account, region)

    plan = pol.plan(settings_with(), recording_factory)
    # plan/apply act through the applier role, not the read-only scanner role of the accounts section
    assert roles == [f"arn:aws:iam::{a}:role/{RAW['policy_apply']['role_name']}" for a in ACCOUNTS]
    assert [t.account.id for t in plan.targets] == list(ACCOUNTS)
    for target in plan.targets:
        assert {(c.kind, c.name) for c in target.changes} == expected_creates()
        assert {c.action for c in target.changes} == {"create"}
    text = plan.render()
    assert "+ baseline prod-linux" in text and "ApproveAfterDays=7" in text
    assert "+ resource_data_sync patch-compliance" in text and "s3://patch-rds-sync/rds (eu-west-1, JsonSerDe)" in text
    assert f"Plan: {3 * len(expected_creates())} to create, 0 to update, 0 to delete; 0 deletion(s) held back." in text


def test_plan_logic_on_state_with_an_account_default_and_a_foreign_binding():
    """Plan from a RemoteState built by hand: an account default baseline, someone else's baseline."""
    settings = settings_with()
    policy = pol.load_policy(settings)
    account = Account(PROD, "prod", (REGION,), "")
    baselines = {}
    for n, spec in enumerate(policy.baselines):
        identity = {"BaselineId": f"pb-{n:017d}", "BaselineName": spec.name, "OperatingSystem": spec.operating_system}
        content = {**spec.content(), "Description": spec.ssm_description}
        baselines[spec.name] = pol.RemoteBaseline(identity, content)
    baselines["prod-linux"].content["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] = 3
    ids = {name: b.baseline_id for name, b in baselines.items()}
    bindings = {key: ids[name] for key, name in policy.bindings().items()}
    bindings[("dev-linux", "AMAZON_LINUX_2023")] = "pb-0ffffffffffffffff"  # the account's default baseline
    bindings[("prod-windows", "WINDOWS")] = "pb-0eeeeeeeeeeeeeeee"  # someone else's baseline
    windows = {}
    for spec in policy.windows:
        task = {"WindowTaskId": f"task-{spec.name}", "Name": spec.task_name,
                "Description": pol.with_marker("", spec.task_fingerprint), **spec.task_fields()}
        target = {"WindowTargetId": f"target-{spec.name}", "Name": spec.target_name,
                  "Description": pol.with_marker("", spec.target_fingerprint), **spec.target_fields()}
        windows[spec.name] = pol.RemoteWindow(
            {"WindowId": f"mw-{spec.name}", "Name": spec.name, "Enabled": True, **spec.window_fields(),
             "Description": pol.with_marker(spec.description, spec.fingerprint)}, [target], [task])
    state = pol.RemoteState(baselines, {}, windows, {}, bindings, [], frozenset({"pb-0ffffffffffffffff"}))
    target = pol.plan_target(policy, state, account, REGION, allow_delete=False)
    changes = {(c.action, c.kind, c.name): c for c in target.changes}
    assert not [c for c in target.changes if "window" in c.kind]
    assert changes[("update", "baseline", "prod-linux")].details == ["rule 1 ApproveAfterDays: 3 -> 7"]
    assert changes[("create", "patch_group", "dev-linux [AMAZON_LINUX_2023]")].remote_id == ""
    assert changes[("update", "patch_group", "prod-windows [WINDOWS]")].remote_id == "pb-0eeeeeeeeeeeeeeee"
    assert ("create", "resource_data_sync", "patch-compliance") in changes
