"""Project settings: ``config/fleet.yaml`` loaded into validated, typed sections.

Only the sections a module needs are parsed by it; every section has defaults, so a missing file
still gives a working embedded setup. Paths to the project's SQL, expectation suites and config
can be moved with ``PATCH_COMPLIANCE_HOME`` (the directory holding ``sql/``, ``expectations/``,
``config/``), which the docker-compose setup uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from patch_compliance.inputs import InputError, parse_location, validate_account_id, validate_region


def project_home() -> Path:
    env = os.environ.get("PATCH_COMPLIANCE_HOME")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]


def sql_dir() -> Path:
    return project_home() / "sql"


def load_sql(relative: str) -> str:
    path = (sql_dir() / relative).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {relative!r} not found under {sql_dir()}")
    return path.read_text()


def default_config_path() -> Path:
    return Path(os.environ.get("PATCH_COMPLIANCE_CONFIG") or project_home() / "config" / "fleet.yaml")


@dataclass(frozen=True)
class TagKeys:
    """Which instance tag keys carry team, environment and patch group (first match wins)."""

    team: tuple[str, ...] = ("Team",)
    environment: tuple[str, ...] = ("Environment",)
    patch_group: tuple[str, ...] = ("PatchGroup", "Patch Group")
    name: tuple[str, ...] = ("Name",)


@dataclass(frozen=True)
class IngestSettings:
    freshness_hours: float = 26.0
    max_quarantine_share: float = 0.01
    read_threads: int = 16
    max_line_bytes: int = 1 << 20  # a longer line is quarantined (a truncated copy is kept)
    future_capture_tolerance_hours: float = 2.0  # captures further ahead of the reference are flagged


@dataclass(frozen=True)
class ReportSettings:
    critical_classifications: tuple[str, ...] = ("Security", "SecurityUpdates", "CriticalUpdates")
    critical_severities: tuple[str, ...] = ("Critical", "Important")
    missing_critical_age_days: int = 14


@dataclass(frozen=True)
class AwsSettings:
    connection_id: str = "aws_default"
    region: str = "eu-west-1"


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    regions: tuple[str, ...]
    role_arn: str = ""


@dataclass(frozen=True)
class StorageSettings:
    sync_uri: str = "s3://patch-rds-sync/rds"
    lake_uri: str = "s3://patch-compliance-lake/lake"
    reports_uri: str = "s3://patch-compliance-reports/reports"
    catalog: str = "sql"  # the lake's Iceberg catalog: sql | glue (a local lake always keeps SQLite beside it)
    catalog_uri: str = ""  # SQLAlchemy URI of the sql catalog (needed for an s3:// lake)
    catalog_database: str = "patch_compliance"  # Glue database / catalog namespace of the lake tables
    retention_days: int = 400  # Iceberg snapshots older than this are expired by housekeeping


@dataclass(frozen=True)
class ScanSettings:
    target_tag_key: str = "PatchGroup"
    target_tag_values: tuple[str, ...] = ()
    max_concurrency: str = "10%"
    max_errors: str = "5%"
    command_timeout_minutes: float = 60
    sync_wait_minutes: float = 30
    sync_min_share: float = 0.95


@dataclass(frozen=True)
class FeedSettings:
    """One vendor feed of the patch catalog (``patch_catalog.feeds[]``): where, which products, limits."""

    name: str
    products: tuple[str, ...]
    format: str = "yum_updateinfo"  # the only format implemented (patch_compliance.vendor_feeds)
    mirror_list: str = ""  # a yum mirror list URL (its first mirror on the same host is used) ...
    repository: str = ""  # ... or the repository's base URL (the directory holding repodata/)
    max_bytes: int = 256 << 20  # largest document accepted (uncompressed updateinfo.xml)
    timeout_seconds: float = 60.0

    @property
    def url(self) -> str:
        return self.mirror_list or self.repository


@dataclass(frozen=True)
class PatchCatalogSettings:
    """How the daily task fills ``patch_catalog`` (``patch_catalog:`` in fleet.yaml)."""

    ssm: bool = True  # ask SSM DescribeAvailablePatches for the products it covers
    max_lookups_per_day: int = 2000  # patch ids asked of all sources together per day; the rest wait
    unknown_retry_days: int = 7  # a patch id a source did not know is asked again once per this many days
    feeds: tuple[FeedSettings, ...] = ()


@dataclass(frozen=True)
class Settings:
    aws: AwsSettings = field(default_factory=AwsSettings)
    accounts: tuple[Account, ...] = ()
    storage: StorageSettings = field(default_factory=StorageSettings)
    scan: ScanSettings = field(default_factory=ScanSettings)
    tags: TagKeys = field(default_factory=TagKeys)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    patch_catalog: PatchCatalogSettings = field(default_factory=PatchCatalogSettings)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _as_tuple(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise InputError(f"config {where}: expected a string or a non-empty list of strings, got {value!r}")


def _section(raw: dict[str, Any], name: str, cls: type, converters: dict[str, Any]) -> Any:
    data = raw.get(name) or {}
    if not isinstance(data, dict):
        raise InputError(f"config section {name!r} must be a mapping, got {type(data).__name__}")
    unknown = set(data) - set(cls.__dataclass_fields__)
    if unknown:
        raise InputError(f"config section {name!r}: unknown keys {sorted(unknown)}; "
                         f"allowed: {sorted(cls.__dataclass_fields__)}")
    values = {}
    for key, value in data.items():
        convert = converters.get(key, lambda v, _w: v)
        values[key] = convert(value, f"{name}.{key}")
    return cls(**values)


def _number(minimum: float, maximum: float):
    def convert(value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
            raise InputError(f"config {where}: expected a number in [{minimum}, {maximum}], got {value!r}")
        return value
    return convert


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"config {where}: expected a string, got {value!r}")
    return value


def _location(value: Any, where: str) -> str:
    return parse_location(_string(value, where), f"config {where}").uri


def _choice(*allowed: str):
    def convert(value: Any, where: str) -> str:
        if value not in allowed:
            raise InputError(f"config {where}: expected one of {list(allowed)}, got {value!r}")
        return value
    return convert


def _pattern(regex: str, example: str):
    import re

    compiled = re.compile(regex)

    def convert(value: Any, where: str) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise InputError(f"config {where}: expected {example}, got {value!r}")
        return value
    return convert


def _integer(minimum: int, maximum: int):
    def convert(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise InputError(f"config {where}: expected a whole number in [{minimum}, {maximum}], got {value!r}")
        return value
    return convert


def _accounts(raw: Any) -> tuple[Account, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError("config accounts: expected a list of {id, name, regions, role_arn}")
    accounts = []
    for n, item in enumerate(raw):
        where = f"accounts[{n}]"
        if not isinstance(item, dict) or not {"id", "name", "regions"} <= set(item):
            raise InputError(f"config {where}: needs id, name and regions, got {item!r}")
        unknown = set(item) - {"id", "name", "regions", "role_arn"}
        if unknown:
            raise InputError(f"config {where}: unknown keys {sorted(unknown)}")
        try:
            account_id = validate_account_id(str(item["id"]))
            regions = tuple(validate_region(r) for r in _as_tuple(item["regions"], f"{where}.regions"))
        except InputError as exc:
            raise InputError(f"config {where}: {exc}") from exc
        role_arn = _string(item.get("role_arn") or "", f"{where}.role_arn")
        if role_arn and not role_arn.startswith(f"arn:aws:iam::{account_id}:role/"):
            raise InputError(f"config {where}.role_arn must be a role in account {account_id}, got {role_arn!r}")
        accounts.append(Account(account_id, _string(item["name"], f"{where}.name"), regions, role_arn))
    if len({a.id for a in accounts}) != len(accounts):
        raise InputError("config accounts: an account id is listed twice")
    return tuple(accounts)


FEED_FORMATS = ("yum_updateinfo",)
_PRODUCT = r"[A-Za-z0-9][A-Za-z0-9 ._()-]{0,127}"
# The products SSM DescribeAvailablePatches covers: "only the Amazon Linux 1, Amazon Linux 2, and
# Windows Server operating systems" (API reference). Product names as Patch Manager spells them.
SSM_CATALOG_PRODUCTS = r"AmazonLinux(2|2\.0|20\d\d\.\d\d)|WindowsServer\d{4}(R2)?"


def ssm_covers(product: str) -> bool:
    import re

    return re.fullmatch(SSM_CATALOG_PRODUCTS, product) is not None


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"config {where}: expected true or false, got {value!r}")
    return value


def _http_url(value: Any, where: str) -> str:
    from urllib.parse import urlparse

    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError(f"config {where}: expected an http(s):// URL, got {value!r}")
    return value


def _feeds(value: Any, where: str) -> tuple[FeedSettings, ...]:
    if not isinstance(value, list):
        raise InputError(f"config {where}: expected a list of feeds (name, products, mirror_list or repository)")
    feeds = []
    for n, item in enumerate(value):
        at = f"{where}[{n}]"
        if not isinstance(item, dict):
            raise InputError(f"config {at}: expected a mapping, got {item!r}")
        unknown = set(item) - set(FeedSettings.__dataclass_fields__)
        if unknown:
            raise InputError(f"config {at}: unknown keys {sorted(unknown)}; allowed: "
                             f"{sorted(FeedSettings.__dataclass_fields__)}")
        if not {"name", "products"} <= set(item):
            raise InputError(f"config {at}: needs name and products")
        if ("mirror_list" in item) == ("repository" in item):
            raise InputError(f"config {at}: give exactly one of mirror_list or repository")
        product = _pattern(_PRODUCT, "a product name such as AmazonLinux2023")
        feeds.append(FeedSettings(
            name=_pattern(r"[a-z0-9][a-z0-9_-]{0,31}", "a lowercase name (a-z, 0-9, _, -)")(item["name"], f"{at}.name"),
            products=tuple(product(p, f"{at}.products") for p in _as_tuple(item["products"], f"{at}.products")),
            format=_choice(*FEED_FORMATS)(item.get("format", "yum_updateinfo"), f"{at}.format"),
            mirror_list=_http_url(item["mirror_list"], f"{at}.mirror_list") if "mirror_list" in item else "",
            repository=_http_url(item["repository"], f"{at}.repository") if "repository" in item else "",
            max_bytes=_integer(1 << 20, 2 << 30)(item.get("max_bytes", FeedSettings.max_bytes), f"{at}.max_bytes"),
            timeout_seconds=_number(1, 600)(item.get("timeout_seconds", FeedSettings.timeout_seconds),
                                            f"{at}.timeout_seconds")))
    names = [f.name for f in feeds]
    if len(set(names)) != len(names):
        raise InputError(f"config {where}: feed names must be unique, got {names}")
    products = [p for f in feeds for p in f.products]
    twice = sorted({p for p in products if products.count(p) > 1})
    if twice:
        raise InputError(f"config {where}: one source per product; {twice} listed by more than one feed")
    return tuple(feeds)


def _patch_catalog(raw: dict[str, Any]) -> PatchCatalogSettings:
    settings = _section(raw, "patch_catalog", PatchCatalogSettings, {
        "ssm": _boolean,
        "max_lookups_per_day": _integer(0, 1_000_000),
        "unknown_retry_days": _integer(1, 365),
        "feeds": _feeds,
    })
    overlap = sorted(p for f in settings.feeds for p in f.products if settings.ssm and ssm_covers(p))
    if overlap:
        raise InputError(f"config patch_catalog.feeds: {overlap} come from SSM DescribeAvailablePatches "
                         "(patch_catalog.ssm is true); one source per product")
    return settings


def parse_settings(raw: dict[str, Any]) -> Settings:
    if not isinstance(raw, dict):
        raise InputError("config must be a YAML mapping at the top level")
    return Settings(
        aws=_section(raw, "aws", AwsSettings, {"connection_id": _string, "region": _string}),
        accounts=_accounts(raw.get("accounts")),
        storage=_section(raw, "storage", StorageSettings, {
            **dict.fromkeys(("sync_uri", "lake_uri", "reports_uri"), _location),
            "catalog": _choice("sql", "glue"),
            "catalog_uri": _pattern(r"(sqlite|postgresql(\+\w+)?|mysql(\+\w+)?)://.*",
                                    "a SQLAlchemy URI such as postgresql+psycopg2://user@host/db"),
            "catalog_database": _pattern(r"[a-z_][a-z0-9_]{0,254}", "a Glue database name (a-z, 0-9, _)"),
            "retention_days": _integer(1, 3650),
        }),
        scan=_section(raw, "scan", ScanSettings, {
            "target_tag_key": _string,
            "target_tag_values": _as_tuple,
            "max_concurrency": _string,
            "max_errors": _string,
            "command_timeout_minutes": _number(1, 24 * 60),
            "sync_wait_minutes": _number(0, 24 * 60),
            "sync_min_share": _number(0, 1),
        }),
        tags=_section(raw, "tags", TagKeys, dict.fromkeys(TagKeys.__dataclass_fields__, _as_tuple)),
        ingest=_section(raw, "ingest", IngestSettings, {
            "freshness_hours": _number(1, 24 * 30),
            "max_quarantine_share": _number(0, 1),
            "read_threads": _number(1, 256),
            "max_line_bytes": _integer(1024, 1 << 30),
            "future_capture_tolerance_hours": _number(0, 24 * 30),
        }),
        report=_section(raw, "report", ReportSettings, {
            "critical_classifications": _as_tuple,
            "critical_severities": _as_tuple,
            "missing_critical_age_days": _number(0, 3650),
        }),
        patch_catalog=_patch_catalog(raw),
        raw=raw,
    )


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
    return parse_settings(raw)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    return _load(str(path or default_config_path()))
