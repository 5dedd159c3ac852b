"""Applying (patch_compliance.policy.apply) over HTTP against the extended moto server (three accounts via STS):
idempotent, in place, deletions only when asked. Every check of what SSM holds is made with plain boto3, and every
expected value is read off the YAML, never computed by the code under test."""

from __future__ import annotations

from patch_compliance import policy as pol
from tests.fixtures.policy_world import (
    ACCOUNTS,
    MANAGED,
    MARKER,
    PROD,
    RAW,
    REGION,
    _set,
    clients_at,
    expected_creates,
    expected_rules,
    groups_of,
    own_baselines,
    pytestmark_moto,
    settings_with,
    ssm_in,
    window_named,
)


@pytestmark_moto
def test_apply_is_idempotent_and_ssm_holds_the_declared_policy(aws_env):
    settings = settings_with()
    factory = clients_at(aws_env.endpoint_url)
    _, first = pol.apply(settings, factory)
    assert len(first.applied) == 3 * len(expected_creates())
    assert f"Apply complete: {3 * len(expected_creates())} change(s) applied." in first.render()

    plan, second = pol.apply(settings, factory)
    assert second.applied == [] and not plan.has_changes
    assert pol.plan(settings, factory).render().endswith("No changes. SSM matches the declared policy.")

    for account_id in ACCOUNTS:  # checked with plain boto3, not through the code under test
        ssm = ssm_in(account_id, aws_env.endpoint_url)
        ids = own_baselines(ssm)
        assert sorted(ids) == sorted(b["name"] for b in RAW["baselines"])
        for baseline in RAW["baselines"]:
            content = ssm.get_patch_baseline(BaselineId=ids[baseline["name"]])
            assert content["OperatingSystem"] == baseline["operating_system"]
            assert content["ApprovalRules"]["PatchRules"] == expected_rules(baseline)
            assert content["RejectedPatches"] == baseline["rejected_patches"]
            assert content["RejectedPatchesAction"] == baseline["rejected_patches_action"]
            assert content["ApprovedPatches"] == []
            assert content["Description"].startswith(baseline["description"] + MARKER)
            assert content["PatchGroups"] == groups_of(baseline["name"])
            tags = ssm.list_tags_for_resource(ResourceType="PatchBaseline", ResourceId=ids[baseline["name"]])
            assert tags["TagList"] == [MANAGED]
        bound = ssm.get_patch_baseline_for_patch_group(PatchGroup="prod-linux", OperatingSystem="AMAZON_LINUX_2023")
        assert bound["BaselineId"] == ids["prod-linux"]
        # OperatingSystem defaults to WINDOWS, as in the API reference
        assert ssm.get_patch_baseline_for_patch_group(PatchGroup="staging-windows")["BaselineId"] == ids[
            "nonprod-windows"]
        windows = {w["Name"]: w for w in ssm.describe_maintenance_windows()["WindowIdentities"]}
        assert windows["prod-install"]["Schedule"] == "cron(0 2 ? * SAT *)" and windows["prod-install"]["Enabled"]
        assert windows["nonprod-install"]["Schedule"] == "cron(0 12 ? * TUE *)"
        tags = ssm.list_tags_for_resource(ResourceType="MaintenanceWindow",
                                          ResourceId=windows["prod-install"]["WindowId"])["TagList"]
        assert tags == [MANAGED]
        targets = ssm.describe_maintenance_window_targets(WindowId=windows["nonprod-install"]["WindowId"])["Targets"]
        assert targets[0]["Targets"] == [{"Key": "tag:Environment", "Values": ["dev", "staging"]}]
        tasks = ssm.describe_maintenance_window_tasks(WindowId=windows["prod-install"]["WindowId"])["Tasks"]
        assert [(t["TaskArn"], t["Name"]) for t in tasks] == [("AWS-RunPatchBaseline", "prod-install-install")]
        task = ssm.get_maintenance_window_task(WindowId=windows["prod-install"]["WindowId"],
                                               WindowTaskId=tasks[0]["WindowTaskId"])
        assert task["TaskInvocationParameters"]["RunCommand"]["Parameters"] == {
            "Operation": ["Install"], "RebootOption": ["RebootIfNeeded"]}
        [sync] = ssm.list_resource_data_sync()["ResourceDataSyncItems"]
        declared = RAW["resource_data_sync"]
        assert sync["SyncName"] == declared["name"] and sync["SyncType"] == "SyncToDestination"
        assert sync["S3Destination"] == {"BucketName": declared["bucket"], "Prefix": declared["prefix"],
                                         "SyncFormat": declared["sync_format"], "Region": declared["bucket_region"]}


@pytestmark_moto
def test_deletions_are_held_back_without_the_flag(aws_env):
    factory = clients_at(aws_env.endpoint_url)
    pol.apply(settings_with(), factory)
    fewer = settings_with(lambda raw: raw["maintenance_windows"].pop())
    plan, result = pol.apply(fewer, factory, accounts=[PROD])
    assert result.applied == []
    assert [(c.kind, c.name) for c in plan.targets[0].held_back] == [("maintenance_window", "nonprod-install")]
    assert "held back: pass --allow-delete" in plan.render()
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    assert len(ssm.describe_maintenance_windows()["WindowIdentities"]) == 2
    _, result = pol.apply(fewer, factory, accounts=[PROD], allow_delete=True)
    assert len(result.applied) == 1 and "- maintenance_window nonprod-install" in result.applied[0]
    assert [w["Name"] for w in ssm.describe_maintenance_windows()["WindowIdentities"]] == ["prod-install"]


@pytestmark_moto
def test_an_undeclared_baseline_is_deregistered_from_its_groups_before_it_is_deleted(aws_env):
    factory = clients_at(aws_env.endpoint_url)
    pol.apply(settings_with(), factory, accounts=[PROD])

    def without_prod_windows(raw):
        raw["baselines"] = [b for b in raw["baselines"] if b["name"] != "prod-windows"]
        raw["patch_groups"] = [g for g in raw["patch_groups"] if g["name"] != "prod-windows"]
        raw["scan"]["target_tag_values"].remove("prod-windows")

    ssm = ssm_in(PROD, aws_env.endpoint_url)
    doomed = own_baselines(ssm)["prod-windows"]
    _, result = pol.apply(settings_with(without_prod_windows), factory, accounts=[PROD], allow_delete=True)
    assert [line.split(": ", 1)[1] for line in result.applied] == [f"- baseline prod-windows ({doomed})"]
    assert "prod-windows" not in own_baselines(ssm)
    default = ssm.get_patch_baseline_for_patch_group(PatchGroup="prod-windows", OperatingSystem="WINDOWS")
    assert default["BaselineId"].startswith("arn:aws:ssm:eu-west-1:"), "the group fell back to the AWS default"


@pytestmark_moto
def test_changing_the_prod_soak_updates_only_prod_baselines_in_place(aws_env):
    factory = clients_at(aws_env.endpoint_url)
    pol.apply(settings_with(), factory)
    before = own_baselines(ssm_in(PROD, aws_env.endpoint_url))
    no_soak = settings_with(_set(["baselines", 0, "approval_rules", 0, "approve_after_days"], 0))
    plan = pol.plan(no_soak, factory)
    for target in plan.targets:
        assert [(c.action, c.name, c.details) for c in target.changes] == [
            ("update", "prod-linux", ["rule 1 ApproveAfterDays: 7 -> 0", "Description differs from the declared one"])]
    pol.apply(no_soak, factory)
    assert not pol.plan(no_soak, factory).has_changes
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    assert own_baselines(ssm) == before
    content = ssm.get_patch_baseline(BaselineId=before["prod-linux"])
    assert content["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] == 0
    assert content["PatchGroups"] == ["prod-linux"]


@pytestmark_moto
def test_a_changed_sync_is_recreated_only_with_allow_delete(aws_env):
    factory = clients_at(aws_env.endpoint_url)
    pol.apply(settings_with(), factory, accounts=[PROD])
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    ssm.delete_resource_data_sync(SyncName="patch-compliance")
    ssm.create_resource_data_sync(SyncName="patch-compliance", S3Destination={
        "BucketName": "patch-rds-sync", "Prefix": "elsewhere", "SyncFormat": "JsonSerDe", "Region": REGION})
    plan = pol.plan(settings_with(), factory, accounts=[PROD])
    assert plan.targets[0].changes == []
    [held] = plan.targets[0].held_back
    assert (held.action, held.kind, held.details[0]) == ("delete", "resource_data_sync", "Prefix elsewhere -> rds")
    _, result = pol.apply(settings_with(), factory, accounts=[PROD], allow_delete=True)
    assert [line.split(": ", 1)[1] for line in result.applied] == [
        "- resource_data_sync patch-compliance (patch-compliance)", "+ resource_data_sync patch-compliance"]
    [sync] = ssm.list_resource_data_sync()["ResourceDataSyncItems"]
    assert sync["S3Destination"]["Prefix"] == "rds"


@pytestmark_moto
def test_a_changed_window_is_updated_in_place_with_its_target_and_task(aws_env):
    factory = clients_at(aws_env.endpoint_url)
    pol.apply(settings_with(), factory, accounts=[PROD])
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    window_id = window_named(ssm, "prod-install")["WindowId"]
    later = settings_with(_set(["maintenance_windows", 0, "schedule"], "cron(0 4 ? * SUN *)"))
    plan = pol.plan(later, factory, accounts=[PROD])
    assert [(c.action, c.kind, c.details) for c in plan.targets[0].changes] == [
        ("update", "maintenance_window", ["Schedule cron(0 2 ? * SAT *) -> cron(0 4 ? * SUN *)"])]
    pol.apply(later, factory, accounts=[PROD])
    assert not pol.plan(later, factory, accounts=[PROD]).has_changes
    window = window_named(ssm, "prod-install")
    assert (window["WindowId"], window["Schedule"]) == (window_id, "cron(0 4 ? * SUN *)")
    assert [t["Name"] for t in ssm.describe_maintenance_window_tasks(WindowId=window_id)["Tasks"]] == [
        "prod-install-install"]
    targets = ssm.describe_maintenance_window_targets(WindowId=window_id)["Targets"]
    assert [t["Targets"] for t in targets] == [[{"Key": "tag:Environment", "Values": ["prod"]}]]


@pytestmark_moto
def test_a_task_switched_to_scan_in_the_console_is_registered_again(aws_env):
    factory = clients_at(aws_env.endpoint_url)
    pol.apply(settings_with(), factory, accounts=[PROD])
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    window_id = window_named(ssm, "prod-install")["WindowId"]
    [task] = ssm.describe_maintenance_window_tasks(WindowId=window_id)["Tasks"]
    ssm.deregister_task_from_maintenance_window(WindowId=window_id, WindowTaskId=task["WindowTaskId"])
    ssm.register_task_with_maintenance_window(  # same name and description, other Operation
        WindowId=window_id, Name=task["Name"], Description=task["Description"], Targets=task["Targets"],
        TaskArn=task["TaskArn"], TaskType="RUN_COMMAND", Priority=task["Priority"],
        MaxConcurrency=task["MaxConcurrency"], MaxErrors=task["MaxErrors"],
        TaskInvocationParameters={"RunCommand": {"Parameters": {"Operation": ["Scan"],
                                                                "RebootOption": ["RebootIfNeeded"]}}})
    plan = pol.plan(settings_with(), factory, accounts=[PROD])
    assert [(c.action, c.kind, c.name) for c in plan.targets[0].changes] == [
        ("update", "window_task", "prod-install/prod-install-install")]
    pol.apply(settings_with(), factory, accounts=[PROD])
    [task] = ssm.describe_maintenance_window_tasks(WindowId=window_id)["Tasks"]
    detail = ssm.get_maintenance_window_task(WindowId=window_id, WindowTaskId=task["WindowTaskId"])
    assert detail["TaskInvocationParameters"]["RunCommand"]["Parameters"]["Operation"] == ["Install"]
