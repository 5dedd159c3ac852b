"""Building the policy from the config (patch_compliance.policy.parse): what the default config declares, and
the rules across sections checked when the policy is built (value rules are the config's, checked at load)."""

from __future__ import annotations

import pytest

from patch_compliance import policy as pol
from patch_compliance.inputs import InputError
from tests.fixtures.policy_world import (
    RAW,
    _set,
    settings_with,
)


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
