"""Drift (patch_compliance.policy.drift): manual edits and lost tags recorded in the lake's baselines table,
against the extended moto server; what SSM holds is checked with plain boto3."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from patch_compliance import policy as pol
from patch_compliance.lake import Lake
from tests.fixtures.policy_world import (
    ACCOUNTS,
    MANAGED,
    PROD,
    RAW,
    clients_at,
    expected_rules,
    own_baselines,
    pytestmark_moto,
    settings_with,
    ssm_in,
    window_named,
)


@pytestmark_moto
def test_manual_edits_show_up_as_drift_and_apply_repairs_them_in_place(aws_env, tmp_path):
    settings = settings_with()
    factory = clients_at(aws_env.endpoint_url)
    pol.apply(settings, factory)
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    ids = own_baselines(ssm)
    # 1. someone shortens prod's soak in the console
    rules = ssm.get_patch_baseline(BaselineId=ids["prod-linux"])["ApprovalRules"]
    rules["PatchRules"][0]["ApproveAfterDays"] = 0
    ssm.update_patch_baseline(BaselineId=ids["prod-linux"], ApprovalRules=rules)
    # 2. someone removes the install task from the prod window and disables the non-prod one
    window = window_named(ssm, "prod-install")
    task = ssm.describe_maintenance_window_tasks(WindowId=window["WindowId"])["Tasks"][0]
    ssm.deregister_task_from_maintenance_window(WindowId=window["WindowId"], WindowTaskId=task["WindowTaskId"])
    nonprod_window = window_named(ssm, "nonprod-install")["WindowId"]
    ssm.update_maintenance_window(WindowId=nonprod_window, Enabled=False)
    # 3. someone adds a baseline of their own
    hand_made = ssm.create_patch_baseline(Name="hand-made", OperatingSystem="AMAZON_LINUX_2023")["BaselineId"]

    plan = pol.plan(settings, factory)
    changes = {t.account.id: t.changes for t in plan.targets}
    assert all(changes[a] == [] for a in ACCOUNTS if a != PROD)
    assert {(c.action, c.kind, c.name) for c in changes[PROD]} == {
        ("update", "baseline", "prod-linux"), ("create", "window_task", "prod-install/prod-install-install"),
        ("update", "maintenance_window", "nonprod-install")}
    details = {c.name: c.details for c in changes[PROD]}
    assert details["prod-linux"] == ["rule 1 ApproveAfterDays: 0 -> 7"]
    assert details["nonprod-install"] == ["Enabled False -> True"]

    lake_uri = str(tmp_path / "lake")
    manifest = pol.record_baselines(settings, lake_uri, date(2026, 11, 26), factory,
                                    captured_at=datetime(2026, 11, 26, 6, tzinfo=UTC))
    assert manifest["drift_counts"] == {"in_sync": 11, "drifted": 1, "undeclared": 1, "missing": 0}
    table = Lake(lake_uri).read("baselines").to_pylist()
    drift = {(r["account_id"], r["name"]): r for r in table}
    assert drift[(PROD, "prod-linux")]["drift"] == "drifted"
    assert drift[(PROD, "prod-linux")]["drift_details"] == "rule 1 ApproveAfterDays: 0 -> 7"
    assert json.loads(drift[(PROD, "prod-linux")]["approval_rules"])["PatchRules"][0]["ApproveAfterDays"] == 0
    assert drift[(PROD, "hand-made")]["drift"] == "undeclared"
    assert drift[(PROD, "hand-made")]["baseline_id"] == hand_made
    assert drift[("111111111111", "prod-linux")]["drift"] == "in_sync"
    assert json.loads(drift[("111111111111", "prod-linux")]["approval_rules"])["PatchRules"] == expected_rules(
        RAW["baselines"][0])
    assert drift[(PROD, "prod-windows")]["rejected_patches"] == ["KB5034441"]
    assert drift[(PROD, "prod-windows")]["rejected_patches_action"] == "BLOCK"
    assert drift[(PROD, "nonprod-linux")]["patch_groups"] == ["dev-linux", "staging-linux"]

    _, result = pol.apply(settings, factory)
    assert len(result.applied) == 3
    assert not pol.plan(settings, factory).has_changes
    assert own_baselines(ssm)["prod-linux"] == ids["prod-linux"], "updated in place, not replaced"
    repaired = ssm.get_patch_baseline(BaselineId=ids["prod-linux"])
    assert repaired["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] == 7
    assert repaired["PatchGroups"] == ["prod-linux"]
    assert window_named(ssm, "nonprod-install")["Enabled"] is True


@pytestmark_moto
def test_a_missing_managed_tag_stops_the_plan_and_shows_in_drift(aws_env, tmp_path):
    settings = settings_with()
    factory = clients_at(aws_env.endpoint_url)
    pol.apply(settings, factory)
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    ids = own_baselines(ssm)
    ssm.remove_tags_from_resource(ResourceType="PatchBaseline", ResourceId=ids["prod-linux"], TagKeys=["ManagedBy"])
    with pytest.raises(pol.PolicyError, match=rf"baseline 'prod-linux' \({ids['prod-linux']}\) exists but is not "
                                              "managed here \\(no ManagedBy=patch-compliance tag\\)"):
        pol.plan(settings, factory)
    manifest = pol.record_baselines(settings, str(tmp_path / "lake"), date(2026, 11, 26), factory)
    assert manifest["drift_counts"] == {"in_sync": 11, "drifted": 0, "undeclared": 1, "missing": 1}
    rows = [r for r in Lake(str(tmp_path / "lake")).read("baselines").to_pylist()
            if r["account_id"] == PROD and r["name"] == "prod-linux"]
    assert sorted((r["drift"], r["baseline_id"]) for r in rows) == [("missing", ""), ("undeclared", ids["prod-linux"])]

    ssm.add_tags_to_resource(ResourceType="PatchBaseline", ResourceId=ids["prod-linux"], Tags=[MANAGED])  # adopt
    window = window_named(ssm, "prod-install")["WindowId"]
    ssm.remove_tags_from_resource(ResourceType="MaintenanceWindow", ResourceId=window, TagKeys=["ManagedBy"])
    with pytest.raises(pol.PolicyError, match=rf"maintenance window 'prod-install' \({window}\) exists but is not"):
        pol.plan(settings, factory)
    ssm.add_tags_to_resource(ResourceType="MaintenanceWindow", ResourceId=window, Tags=[MANAGED])
    assert not pol.plan(settings, factory).has_changes
