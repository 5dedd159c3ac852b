"""Patch policy as code: declared baselines, patch groups, maintenance windows and the Resource Data
Sync, reconciled with SSM in every account and Region (plan, apply, drift).

Why: the triad "baseline decides what is approved, the PatchGroup tag binds an instance to a baseline,
the maintenance window decides when" fails silently when any part is edited by hand. Declaring it in
``config/fleet.yaml``, applying it idempotently and recording what is in force makes it auditable.

Managed objects carry the tag ``ManagedBy=patch-compliance`` and a description ending in
``[managed by patch-compliance; spec <fingerprint>]``: the tag is how real AWS finds them (and what the
applier's IAM policy conditions on), the fingerprint is a digest of the declared spec so an edit shows up
even where the contents cannot be read back.

The core takes a ``ClientFactory`` (account, Region -> SSM client), so the same code runs from the CLI
with boto3 + STS AssumeRole and from Airflow with the amazon provider's hook session.

Local stand-in (moto) workarounds live only in ``SsmGateway`` and are active only when an endpoint URL
is configured (``stand_in=True``); against real AWS every call is the documented API and errors
propagate. See docs/policy.md, "Local stand-in limitations".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from patch_compliance.config import Account, Settings
from patch_compliance.inputs import BUCKET_RE, InputError, parse_location, validate_region

MANAGED_TAG_KEY = "ManagedBy"
MANAGED_TAG_VALUE = "patch-compliance"
MARKER = "managed by patch-compliance"
RUN_PATCH_BASELINE = "AWS-RunPatchBaseline"
_FINGERPRINT_RE = re.compile(r"\[" + re.escape(MARKER) + r"; spec ([0-9a-f]{12})\]$")

OPERATING_SYSTEMS = frozenset(
    {
        "WINDOWS",
        "AMAZON_LINUX",
        "AMAZON_LINUX_2",
        "AMAZON_LINUX_2022",
        "AMAZON_LINUX_2023",
        "UBUNTU",
        "REDHAT_ENTERPRISE_LINUX",
        "SUSE",
        "CENTOS",
        "ORACLE_LINUX",
        "DEBIAN",
        "MACOS",
        "RASPBIAN",
        "ROCKY_LINUX",
        "ALMA_LINUX",
    }
)
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
    "CLASSIFICATION": frozenset(
        {
            "CriticalUpdates",
            "SecurityUpdates",
            "Updates",
            "UpdateRollups",
            "DefinitionUpdates",
            "Drivers",
            "FeaturePacks",
            "ServicePacks",
            "Tools",
            "Upgrades",
            "*",
        }
    ),
    "MSRC_SEVERITY": frozenset({"Critical", "Important", "Moderate", "Low", "Unspecified", "*"}),
}
NAME_RE = re.compile(r"^[a-zA-Z0-9_.\-]{3,128}$")
SCHEDULE_RE = re.compile(r"^(?:cron|rate|at)\(.+\)$")
CONCURRENCY_RE = re.compile(r"^(?:[1-9]\d*%?|100%)$")
ERRORS_RE = re.compile(r"^(?:\d+%?)$")
TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")


class PolicyError(InputError):
    """The declared policy is invalid, or an account's state blocks a safe reconcile."""


class EndpointUnsupported(Exception):
    """The SSM endpoint (the local stand-in) does not implement an operation the policy needs."""

    def __init__(self, operation: str, reason: str = "") -> None:
        self.operation = operation
        super().__init__(f"{operation} is not supported by the endpoint" + (f" ({reason})" if reason else ""))


# --------------------------------------------------------------------------------------------------
# The declared policy
# --------------------------------------------------------------------------------------------------


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
    def target_name(self) -> str:
        return f"{self.name}-targets"

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
        return f"{self.name}-{self.operation.lower()}"

    def task_fields(self) -> dict[str, Any]:
        return {
            "TaskArn": RUN_PATCH_BASELINE,
            "TaskType": "RUN_COMMAND",
            "Priority": self.priority,
            "MaxConcurrency": self.max_concurrency,
            "MaxErrors": self.max_errors,
            "TaskInvocationParameters": {
                "RunCommand": {"Parameters": {"Operation": [self.operation], "RebootOption": [self.reboot_option]}}
            },
        }

    @property
    def task_fingerprint(self) -> str:
        return fingerprint({"task": self.task_fields(), "target": self.target_fields()})


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


def fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


def with_marker(description: str, digest: str) -> str:
    return f"{description} [{MARKER}; spec {digest}]".strip()


def marker_fingerprint(description: str | None) -> str | None:
    match = _FINGERPRINT_RE.search(description or "")
    return match[1] if match else None


# --- parsing (from Settings.raw; every error names the offending key) ---------------------------


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
    description = _text(data.get("description", ""), f"{where}.description")
    if len(with_marker(description, "0" * 12)) > 1024:
        raise PolicyError(f"config {where}.description: too long (SSM allows 1024 characters with the marker)")
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
        description=_text(data.get("description", ""), f"{where}.description"),
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


# --------------------------------------------------------------------------------------------------
# Talking to SSM (the only place that knows about the local stand-in's gaps)
# --------------------------------------------------------------------------------------------------

ClientFactory = Callable[[Account, str], Any]


def resolve_endpoint_url(endpoint_url: str | None = None) -> str | None:
    """An explicit endpoint, else the one boto3 itself would use from the environment."""
    return endpoint_url or os.environ.get("AWS_ENDPOINT_URL_SSM") or os.environ.get("AWS_ENDPOINT_URL") or None


def boto3_client_factory(
    endpoint_url: str | None = None, base_session: Any = None, session_name: str = "patch-compliance-policy"
) -> ClientFactory:
    """SSM clients per account/Region: assume the account's ``role_arn`` via STS (if set) from a base session.

    Against real AWS, clients retry throttling adaptively; against a local endpoint they never retry, so
    an operation the stand-in lacks fails at once.
    """
    import boto3

    session = base_session or boto3.Session()
    endpoint_url = resolve_endpoint_url(endpoint_url)
    config = client_config(endpoint_url)
    sessions: dict[str, Any] = {}

    def account_session(account: Account) -> Any:
        if not account.role_arn:
            return session
        if account.id not in sessions:
            sts = session.client("sts", endpoint_url=endpoint_url, region_name=session.region_name or "us-east-1")
            credentials = sts.assume_role(RoleArn=account.role_arn, RoleSessionName=session_name)["Credentials"]
            sessions[account.id] = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        return sessions[account.id]

    def factory(account: Account, region: str) -> Any:
        return account_session(account).client("ssm", region_name=region, endpoint_url=endpoint_url, config=config)

    return factory


def client_config(endpoint_url: str | None) -> Any:
    """Adaptive retries against AWS (SSM throttles); none against the stand-in, where a 500 means
    "not implemented" and retrying only wastes time."""
    from botocore.config import Config

    if endpoint_url:
        return Config(retries={"mode": "standard", "max_attempts": 1})
    return Config(retries={"mode": "adaptive", "max_attempts": 10})


def airflow_client_factory(settings: Settings) -> tuple[ClientFactory, str | None]:
    """The factory for Airflow: the amazon provider's SsmHook on the central ``aws`` connection, with each
    account's ``role_arn`` assumed by the provider (as the daily scan does). Returns the endpoint URL too."""
    from airflow.providers.amazon.aws.hooks.ssm import SsmHook

    from patch_compliance.scan import account_hook, endpoint_url

    endpoint = endpoint_url(settings)

    def factory(account: Account, region: str) -> Any:
        target = {
            "account_id": account.id,
            "account_name": account.name,
            "region": region,
            "role_arn": account.role_arn,
        }
        hook = account_hook(SsmHook, settings, target)
        return hook.get_client_type(region_name=region, config=client_config(endpoint))

    return factory, endpoint


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _http_status(exc: Exception) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _pages(call: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = call(**kwargs)
        items += page.get(key) or []
        token = page.get("NextToken")
        if not token:
            return items
        kwargs["NextToken"] = token


class SsmGateway:
    """SSM calls the policy needs, with the local stand-in's gaps isolated here.

    ``stand_in`` is true only when an endpoint URL points at the local stand-in. Then:
    - operations moto does not implement (it answers HTTP 500) raise ``EndpointUnsupported``;
    - tags on patch baselines are rejected by moto, so baselines are found by the description marker;
    - GetPatchBaseline is missing: apply also stores each baseline's contents (GetPatchBaseline's shape)
      in the parameter ``/patch-compliance/stand-in/baselines/<id>``, read back in its place;
    - UpdatePatchBaseline is missing: a changed baseline is replaced (create, rebind its groups, delete);
    - moto pre-seeds every patch group with the OS default baselines, so registering a baseline of a
      second OS (or a replacement) raises AlreadyExistsException, and its DeregisterPatchBaselineFor-
      PatchGroup assigns the given baseline instead of removing it: bindings are set through that call;
    - UpdateMaintenanceWindow is missing: a managed window is replaced (delete + create) instead.
    Against real AWS (``stand_in`` false) none of this applies: every error propagates.
    """

    def __init__(self, client: Any, stand_in: bool) -> None:
        self.client = client
        self.stand_in = stand_in
        self.unsupported: set[str] = set()

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if operation in self.unsupported:
            raise EndpointUnsupported(operation)
        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            if self.stand_in and (_http_status(exc) >= 500 or _error_code(exc) in {"500", "NotImplemented"}):
                self.unsupported.add(operation)
                raise EndpointUnsupported(operation, "not implemented by the local stand-in") from exc
            raise

    # -- baselines
    def list_custom_baselines(self) -> list[dict[str, Any]]:
        baselines = _pages(
            self.client.describe_patch_baselines,
            "BaselineIdentities",
            Filters=[{"Key": "OWNER", "Values": ["Self"]}],
        )
        # moto ignores the OWNER filter; AWS-owned baselines are named AWS-* and have ARN ids there.
        return [b for b in baselines if not str(b.get("BaselineId", "")).startswith("arn:")]

    def is_managed_baseline(self, identity: dict[str, Any]) -> bool:
        """Tagged ManagedBy=patch-compliance; on the stand-in (no baseline tags) marked in the description."""
        from botocore.exceptions import ClientError

        if self.stand_in and "PatchBaselineTags" in self.unsupported:
            return marker_fingerprint(identity.get("BaselineDescription")) is not None
        try:
            response = self.call(
                "list_tags_for_resource", ResourceType="PatchBaseline", ResourceId=identity["BaselineId"]
            )
        except ClientError as exc:
            if self.stand_in and _error_code(exc) == "InvalidResourceId":
                self.unsupported.add("PatchBaselineTags")
                return self.is_managed_baseline(identity)
            raise
        return any(t["Key"] == MANAGED_TAG_KEY and t["Value"] == MANAGED_TAG_VALUE for t in response["TagList"])

    def baseline_content(self, baseline_id: str) -> dict[str, Any] | None:
        """Full contents (GetPatchBaseline), or None where the endpoint cannot return them."""
        try:
            return self.call("get_patch_baseline", BaselineId=baseline_id)
        except EndpointUnsupported:
            return self.stand_in_content(baseline_id)

    def stand_in_content(self, baseline_id: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            value = self.client.get_parameter(Name=stand_in_content_parameter(baseline_id))["Parameter"]["Value"]
        except ClientError as exc:
            if _error_code(exc) == "ParameterNotFound":
                return None
            raise
        return json.loads(value)

    def store_stand_in_content(self, baseline_id: str, spec: BaselineSpec) -> None:
        content = {
            "BaselineId": baseline_id,
            "Name": spec.name,
            "Description": spec.ssm_description,
            **spec.content(),
        }
        self.client.put_parameter(
            Name=stand_in_content_parameter(baseline_id),
            Type="String",
            Overwrite=True,
            Value=json.dumps(content, sort_keys=True),
        )

    def create_baseline(self, spec: BaselineSpec) -> str:
        params = {"Name": spec.name, "Description": spec.ssm_description, **spec.content()}
        if not self.stand_in:
            return self.call("create_patch_baseline", **params, Tags=managed_tags())["BaselineId"]
        # moto stores the baseline and then fails on its tags: create it untagged (the marker identifies
        # it) and keep its contents where they can be read back.
        baseline_id = self.call("create_patch_baseline", **params)["BaselineId"]
        self.store_stand_in_content(baseline_id, spec)
        return baseline_id

    def update_baseline(self, baseline_id: str, spec: BaselineSpec, bound_groups: list[str]) -> str:
        """Update in place and return the id; the stand-in replaces the baseline and returns the new id."""
        content = {k: v for k, v in spec.content().items() if k != "OperatingSystem"}
        try:
            self.call(
                "update_patch_baseline",
                BaselineId=baseline_id,
                Name=spec.name,
                Description=spec.ssm_description,
                **content,
            )
            return baseline_id
        except EndpointUnsupported:
            if not self.stand_in:
                raise
        new_id = self.create_baseline(spec)
        for group in bound_groups:
            self.bind(new_id, group, baseline_id)
        self.delete_baseline(baseline_id)
        return new_id

    def delete_baseline(self, baseline_id: str) -> None:
        self.call("delete_patch_baseline", BaselineId=baseline_id)
        if self.stand_in:
            self.client.delete_parameters(Names=[stand_in_content_parameter(baseline_id)])

    def bound_baseline(self, patch_group: str, operating_system: str) -> str:
        return self.call(
            "get_patch_baseline_for_patch_group", PatchGroup=patch_group, OperatingSystem=operating_system
        )["BaselineId"]

    def bind(self, baseline_id: str, patch_group: str, current_id: str) -> None:
        """Make ``baseline_id`` the group's baseline for its OS (``current_id``: what is bound now)."""
        from botocore.exceptions import ClientError

        if not self.stand_in:
            if current_id and not current_id.startswith("arn:"):  # a custom baseline holds the slot
                self.call("deregister_patch_baseline_for_patch_group", BaselineId=current_id, PatchGroup=patch_group)
            self.call("register_patch_baseline_for_patch_group", BaselineId=baseline_id, PatchGroup=patch_group)
            return
        try:
            self.call("register_patch_baseline_for_patch_group", BaselineId=baseline_id, PatchGroup=patch_group)
            return
        except ClientError as exc:
            if _error_code(exc) != "AlreadyExistsException":
                raise
        # moto: the slot is pre-seeded or held, and its deregister call assigns the given baseline to it.
        self.call("deregister_patch_baseline_for_patch_group", BaselineId=baseline_id, PatchGroup=patch_group)
        system = next(b["OperatingSystem"] for b in self.list_custom_baselines() if b["BaselineId"] == baseline_id)
        if self.bound_baseline(patch_group, system) != baseline_id:
            raise EndpointUnsupported(
                "RegisterPatchBaselineForPatchGroup",
                f"the stand-in kept another baseline bound to {patch_group} [{system}]",
            )

    # -- maintenance windows
    def list_managed_windows(self) -> list[dict[str, Any]]:
        windows = _pages(self.client.describe_maintenance_windows, "WindowIdentities")
        managed = []
        for window in windows:
            tags = self.call("list_tags_for_resource", ResourceType="MaintenanceWindow", ResourceId=window["WindowId"])[
                "TagList"
            ]
            if any(t["Key"] == MANAGED_TAG_KEY and t["Value"] == MANAGED_TAG_VALUE for t in tags):
                managed.append(window)
        return managed

    def window_targets(self, window_id: str) -> list[dict[str, Any]]:
        return _pages(self.client.describe_maintenance_window_targets, "Targets", WindowId=window_id)

    def window_tasks(self, window_id: str) -> list[dict[str, Any]]:
        """Tasks with their invocation parameters (GetMaintenanceWindowTask) where the endpoint has them."""
        tasks = _pages(self.client.describe_maintenance_window_tasks, "Tasks", WindowId=window_id)
        for task in tasks:
            try:
                detail = self.call("get_maintenance_window_task", WindowId=window_id, WindowTaskId=task["WindowTaskId"])
            except EndpointUnsupported:
                continue
            task["TaskInvocationParameters"] = detail.get("TaskInvocationParameters")
        return tasks

    def create_window(self, spec: WindowSpec) -> str:
        return self.call(
            "create_maintenance_window",
            Name=spec.name,
            Description=with_marker(spec.description, spec.fingerprint),
            AllowUnassociatedTargets=False,
            Tags=managed_tags(),
            **spec.window_fields(),
        )["WindowId"]

    def update_window(self, window_id: str, spec: WindowSpec) -> str:
        """Update in place; the stand-in lacks UpdateMaintenanceWindow, so there the window is replaced."""
        try:
            self.call(
                "update_maintenance_window",
                WindowId=window_id,
                Name=spec.name,
                Description=with_marker(spec.description, spec.fingerprint),
                Enabled=True,
                **spec.window_fields(),
            )
            return window_id
        except EndpointUnsupported:
            if not self.stand_in:
                raise
            self.call("delete_maintenance_window", WindowId=window_id)
            return self.create_window(spec)

    def register_target(self, window_id: str, spec: WindowSpec) -> str:
        return self.call(
            "register_target_with_maintenance_window",
            WindowId=window_id,
            Name=spec.target_name,
            Description=with_marker("", spec.target_fingerprint),
            **spec.target_fields(),
        )["WindowTargetId"]

    def register_task(self, window_id: str, target_id: str, spec: WindowSpec) -> str:
        return self.call(
            "register_task_with_maintenance_window",
            WindowId=window_id,
            Name=spec.task_name,
            Description=with_marker("", spec.task_fingerprint),
            Targets=[{"Key": "WindowTargetIds", "Values": [target_id]}],
            **spec.task_fields(),
        )["WindowTaskId"]

    # -- resource data sync
    def list_syncs(self) -> list[dict[str, Any]]:
        return _pages(lambda **kw: self.call("list_resource_data_sync", **kw), "ResourceDataSyncItems")

    def create_sync(self, spec: DataSyncSpec) -> None:
        self.call("create_resource_data_sync", SyncName=spec.name, S3Destination=spec.s3_destination())


def stand_in_content_parameter(baseline_id: str) -> str:
    """Where the local stand-in keeps a baseline's contents (moto has no GetPatchBaseline)."""
    return f"/patch-compliance/stand-in/baselines/{baseline_id}"


def stand_in_baseline_contents(ssm_client: Any) -> dict[str, dict[str, Any]]:
    """Contents (GetPatchBaseline's shape) of the custom baselines in one account/Region of the local
    stand-in, by baseline id: how the fleet simulator reads the rules that moto cannot return."""
    gateway = SsmGateway(ssm_client, stand_in=True)
    contents = {}
    for identity in gateway.list_custom_baselines():
        content = gateway.stand_in_content(identity["BaselineId"])
        if content is not None:
            contents[identity["BaselineId"]] = content
    return contents


def managed_tags() -> list[dict[str, str]]:
    return [{"Key": MANAGED_TAG_KEY, "Value": MANAGED_TAG_VALUE}]


# --------------------------------------------------------------------------------------------------
# Plan
# --------------------------------------------------------------------------------------------------

SYMBOLS = {"create": "+", "update": "~", "delete": "-", "unsupported": "!"}


@dataclass
class Change:
    """One difference between the declared policy and an account/Region, and what resolves it."""

    action: str  # create | update | delete | unsupported
    kind: str  # baseline | patch_group | maintenance_window | window_target | window_task | resource_data_sync
    name: str
    details: list[str] = field(default_factory=list)
    remote_id: str = ""
    spec: Any = None
    extra: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        text = f"{SYMBOLS[self.action]} {self.kind} {self.name}"
        return text + (f" ({self.remote_id})" if self.remote_id and self.action != "create" else "")


@dataclass
class TargetPlan:
    account: Account
    region: str
    changes: list[Change]
    held_back: list[Change]  # deletions not applied without allow_delete

    @property
    def actionable(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unsupported"]


@dataclass
class Plan:
    targets: list[TargetPlan]
    allow_delete: bool

    def count(self, action: str) -> int:
        return sum(1 for t in self.targets for c in t.changes if c.action == action)

    @property
    def has_changes(self) -> bool:
        return any(t.actionable for t in self.targets)

    def render(self) -> str:
        lines = []
        for target in self.targets:
            lines.append(f"account {target.account.id} ({target.account.name}) {target.region}:")
            if not target.changes and not target.held_back:
                lines.append("  no changes")
            for change in target.changes:
                lines.append(f"  {change.line()}")
                lines += [f"      {d}" for d in change.details]
            for change in target.held_back:
                lines.append(f"  # {change.line()}  (held back: pass --allow-delete to delete)")
        held = sum(len(t.held_back) for t in self.targets)
        lines.append(
            f"Plan: {self.count('create')} to create, {self.count('update')} to update, "
            f"{self.count('delete')} to delete; {self.count('unsupported')} not supported by the endpoint; "
            f"{held} deletion(s) held back."
            if self.has_changes or held or self.count("unsupported")
            else "No changes. SSM matches the declared policy."
        )
        if not self.has_changes and self.count("unsupported"):
            lines.append("No changes that this endpoint can apply; items marked ! are not supported by it.")
        return "\n".join(lines)


def describe_baseline(spec: BaselineSpec) -> list[str]:
    lines = [f"operating system {spec.operating_system}"]
    for n, rule in enumerate(spec.approval_rules, 1):
        filters = " ".join(f"{k}={','.join(v)}" for k, v in rule.filters)
        soak = "" if rule.approve_after_days is None else f" ApproveAfterDays={rule.approve_after_days}"
        lines.append(f"rule {n}: {filters}{soak} ComplianceLevel={rule.compliance_level}")
    if spec.approved_patches:
        lines.append(f"approved {', '.join(spec.approved_patches)}")
    if spec.rejected_patches:
        lines.append(f"rejected {', '.join(spec.rejected_patches)} ({spec.rejected_patches_action})")
    return lines


def _normalise_rules(rules: dict[str, Any] | None) -> list[dict[str, Any]]:
    normalised = []
    for rule in (rules or {}).get("PatchRules") or []:
        item = {
            "filters": [(f["Key"], list(f["Values"])) for f in rule["PatchFilterGroup"]["PatchFilters"]],
            "ComplianceLevel": rule.get("ComplianceLevel") or "UNSPECIFIED",
            "ApproveAfterDays": rule.get("ApproveAfterDays"),
            "EnableNonSecurity": bool(rule.get("EnableNonSecurity")),
        }
        normalised.append(item)
    return normalised


def baseline_differences(spec: BaselineSpec, identity: dict[str, Any], content: dict[str, Any] | None) -> list[str]:
    """Field-level differences (real AWS), or a fingerprint comparison where contents are unreadable."""
    if content is None:
        found = marker_fingerprint(identity.get("BaselineDescription"))
        if found == spec.fingerprint:
            return []
        return [
            f"spec fingerprint {found or 'none'} -> {spec.fingerprint} (this endpoint does not return "
            "baseline contents; compared by the fingerprint in the description)"
        ]
    declared = spec.content()
    differences = []
    if content.get("OperatingSystem") != spec.operating_system:
        differences.append(f"OperatingSystem {content.get('OperatingSystem')} -> {spec.operating_system}")
    actual_rules = _normalise_rules(content.get("ApprovalRules"))
    wanted_rules = _normalise_rules(declared["ApprovalRules"])
    if actual_rules != wanted_rules:
        for n in range(max(len(actual_rules), len(wanted_rules))):
            old = actual_rules[n] if n < len(actual_rules) else None
            new = wanted_rules[n] if n < len(wanted_rules) else None
            if old != new:
                if old and new:
                    keys = [k for k in new if old.get(k) != new.get(k)]
                    differences += [f"rule {n + 1} {k}: {old.get(k)} -> {new.get(k)}" for k in keys]
                else:
                    differences.append(f"rule {n + 1}: {old} -> {new}")
    for key in ("ApprovedPatches", "RejectedPatches"):
        if sorted(content.get(key) or []) != sorted(declared[key]):
            differences.append(f"{key} {sorted(content.get(key) or [])} -> {sorted(declared[key])}")
    if (content.get("RejectedPatchesAction") or "ALLOW_AS_DEPENDENCY") != declared["RejectedPatchesAction"]:
        differences.append(
            f"RejectedPatchesAction {content.get('RejectedPatchesAction')} -> {declared['RejectedPatchesAction']}"
        )
    if (content.get("Description") or "") != spec.ssm_description:
        differences.append("Description differs from the declared one")
    return differences


@dataclass
class RemoteState:
    """What one account/Region holds, as far as the policy is concerned."""

    baselines: dict[str, dict[str, Any]]  # managed, by name: identity (+ "content" when readable)
    unmanaged_names: dict[str, str]  # name -> id of custom baselines not managed here
    windows: dict[str, dict[str, Any]]  # managed, by name: identity + "targets" + "tasks"
    bindings: dict[tuple[str, str], str]  # (group, OS) -> bound baseline id, for declared bindings
    syncs: list[dict[str, Any]] | None  # None: the endpoint cannot list them
    sync_unsupported_reason: str = ""
    default_ids: frozenset[str] = frozenset()  # custom baselines registered as an OS default

    def is_unbound(self, baseline_id: str) -> bool:
        """True when a group falls back to the OS default (AWS-owned ARN or the account's default)."""
        return not baseline_id or baseline_id.startswith("arn:") or baseline_id in self.default_ids


def read_state(gateway: SsmGateway, policy: Policy) -> RemoteState:
    managed: dict[str, dict[str, Any]] = {}
    unmanaged: dict[str, str] = {}
    identities = gateway.list_custom_baselines()
    defaults = frozenset(i["BaselineId"] for i in identities if i.get("DefaultBaseline"))
    for identity in identities:
        name = identity["BaselineName"]
        if gateway.is_managed_baseline(identity):
            if name in managed:
                raise PolicyError(
                    f"two managed baselines are named {name!r} ({managed[name]['BaselineId']}, "
                    f"{identity['BaselineId']}); delete one before reconciling"
                )
            managed[name] = {**identity, "content": gateway.baseline_content(identity["BaselineId"])}
        else:
            unmanaged[name] = identity["BaselineId"]
    bindings = {(group, system): gateway.bound_baseline(group, system) for group, system in policy.bindings()}
    windows = {}
    for window in gateway.list_managed_windows():
        windows[window["Name"]] = {
            **window,
            "targets": gateway.window_targets(window["WindowId"]),
            "tasks": gateway.window_tasks(window["WindowId"]),
        }
    syncs: list[dict[str, Any]] | None
    reason = ""
    try:
        syncs = gateway.list_syncs() if policy.data_sync else []
    except EndpointUnsupported as exc:
        syncs, reason = None, str(exc)
    return RemoteState(managed, unmanaged, windows, bindings, syncs, reason, defaults)


def _window_changes(spec: WindowSpec, remote: dict[str, Any] | None) -> list[Change]:
    schedule = f"{spec.schedule} {spec.schedule_timezone}, {spec.duration_hours} h (cutoff {spec.cutoff_hours} h)"
    targets = " ".join(f"tag:{k}={','.join(v)}" for k, v in spec.targets)
    task = (
        f"{RUN_PATCH_BASELINE} Operation={spec.operation} RebootOption={spec.reboot_option} "
        f"MaxConcurrency={spec.max_concurrency} MaxErrors={spec.max_errors}"
    )
    if remote is None:
        return [
            Change("create", "maintenance_window", spec.name, [schedule], spec=spec),
            Change("create", "window_target", f"{spec.name}/{spec.target_name}", [targets], spec=spec),
            Change("create", "window_task", f"{spec.name}/{spec.task_name}", [task], spec=spec),
        ]
    changes = []
    window_id = remote["WindowId"]
    found = marker_fingerprint(remote.get("Description"))
    actual = {k: remote.get(k) for k in spec.window_fields()}
    differences = [f"{k} {actual[k]} -> {v}" for k, v in spec.window_fields().items() if actual[k] != v]
    if remote.get("Enabled") is False:
        differences.append("Enabled False -> True")
    if not differences and found != spec.fingerprint:
        differences.append(f"description/spec fingerprint {found or 'none'} -> {spec.fingerprint}")
    if differences:
        changes.append(Change("update", "maintenance_window", spec.name, differences, window_id, spec))
    target = _single(remote["targets"], spec.target_name)
    task = _single(remote["tasks"], spec.task_name)
    target_ok = (
        target is not None
        and marker_fingerprint(target.get("Description")) == spec.target_fingerprint
        and _targets_equal(target.get("Targets"), spec.target_fields()["Targets"])
    )
    task_ok = (
        task is not None
        and marker_fingerprint(task.get("Description")) == spec.task_fingerprint
        and all(task.get(k) == spec.task_fields()[k] for k in ("TaskArn", "MaxConcurrency", "MaxErrors", "Priority"))
        and _run_command_parameters(task) in (None, _run_command_parameters(spec.task_fields()))
    )
    extra_targets = [t for t in remote["targets"] if t.get("Name") != spec.target_name]
    extra_tasks = [t for t in remote["tasks"] if t.get("Name") != spec.task_name]
    if not target_ok:
        action = "create" if target is None else "update"
        details = [targets] if target is None else [f"targets {_render_targets(target.get('Targets'))} -> {targets}"]
        changes.append(
            Change(
                action,
                "window_target",
                f"{spec.name}/{spec.target_name}",
                details,
                target["WindowTargetId"] if target else "",
                spec,
            )
        )
    if not task_ok or not target_ok:
        action = "create" if task is None else "update"
        changes.append(
            Change(
                action,
                "window_task",
                f"{spec.name}/{spec.task_name}",
                [task],
                task["WindowTaskId"] if task else "",
                spec,
            )
        )
    for extra in extra_tasks:
        changes.append(
            Change(
                "update",
                "window_task",
                f"{spec.name}/{extra.get('Name') or extra['WindowTaskId']}",
                ["not declared: deregister from the managed window"],
                extra["WindowTaskId"],
                spec,
                {"deregister_only": "task"},
            )
        )
    for extra in extra_targets:
        changes.append(
            Change(
                "update",
                "window_target",
                f"{spec.name}/{extra.get('Name') or extra['WindowTargetId']}",
                ["not declared: deregister from the managed window"],
                extra["WindowTargetId"],
                spec,
                {"deregister_only": "target"},
            )
        )
    return changes


def _run_command_parameters(task: dict[str, Any]) -> dict[str, list[str]] | None:
    """Operation and RebootOption of a task (None where the endpoint does not return them)."""
    parameters = ((task.get("TaskInvocationParameters") or {}).get("RunCommand") or {}).get("Parameters")
    if parameters is None:
        return None
    return {k: list(parameters.get(k) or []) for k in ("Operation", "RebootOption")}


def _single(items: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((i for i in items if i.get("Name") == name), None)


def _targets_equal(actual: list[dict[str, Any]] | None, wanted: list[dict[str, Any]]) -> bool:
    def norm(targets: list[dict[str, Any]] | None) -> list[tuple[str, tuple[str, ...]]]:
        return sorted((t["Key"], tuple(sorted(t["Values"]))) for t in targets or [])

    return norm(actual) == norm(wanted)


def _render_targets(targets: list[dict[str, Any]] | None) -> str:
    return " ".join(f"{t['Key']}={','.join(t['Values'])}" for t in targets or []) or "none"


def plan_target(policy: Policy, state: RemoteState, account: Account, region: str, allow_delete: bool) -> TargetPlan:
    changes: list[Change] = []
    held: list[Change] = []
    for spec in policy.baselines:
        remote = state.baselines.get(spec.name)
        if remote is None:
            if spec.name in state.unmanaged_names:
                raise PolicyError(
                    f"account {account.id} {region}: baseline {spec.name!r} "
                    f"({state.unmanaged_names[spec.name]}) exists but is not managed here (no "
                    f"{MANAGED_TAG_KEY}={MANAGED_TAG_VALUE} tag); rename the declared baseline or tag the "
                    "existing one to adopt it"
                )
            changes.append(Change("create", "baseline", spec.name, describe_baseline(spec), spec=spec))
            continue
        differences = baseline_differences(spec, remote, remote.get("content"))
        if any(d.startswith("OperatingSystem") for d in differences):
            raise PolicyError(
                f"account {account.id} {region}: baseline {spec.name!r} has another operating system "
                "in SSM; an OS cannot be changed in place: delete it (or rename the declared one)"
            )
        if differences:
            changes.append(Change("update", "baseline", spec.name, differences, remote["BaselineId"], spec))
    ids = {name: remote["BaselineId"] for name, remote in state.baselines.items()}
    for (group, system), name in policy.bindings().items():
        bound = state.bindings.get((group, system), "")
        if bound and bound == ids.get(name):
            continue
        unbound = state.is_unbound(bound)
        changes.append(
            Change(
                "create" if unbound else "update",
                "patch_group",
                f"{group} [{system}]",
                [f"bind to baseline {name} (now {'the OS default baseline' if unbound else bound})"],
                "" if unbound else bound,
                policy.baseline(name),
                {"group": group},
            )
        )
    for spec in policy.windows:
        changes += _window_changes(spec, state.windows.get(spec.name))
    if policy.data_sync:
        sync = policy.data_sync
        destination = f"s3://{sync.bucket}/{sync.prefix} ({sync.bucket_region}, {sync.sync_format})"
        if state.syncs is None:
            changes.append(
                Change(
                    "unsupported",
                    "resource_data_sync",
                    sync.name,
                    [destination, state.sync_unsupported_reason],
                    spec=sync,
                )
            )
        else:
            existing = next((s for s in state.syncs if s.get("SyncName") == sync.name), None)
            if existing is None:
                changes.append(Change("create", "resource_data_sync", sync.name, [destination], spec=sync))
            else:
                actual = existing.get("S3Destination") or {}
                wanted = sync.s3_destination()
                differences = [f"{k} {actual.get(k)} -> {v}" for k, v in wanted.items() if actual.get(k) != v]
                if differences:
                    # A sync cannot be updated in place: it is deleted and created again.
                    change = Change(
                        "delete",
                        "resource_data_sync",
                        sync.name,
                        [*differences, "recreated: syncs cannot be updated in place"],
                        sync.name,
                        sync,
                    )
                    (changes if allow_delete else held).append(change)
                    if allow_delete:
                        changes.append(Change("create", "resource_data_sync", sync.name, [destination], spec=sync))
    declared = {b.name for b in policy.baselines}
    for name, remote in state.baselines.items():
        if name not in declared:
            change = Change("delete", "baseline", name, ["managed here but no longer declared"], remote["BaselineId"])
            (changes if allow_delete else held).append(change)
    declared_windows = {w.name for w in policy.windows}
    for name, remote in state.windows.items():
        if name not in declared_windows:
            change = Change(
                "delete",
                "maintenance_window",
                name,
                ["managed here but no longer declared"],
                remote["WindowId"],
            )
            (changes if allow_delete else held).append(change)
    return TargetPlan(account, region, changes, held)


def targets_of(
    settings: Settings, accounts: Iterable[str] | None = None, role_name: str = ""
) -> list[tuple[Account, str]]:
    """Account x Region pairs, optionally limited; ``role_name`` swaps in the applier role per account
    (least privilege: the daily scanner role cannot change baselines)."""
    chosen = set(accounts or [])
    unknown = chosen - {a.id for a in settings.accounts}
    if unknown:
        raise PolicyError(f"accounts {sorted(unknown)} are not in the config's accounts")
    accounts_ = [
        replace(a, role_arn=f"arn:aws:iam::{a.id}:role/{role_name}") if role_name else a
        for a in settings.accounts
        if not chosen or a.id in chosen
    ]
    return [(a, r) for a in accounts_ for r in a.regions]


def plan(
    settings: Settings,
    client_factory: ClientFactory,
    *,
    stand_in: bool,
    allow_delete: bool = False,
    accounts: Iterable[str] | None = None,
    policy: Policy | None = None,
) -> Plan:
    """Compare the declared policy with SSM in every configured account and Region."""
    policy = policy or load_policy(settings)
    targets = []
    for account, region in targets_of(settings, accounts, policy.applier_role_name):
        gateway = SsmGateway(client_factory(account, region), stand_in)
        targets.append(plan_target(policy, read_state(gateway, policy), account, region, allow_delete))
    return Plan(targets, allow_delete)


# --------------------------------------------------------------------------------------------------
# Apply
# --------------------------------------------------------------------------------------------------


@dataclass
class ApplyResult:
    applied: list[str]
    unsupported: list[str]

    def render(self) -> str:
        lines = [f"applied: {line}" for line in self.applied]
        lines += [f"NOT APPLIED (not supported by the endpoint): {line}" for line in self.unsupported]
        lines.append(
            f"Apply complete: {len(self.applied)} change(s) applied, "
            f"{len(self.unsupported)} not supported by the endpoint."
        )
        return "\n".join(lines)


ORDER = {
    ("create", "baseline"): 0,
    ("update", "baseline"): 0,
    ("create", "patch_group"): 1,
    ("update", "patch_group"): 1,
    ("create", "maintenance_window"): 2,
    ("update", "maintenance_window"): 2,
    ("create", "window_target"): 3,
    ("update", "window_target"): 3,
    ("create", "window_task"): 4,
    ("update", "window_task"): 4,
    ("delete", "resource_data_sync"): 5,
    ("create", "resource_data_sync"): 6,
    ("delete", "maintenance_window"): 7,
    ("delete", "baseline"): 8,
}


def apply_target(target: TargetPlan, gateway: SsmGateway, state: RemoteState) -> ApplyResult:
    """Apply one account/Region's changes in dependency order; ids created on the way are reused."""
    where = f"account {target.account.id} {target.region}"
    applied: list[str] = []
    unsupported = [
        f"{where}: {c.line()}: {'; '.join(c.details[-1:])}" for c in target.changes if c.action == "unsupported"
    ]
    baseline_ids = {name: remote["BaselineId"] for name, remote in state.baselines.items()}
    window_ids = {name: remote["WindowId"] for name, remote in state.windows.items()}
    target_ids = {
        name: (_single(remote["targets"], name + "-targets") or {}).get("WindowTargetId", "")
        for name, remote in state.windows.items()
    }
    replaced_windows: set[str] = set()
    for change in sorted(target.actionable, key=lambda c: ORDER[(c.action, c.kind)]):
        try:
            _apply_change(change, gateway, state, baseline_ids, window_ids, target_ids, replaced_windows)
        except EndpointUnsupported as exc:
            unsupported.append(f"{where}: {change.line()}: {exc}")
            continue
        applied.append(f"{where}: {change.line()}")
    return ApplyResult(applied, unsupported)


def _apply_change(
    change: Change,
    gateway: SsmGateway,
    state: RemoteState,
    baseline_ids: dict[str, str],
    window_ids: dict[str, str],
    target_ids: dict[str, str],
    replaced_windows: set[str],
) -> None:
    key = (change.action, change.kind)
    spec = change.spec
    if key == ("create", "baseline"):
        baseline_ids[spec.name] = gateway.create_baseline(spec)
    elif key == ("update", "baseline"):
        bound = [group for (group, _system), bound_id in state.bindings.items() if bound_id == change.remote_id]
        baseline_ids[spec.name] = gateway.update_baseline(change.remote_id, spec, bound)
    elif change.kind == "patch_group":
        gateway.bind(baseline_ids[spec.name], change.extra["group"], change.remote_id)
    elif key == ("create", "maintenance_window"):
        window_ids[spec.name] = gateway.create_window(spec)
    elif key == ("update", "maintenance_window"):
        new_id = gateway.update_window(change.remote_id, spec)
        window_ids[spec.name] = new_id
        if new_id != change.remote_id:  # replaced (stand-in): register its target and task on the new one
            replaced_windows.add(spec.name)
            target_ids[spec.name] = gateway.register_target(new_id, spec)
            gateway.register_task(new_id, target_ids[spec.name], spec)
    elif change.kind in {"window_target", "window_task"} and spec.name in replaced_windows:
        return  # the replacement window already has the declared target and task
    elif change.kind == "window_target":
        window_id = window_ids[spec.name]
        if change.action == "update":
            _deregister_target(gateway, window_id, change.remote_id)
        if change.extra.get("deregister_only"):
            return
        target_ids[spec.name] = gateway.register_target(window_id, spec)
    elif change.kind == "window_task":
        window_id = window_ids[spec.name]
        if change.action == "update":
            gateway.call("deregister_task_from_maintenance_window", WindowId=window_id, WindowTaskId=change.remote_id)
        if change.extra.get("deregister_only"):
            return
        gateway.register_task(window_id, target_ids[spec.name], spec)
    elif key == ("create", "resource_data_sync"):
        gateway.create_sync(spec)
    elif key == ("delete", "resource_data_sync"):
        gateway.call("delete_resource_data_sync", SyncName=change.remote_id)
    elif key == ("delete", "maintenance_window"):
        gateway.call("delete_maintenance_window", WindowId=change.remote_id)
    elif key == ("delete", "baseline"):
        gateway.delete_baseline(change.remote_id)
    else:
        raise ValueError(f"no way to apply {change.action} {change.kind}")


def _deregister_target(gateway: SsmGateway, window_id: str, target_id: str) -> None:
    gateway.call("deregister_target_from_maintenance_window", WindowId=window_id, WindowTargetId=target_id, Safe=False)


def apply(
    settings: Settings,
    client_factory: ClientFactory,
    *,
    stand_in: bool,
    allow_delete: bool = False,
    accounts: Iterable[str] | None = None,
    policy: Policy | None = None,
) -> tuple[Plan, ApplyResult]:
    """Plan and apply every account/Region; a second run finds nothing to do."""
    policy = policy or load_policy(settings)
    plans, results = [], ApplyResult([], [])
    for account, region in targets_of(settings, accounts, policy.applier_role_name):
        gateway = SsmGateway(client_factory(account, region), stand_in)
        state = read_state(gateway, policy)
        target = plan_target(policy, state, account, region, allow_delete)
        plans.append(target)
        result = apply_target(target, gateway, state)
        results.applied += result.applied
        results.unsupported += result.unsupported
    return Plan(plans, allow_delete), results


# --------------------------------------------------------------------------------------------------
# Drift: baselines in force, recorded in the lake
# --------------------------------------------------------------------------------------------------


def baseline_rows(
    policy: Policy, state: RemoteState, account: Account, region: str, captured_at: datetime
) -> list[dict[str, Any]]:
    """One row per custom baseline in the account/Region plus one per declared baseline that is missing."""
    rows = []
    groups_by_id: dict[str, list[str]] = {}
    for (group, _system), baseline_id in state.bindings.items():
        groups_by_id.setdefault(baseline_id, []).append(group)
    declared = {b.name: b for b in policy.baselines}
    wanted_bindings = policy.bindings()
    for name, remote in sorted(state.baselines.items()):
        spec = declared.get(name)
        content = remote.get("content")
        baseline_id = remote["BaselineId"]
        bound = sorted(groups_by_id.get(baseline_id, []))
        if spec is None:
            drift, details = "undeclared", ["managed here but no longer declared"]
        else:
            details = baseline_differences(spec, remote, content)
            expected = sorted(g for (g, _s), n in wanted_bindings.items() if n == name)
            if bound != expected:
                details.append(f"bound to patch groups {bound}, declared {expected}")
            drift = "drifted" if details else "in_sync"
        rows.append(
            _row(
                baseline_id,
                name,
                remote.get("OperatingSystem"),
                bound,
                remote,
                content,
                spec if drift == "in_sync" else None,
                name if spec else "",
                drift,
                details,
                account,
                region,
                captured_at,
            )
        )
    for name, baseline_id in sorted(state.unmanaged_names.items()):
        rows.append(
            _row(
                baseline_id,
                name,
                None,
                sorted(groups_by_id.get(baseline_id, [])),
                {},
                None,
                None,
                "",
                "undeclared",
                ["custom baseline not managed by this policy"],
                account,
                region,
                captured_at,
            )
        )
    for spec in policy.baselines:
        if spec.name not in state.baselines:
            rows.append(
                _row(
                    "",
                    spec.name,
                    spec.operating_system,
                    [],
                    {},
                    None,
                    None,
                    spec.name,
                    "missing",
                    ["declared but not present in SSM"],
                    account,
                    region,
                    captured_at,
                )
            )
    return rows


def _row(
    baseline_id: str,
    name: str,
    operating_system: str | None,
    groups: list[str],
    identity: dict[str, Any],
    content: dict[str, Any] | None,
    verified_spec: BaselineSpec | None,
    declared_name: str,
    drift: str,
    details: list[str],
    account: Account,
    region: str,
    captured_at: datetime,
) -> dict[str, Any]:
    if content is not None:
        source: dict[str, Any] = content
    elif verified_spec is not None:
        # Contents unreadable (stand-in) but the fingerprint proves they equal the declared spec.
        source = verified_spec.content()
        details = ["contents verified by spec fingerprint (endpoint does not return them)"]
    else:
        source = {}
    return {
        "account_id": account.id,
        "region": region,
        "baseline_id": baseline_id,
        "name": name,
        "operating_system": operating_system or identity.get("OperatingSystem") or source.get("OperatingSystem"),
        "patch_groups": groups,
        "is_default": bool(identity.get("DefaultBaseline", False)),
        "approval_rules": json.dumps(source["ApprovalRules"], sort_keys=True) if "ApprovalRules" in source else "",
        "approved_patches": list(source.get("ApprovedPatches") or []),
        "rejected_patches": list(source.get("RejectedPatches") or []),
        "rejected_patches_action": source.get("RejectedPatchesAction") or "",
        "declared_name": declared_name,
        "drift": drift,
        "drift_details": "; ".join(details),
        "captured_at": captured_at,
    }


def collect_baselines(
    settings: Settings,
    client_factory: ClientFactory,
    *,
    stand_in: bool,
    captured_at: datetime | None = None,
    policy: Policy | None = None,
) -> list[dict[str, Any]]:
    """Baselines in force in every configured account/Region with their drift from the declared policy."""
    policy = policy or load_policy(settings)
    captured_at = captured_at or datetime.now(UTC)
    rows = []
    for account, region in targets_of(settings):
        gateway = SsmGateway(client_factory(account, region), stand_in)
        rows += baseline_rows(policy, read_state(gateway, policy), account, region, captured_at)
    return rows


def record_baselines(
    settings: Settings,
    lake_uri: str,
    snapshot_date: date,
    client_factory: ClientFactory,
    *,
    stand_in: bool,
    endpoint_url: str | None = None,
    captured_at: datetime | None = None,
) -> dict[str, object]:
    """Publish the ``baselines`` lake table for a date; returns the committed manifest."""
    import pyarrow as pa

    from patch_compliance.lake import SPECS, Lake

    rows = collect_baselines(settings, client_factory, stand_in=stand_in, captured_at=captured_at)
    table = pa.Table.from_pylist(rows, schema=SPECS["baselines"].undated_schema)
    counts = {
        state: sum(1 for r in rows if r["drift"] == state) for state in ("in_sync", "drifted", "undeclared", "missing")
    }
    return Lake(lake_uri, endpoint_url, settings).write_table_snapshot(
        "baselines", snapshot_date, table, {"drift_counts": counts}
    )


# --------------------------------------------------------------------------------------------------
# Entry points for Airflow tasks (the provider's hooks; imported lazily so parsing stays cheap)
# --------------------------------------------------------------------------------------------------


def plan_summary(plan_: Plan) -> dict[str, Any]:
    """Counts a task returns (XCom) and a reviewer reads in the run's details."""
    return {
        "create": plan_.count("create"),
        "update": plan_.count("update"),
        "delete": plan_.count("delete"),
        "unsupported": plan_.count("unsupported"),
        "held_back": sum(len(t.held_back) for t in plan_.targets),
        "has_changes": plan_.has_changes,
    }


def run_in_airflow(
    action: str,
    *,
    allow_delete: bool = False,
    accounts: Iterable[str] | None = None,
    settings: Settings | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``plan`` or ``apply`` through the ``aws`` connection; logs the plan (and result) text."""
    from patch_compliance.config import load_settings

    if action not in {"plan", "apply"}:
        raise PolicyError(f"action must be plan or apply, got {action!r}")
    settings = settings or load_settings()
    accounts = list(accounts or [])
    targets_of(settings, accounts)  # reject unknown accounts before any AWS call
    factory, endpoint = airflow_client_factory(settings)
    options = {"stand_in": bool(endpoint), "allow_delete": allow_delete, "accounts": accounts}
    if action == "plan":
        planned = plan(settings, factory, **options)
        log(planned.render())
        return plan_summary(planned)
    planned, result = apply(settings, factory, **options)
    log(planned.render())
    log(result.render())
    return {**plan_summary(planned), "applied": len(result.applied), "not_supported": result.unsupported}
