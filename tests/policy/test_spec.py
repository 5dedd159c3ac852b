"""The declared policy's value objects (patch_compliance.policy.spec): names, fingerprints and tags as SSM sees them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from patch_compliance import policy as pol
from patch_compliance.config import WINDOW_NAME_MAX
from patch_compliance.policy.spec import ApprovalRule, fingerprint, is_managed, managed_tags
from tests.fixtures.policy_world import RAW, _set, groups_of, settings_with


def test_the_longest_window_name_allowed_leaves_ssm_valid_target_and_task_names():
    name = "w" * WINDOW_NAME_MAX
    for operation in ("Install", "Scan"):
        def edit(raw, operation=operation):
            raw["maintenance_windows"][0].update(name=name, operation=operation)
        window = pol.load_policy(settings_with(edit)).windows[0]
        assert all(re.fullmatch(r"[a-zA-Z0-9_\-.]{3,128}", n) for n in (window.target_name, window.task_name))
    assert len(pol.load_policy(settings_with(_set(["maintenance_windows", 0, "name"], name))).windows[0].target_name) \
        == 128


RULE = ApprovalRule((("CLASSIFICATION", ("Security",)), ("SEVERITY", ("Critical", "Important"))), 7)
WINDOW = pol.WindowSpec("prod-install", "Weekly install", "cron(0 2 ? * SAT *)", "UTC", 4, 1, "Install",
                        "RebootIfNeeded", (("Environment", ("prod",)), ("PatchGroup", ("prod-linux",))), "10%", "5%")


def test_the_fingerprint_is_the_first_12_hex_of_the_sha256_of_compact_sorted_json() -> None:
    # '{"a":1,"b":[2,"x"]}', hashed by hand
    expected = hashlib.sha256(b'{"a":1,"b":[2,"x"]}').hexdigest()[:12]
    assert fingerprint({"b": [2, "x"], "a": 1}) == expected
    assert fingerprint({"a": 1, "b": [2, "x"]}) == expected  # key order does not matter
    assert fingerprint({"a": 1, "b": ["x", 2]}) != expected  # list order does


def test_only_the_managed_by_tag_with_this_products_value_marks_an_object_managed() -> None:
    assert managed_tags() == [{"Key": "ManagedBy", "Value": "patch-compliance"}]
    assert is_managed({"ManagedBy": "patch-compliance", "Team": "ops"})
    assert not is_managed({"ManagedBy": "terraform"})
    assert not is_managed({"managedby": "patch-compliance"})
    assert not is_managed({})


def test_an_approval_rule_in_ssms_shape_leaves_out_what_is_not_set() -> None:
    assert RULE.to_ssm() == {"PatchFilterGroup": {"PatchFilters": [
        {"Key": "CLASSIFICATION", "Values": ["Security"]}, {"Key": "SEVERITY", "Values": ["Critical", "Important"]}]},
        "ComplianceLevel": "UNSPECIFIED", "ApproveAfterDays": 7}
    no_soak = ApprovalRule((("PRODUCT", ("*",)),), None, "CRITICAL", enable_non_security=True)
    assert no_soak.to_ssm() == {"PatchFilterGroup": {"PatchFilters": [{"Key": "PRODUCT", "Values": ["*"]}]},
                                "ComplianceLevel": "CRITICAL", "EnableNonSecurity": True}
    assert RULE.describe() == "CLASSIFICATION=Security SEVERITY=Critical,Important ApproveAfterDays=7 " \
                              "ComplianceLevel=UNSPECIFIED"


def test_a_baselines_description_carries_the_fingerprint_of_everything_declared() -> None:
    spec = pol.BaselineSpec("prod-linux", "AMAZON_LINUX_2023", "Prod", (RULE,), rejected_patches=("kernel-debug*",))
    assert spec.ssm_description == f"Prod [managed by patch-compliance; spec {spec.fingerprint}]"
    assert replace(spec, description="Other").fingerprint != spec.fingerprint
    assert replace(spec, rejected_patches=()).fingerprint != spec.fingerprint
    assert spec.describe() == ["operating system AMAZON_LINUX_2023",
                               "rule 1: CLASSIFICATION=Security SEVERITY=Critical,Important ApproveAfterDays=7 "
                               "ComplianceLevel=UNSPECIFIED",
                               "rejected kernel-debug* (ALLOW_AS_DEPENDENCY)"]


def test_a_windows_target_and_task_are_named_after_it_and_fingerprinted_apart() -> None:
    assert (WINDOW.target_name, WINDOW.task_name) == ("prod-install-targets", "prod-install-install")
    assert replace(WINDOW, operation="Scan").task_name == "prod-install-scan"
    assert WINDOW.target_fields() == {"ResourceType": "INSTANCE", "Targets": [
        {"Key": "tag:Environment", "Values": ["prod"]}, {"Key": "tag:PatchGroup", "Values": ["prod-linux"]}]}
    assert WINDOW.task_fields()["TaskInvocationParameters"] == {"RunCommand": {"Parameters": {
        "Operation": ["Install"], "RebootOption": ["RebootIfNeeded"]}}}
    assert (WINDOW.task_fields()["MaxConcurrency"], WINDOW.task_fields()["MaxErrors"]) == ("10%", "5%")
    retargeted = replace(WINDOW, targets=(("Environment", ("dev",)),))
    assert retargeted.fingerprint == WINDOW.fingerprint  # the window itself did not change
    assert retargeted.target_fingerprint != WINDOW.target_fingerprint
    assert retargeted.task_fingerprint != WINDOW.task_fingerprint  # the task covers its target too
    assert replace(WINDOW, schedule="cron(0 3 ? * SAT *)").fingerprint != WINDOW.fingerprint
    assert WINDOW.describe() == ("cron(0 2 ? * SAT *) UTC, 4 h (cutoff 1 h)",
                                 "tag:Environment=prod tag:PatchGroup=prod-linux",
                                 "AWS-RunPatchBaseline Operation=Install RebootOption=RebootIfNeeded "
                                 "MaxConcurrency=10% MaxErrors=5%")


def test_a_syncs_destination_names_the_kms_key_only_when_one_is_declared() -> None:
    sync = pol.DataSyncSpec("patch-compliance", "patch-rds-sync", "rds", "eu-west-1")
    assert sync.s3_destination() == {"BucketName": "patch-rds-sync", "Prefix": "rds", "SyncFormat": "JsonSerDe",
                                     "Region": "eu-west-1"}
    key = "arn:aws:kms:eu-west-1:333333333333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert replace(sync, kms_key_arn=key).s3_destination()["AWSKMSKeyARN"] == key
    assert sync.describe() == "s3://patch-rds-sync/rds (eu-west-1, JsonSerDe)"


def test_the_policys_bindings_are_every_group_times_its_baselines_operating_system() -> None:
    policy = pol.load_policy(settings_with())
    systems = {b["name"]: b["operating_system"] for b in RAW["baselines"]}
    expected = {(g["name"], systems[b]): b for g in RAW["patch_groups"] for b in g["baselines"]}
    assert policy.bindings() == expected
    for baseline in RAW["baselines"]:
        assert policy.groups_of(baseline["name"]) == groups_of(baseline["name"])
    assert policy.baseline_for("prod-linux", "WINDOWS") is None
