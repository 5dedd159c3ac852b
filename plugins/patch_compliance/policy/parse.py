"""The declared policy: the config's typed policy sections, cross-checked, into value objects.

Every value was checked when the config loaded (``patch_compliance.config``: types, ranges, allowed
values, names and descriptions that fit SSM with the managed marker). What is left here needs more
than one entry or section: names declared once, a patch group's baselines declared and one per
operating system, the groups matching ``scan.target_tag_values``, a window targeting declared groups,
the sync writing where ``storage.sync_uri`` reads. An error names the key and what was expected.
"""

from __future__ import annotations

from patch_compliance.config import (
    BaselineConfig,
    MaintenanceWindowConfig,
    PatchGroupConfig,
    ResourceDataSyncConfig,
    Settings,
)
from patch_compliance.inputs import parse_location
from patch_compliance.policy.spec import (
    ApprovalRule,
    BaselineSpec,
    DataSyncSpec,
    PatchGroupSpec,
    Policy,
    PolicyError,
    WindowSpec,
)


def _unique(names: list[str], what: str) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PolicyError(f"config {what}: names declared twice: {duplicates}")


def _baseline(config: BaselineConfig) -> BaselineSpec:
    return BaselineSpec(
        name=config.name,
        operating_system=config.operating_system,
        description=config.description,
        approval_rules=tuple(
            ApprovalRule(tuple(rule.filters.items()), rule.approve_after_days, rule.compliance_level,
                         rule.enable_non_security)
            for rule in config.approval_rules),
        approved_patches=config.approved_patches,
        rejected_patches=config.rejected_patches,
        rejected_patches_action=config.rejected_patches_action,
    )


def _groups(configs: tuple[PatchGroupConfig, ...], baselines: dict[str, BaselineSpec],
            settings: Settings) -> tuple[PatchGroupSpec, ...]:
    for n, group in enumerate(configs):
        where = f"patch_groups[{n}]"
        unknown = [b for b in group.baselines if b not in baselines]
        if unknown:
            raise PolicyError(f"config {where}.baselines: {unknown} are not declared under baselines")
        systems = [baselines[b].operating_system for b in group.baselines]
        if len(set(systems)) != len(systems):
            raise PolicyError(f"config {where}: a patch group takes one baseline per operating system, got {systems}")
    _unique([g.name for g in configs], "patch_groups")
    declared = {g.name for g in configs}
    scanned = set(settings.scan.target_tag_values)
    if configs and scanned and declared != scanned:
        raise PolicyError(
            "config patch_groups must match scan.target_tag_values, so every scanned instance has a declared "
            f"baseline: scanned without a group {sorted(scanned - declared)}, groups never scanned "
            f"{sorted(declared - scanned)}"
        )
    return tuple(PatchGroupSpec(g.name, g.baselines) for g in configs)


def _window(config: MaintenanceWindowConfig, where: str, groups: set[str], group_keys: set[str]) -> WindowSpec:
    for key, values in config.targets.items():
        strays = sorted(set(values) - groups)
        if groups and key in group_keys and strays:
            raise PolicyError(f"config {where}.targets.{key}: {strays} are not declared under patch_groups "
                              f"(declared: {sorted(groups)})")
    return WindowSpec(
        name=config.name,
        description=config.description,
        schedule=config.schedule,
        schedule_timezone=config.schedule_timezone,
        duration_hours=config.duration_hours,
        cutoff_hours=config.cutoff_hours,
        operation=config.operation,
        reboot_option=config.reboot_option,
        targets=tuple(config.targets.items()),
        max_concurrency=config.max_concurrency,
        max_errors=config.max_errors,
        priority=config.priority,
    )


def _data_sync(config: ResourceDataSyncConfig | None, settings: Settings) -> DataSyncSpec | None:
    if config is None:
        return None
    where = "resource_data_sync"
    source = parse_location(settings.storage.sync_uri, "config storage.sync_uri")
    bucket = config.bucket if config.bucket is not None else source.bucket
    if not bucket:
        raise PolicyError(f"config {where}.bucket: required when storage.sync_uri is not an s3:// location "
                          f"({settings.storage.sync_uri})")
    prefix = (config.prefix if config.prefix is not None else source.path).strip("/")
    if source.scheme == "s3" and (bucket, prefix) != (source.bucket, source.path):
        raise PolicyError(
            f"config {where}: syncs write to s3://{bucket}/{prefix} but storage.sync_uri reads "
            f"{settings.storage.sync_uri}; make them the same"
        )
    return DataSyncSpec(
        name=config.name,
        bucket=bucket,
        prefix=prefix,
        bucket_region=config.bucket_region or settings.aws.region,
        sync_format=config.sync_format,
        kms_key_arn=config.kms_key_arn,
    )


def load_policy(settings: Settings) -> Policy:
    """The policy declared by the config's (already validated) policy sections, cross-checked."""
    baselines = tuple(_baseline(b) for b in settings.baselines)
    _unique([b.name for b in baselines], "baselines")
    groups = _groups(settings.patch_groups, {b.name: b for b in baselines}, settings)
    group_keys = {settings.scan.target_tag_key, *settings.tags.patch_group}
    windows = tuple(_window(w, f"maintenance_windows[{n}]", {g.name for g in groups}, group_keys)
                    for n, w in enumerate(settings.maintenance_windows))
    _unique([w.name for w in windows], "maintenance_windows")
    return Policy(baselines, groups, windows, _data_sync(settings.resource_data_sync, settings),
                  settings.policy_apply.role_name)
