"""Patch policy as code: config validation, plan/apply/drift against the moto server (3 accounts via STS)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime

import boto3
import pytest
import yaml

from patch_compliance import policy as pol
from patch_compliance.config import default_config_path, parse_settings
from patch_compliance.lake import Lake

RAW = yaml.safe_load(default_config_path().read_text())
ACCOUNTS = {a["id"]: a for a in RAW["accounts"]}
PROD = "333333333333"
REGION = "eu-west-1"


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
    return objects


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
    (_set(["baselines", 0, "approval_rules", 0, "approve_after_days"], 400), "approve_after_days"),
    (_set(["baselines", 0, "approval_rules", 0, "filters"], {"MSRC_SEVERITY": ["Critical"]}),
     "not valid for AMAZON_LINUX_2023"),
    (_set(["baselines", 0, "approval_rules", 0, "filters"], {"CLASSIFICATION": ["Securty"]}), "Securty"),
    (_set(["baselines", 0, "operating_system"], "BEOS"), "operating_system"),
    (_set(["baselines", 1, "name"], "prod-linux"), "declared twice"),
    (_set(["patch_groups", 0, "baselines"], ["nope"]), "not declared under baselines"),
    (_set(["patch_groups", 0, "baselines"], ["nonprod-linux", "prod-linux"]), "one baseline per operating system"),
    (lambda raw: raw["patch_groups"].pop(), "scanned without a group ['prod-windows']"),
    (_set(["maintenance_windows", 0, "cutoff_hours"], 4), "must be less than duration_hours"),
    (_set(["maintenance_windows", 0, "schedule"], "every saturday"), "cron(...)"),
    (_set(["maintenance_windows", 0, "operation"], "Reboot"), "['Install', 'Scan']"),
    (_set(["resource_data_sync", "bucket"], "other-bucket"), "storage.sync_uri"),
])
def test_bad_config_is_rejected_with_a_clear_error(edit, message):
    with pytest.raises(pol.PolicyError) as info:
        pol.load_policy(settings_with(edit))
    assert message in str(info.value)


def test_differences_read_field_by_field_from_get_patch_baseline_shape():
    spec = pol.load_policy(settings_with()).baseline("prod-linux")
    content = {**spec.content(), "Description": spec.ssm_description}
    assert pol.baseline_differences(spec, {}, content) == []
    edited = copy.deepcopy(content)
    edited["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] = 0
    edited["RejectedPatches"] = []
    differences = pol.baseline_differences(spec, {}, edited)
    assert "rule 1 ApproveAfterDays: 0 -> 7" in differences
    assert any(d.startswith("RejectedPatches [] -> ['kernel-debug*']") for d in differences)


# --- against the moto server ------------------------------------------------------------------------

pytestmark_moto = pytest.mark.xdist_group("policy")


@pytestmark_moto
def test_plan_on_empty_accounts_lists_every_object(aws_env):
    factory = pol.boto3_client_factory(aws_env.endpoint_url)
    roles = []

    def recording_factory(account, region):
        roles.append(account.role_arn)
        return factory(account, region)

    plan = pol.plan(settings_with(), recording_factory, stand_in=True)
    # plan/apply act through the applier role, not the read-only scanner role of the accounts section
    assert roles == [f"arn:aws:iam::{a}:role/{RAW['policy_apply']['role_name']}" for a in ACCOUNTS]
    assert [t.account.id for t in plan.targets] == list(ACCOUNTS)
    for target in plan.targets:
        creates = {(c.kind, c.name) for c in target.changes if c.action == "create"}
        assert creates == expected_creates()
        assert [(c.kind, c.action) for c in target.changes if c.action != "create"] == [
            ("resource_data_sync", "unsupported")]
    text = plan.render()
    assert "+ baseline prod-linux" in text and "ApproveAfterDays=7" in text
    assert f"Plan: {3 * len(expected_creates())} to create, 0 to update, 0 to delete; 3 not supported" in text


@pytestmark_moto
def test_apply_is_idempotent_and_ssm_holds_the_declared_policy(aws_env):
    settings = settings_with()
    factory = pol.boto3_client_factory(aws_env.endpoint_url)
    _, first = pol.apply(settings, factory, stand_in=True)
    assert len(first.applied) == 3 * len(expected_creates())
    # RDS cannot be created on moto: reported, never silently skipped.
    assert len(first.unsupported) == 3 and all("resource_data_sync" in u for u in first.unsupported)
    assert "NOT APPLIED (not supported by the endpoint)" in first.render()

    plan, second = pol.apply(settings, factory, stand_in=True)
    assert second.applied == [] and not plan.has_changes
    assert "No changes that this endpoint can apply" in pol.plan(settings, factory, stand_in=True).render()

    for account_id in ACCOUNTS:  # checked with plain boto3, not through the code under test
        ssm = ssm_in(account_id, aws_env.endpoint_url)
        names = {b["BaselineId"]: b["BaselineName"] for b in ssm.describe_patch_baselines()["BaselineIdentities"]}
        assert sorted(names.values()) == sorted(b["name"] for b in RAW["baselines"])
        bound = ssm.get_patch_baseline_for_patch_group(PatchGroup="prod-linux", OperatingSystem="AMAZON_LINUX_2023")
        assert names[bound["BaselineId"]] == "prod-linux"
        bound = ssm.get_patch_baseline_for_patch_group(PatchGroup="staging-windows", OperatingSystem="WINDOWS")
        assert names[bound["BaselineId"]] == "nonprod-windows"
        windows = {w["Name"]: w for w in ssm.describe_maintenance_windows()["WindowIdentities"]}
        assert windows["prod-install"]["Schedule"] == "cron(0 2 ? * SAT *)"
        assert windows["nonprod-install"]["Schedule"] == "cron(0 12 ? * TUE *)"
        tags = ssm.list_tags_for_resource(ResourceType="MaintenanceWindow",
                                          ResourceId=windows["prod-install"]["WindowId"])["TagList"]
        assert {"Key": "ManagedBy", "Value": "patch-compliance"} in tags
        targets = ssm.describe_maintenance_window_targets(WindowId=windows["nonprod-install"]["WindowId"])["Targets"]
        assert targets[0]["Targets"] == [{"Key": "tag:Environment", "Values": ["dev", "staging"]}]
        tasks = ssm.describe_maintenance_window_tasks(WindowId=windows["prod-install"]["WindowId"])["Tasks"]
        assert [(t["TaskArn"], t["Name"]) for t in tasks] == [("AWS-RunPatchBaseline", "prod-install-install")]


@pytestmark_moto
def test_manual_edits_show_up_as_drift_and_apply_repairs_them(aws_env, tmp_path):
    settings = settings_with()
    factory = pol.boto3_client_factory(aws_env.endpoint_url)
    pol.apply(settings, factory, stand_in=True)
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    names = {b["BaselineName"]: b["BaselineId"] for b in ssm.describe_patch_baselines()["BaselineIdentities"]}
    # 1. someone shortens prod's soak by hand (the stand-in's stored contents play GetPatchBaseline)
    parameter = pol.stand_in_content_parameter(names["prod-linux"])
    content = json.loads(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    content["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] = 0
    ssm.put_parameter(Name=parameter, Value=json.dumps(content), Type="String", Overwrite=True)
    # 2. someone removes the install task from the prod window
    window = next(w for w in ssm.describe_maintenance_windows()["WindowIdentities"] if w["Name"] == "prod-install")
    task = ssm.describe_maintenance_window_tasks(WindowId=window["WindowId"])["Tasks"][0]
    ssm.deregister_task_from_maintenance_window(WindowId=window["WindowId"], WindowTaskId=task["WindowTaskId"])
    # 3. someone adds a baseline of their own
    hand_made = ssm.create_patch_baseline(Name="hand-made", OperatingSystem="AMAZON_LINUX_2023")["BaselineId"]

    plan = pol.plan(settings, factory, stand_in=True)
    changes = {t.account.id: t.actionable for t in plan.targets}
    assert all(changes[a] == [] for a in ACCOUNTS if a != PROD)
    assert {(c.action, c.kind, c.name) for c in changes[PROD]} == {
        ("update", "baseline", "prod-linux"), ("create", "window_task", "prod-install/prod-install-install")}
    baseline_change = next(c for c in changes[PROD] if c.kind == "baseline")
    assert "rule 1 ApproveAfterDays: 0 -> 7" in baseline_change.details

    lake_uri = str(tmp_path / "lake")
    manifest = pol.record_baselines(settings, lake_uri, date(2026, 11, 26), factory, stand_in=True,
                                    captured_at=datetime(2026, 11, 26, 6, tzinfo=UTC))
    assert manifest["drift_counts"] == {"in_sync": 11, "drifted": 1, "undeclared": 1, "missing": 0}
    table = Lake(lake_uri).read("baselines").to_pylist()
    drift = {(r["account_id"], r["name"]): r for r in table}
    assert drift[(PROD, "prod-linux")]["drift"] == "drifted"
    assert "ApproveAfterDays: 0 -> 7" in drift[(PROD, "prod-linux")]["drift_details"]
    assert drift[(PROD, "hand-made")]["drift"] == "undeclared"
    assert drift[(PROD, "hand-made")]["baseline_id"] == hand_made
    assert drift[("111111111111", "prod-linux")]["drift"] == "in_sync"
    assert json.loads(drift[("111111111111", "prod-linux")]["approval_rules"])["PatchRules"][0][
        "ApproveAfterDays"] == 7
    assert drift[(PROD, "nonprod-linux")]["patch_groups"] == ["dev-linux", "staging-linux"]

    _, result = pol.apply(settings, factory, stand_in=True)
    assert len(result.applied) == 2
    assert not pol.plan(settings, factory, stand_in=True).has_changes
    bound = ssm.get_patch_baseline_for_patch_group(PatchGroup="prod-linux", OperatingSystem="AMAZON_LINUX_2023")
    repaired = json.loads(ssm.get_parameter(Name=pol.stand_in_content_parameter(bound["BaselineId"]))[
        "Parameter"]["Value"])
    assert repaired["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] == 7


@pytestmark_moto
def test_deletions_are_held_back_without_the_flag(aws_env):
    factory = pol.boto3_client_factory(aws_env.endpoint_url)
    pol.apply(settings_with(), factory, stand_in=True)
    fewer = settings_with(lambda raw: raw["maintenance_windows"].pop())
    plan, result = pol.apply(fewer, factory, stand_in=True, accounts=[PROD])
    assert result.applied == []
    assert [(c.kind, c.name) for c in plan.targets[0].held_back] == [("maintenance_window", "nonprod-install")]
    assert "held back: pass --allow-delete" in plan.render()
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    assert len(ssm.describe_maintenance_windows()["WindowIdentities"]) == 2
    _, result = pol.apply(fewer, factory, stand_in=True, accounts=[PROD], allow_delete=True)
    assert len(result.applied) == 1 and "- maintenance_window nonprod-install" in result.applied[0]
    assert [w["Name"] for w in ssm.describe_maintenance_windows()["WindowIdentities"]] == ["prod-install"]


@pytestmark_moto
def test_changing_the_prod_soak_updates_only_prod_baselines(aws_env):
    factory = pol.boto3_client_factory(aws_env.endpoint_url)
    pol.apply(settings_with(), factory, stand_in=True)
    no_soak = settings_with(_set(["baselines", 0, "approval_rules", 0, "approve_after_days"], 0))
    plan = pol.plan(no_soak, factory, stand_in=True)
    for target in plan.targets:
        assert [(c.action, c.name, c.details) for c in target.actionable] == [
            ("update", "prod-linux", ["rule 1 ApproveAfterDays: 7 -> 0", "Description differs from the declared one"])]
    pol.apply(no_soak, factory, stand_in=True)
    assert not pol.plan(no_soak, factory, stand_in=True).has_changes
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    bound = ssm.get_patch_baseline_for_patch_group(PatchGroup="prod-linux", OperatingSystem="AMAZON_LINUX_2023")
    content = pol.SsmGateway(ssm, stand_in=True).baseline_content(bound["BaselineId"])
    assert content["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] == 0


@pytestmark_moto
def test_cli_plan_apply_and_bad_input(aws_env, capsys):
    from patch_compliance.cli import main

    assert main(["policy", "apply", "--account", PROD]) == 0
    out = capsys.readouterr().out
    assert "Apply complete: 16 change(s) applied, 1 not supported by the endpoint." in out
    assert main(["policy", "plan", "--account", PROD]) == 0
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.lstrip().startswith(("+ ", "~ ", "- "))]
    assert "Plan: 0 to create, 0 to update, 0 to delete; 1 not supported by the endpoint" in out
    assert main(["policy", "plan", "--account", "999999999999"]) == 2
    assert "not in the config's accounts" in capsys.readouterr().err
    assert main(["policy", "record", "--date", "2026-02-30", "--lake", "/tmp/x"]) == 2


@pytestmark_moto
def test_a_changed_window_is_reconciled_with_its_target_and_task(aws_env):
    factory = pol.boto3_client_factory(aws_env.endpoint_url)
    pol.apply(settings_with(), factory, stand_in=True, accounts=[PROD])
    later = settings_with(_set(["maintenance_windows", 0, "schedule"], "cron(0 4 ? * SUN *)"))
    plan = pol.plan(later, factory, stand_in=True, accounts=[PROD])
    assert [(c.action, c.kind, c.details) for c in plan.targets[0].actionable] == [
        ("update", "maintenance_window", ["Schedule cron(0 2 ? * SAT *) -> cron(0 4 ? * SUN *)"])]
    pol.apply(later, factory, stand_in=True, accounts=[PROD])
    assert not pol.plan(later, factory, stand_in=True, accounts=[PROD]).has_changes
    ssm = ssm_in(PROD, aws_env.endpoint_url)
    window = next(w for w in ssm.describe_maintenance_windows()["WindowIdentities"] if w["Name"] == "prod-install")
    assert window["Schedule"] == "cron(0 4 ? * SUN *)"
    assert [t["Name"] for t in ssm.describe_maintenance_window_tasks(WindowId=window["WindowId"])["Tasks"]] == [
        "prod-install-install"]
    targets = ssm.describe_maintenance_window_targets(WindowId=window["WindowId"])["Targets"]
    assert [t["Targets"] for t in targets] == [[{"Key": "tag:Environment", "Values": ["prod"]}]]


@pytestmark_moto
def test_workarounds_are_off_against_real_aws_so_endpoint_gaps_surface(aws_env):
    from botocore.exceptions import ClientError

    factory = pol.boto3_client_factory(aws_env.endpoint_url)
    # stand_in=False is the real-AWS path: moto's HTTP 500 for a missing API is an error, not "unsupported".
    with pytest.raises(ClientError, match="ListResourceDataSync"):
        pol.plan(settings_with(), factory, stand_in=False, accounts=[PROD])
    # Against AWS a baseline is created with its ManagedBy tag in the same call; moto rejects that.
    no_sync = settings_with(lambda raw: raw.pop("resource_data_sync"))
    with pytest.raises(ClientError, match=r"\(InvalidResourceId\) when calling the CreatePatchBaseline"):
        pol.apply(no_sync, factory, stand_in=False, accounts=[PROD])


def test_plan_logic_on_get_patch_baseline_shaped_state():
    """The real-AWS path: contents from GetPatchBaseline, an account default baseline, a foreign binding."""
    from patch_compliance.config import Account

    settings = settings_with()
    policy = pol.load_policy(settings)
    account = Account(PROD, "prod", (REGION,), "")
    baselines = {}
    for n, spec in enumerate(policy.baselines):
        content = {**spec.content(), "Description": spec.ssm_description}
        baselines[spec.name] = {"BaselineId": f"pb-{n:017d}", "BaselineName": spec.name,
                                "OperatingSystem": spec.operating_system, "content": content}
    baselines["prod-linux"]["content"]["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] = 3
    ids = {name: b["BaselineId"] for name, b in baselines.items()}
    bindings = {key: ids[name] for key, name in policy.bindings().items()}
    bindings[("dev-linux", "AMAZON_LINUX_2023")] = "pb-0ffffffffffffffff"  # the account's default baseline
    bindings[("prod-windows", "WINDOWS")] = "pb-0eeeeeeeeeeeeeeee"  # someone else's baseline
    windows = {}
    for spec in policy.windows:  # as SSM shows them, with GetMaintenanceWindowTask's invocation parameters
        task = {"WindowTaskId": f"task-{spec.name}", "Name": spec.task_name,
                "Description": pol.with_marker("", spec.task_fingerprint), **spec.task_fields()}
        windows[spec.name] = {
            "WindowId": f"mw-{spec.name}", "Name": spec.name, "Enabled": True, **spec.window_fields(),
            "Description": pol.with_marker(spec.description, spec.fingerprint),
            "targets": [{"WindowTargetId": f"target-{spec.name}", "Name": spec.target_name,
                         "Description": pol.with_marker("", spec.target_fingerprint), **spec.target_fields()}],
            "tasks": [task]}
    # someone switched the prod install task to Scan in the console, leaving its description alone
    windows["prod-install"]["tasks"][0]["TaskInvocationParameters"] = {
        "RunCommand": {"Parameters": {"Operation": ["Scan"], "RebootOption": ["RebootIfNeeded"]}}}
    state = pol.RemoteState(baselines, {}, windows, bindings, [], "", frozenset({"pb-0ffffffffffffffff"}))
    target = pol.plan_target(policy, state, account, REGION, allow_delete=False)
    changes = {(c.action, c.kind, c.name): c for c in target.changes}
    assert [(c.action, c.kind, c.name) for c in target.changes if "window" in c.kind] == [
        ("update", "window_task", "prod-install/prod-install-install")]
    assert changes[("update", "baseline", "prod-linux")].details == ["rule 1 ApproveAfterDays: 3 -> 7"]
    assert changes[("create", "patch_group", "dev-linux [AMAZON_LINUX_2023]")].remote_id == ""
    assert changes[("update", "patch_group", "prod-windows [WINDOWS]")].remote_id == "pb-0eeeeeeeeeeeeeeee"
    assert ("create", "resource_data_sync", "patch-compliance") in changes
