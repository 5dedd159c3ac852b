"""Project settings: ``config/fleet.yaml`` parsed once, at load, into typed and validated sections.

Every section is a frozen pydantic dataclass that forbids unknown keys, so a typo at any level
fails loading with its path (``quality.tag_coverge_min``, ``accounts[1].rol_arn``) instead of
silently keeping a default. Nothing reads the YAML afterwards: modules take ``Settings`` (cached by
``load_settings``). Every section has defaults, so a missing section still gives a working embedded
setup; a key left empty in YAML (``role_arn:``) keeps its default. The value checks live in
``patch_compliance.config_types``.

The SQL files and the expectation suites ship inside the package (``sql/``, ``expectations/``), so
an installed wheel and the source tree behave alike. The config is the deployment's:
``PATCH_COMPLIANCE_CONFIG`` names it (the image sets it), else ``config/fleet.yaml`` under
``PATCH_COMPLIANCE_HOME`` or the source tree.
"""

from __future__ import annotations

import dataclasses
import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BeforeValidator,
    StrictBool,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from patch_compliance.config_types import (
    ONE_OR_MORE,
    AccountId,
    Concurrency,
    ErrorThreshold,
    HttpUrlOrEmpty,
    Location,
    NameList,
    Names,
    Region,
    RegionOrEmpty,
    Regions,
    S3PrefixOrEmpty,
    TimeZone,
    count_in,
    describe,
    empty_or,
    fits_with_marker,
    matching,
    none_or,
    number_in,
    one_of,
    problems_at,
    section,
    whole_in,
)
from patch_compliance.inputs import BUCKET_RE, InputError, validate_region
from patch_compliance.marker import TARGET_SUFFIX, task_suffix

PACKAGE_DIR = Path(__file__).resolve().parent


def project_home() -> Path:
    env = os.environ.get("PATCH_COMPLIANCE_HOME")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]


def suites_dir(configured: str) -> Path:
    """``quality.suites_dir``: an absolute path, or a directory inside the package (default ``expectations``)."""
    path = Path(configured)
    return path if path.is_absolute() else PACKAGE_DIR / path


def sql_dir() -> Path:
    """The SQL files ship inside the package, so an installed wheel finds them as the source tree does."""
    return PACKAGE_DIR / "sql"


def load_sql(relative: str) -> str:
    path = (sql_dir() / relative).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {relative!r} not found under {sql_dir()}")
    return path.read_text()


def default_config_path() -> Path:
    return Path(os.environ.get("PATCH_COMPLIANCE_CONFIG") or project_home() / "config" / "fleet.yaml")


GLUE_NAME = r"[a-z_][a-z0-9_]{0,254}"
QUERY_ENGINES = ("duckdb", "athena")
FEED_FORMATS = ("yum_updateinfo",)
Product = Annotated[str, matching(r"[A-Za-z0-9][A-Za-z0-9 ._()-]{0,127}", "a product name such as AmazonLinux2023")]
# The products SSM DescribeAvailablePatches covers: "only the Amazon Linux 1, Amazon Linux 2, and
# Windows Server operating systems" (API reference). Product names as Patch Manager spells them.
SSM_CATALOG_PRODUCTS = r"AmazonLinux(2|2\.0|20\d\d\.\d\d)|WindowsServer\d{4}(R2)?"


def ssm_covers(product: str) -> bool:
    import re

    return re.fullmatch(SSM_CATALOG_PRODUCTS, product) is not None


@section
class AwsSettings:
    connection_id: str = "aws_default"
    region: Region = "eu-west-1"


@section
class Account:
    """One scanned account: its id, a short name, its Regions and the read-only role assumed there."""

    id: AccountId
    name: str
    regions: Regions
    role_arn: str = ""

    @field_validator("role_arn")
    @classmethod
    def _role_of_this_account(cls, role_arn: str, info: ValidationInfo) -> str:
        account_id = info.data.get("id")
        if role_arn and account_id and not role_arn.startswith(f"arn:aws:iam::{account_id}:role/"):
            raise ValueError(f"must be a role in account {account_id}, got {role_arn!r}")
        return role_arn


@section
class StorageSettings:
    sync_uri: Location = "s3://patch-rds-sync/rds"
    lake_uri: Location = "s3://patch-compliance-lake/lake"
    reports_uri: Location = "s3://patch-compliance-reports/reports"
    # the lake's Iceberg catalog: sql | glue (a local lake always keeps SQLite beside it)
    catalog: Annotated[str, one_of("sql", "glue")] = "sql"
    # SQLAlchemy URI of the sql catalog (needed for an s3:// lake)
    catalog_uri: Annotated[str, empty_or(matching(r"(sqlite|postgresql(\+\w+)?|mysql(\+\w+)?)://.*",
                                                  "a SQLAlchemy URI such as postgresql+psycopg2://user@host/db"))] = ""
    # Glue database / catalog namespace of the lake tables
    catalog_database: Annotated[str, matching(GLUE_NAME, "a Glue database name (a-z, 0-9, _)")] = "patch_compliance"
    retention_days: Annotated[int, whole_in(1, 3650)] = 400  # Iceberg snapshots older than this are expired


@section
class ScanSettings:
    target_tag_key: str = "PatchGroup"
    target_tag_values: NameList = ()  # none: scan.resolve_targets refuses to scan
    max_concurrency: Concurrency = "10%"  # SendCommand's MaxConcurrency / MaxErrors
    max_errors: ErrorThreshold = "5%"
    command_timeout_minutes: Annotated[float, number_in(1, 24 * 60)] = 60
    sync_wait_minutes: Annotated[float, number_in(0, 24 * 60)] = 30
    sync_min_share: Annotated[float, number_in(0, 1)] = 0.95


@section
class TagKeys:
    """Which instance tag keys carry team, environment and patch group (first match wins)."""

    team: Names = ("Team",)
    environment: Names = ("Environment",)
    patch_group: Names = ("PatchGroup", "Patch Group")
    name: Names = ("Name",)


@section
class IngestSettings:
    freshness_hours: Annotated[float, number_in(1, 24 * 30)] = 26.0
    max_quarantine_share: Annotated[float, number_in(0, 1)] = 0.01
    read_threads: Annotated[int, whole_in(1, 256)] = 16
    max_line_bytes: Annotated[int, whole_in(1024, 1 << 30)] = 1 << 20  # a longer line is quarantined
    # captures further ahead of the reference are flagged
    future_capture_tolerance_hours: Annotated[float, number_in(0, 24 * 30)] = 2.0


@section
class ReportSettings:
    critical_classifications: Names = ("Security", "SecurityUpdates", "CriticalUpdates")
    critical_severities: Names = ("Critical", "Important")
    missing_critical_age_days: Annotated[int, whole_in(0, 3650)] = 14


@section
class FeedSettings:
    """One vendor feed of the patch catalog (``patch_catalog.feeds[]``): where, which products, limits."""

    name: Annotated[str, matching(r"[a-z0-9][a-z0-9_-]{0,31}", "a lowercase name (a-z, 0-9, _, -)")]
    products: Annotated[tuple[Product, ...], ONE_OR_MORE]
    format: Annotated[str, one_of(*FEED_FORMATS)] = "yum_updateinfo"  # patch_compliance.vendor_feeds
    mirror_list: HttpUrlOrEmpty = ""  # a yum mirror list URL (its first mirror on the same host is used) ...
    repository: HttpUrlOrEmpty = ""  # ... or the repository's base URL (the directory holding repodata/)
    max_bytes: Annotated[int, whole_in(1 << 20, 2 << 30)] = 256 << 20  # largest (uncompressed) updateinfo.xml
    timeout_seconds: Annotated[float, number_in(1, 600)] = 60.0

    @model_validator(mode="after")
    def _one_location(self) -> FeedSettings:
        if bool(self.mirror_list) == bool(self.repository):
            raise ValueError("give exactly one of mirror_list or repository")
        return self

    @property
    def url(self) -> str:
        return self.mirror_list or self.repository


@section
class PatchCatalogSettings:
    """How the daily task fills ``patch_catalog`` (``patch_catalog:`` in fleet.yaml)."""

    ssm: StrictBool = True  # ask SSM DescribeAvailablePatches for the products it covers
    max_lookups_per_day: Annotated[int, whole_in(0, 1_000_000)] = 2000  # over all sources; the rest wait
    unknown_retry_days: Annotated[int, whole_in(1, 365)] = 7  # an unknown patch id is asked again this often
    feeds: tuple[FeedSettings, ...] = ()

    @field_validator("feeds")
    @classmethod
    def _one_source_per_product(cls, feeds: tuple[FeedSettings, ...], info: ValidationInfo) -> tuple[FeedSettings, ...]:
        names = [f.name for f in feeds]
        if len(set(names)) != len(names):
            raise ValueError(f"feed names must be unique, got {names}")
        products = [p for f in feeds for p in f.products]
        twice = sorted({p for p in products if products.count(p) > 1})
        if twice:
            raise ValueError(f"one source per product; {twice} listed by more than one feed")
        overlap = sorted(p for p in products if info.data.get("ssm") and ssm_covers(p))
        if overlap:
            raise ValueError(f"{overlap} come from SSM DescribeAvailablePatches (patch_catalog.ssm is true); "
                             "one source per product")
        return feeds


_SECONDS = number_in(0, 24 * 3600)


@section
class AirflowSettings:
    """The ``airflow:`` section: how the DAGs retry, wait and alert (docs/airflow.md)."""

    owner: str = "platform-team"
    retries: Annotated[int, whole_in(0, 100)] = 3
    retry_delay_seconds: Annotated[float, _SECONDS] = 120
    max_retry_delay_seconds: Annotated[float, _SECONDS] = 1800
    command_poke_seconds: Annotated[float, _SECONDS] = 60
    sync_poke_seconds: Annotated[float, _SECONDS] = 60
    slack_connection_id: str = "slack_webhook"
    report_link_base: str = ""  # e.g. an S3 console or CloudFront URL prefix for the Slack link


ConnectionId = Annotated[str, matching(r"[A-Za-z0-9_.-]{1,250}", "an Airflow connection id (letters, digits, _ . -)")]
TeamName = Annotated[str, matching(r"\S(.{0,254}\S)?", "a Team tag value (no leading or trailing space)")]


@section
class NotificationSettings:
    """The ``notifications:`` section: where the monthly report's team headlines go (docs/report.md).

    ``teams`` maps a Team tag value (exactly as tagged, ``(untagged)`` included) to the Airflow
    connection of that team's Slack channel; teams not listed share one message on
    ``airflow.slack_connection_id``.
    """

    teams: dict[TeamName, ConnectionId] = dataclasses.field(default_factory=dict)


_SHARE = number_in(0, 1, "a fraction")  # 0.99 = 99 %


@section
class QualitySettings:
    """The ``quality:`` section: thresholds and sets rendered into the expectation suites."""

    tag_coverage_min: Annotated[float, _SHARE] = 0.99
    allowed_environments: NameList = ("dev", "staging", "prod")
    environment_patch_groups: dict[str, NameList] = dataclasses.field(default_factory=dict)
    fresh_share_min: Annotated[float, _SHARE] = 0.95
    managed_share_min: Annotated[float, _SHARE] = 0.85
    max_instance_count_change: Annotated[float, _SHARE] = 0.10
    max_row_count_change: Annotated[float, _SHARE] = 0.25
    inactive_instance_statuses: NameList = ("Terminated", "Stopped")
    top_offenders: Annotated[int, whole_in(1, 40)] = 15
    suites_dir: Annotated[str, matching(r".+", "a directory")] = "expectations"

    @field_validator("environment_patch_groups")
    @classmethod
    def _known_environments(
        cls, groups: dict[str, tuple[str, ...]], info: ValidationInfo
    ) -> dict[str, tuple[str, ...]]:
        environments = info.data.get("allowed_environments")
        if environments is None:  # it failed its own check, which reports it
            return groups
        strays = sorted(set(groups) - set(environments))
        if strays:
            raise ValueError(f"{strays} not in allowed_environments {list(environments)}")
        return groups


@section
class QuerySettings:
    """The ``query:`` section: which engine runs the report and evidence SQL, and where Athena works."""

    engine: Annotated[str, one_of(*QUERY_ENGINES)] = "duckdb"
    athena_database: Annotated[str, empty_or(matching(GLUE_NAME, "a Glue database name (a-z, 0-9, _)"))] = ""
    athena_workgroup: str = "primary"
    athena_output_location: S3PrefixOrEmpty = ""  # kept with a trailing "/"
    athena_region: RegionOrEmpty = ""  # default: aws.region

    @model_validator(mode="after")
    def _athena_is_complete(self) -> QuerySettings:
        if self.engine == "athena" and not (self.athena_database and self.athena_output_location):
            raise ValueError("the athena engine needs athena_database and athena_output_location")
        return self


# --- Policy sections (patch_compliance.policy): every value checked here, at load, against what SSM
# accepts. What needs more than one section (a patch group naming a declared baseline, unique names,
# the groups matching scan.target_tag_values, the sync writing where storage.sync_uri reads) is checked
# by policy.load_policy, which builds the policy from these sections.

OPERATING_SYSTEMS = (
    "ALMA_LINUX", "AMAZON_LINUX", "AMAZON_LINUX_2", "AMAZON_LINUX_2022", "AMAZON_LINUX_2023", "CENTOS", "DEBIAN",
    "MACOS", "ORACLE_LINUX", "RASPBIAN", "REDHAT_ENTERPRISE_LINUX", "ROCKY_LINUX", "SUSE", "UBUNTU", "WINDOWS",
)
NO_SOAK_OPERATING_SYSTEMS = frozenset({"UBUNTU", "DEBIAN"})  # rules support no ApproveAfterDays there
COMPLIANCE_LEVELS = ("CRITICAL", "HIGH", "INFORMATIONAL", "LOW", "MEDIUM", "UNSPECIFIED")
# Patch filter keys per operating system and their allowed values (None: free text, e.g. a product or *)
LINUX_FILTER_VALUES: dict[str, frozenset[str] | None] = {
    "PRODUCT": None,
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
WINDOW_OPERATIONS = ("Install", "Scan")
SSM_NAME_MAX = 128  # baselines, windows, window targets and tasks: 3-128 of [a-zA-Z0-9_.-]
# a window's target and task are named after it, so its name leaves room for the longest suffix
WINDOW_NAME_MAX = SSM_NAME_MAX - max(len(TARGET_SUFFIX), *(len(task_suffix(op)) for op in WINDOW_OPERATIONS))


def _ssm_name(high: int) -> BeforeValidator:
    return matching(rf"[a-zA-Z0-9_.\-]{{3,{high}}}", f"3-{high} characters of letters, digits, _ . -")


def filter_values(operating_system: str) -> dict[str, frozenset[str] | None]:
    """The patch filter keys of ``operating_system`` -> their allowed values (None: any)."""
    return WINDOWS_FILTER_VALUES if operating_system == "WINDOWS" else LINUX_FILTER_VALUES


FilterValues = Annotated[tuple[str, ...], ONE_OR_MORE, count_in(1, 20, "values")]
Patches = Annotated[NameList, count_in(0, 50, "patches")]
TagKey = Annotated[str, matching(r"[\w .:/=+\-@]{1,128}", "a tag key (1-128 letters, digits, spaces, _.:/=+-@)")]
# What EC2 accepts in a tag value; the report passes window targets to its SQL joined by "," and "|".
TagValue = Annotated[str, matching(r"[\w .:/=+\-@]{0,256}", "a tag value (0-256 letters, digits, spaces, _.:/=+-@)")]
TagValues = Annotated[tuple[TagValue, ...], ONE_OR_MORE]
Schedule = Annotated[str, matching(
    r"cron\([\w*?,/#-]+( [\w*?,/#-]+){5}\)|rate\([1-9][0-9]* (minutes?|hours?|days?)\)"
    r"|at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)",
    "cron(...) of six fields, rate(...) such as rate(7 days), or at(YYYY-MM-DDThh:mm:ss)")]


@section
class ApprovalRuleConfig:
    """One rule of a baseline: its filter keys and values are checked against the baseline's operating system."""

    filters: Annotated[dict[str, FilterValues], count_in(1, 4, "filter keys")]
    # the soak: required except for operating systems without one (NO_SOAK_OPERATING_SYSTEMS)
    approve_after_days: Annotated[int | None, none_or(whole_in(0, 360))] = None
    compliance_level: Annotated[str, one_of(*COMPLIANCE_LEVELS)] = "UNSPECIFIED"
    enable_non_security: StrictBool = False


@section
class BaselineConfig:
    name: Annotated[str, _ssm_name(SSM_NAME_MAX)]
    operating_system: Annotated[str, one_of(*OPERATING_SYSTEMS)]
    approval_rules: Annotated[tuple[ApprovalRuleConfig, ...], count_in(1, 10, "rules")]
    description: Annotated[str, fits_with_marker(1024)] = ""
    approved_patches: Patches = ()
    rejected_patches: Patches = ()
    rejected_patches_action: Annotated[str, one_of("ALLOW_AS_DEPENDENCY", "BLOCK")] = "ALLOW_AS_DEPENDENCY"

    @model_validator(mode="after")
    def _rules_fit_the_operating_system(self) -> BaselineConfig:
        system, known = self.operating_system, filter_values(self.operating_system)
        found: list[tuple[tuple[str | int, ...], str, Any]] = []
        for n, rule in enumerate(self.approval_rules):
            for key, values in rule.filters.items():
                if key not in known:
                    found.append((("approval_rules", n, "filters", key),
                                  f"key {key!r} is not valid for {system}; use {sorted(known)}", key))
                    continue
                allowed = known[key]
                if allowed is not None and (strays := [v for v in values if v not in allowed]):
                    found.append((("approval_rules", n, "filters", key), f"{strays} not in {sorted(allowed)}",
                                  list(values)))
            days = rule.approve_after_days
            if system in NO_SOAK_OPERATING_SYSTEMS and days is not None:
                found.append((("approval_rules", n, "approve_after_days"),
                              f"{system} rules support no soak; remove it", days))
            elif system not in NO_SOAK_OPERATING_SYSTEMS and days is None:
                found.append((("approval_rules", n, "approve_after_days"),
                              f"required for {system} (the soak in days, 0 for none)", None))
        if found:
            raise problems_at(BaselineConfig, found)
        return self


@section
class PatchGroupConfig:
    name: Annotated[str, matching(r"[\w .:/=+\-@]{1,256}",
                                  "a patch group name (1-256 letters, digits, spaces, _.:/=+-@)")]
    baselines: Names  # declared under baselines, one per operating system (checked by policy.load_policy)


@section
class MaintenanceWindowConfig:
    name: Annotated[str, _ssm_name(WINDOW_NAME_MAX)]  # + "-targets" / "-install" must fit SSM_NAME_MAX
    schedule: Schedule
    duration_hours: Annotated[int, whole_in(1, 24)]
    operation: Annotated[str, one_of(*WINDOW_OPERATIONS)]
    targets: Annotated[dict[TagKey, TagValues], count_in(1, 5, "tag keys")]  # e.g. {Environment: [prod]}
    description: Annotated[str, fits_with_marker(128)] = ""
    schedule_timezone: TimeZone = "UTC"
    cutoff_hours: Annotated[int, whole_in(0, 23)] = 0
    reboot_option: Annotated[str, one_of("RebootIfNeeded", "NoReboot")] = "RebootIfNeeded"
    max_concurrency: Concurrency = "10%"
    max_errors: ErrorThreshold = "5%"
    priority: Annotated[int, whole_in(0, 5)] = 1

    @field_validator("cutoff_hours")
    @classmethod
    def _cutoff_within_the_window(cls, cutoff: int, info: ValidationInfo) -> int:
        duration = info.data.get("duration_hours")
        if duration is not None and cutoff >= duration:
            raise ValueError(f"cutoff_hours ({cutoff}) must be less than duration_hours ({duration})")
        return cutoff


@section
class ResourceDataSyncConfig:
    name: Annotated[str, matching(r"[a-zA-Z0-9_.\-]{1,64}", "1-64 characters of letters, digits, _ . -")]
    # bucket and prefix default to storage.sync_uri's, which they must equal (checked by policy.load_policy)
    bucket: Annotated[str | None, none_or(matching(BUCKET_RE.pattern, "an S3 bucket name"))] = None
    prefix: Annotated[str | None, none_or(matching(r"[^\x00-\x1f]{0,256}", "an S3 prefix"))] = None
    bucket_region: Annotated[str | None, none_or(BeforeValidator(validate_region))] = None  # default: aws.region
    sync_format: Annotated[str, one_of("JsonSerDe")] = "JsonSerDe"
    kms_key_arn: Annotated[str, empty_or(matching(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/\S+",
                                                  "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"))] = ""


@section
class PolicyApplySettings:
    # plan/apply assume this role in each account instead of its role_arn
    role_name: Annotated[str, empty_or(matching(r"[\w+=,.@-]{1,64}", "an IAM role name"))] = ""


@section
class Settings:
    aws: AwsSettings = dataclasses.field(default_factory=AwsSettings)
    accounts: tuple[Account, ...] = ()
    storage: StorageSettings = dataclasses.field(default_factory=StorageSettings)
    scan: ScanSettings = dataclasses.field(default_factory=ScanSettings)
    tags: TagKeys = dataclasses.field(default_factory=TagKeys)
    ingest: IngestSettings = dataclasses.field(default_factory=IngestSettings)
    report: ReportSettings = dataclasses.field(default_factory=ReportSettings)
    patch_catalog: PatchCatalogSettings = dataclasses.field(default_factory=PatchCatalogSettings)
    airflow: AirflowSettings = dataclasses.field(default_factory=AirflowSettings)
    notifications: NotificationSettings = dataclasses.field(default_factory=NotificationSettings)
    quality: QualitySettings = dataclasses.field(default_factory=QualitySettings)
    query: QuerySettings = dataclasses.field(default_factory=QuerySettings)
    baselines: tuple[BaselineConfig, ...] = ()
    patch_groups: tuple[PatchGroupConfig, ...] = ()
    maintenance_windows: tuple[MaintenanceWindowConfig, ...] = ()
    resource_data_sync: ResourceDataSyncConfig | None = None
    policy_apply: PolicyApplySettings = dataclasses.field(default_factory=PolicyApplySettings)

    @field_validator("accounts")
    @classmethod
    def _each_account_once(cls, accounts: tuple[Account, ...]) -> tuple[Account, ...]:
        if len({a.id for a in accounts}) != len(accounts):
            raise ValueError("an account id is listed twice")
        return accounts

    @model_validator(mode="after")
    def _athena_sees_the_lake(self) -> Settings:
        """Athena finds the lake's Iceberg tables in Glue, in the database its queries name."""
        if self.query.engine != "athena":
            return self
        if self.storage.catalog != "glue":
            raise ValueError("query.engine athena needs storage.catalog: glue (Athena reads the lake's tables there)")
        if self.query.athena_database != self.storage.catalog_database:
            raise ValueError(f"query.athena_database ({self.query.athena_database}) must be storage.catalog_database "
                             f"({self.storage.catalog_database}): Athena's SQL names the lake's tables unqualified")
        return self


_SETTINGS = TypeAdapter(Settings)


def _without_nulls(value: Any) -> Any:
    """Drop keys left empty in YAML (``role_arn:``), at every level, so they keep their defaults."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def parse_settings(raw: Any, source: str = "config") -> Settings:
    """Validate a whole config mapping; any problem is one ``InputError`` line naming each key path."""
    if not isinstance(raw, dict):
        raise InputError(f"{source} must be a YAML mapping at the top level")
    try:
        return _SETTINGS.validate_python(_without_nulls(raw))
    except ValidationError as exc:
        raise InputError(f"{source}: {describe(exc, Settings)}") from None


@cache
def _load(path: str) -> Settings:
    try:
        text = Path(path).read_text()
    except FileNotFoundError as exc:
        raise InputError(f"config file {path} not found (set PATCH_COMPLIANCE_CONFIG or pass --config)") from exc
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"config file {path} is not valid YAML: {exc}") from exc
    return parse_settings(raw, f"config file {path}")


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """The settings of ``path`` (default: ``PATCH_COMPLIANCE_CONFIG`` or config/fleet.yaml), parsed once."""
    return _load(str(path or default_config_path()))
