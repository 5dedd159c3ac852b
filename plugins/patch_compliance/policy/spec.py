"""The declared policy as value objects, each able to say what it looks like in SSM.

Managed objects carry the tag ``ManagedBy=patch-compliance`` (how they are found, and what the
applier's IAM policy conditions on) and a description ending in
``[managed by patch-compliance; spec <fingerprint>]``: a digest of the declared spec, so a console
edit of a window's target or task shows up even in fields the describe calls do not return. The
marker and the names derived from a window's are in ``patch_compliance.marker``, which the config's
checks share.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from patch_compliance.inputs import InputError
from patch_compliance.marker import DIGEST_LENGTH, TARGET_SUFFIX, marker_fingerprint, task_suffix, with_marker

__all__ = [  # with the marker helpers of patch_compliance.marker, which plan and gateway take from here
    "MANAGED_TAG_KEY", "MANAGED_TAG_VALUE", "RUN_PATCH_BASELINE", "ApprovalRule", "BaselineSpec", "DataSyncSpec",
    "PatchGroupSpec", "Policy", "PolicyError", "WindowSpec", "fingerprint", "is_managed", "managed_tags",
    "marker_fingerprint", "with_marker",
]

MANAGED_TAG_KEY = "ManagedBy"
MANAGED_TAG_VALUE = "patch-compliance"
RUN_PATCH_BASELINE = "AWS-RunPatchBaseline"


class PolicyError(InputError):
    """The declared policy is invalid, or an account's state blocks a safe reconcile."""


def fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:DIGEST_LENGTH]


def managed_tags() -> list[dict[str, str]]:
    return [{"Key": MANAGED_TAG_KEY, "Value": MANAGED_TAG_VALUE}]


def is_managed(tags: dict[str, str]) -> bool:
    return tags.get(MANAGED_TAG_KEY) == MANAGED_TAG_VALUE


@dataclass(frozen=True)
class ApprovalRule:
    filters: tuple[tuple[str, tuple[str, ...]], ...]
    approve_after_days: int | None
    compliance_level: str = "UNSPECIFIED"
    enable_non_security: bool = False

    def to_ssm(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "PatchFilterGroup": {"PatchFilters": [{"Key": k, "Values": list(v)} for k, v in self.filters]},
            "ComplianceLevel": self.compliance_level,
        }
        if self.approve_after_days is not None:
            rule["ApproveAfterDays"] = self.approve_after_days
        if self.enable_non_security:
            rule["EnableNonSecurity"] = True
        return rule

    def describe(self) -> str:
        filters = " ".join(f"{k}={','.join(v)}" for k, v in self.filters)
        soak = "" if self.approve_after_days is None else f" ApproveAfterDays={self.approve_after_days}"
        return f"{filters}{soak} ComplianceLevel={self.compliance_level}"


@dataclass(frozen=True)
class BaselineSpec:
    name: str
    operating_system: str
    description: str
    approval_rules: tuple[ApprovalRule, ...]
    approved_patches: tuple[str, ...] = ()
    rejected_patches: tuple[str, ...] = ()
    rejected_patches_action: str = "ALLOW_AS_DEPENDENCY"

    def content(self) -> dict[str, Any]:
        """The SSM fields this product manages, in the shape GetPatchBaseline returns them."""
        return {
            "OperatingSystem": self.operating_system,
            "ApprovalRules": {"PatchRules": [r.to_ssm() for r in self.approval_rules]},
            "ApprovedPatches": list(self.approved_patches),
            "RejectedPatches": list(self.rejected_patches),
            "RejectedPatchesAction": self.rejected_patches_action,
        }

    @property
    def fingerprint(self) -> str:
        return fingerprint({"name": self.name, **self.content(), "description": self.description})

    @property
    def ssm_description(self) -> str:
        return with_marker(self.description, self.fingerprint)

    def describe(self) -> list[str]:
        """How a plan shows the baseline it would create."""
        lines = [f"operating system {self.operating_system}"]
        lines += [f"rule {n}: {rule.describe()}" for n, rule in enumerate(self.approval_rules, 1)]
        if self.approved_patches:
            lines.append(f"approved {', '.join(self.approved_patches)}")
        if self.rejected_patches:
            lines.append(f"rejected {', '.join(self.rejected_patches)} ({self.rejected_patches_action})")
        return lines


@dataclass(frozen=True)
class PatchGroupSpec:
    name: str
    baselines: tuple[str, ...]


@dataclass(frozen=True)
class WindowSpec:
    name: str
    description: str
    schedule: str
    schedule_timezone: str
    duration_hours: int
    cutoff_hours: int
    operation: str  # Scan | Install
    reboot_option: str
    targets: tuple[tuple[str, tuple[str, ...]], ...]  # tag key -> values
    max_concurrency: str
    max_errors: str
    priority: int = 1

    def window_fields(self) -> dict[str, Any]:
        return {
            "Schedule": self.schedule,
            "ScheduleTimezone": self.schedule_timezone,
            "Duration": self.duration_hours,
            "Cutoff": self.cutoff_hours,
        }

    @property
    def fingerprint(self) -> str:
        return fingerprint({"window": self.window_fields(), "description": self.description})

    @property
    def ssm_description(self) -> str:
        return with_marker(self.description, self.fingerprint)

    @property
    def target_name(self) -> str:
        return self.name + TARGET_SUFFIX

    def target_fields(self) -> dict[str, Any]:
        return {
            "ResourceType": "INSTANCE",
            "Targets": [{"Key": f"tag:{k}", "Values": list(v)} for k, v in self.targets],
        }

    @property
    def target_fingerprint(self) -> str:
        return fingerprint(self.target_fields())

    @property
    def task_name(self) -> str:
        return self.name + task_suffix(self.operation)

    def task_parameters(self) -> dict[str, list[str]]:
        return {"Operation": [self.operation], "RebootOption": [self.reboot_option]}

    def task_fields(self) -> dict[str, Any]:
        return {
            "TaskArn": RUN_PATCH_BASELINE,
            "TaskType": "RUN_COMMAND",
            "Priority": self.priority,
            "MaxConcurrency": self.max_concurrency,
            "MaxErrors": self.max_errors,
            "TaskInvocationParameters": {"RunCommand": {"Parameters": self.task_parameters()}},
        }

    @property
    def task_fingerprint(self) -> str:
        return fingerprint({"task": self.task_fields(), "target": self.target_fields()})

    def describe(self) -> tuple[str, str, str]:
        """How a plan shows the window, its target and its task."""
        schedule = (f"{self.schedule} {self.schedule_timezone}, {self.duration_hours} h "
                    f"(cutoff {self.cutoff_hours} h)")
        targets = " ".join(f"tag:{k}={','.join(v)}" for k, v in self.targets)
        task = (f"{RUN_PATCH_BASELINE} Operation={self.operation} RebootOption={self.reboot_option} "
                f"MaxConcurrency={self.max_concurrency} MaxErrors={self.max_errors}")
        return schedule, targets, task


@dataclass(frozen=True)
class DataSyncSpec:
    name: str
    bucket: str
    prefix: str
    bucket_region: str
    sync_format: str = "JsonSerDe"
    kms_key_arn: str = ""

    def s3_destination(self) -> dict[str, Any]:
        destination = {
            "BucketName": self.bucket,
            "Prefix": self.prefix,
            "SyncFormat": self.sync_format,
            "Region": self.bucket_region,
        }
        if self.kms_key_arn:
            destination["AWSKMSKeyARN"] = self.kms_key_arn
        return destination

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} ({self.bucket_region}, {self.sync_format})"


@dataclass(frozen=True)
class Policy:
    baselines: tuple[BaselineSpec, ...]
    patch_groups: tuple[PatchGroupSpec, ...]
    windows: tuple[WindowSpec, ...]
    data_sync: DataSyncSpec | None
    applier_role_name: str = ""  # plan/apply assume this role in each account instead of its role_arn

    def baseline(self, name: str) -> BaselineSpec:
        return next(b for b in self.baselines if b.name == name)

    def bindings(self) -> dict[tuple[str, str], str]:
        """(patch group, operating system) -> declared baseline name."""
        return {(g.name, self.baseline(b).operating_system): b for g in self.patch_groups for b in g.baselines}

    def baseline_for(self, patch_group: str, operating_system: str) -> BaselineSpec | None:
        name = self.bindings().get((patch_group, operating_system))
        return self.baseline(name) if name else None

    def groups_of(self, baseline_name: str) -> list[str]:
        return sorted(group for (group, _), name in self.bindings().items() if name == baseline_name)
