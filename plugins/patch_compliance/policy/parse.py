"""Reading the declared policy from the config (``Settings.raw``) into value objects.

Every value is checked against what SSM accepts; an error names the key and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from patch_compliance.config import Settings
from patch_compliance.inputs import BUCKET_RE, InputError, parse_location, validate_region
from patch_compliance.policy.spec import (
    ApprovalRule,
    BaselineSpec,
    DataSyncSpec,
    PatchGroupSpec,
    Policy,
    PolicyError,
    WindowSpec,
    with_marker,
)

OPERATING_SYSTEMS = frozenset({
    "WINDOWS", "AMAZON_LINUX", "AMAZON_LINUX_2", "AMAZON_LINUX_2022", "AMAZON_LINUX_2023", "UBUNTU",
    "REDHAT_ENTERPRISE_LINUX", "SUSE", "CENTOS", "ORACLE_LINUX", "DEBIAN", "MACOS", "RASPBIAN", "ROCKY_LINUX",
    "ALMA_LINUX",
})
NO_SOAK_OPERATING_SYSTEMS = frozenset({"UBUNTU", "DEBIAN"})  # rules support no ApproveAfterDays there
COMPLIANCE_LEVELS = frozenset({"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED"})
LINUX_FILTER_VALUES: dict[str, frozenset[str] | None] = {
    "PRODUCT": None,  # free text (e.g. AmazonLinux2023, *)
    "CLASSIFICATION": frozenset({"Security", "Bugfix", "Enhancement", "Recommended", "Newpackage", "*"}),
    "SEVERITY": frozenset({"Critical", "Important", "Medium", "Low", "None", "*"}),
}
WINDOWS_FILTER_VALUES: dict[str, frozenset[str] | None] = {
    "PRODUCT": None,
    "PRODUCT_FAMILY": None,
    "CLASSIFICATION": frozenset({"CriticalUpdates", "SecurityUpdates", "Updates", "UpdateRollups",
                                 "DefinitionUpdates", "Drivers", "FeaturePacks", "ServicePacks", "Tools", "Upgrades",
                                 "*"}),
    "MSRC_SEVERITY": frozenset({"Critical", "Important", "Moderate", "Low", "Unspecified", "*"}),
}
NAME_RE = re.compile(r"^[a-zA-Z0-9_.\-]{3,128}$")
SCHEDULE_RE = re.compile(r"^(?:cron|rate|at)\(.+\)$")
CONCURRENCY_RE = re.compile(r"^(?:[1-9]\d*%?|100%)$")
ERRORS_RE = re.compile(r"^(?:\d+%?)$")
TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")


def _mapping(value: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"config {where}: expected a mapping, got {value!r}")
    missing = required - set(value)
    if missing:
        raise PolicyError(f"config {where}: missing keys {sorted(missing)}")
    unknown = set(value) - required - optional
    if unknown:
        raise PolicyError(f"config {where}: unknown keys {sorted(unknown)}; allowed: {sorted(required | optional)}")
    return value


def _text(value: Any, where: str, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
    if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
        raise PolicyError(f"config {where}: expected {hint or 'a string'}, got {value!r}")
    return value


def _strings(value: Any, where: str, allow_empty: bool = False) -> tuple[str, ...]:
    if value is None and allow_empty:
        return ()
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) and v for v in value)
        or (not value and not allow_empty)
    ):
        raise PolicyError(
            f"config {where}: expected a {'' if allow_empty else 'non-empty '}list of strings, got {value!r}"
        )
    return tuple(value)


def _integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PolicyError(f"config {where}: expected an integer in [{low}, {high}], got {value!r}")
    return value


def _choice(value: Any, where: str, allowed: Iterable[str]) -> str:
    allowed = sorted(allowed)
    if value not in allowed:
        raise PolicyError(f"config {where}: expected one of {allowed}, got {value!r}")
    return value


def _described(data: dict[str, Any], where: str, limit: int) -> str:
    """A description that still fits SSM's limit once the managed-by marker is appended."""
    description = _text(data.get("description", ""), f"{where}.description")
    if len(with_marker(description, "0" * 12)) > limit:
        raise PolicyError(f"config {where}.description: too long (SSM allows {limit} characters with the marker)")
    return description


def _rule(raw: Any, where: str, operating_system: str) -> ApprovalRule:
    data = _mapping(raw, where, {"filters"}, {"approve_after_days", "compliance_level", "enable_non_security"})
    known = WINDOWS_FILTER_VALUES if operating_system == "WINDOWS" else LINUX_FILTER_VALUES
    if not isinstance(data["filters"], dict) or not data["filters"]:
        raise PolicyError(f"config {where}.filters: expected a mapping of filter key to values")
    filters = []
    for key, values in data["filters"].items():
        if key not in known:
            raise PolicyError(
                f"config {where}.filters: key {key!r} is not valid for {operating_system}; use {sorted(known)}"
            )
        values = _strings(values, f"{where}.filters.{key}")
        allowed = known[key]
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad:
            raise PolicyError(f"config {where}.filters.{key}: {bad} not in {sorted(allowed)}")
        filters.append((key, values))
    days = data.get("approve_after_days")
    if operating_system in NO_SOAK_OPERATING_SYSTEMS:
        if days is not None:
            raise PolicyError(f"config {where}.approve_after_days: {operating_system} rules support no soak; remove it")
    else:
        days = _integer(days, f"{where}.approve_after_days", 0, 360)
    level = _choice(data.get("compliance_level", "UNSPECIFIED"), f"{where}.compliance_level", COMPLIANCE_LEVELS)
    non_security = data.get("enable_non_security", False)
    if not isinstance(non_security, bool):
        raise PolicyError(f"config {where}.enable_non_security: expected true or false")
    return ApprovalRule(tuple(filters), days, level, non_security)


def _baseline(raw: Any, where: str) -> BaselineSpec:
    data = _mapping(
        raw,
        where,
        {"name", "operating_system", "approval_rules"},
        {"description", "approved_patches", "rejected_patches", "rejected_patches_action"},
    )
    name = _text(data["name"], f"{where}.name", NAME_RE, "3-128 characters of letters, digits, _ . -")
    operating_system = _choice(data["operating_system"], f"{where}.operating_system", OPERATING_SYSTEMS)
    rules_raw = data["approval_rules"]
    if not isinstance(rules_raw, list) or not 1 <= len(rules_raw) <= 10:
        raise PolicyError(f"config {where}.approval_rules: expected 1 to 10 rules")
    description = _described(data, where, 1024)
    return BaselineSpec(
        name=name,
        operating_system=operating_system,
        description=description,
        approval_rules=tuple(
            _rule(r, f"{where}.approval_rules[{n}]", operating_system) for n, r in enumerate(rules_raw)
        ),
        approved_patches=_strings(data.get("approved_patches"), f"{where}.approved_patches", allow_empty=True),
        rejected_patches=_strings(data.get("rejected_patches"), f"{where}.rejected_patches", allow_empty=True),
        rejected_patches_action=_choice(
            data.get("rejected_patches_action", "ALLOW_AS_DEPENDENCY"),
            f"{where}.rejected_patches_action",
            {"ALLOW_AS_DEPENDENCY", "BLOCK"},
        ),
    )


def _window(raw: Any, where: str) -> WindowSpec:
    data = _mapping(
        raw,
        where,
        {"name", "schedule", "duration_hours", "operation", "targets"},
        {
            "description",
            "schedule_timezone",
            "cutoff_hours",
            "reboot_option",
            "max_concurrency",
            "max_errors",
            "priority",
        },
    )
    duration = _integer(data["duration_hours"], f"{where}.duration_hours", 1, 24)
    cutoff = _integer(data.get("cutoff_hours", 0), f"{where}.cutoff_hours", 0, 23)
    if cutoff >= duration:
        raise PolicyError(f"config {where}.cutoff_hours ({cutoff}) must be less than duration_hours ({duration})")
    targets = data["targets"]
    if not isinstance(targets, dict) or not 1 <= len(targets) <= 5:
        raise PolicyError(
            f"config {where}.targets: expected 1 to 5 tag keys mapping to value lists, e.g. {{Environment: [prod]}}"
        )
    parsed_targets = tuple(
        (_text(k, f"{where}.targets key", TAG_KEY_RE, "a tag key"), _strings(v, f"{where}.targets.{k}"))
        for k, v in targets.items()
    )
    return WindowSpec(
        name=_text(data["name"], f"{where}.name", NAME_RE, "3-128 characters of letters, digits, _ . -"),
        description=_described(data, where, 128),
        schedule=_text(data["schedule"], f"{where}.schedule", SCHEDULE_RE, "cron(...) or rate(...)"),
        schedule_timezone=_text(data.get("schedule_timezone", "UTC"), f"{where}.schedule_timezone"),
        duration_hours=duration,
        cutoff_hours=cutoff,
        operation=_choice(data["operation"], f"{where}.operation", {"Scan", "Install"}),
        reboot_option=_choice(
            data.get("reboot_option", "RebootIfNeeded"),
            f"{where}.reboot_option",
            {"RebootIfNeeded", "NoReboot"},
        ),
        targets=parsed_targets,
        max_concurrency=_text(
            data.get("max_concurrency", "10%"),
            f"{where}.max_concurrency",
            CONCURRENCY_RE,
            "a count or a percentage such as 10%",
        ),
        max_errors=_text(
            data.get("max_errors", "5%"),
            f"{where}.max_errors",
            ERRORS_RE,
            "a count or a percentage such as 5%",
        ),
        priority=_integer(data.get("priority", 1), f"{where}.priority", 0, 5),
    )


def _data_sync(raw: Any, settings: Settings) -> DataSyncSpec | None:
    if raw is None:
        return None
    where = "resource_data_sync"
    data = _mapping(raw, where, {"name"}, {"bucket", "prefix", "bucket_region", "sync_format", "kms_key_arn"})
    source = parse_location(settings.storage.sync_uri, "config storage.sync_uri")
    bucket = _text(data.get("bucket", source.bucket), f"{where}.bucket", BUCKET_RE, "an S3 bucket name")
    prefix = _text(data.get("prefix", source.path), f"{where}.prefix").strip("/")
    if source.scheme == "s3" and (bucket, prefix) != (source.bucket, source.path):
        raise PolicyError(
            f"config {where}: syncs write to s3://{bucket}/{prefix} but storage.sync_uri reads "
            f"{settings.storage.sync_uri}; make them the same"
        )
    region = data.get("bucket_region", settings.aws.region)
    try:
        validate_region(region)
    except InputError as exc:
        raise PolicyError(f"config {where}.bucket_region: {exc}") from exc
    kms = _text(data.get("kms_key_arn", ""), f"{where}.kms_key_arn")
    if kms and not kms.startswith("arn:aws:kms:"):
        raise PolicyError(f"config {where}.kms_key_arn: expected arn:aws:kms:..., got {kms!r}")
    return DataSyncSpec(
        name=_text(data["name"], f"{where}.name", NAME_RE, "3-64 characters of letters, digits, _ . -"),
        bucket=bucket,
        prefix=prefix,
        bucket_region=region,
        sync_format=_choice(data.get("sync_format", "JsonSerDe"), f"{where}.sync_format", {"JsonSerDe"}),
        kms_key_arn=kms,
    )


def _unique(names: list[str], what: str) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PolicyError(f"config {what}: names declared twice: {duplicates}")


def load_policy(settings: Settings) -> Policy:
    """Parse and cross-check the policy sections of the config (``Settings.raw``)."""
    raw = settings.raw
    baselines_raw = raw.get("baselines") or []
    if not isinstance(baselines_raw, list):
        raise PolicyError("config baselines: expected a list")
    baselines = tuple(_baseline(b, f"baselines[{n}]") for n, b in enumerate(baselines_raw))
    _unique([b.name for b in baselines], "baselines")
    by_name = {b.name: b for b in baselines}

    groups_raw = raw.get("patch_groups") or []
    if not isinstance(groups_raw, list):
        raise PolicyError("config patch_groups: expected a list")
    groups = []
    for n, item in enumerate(groups_raw):
        where = f"patch_groups[{n}]"
        data = _mapping(item, where, {"name", "baselines"}, set())
        name = _text(data["name"], f"{where}.name", re.compile(r"^[\w .:/=+\-@]{1,256}$"), "a patch group name")
        names = _strings(data["baselines"], f"{where}.baselines")
        unknown = [b for b in names if b not in by_name]
        if unknown:
            raise PolicyError(f"config {where}.baselines: {unknown} are not declared under baselines")
        systems = [by_name[b].operating_system for b in names]
        if len(set(systems)) != len(systems):
            raise PolicyError(f"config {where}: a patch group takes one baseline per operating system, got {systems}")
        groups.append(PatchGroupSpec(name, names))
    _unique([g.name for g in groups], "patch_groups")

    declared = {g.name for g in groups}
    scanned = set(settings.scan.target_tag_values)
    if groups and scanned and declared != scanned:
        raise PolicyError(
            "config patch_groups must match scan.target_tag_values, so every scanned instance has a declared "
            f"baseline: scanned without a group {sorted(scanned - declared)}, groups never scanned "
            f"{sorted(declared - scanned)}"
        )

    windows_raw = raw.get("maintenance_windows") or []
    if not isinstance(windows_raw, list):
        raise PolicyError("config maintenance_windows: expected a list")
    windows = tuple(_window(w, f"maintenance_windows[{n}]") for n, w in enumerate(windows_raw))
    _unique([w.name for w in windows], "maintenance_windows")
    applier = _mapping(raw.get("policy_apply") or {}, "policy_apply", set(), {"role_name"})
    role_name = _text(
        applier.get("role_name", ""),
        "policy_apply.role_name",
        re.compile(r"^(?:[\w+=,.@-]{1,64})?$"),
        "an IAM role name",
    )
    return Policy(baselines, tuple(groups), windows, _data_sync(raw.get("resource_data_sync"), settings), role_name)
