"""Patch policy as code: config validation, and plan/apply/drift over HTTP against the extended moto server
(three accounts via STS). Every check of what SSM holds is made with plain boto3, and every expected
value is read off the YAML, never computed by the code under test."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime

import boto3
import pytest
import yaml

from patch_compliance import policy as pol
from patch_compliance.aws import Aws
from patch_compliance.config import WINDOW_NAME_MAX, Account, default_config_path, parse_settings
from patch_compliance.inputs import InputError
from patch_compliance.lake import Lake


def clients_at(endpoint_url):
    """The policy's SSM clients as the CLI makes them: boto3's chain, the given endpoint."""
    return pol.client_factory(Aws.from_session(endpoint_url=endpoint_url))


RAW = yaml.safe_load(default_config_path().read_text())
ACCOUNTS = {a["id"]: a for a in RAW["accounts"]}
PROD = "333333333333"
REGION = "eu-west-1"
MANAGED = {"Key": "ManagedBy", "Value": "patch-compliance"}
MARKER = " [managed by patch-compliance; spec "

pytestmark_moto = pytest.mark.xdist_group("policy")


def settings_with(edit=None):
    raw = copy.deepcopy(RAW)
    if edit:
        edit(raw)
    return parse_settings(raw)


def ssm_in(account_id: str, endpoint_url: str):
    """An SSM client of one account, assumed independently of the code under test."""
    sts = boto3.client("sts", endpoint_url=endpoint_url, region_name=REGION)
    creds = sts.assume_role(RoleArn=ACCOUNTS[account_id]["role_arn"], RoleSessionName="test-check")["Credentials"]
    return boto3.client("ssm", endpoint_url=endpoint_url, region_name=REGION,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def own_baselines(ssm) -> dict[str, str]:
    identities = ssm.describe_patch_baselines(Filters=[{"Key": "OWNER", "Values": ["Self"]}])["BaselineIdentities"]
    return {b["BaselineName"]: b["BaselineId"] for b in identities}


def window_named(ssm, name: str) -> dict:
    return next(w for w in ssm.describe_maintenance_windows()["WindowIdentities"] if w["Name"] == name)


def expected_creates() -> set[tuple[str, str]]:
    """Every object the default config declares, per account, derived from the YAML itself."""
    objects = {("baseline", b["name"]) for b in RAW["baselines"]}
    by_name = {b["name"]: b for b in RAW["baselines"]}
    for group in RAW["patch_groups"]:
        for name in group["baselines"]:
            objects.add(("patch_group", f"{group['name']} [{by_name[name]['operating_system']}]"))
    for window in RAW["maintenance_windows"]:
        objects |= {("maintenance_window", window["name"]),
                    ("window_target", f"{window['name']}/{window['name']}-targets"),
                    ("window_task", f"{window['name']}/{window['name']}-{window['operation'].lower()}")}
    objects.add(("resource_data_sync", RAW["resource_data_sync"]["name"]))
    return objects


def expected_rules(baseline: dict) -> list[dict]:
    """GetPatchBaseline's PatchRules for a YAML baseline, written out from the YAML by hand."""
    return [{"PatchFilterGroup": {"PatchFilters": [{"Key": k, "Values": v} for k, v in rule["filters"].items()]},
             "ComplianceLevel": rule["compliance_level"], "ApproveAfterDays": rule["approve_after_days"],
             "EnableNonSecurity": False} for rule in baseline["approval_rules"]]


def groups_of(name: str) -> list[str]:
    return sorted(g["name"] for g in RAW["patch_groups"] if name in g["baselines"])


# --- config validation (no AWS) -------------------------------------------------------------------

def test_default_policy_matches_the_issue():
    policy = pol.load_policy(settings_with())
    rules = {b.name: b.approval_rules[0] for b in policy.baselines}
    assert rules["prod-linux"].approve_after_days == 7
    assert dict(rules["prod-linux"].filters) == {"CLASSIFICATION": ("Security",), "SEVERITY": ("Critical", "Important")}
    assert rules["nonprod-linux"].approve_after_days == 0
    assert dict(rules["prod-windows"].filters) == {"CLASSIFICATION": ("SecurityUpdates", "CriticalUpdates"),
                                                   "MSRC_SEVERITY": ("Critical", "Important")}
    assert rules["nonprod-windows"].approve_after_days == 0
    assert all(b.rejected_patches for b in policy.baselines)
    assert {g.name for g in policy.patch_groups} == set(RAW["scan"]["target_tag_values"])
    windows = {w.name: w for w in policy.windows}
    assert windows["prod-install"].schedule == "cron(0 2 ? * SAT *)"
    assert dict(windows["prod-install"].targets) == {"Environment": ("prod",)}
    assert dict(windows["nonprod-install"].targets) == {"Environment": ("dev", "staging")}
    assert policy.baseline_for("prod-windows", "WINDOWS").name == "prod-windows"
    assert policy.data_sync.bucket == "patch-rds-sync" and policy.data_sync.prefix == "rds"


def _set(path, value):
    def edit(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


@pytest.mark.parametrize(("edit", "message"), [
    (_set(["baselines", 1, "name"], "prod-linux"), "config baselines: names declared twice: ['prod-linux']"),
    (_set(["patch_groups", 0, "baselines"], ["nope"]), "config patch_groups[0].baselines: ['nope'] are not declared"),
    (_set(["patch_groups", 0, "baselines"], ["nonprod-linux", "prod-linux"]),
     "config patch_groups[0]: a patch group takes one baseline per operating system"),
    (_set(["patch_groups", 1, "name"], "dev-linux"), "config patch_groups: names declared twice: ['dev-linux']"),
    (lambda raw: raw["patch_groups"].pop(), "scanned without a group ['prod-windows']"),
    (_set(["maintenance_windows", 1, "name"], "prod-install"),
     "config maintenance_windows: names declared twice: ['prod-install']"),
    (_set(["maintenance_windows", 0, "targets"], {"PatchGroup": ["prod-linux", "prod-linux-old"]}),
     "config maintenance_windows[0].targets.PatchGroup: ['prod-linux-old'] are not declared under patch_groups"),
    (_set(["maintenance_windows", 0, "targets"], {"Patch Group": ["qa"]}),
     "config maintenance_windows[0].targets.Patch Group: ['qa'] are not declared under patch_groups"),
    (_set(["resource_data_sync", "bucket"], "other-bucket"),
     "syncs write to s3://other-bucket/rds but storage.sync_uri reads s3://patch-rds-sync/rds"),
    (_set(["resource_data_sync", "prefix"], "rds/other/"), "syncs write to s3://patch-rds-sync/rds/other"),
])
def test_cross_section_rules_are_checked_when_the_policy_is_built(edit, message):
    """Each section on its own is valid (the config loads); the policy across them is not."""
    settings = settings_with(edit)
    with pytest.raises(pol.PolicyError) as info:
        pol.load_policy(settings)
    assert message in str(info.value)


@pytest.mark.parametrize(("edit", "message"), [
    (_set(["baselines", 0, "approval_rules", 0, "approve_after_days"], 400), "approve_after_days"),
    (_set(["baselines", 0, "approval_rules", 0, "filters"], {"MSRC_SEVERITY": ["Critical"]}),
     "not valid for AMAZON_LINUX_2023"),
    (_set(["maintenance_windows", 0, "cutoff_hours"], 4), "must be less than duration_hours"),
    (_set(["maintenance_windows", 0, "description"], "x" * 80), "SSM allows 128 characters with the marker"),
])
def test_value_rules_are_checked_when_the_config_loads(edit, message):
    """A bad value never reaches load_policy: loading the config fails, naming the key (tests/test_config.py)."""
    with pytest.raises(InputError) as info:
        settings_with(edit)
    assert message in str(info.value) and not isinstance(info.value, pol.PolicyError)


def test_a_window_may_target_other_tags_and_groups_only_when_declared():
    targets = {"PatchGroup": ["prod-linux"], "Environment": ["prod"], "Team": ["anything"]}
    policy = pol.load_policy(settings_with(_set(["maintenance_windows", 0, "targets"], targets)))
    assert dict(policy.windows[0].targets) == {k: tuple(v) for k, v in targets.items()}


def test_the_sync_defaults_to_storage_sync_uri_and_aws_region():
    def defaults(raw):
        raw["resource_data_sync"] = {"name": "patch-compliance"}
        raw["aws"]["region"] = "eu-central-1"
    sync = pol.load_policy(settings_with(defaults)).data_sync
    assert (sync.bucket, sync.prefix, sync.bucket_region) == ("patch-rds-sync", "rds", "eu-central-1")

    def local(raw):
        raw["storage"]["sync_uri"] = "/tmp/rds"
        raw["resource_data_sync"] = {"name": "patch-compliance"}
    with pytest.raises(pol.PolicyError, match=r"resource_data_sync.bucket: required when storage.sync_uri is not"):
        pol.load_policy(settings_with(local))


def test_the_longest_window_name_allowed_leaves_ssm_valid_target_and_task_names():
    name = "w" * WINDOW_NAME_MAX
    for operation in ("Install", "Scan"):
        def edit(raw, operation=operation):
            raw["maintenance_windows"][0].update(name=name, operation=operation)
        window = pol.load_policy(settings_with(edit)).windows[0]
        assert all(re.fullmatch(r"[a-zA-Z0-9_\-.]{3,128}", n) for n in (window.target_name, window.task_name))
    assert len(pol.load_policy(settings_with(_set(["maintenance_windows", 0, "name"], name))).windows[0].target_name) \
        == 128


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


def test_clients_retry_the_same_way_whatever_the_endpoint():
    account = Account(PROD, "prod", (REGION,), "")
    for endpoint in (None, "http://127.0.0.1:1", "https://ssm-fips.eu-west-1.amazonaws.com"):
        retries = clients_at(endpoint)(account, REGION).meta.config.retries
        assert retries == {"mode": "adaptive", "total_max_attempts": 10}, endpoint


# --- against the extended moto server --------------------------------------------------------------


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
def test_cli_plan_apply_and_bad_input(aws_env, capsys):
    from patch_compliance.cli import main

    assert main(["policy", "apply", "--account", PROD]) == 0
    out = capsys.readouterr().out
    assert f"Apply complete: {len(expected_creates())} change(s) applied." in out
    assert main(["policy", "plan", "--account", PROD]) == 0
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.lstrip().startswith(("+ ", "~ ", "- "))]
    assert "No changes. SSM matches the declared policy." in out
    assert main(["policy", "plan", "--account", "999999999999"]) == 2
    assert "not in the config's accounts" in capsys.readouterr().err
    assert main(["policy", "record", "--date", "2026-02-30", "--lake", "/tmp/x"]) == 2


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
