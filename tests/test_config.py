"""Config loading (patch_compliance.config): every section typed at load, typos fail with their path.

A typo must never fall back to a default silently, so every mapping of the project's own
config/fleet.yaml is given a misspelt key and must fail with that key's path; each section also has
its bad values (with the message a user sees) and its defaults checked.
"""

from __future__ import annotations

import copy
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from patch_compliance.config import (
    AirflowSettings,
    AwsSettings,
    IngestSettings,
    NotificationSettings,
    PatchCatalogSettings,
    PolicyApplySettings,
    QualitySettings,
    QuerySettings,
    ReportSettings,
    ScanSettings,
    Settings,
    StorageSettings,
    TagKeys,
    load_settings,
    parse_settings,
)
from patch_compliance.inputs import InputError
from tests.fixtures.config_edits import RAW, RULE, WINDOW, at, edited, rejects

FREE_FORM = {"environment_patch_groups", "filters", "targets", "teams"}  # their keys are data, not settings
FEED = {"name": "al2023", "products": ["AmazonLinux2023"],
        "mirror_list": "https://cdn.amazonlinux.com/al2023/core/mirrors/latest/x86_64/mirror.list"}


def mappings(node: Any, path: str = "") -> list[str]:
    """The key path of every settings mapping in ``node`` (free-form mappings excluded)."""
    found = []
    if isinstance(node, dict):
        found.append(path)
        for key, value in node.items():
            if key not in FREE_FORM:
                found += mappings(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for n, value in enumerate(node):
            found += mappings(value, f"{path}[{n}]")
    return found


# --- the whole file ---------------------------------------------------------------------------------


def test_the_project_config_loads_once_into_every_section() -> None:
    settings = load_settings()
    assert load_settings() is settings  # parsed once, cached
    assert [a.name for a in settings.accounts] == ["dev", "staging", "prod"]
    assert settings.storage.catalog == "glue" and settings.tags.patch_group == ("PatchGroup", "Patch Group")
    assert settings.patch_catalog.feeds[0].url.endswith("mirror.list")
    assert settings.quality.environment_patch_groups["prod"] == ("prod-linux", "prod-windows")
    assert settings.query.athena_output_location == "s3://patch-compliance-athena-results/queries/"
    assert [b.name for b in settings.baselines] == [b["name"] for b in RAW["baselines"]]
    assert settings.resource_data_sync is not None and settings.policy_apply.role_name == "PatchPolicyApplier"


@pytest.mark.parametrize("path", mappings(RAW))
def test_a_typo_at_any_level_fails_with_its_path(path: str) -> None:
    config = copy.deepcopy(RAW)
    at(config, path)["colour"] = "red"
    rejects(config, f"{path}.colour: unknown key" if path else "colour: unknown key")


OMITTED_SECTIONS = sorted(f.name for f in fields(Settings) if f.name not in RAW)


def test_the_sections_the_project_file_leaves_out_are_known() -> None:
    assert OMITTED_SECTIONS == ["airflow"]  # a new section left out of fleet.yaml is still covered below


@pytest.mark.parametrize("section", OMITTED_SECTIONS)
def test_a_typo_in_a_section_the_file_leaves_out_fails_with_its_path(section: str) -> None:
    """The typo test above walks fleet.yaml; a section it omits (its defaults apply) is checked here."""
    rejects({**copy.deepcopy(RAW), section: {"colour": "red"}}, f"{section}.colour: unknown key")


def test_an_error_names_the_file_and_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"quality": {"tag_coverge_min": 0.9}, "ingest": {"read_threads": 0}}))
    with pytest.raises(InputError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert message.startswith(f"config file {path}: ") and "\n" not in message
    assert "quality.tag_coverge_min: unknown key" in message
    assert "ingest.read_threads: expected a whole number in [1, 256], got 0" in message
    with pytest.raises(InputError, match="not found"):
        load_settings(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("quality: [")
    with pytest.raises(InputError, match="not valid YAML"):
        load_settings(tmp_path / "broken.yaml")
    rejects(["aws"], "must be a YAML mapping at the top level")


def test_empty_config_and_empty_keys_keep_the_defaults() -> None:
    assert parse_settings({}) == Settings()
    assert parse_settings({"ingest": None, "quality": {"top_offenders": None}}) == Settings()
    (account,) = parse_settings({"accounts": [{"id": 111111111111, "name": "dev", "regions": "eu-west-1",
                                               "role_arn": None}]}).accounts
    assert (account.id, account.regions, account.role_arn) == ("111111111111", ("eu-west-1",), "")


def test_a_section_that_is_not_a_mapping_or_list_is_refused() -> None:
    rejects({"ingest": 5}, "ingest: expected a mapping, got 5")
    rejects({"accounts": {"id": "111111111111"}}, "accounts: expected a list")


@pytest.mark.parametrize("section", [
    AwsSettings, StorageSettings, ScanSettings, TagKeys, IngestSettings, ReportSettings, PatchCatalogSettings,
    AirflowSettings, NotificationSettings, QualitySettings, QuerySettings, PolicyApplySettings, Settings])
def test_defaults_are_valid_values(section: type) -> None:
    default = section()
    assert replace(default) == default  # replace() validates every field again


def test_changed_copies_are_validated_too() -> None:
    ingest = load_settings().ingest
    assert replace(ingest, max_quarantine_share=0.5).max_quarantine_share == 0.5
    with pytest.raises(ValueError, match=r"expected a number in \[0, 1\]"):
        replace(ingest, max_quarantine_share=5)


# --- each section: bad values and defaults ----------------------------------------------------------


@pytest.mark.parametrize(("config", "message"), [
    ({"aws": {"region": "eu_west_1"}}, "aws.region: Region must look like eu-west-1, got 'eu_west_1'"),
    ({"aws": {"connection_id": 5}}, "aws.connection_id: expected a string, got 5"),
    ({"storage": {"lake_uri": "s3://Bad_Bucket/x"}}, "storage.lake_uri: location: 'Bad_Bucket' is not a valid"),
    ({"storage": {"sync_uri": "gs://b/x"}}, "storage.sync_uri: location: only s3:// URIs and local paths"),
    ({"storage": {"catalog": "hive"}}, "storage.catalog: expected one of ['sql', 'glue'], got 'hive'"),
    ({"storage": {"catalog_uri": "mongodb://x"}}, "storage.catalog_uri: expected a SQLAlchemy URI"),
    ({"storage": {"catalog_database": "Bad-Name"}}, "storage.catalog_database: expected a Glue database name"),
    ({"storage": {"retention_days": 0}}, "storage.retention_days: expected a whole number in [1, 3650], got 0"),
    ({"scan": {"sync_min_share": 1.5}}, "scan.sync_min_share: expected a number in [0, 1], got 1.5"),
    ({"scan": {"command_timeout_minutes": "60"}}, "scan.command_timeout_minutes: expected a number in [1, 1440]"),
    ({"scan": {"target_tag_values": [1]}}, "scan.target_tag_values: expected a string or a list of non-empty strings"),
    ({"tags": {"team": ["Team", ""]}}, "tags.team: expected a string or a non-empty list of strings"),
    ({"ingest": {"max_quarantine_share": 5}}, "ingest.max_quarantine_share: expected a number in [0, 1], got 5"),
    ({"ingest": {"freshness_hours": True}}, "ingest.freshness_hours: expected a number in [1, 720], got True"),
    ({"ingest": {"read_threads": 2.5}}, "ingest.read_threads: expected a whole number in [1, 256], got 2.5"),
    ({"ingest": {"max_line_bytes": 10}}, "ingest.max_line_bytes: expected a whole number in [1024,"),
    ({"ingest": {"future_capture_tolerance_hours": -1}}, "ingest.future_capture_tolerance_hours: expected a number"),
    ({"report": {"missing_critical_age_days": -1}}, "report.missing_critical_age_days: expected a whole number"),
    ({"report": {"critical_severities": 3}}, "report.critical_severities: expected a string or a non-empty list"),
    ({"airflow": {"retries": -1}}, "airflow.retries: expected a whole number in [0, 100], got -1"),
    ({"airflow": {"retry_delay_seconds": "2m"}}, "airflow.retry_delay_seconds: expected a number in [0, 86400]"),
    ({"airflow": {"owner": None, "slack_connection_id": ["a"]}}, "airflow.slack_connection_id: expected a string"),
    ({"quality": {"tag_coverage_min": 1.5}}, "quality.tag_coverage_min: expected a fraction in [0, 1], got 1.5"),
    ({"quality": {"allowed_environments": {"prod": 1}}}, "quality.allowed_environments: expected a string or a list"),
    ({"quality": {"environment_patch_groups": {"qa": ["qa-linux"]}}},
     "quality.environment_patch_groups: ['qa'] not in allowed_environments ['dev', 'staging', 'prod']"),
    ({"quality": {"environment_patch_groups": {"dev": ["dev-linux", ""]}}},
     "quality.environment_patch_groups.dev: expected a string or a list of non-empty strings"),
    ({"quality": {"top_offenders": 41}}, "quality.top_offenders: expected a whole number in [1, 40], got 41"),
    ({"quality": {"suites_dir": ""}}, "quality.suites_dir: expected a directory, got ''"),
    ({"query": {"engine": "spark"}}, "query.engine: expected one of ['duckdb', 'athena'], got 'spark'"),
    ({"query": {"engine": "athena", "athena_database": "x; DROP", "athena_output_location": "s3://b1/q"}},
     "query.athena_database: expected a Glue database name"),
    ({"query": {"athena_output_location": "/tmp/q"}}, "query.athena_output_location: expected s3://bucket/prefix"),
    ({"query": {"athena_region": "eu"}}, "query.athena_region: Region must look like eu-west-1"),
    ({"storage": {"catalog_uri": ""}, "query": {"athena_database": "", "athena_region": ""},
      "patch_catalog": {"feeds": [{**FEED, "repository": ""}]}, "accounts": [{"id": "1"}]},
     "accounts[0].id: account id must look like"),  # "" is "not set", so only the account fails
    ({"query": {"engine": "athena"}}, "query: the athena engine needs athena_database and athena_output_location"),
    ({"notifications": {"teams": {"payments": "slack payments"}}},
     "notifications.teams.payments: expected an Airflow connection id (letters, digits, _ . -), got 'slack payments'"),
    ({"notifications": {"teams": {" payments": "slack_payments"}}},
     "notifications.teams. payments: expected a Team tag value (no leading or trailing space)"),
    ({"notifications": {"teams": ["payments"]}}, "notifications.teams: expected a mapping"),
    ({"query": {"engine": "athena", "athena_database": "patch_compliance", "athena_output_location": "s3://results/q"},
      "storage": {"catalog": "sql", "catalog_uri": "sqlite:////tmp/c.db"}},
     "query.engine athena needs storage.catalog: glue"),
    ({"query": {"engine": "athena", "athena_database": "elsewhere", "athena_output_location": "s3://results/q"},
      "storage": {"catalog": "glue"}},
     "query.athena_database (elsewhere) must be storage.catalog_database (patch_compliance)"),
])
def test_a_bad_value_is_explained_with_its_path(config: dict[str, Any], message: str) -> None:
    rejects(config, message)


@pytest.mark.parametrize(("account", "message"), [
    ({"id": "12", "name": "x", "regions": ["eu-west-1"]},
     "accounts[0].id: account id must look like 123456789012 (12 digits), got '12'"),
    ({"id": "123456789012", "name": "x", "regions": ["eu-west-1", "eu_west_2"]},
     "accounts[0].regions[1]: Region must look like eu-west-1, got 'eu_west_2'"),
    ({"id": "123456789012", "name": "x", "regions": "eu-west-1", "role_arn": "arn:aws:iam::999999999999:role/x"},
     "accounts[0].role_arn: must be a role in account 123456789012, got 'arn:aws:iam::999999999999:role/x'"),
    ({"id": "123456789012", "regions": "eu-west-1"}, "accounts[0].name: required key missing"),
    ({"id": "123456789012"}, "accounts[0]: required keys missing: ['name', 'regions']"),
])
def test_accounts_are_checked_one_by_one(account: dict[str, Any], message: str) -> None:
    rejects({"accounts": [account]}, message)


def test_an_account_is_listed_once() -> None:
    rejects({"accounts": [RAW["accounts"][0], RAW["accounts"][0]]}, "accounts: an account id is listed twice")


@pytest.mark.parametrize(("section", "message"), [
    ({"max_lookups_per_day": -1}, "patch_catalog.max_lookups_per_day: expected a whole number in [0, 1000000]"),
    ({"max_lookups_per_day": "many"}, "max_lookups_per_day: expected a whole number"),
    ({"unknown_retry_days": 0}, "patch_catalog.unknown_retry_days: expected a whole number in [1, 365]"),
    ({"ssm": "yes"}, "patch_catalog.ssm: expected true or false, got 'yes'"),
    ({"feeds": {"name": "x"}}, "patch_catalog.feeds: expected a list"),
    ({"feeds": [{**FEED, "repository": "https://example.com/repo/"}]},
     "patch_catalog.feeds[0]: give exactly one of mirror_list or repository"),
    ({"feeds": [{**FEED, "mirror_list": "ftp://example.com/mirror.list"}]},
     "patch_catalog.feeds[0].mirror_list: expected an http(s):// URL"),
    ({"feeds": [{**FEED, "format": "oval"}]}, "feeds[0].format: expected one of ['yum_updateinfo']"),
    ({"feeds": [{**FEED, "max_bytes": 10}]}, "feeds[0].max_bytes: expected a whole number in [1048576,"),
    ({"feeds": [{**FEED, "timeout_seconds": 0}]}, "feeds[0].timeout_seconds: expected a number in [1, 600]"),
    ({"feeds": [{**FEED, "name": "AL 2023"}]}, "patch_catalog.feeds[0].name: expected a lowercase name"),
    ({"feeds": [{**FEED, "products": ["Amazon Linux;2023"]}]},
     "feeds[0].products[0]: expected a product name such as AmazonLinux2023"),
    ({"feeds": [FEED, {**FEED, "name": "again"}]},
     "patch_catalog.feeds: one source per product; ['AmazonLinux2023'] listed by more than one feed"),
    ({"feeds": [FEED, {**FEED, "products": ["AmazonLinux2099"]}]}, "feed names must be unique"),
    ({"feeds": [{**FEED, "products": ["AmazonLinux2"]}]},
     "patch_catalog.feeds: ['AmazonLinux2'] come from SSM DescribeAvailablePatches"),
    ({"feeds": [{"name": "x", "mirror_list": FEED["mirror_list"]}]}, "feeds[0].products: required key missing"),
])
def test_patch_catalog_errors_are_clear(section: dict[str, Any], message: str) -> None:
    rejects({"patch_catalog": section}, message)


@pytest.mark.parametrize(("config", "message"), [
    ({"baselines": [{"name": "b", "operating_system": "WINDOWS"}]}, "baselines[0].approval_rules: required key"),
    ({"baselines": [{**RAW["baselines"][0], "approval_rules": [{"filters": {"SEVERITY": []}}]}]},
     "baselines[0].approval_rules[0].filters.SEVERITY: expected a string or a non-empty list"),
    ({"patch_groups": [{"name": "g"}]}, "patch_groups[0].baselines: required key missing"),
    ({"resource_data_sync": {"bucket": "b"}}, "resource_data_sync.name: required key missing"),
    ({"resource_data_sync": "patch-compliance"}, "resource_data_sync: expected a mapping, got 'patch-compliance'"),
    ({"maintenance_windows": {"name": "w"}}, "maintenance_windows: expected a list"),
])
def test_policy_sections_are_typed(config: dict[str, Any], message: str) -> None:
    rejects(config, message)


LINUX_KEYS = "['CLASSIFICATION', 'PRODUCT', 'SEVERITY']"


@pytest.mark.parametrize(("changes", "message"), [
    # baselines
    ({"baselines[0].name": "ab"}, "baselines[0].name: expected 3-128 characters of letters, digits, _ . -, got 'ab'"),
    ({"baselines[0].name": "b" * 129}, "baselines[0].name: expected 3-128 characters of letters, digits, _ . -"),
    ({"baselines[0].name": "prod linux"}, "baselines[0].name: expected 3-128 characters"),
    ({"baselines[0].name": 7}, "baselines[0].name: expected 3-128 characters of letters, digits, _ . -, got 7"),
    ({"baselines[0].operating_system": "BEOS"}, "baselines[0].operating_system: expected one of ['ALMA_LINUX',"),
    ({"baselines[0].description": "d" * 976},
     "baselines[0].description: too long: 976 characters; SSM allows 1024 characters with the marker (so at most"),
    ({"baselines[0].description": ["d"]}, "baselines[0].description: expected a string, got ['d']"),
    ({"baselines[0].approval_rules": []}, "baselines[0].approval_rules: expected 1 to 10 rules, got 0"),
    ({"baselines[0].approval_rules": [RAW["baselines"][0]["approval_rules"][0]] * 11},
     "baselines[0].approval_rules: expected 1 to 10 rules, got 11"),
    ({"baselines[0].approval_rules": {"filters": {}}}, "baselines[0].approval_rules: expected a list"),
    ({"baselines[0].rejected_patches_action": "DENY"},
     "baselines[0].rejected_patches_action: expected one of ['ALLOW_AS_DEPENDENCY', 'BLOCK'], got 'DENY'"),
    ({"baselines[0].rejected_patches": [f"KB{n}" for n in range(51)]},
     "baselines[0].rejected_patches: expected 0 to 50 patches, got 51"),
    ({"baselines[0].approved_patches": ["kernel", ""]},
     "baselines[0].approved_patches: expected a string or a list of non-empty strings"),
    # a baseline's rules
    ({f"{RULE}.approve_after_days": 400}, f"{RULE}.approve_after_days: expected a whole number in [0, 360], got 400"),
    ({f"{RULE}.approve_after_days": -1}, f"{RULE}.approve_after_days: expected a whole number in [0, 360], got -1"),
    ({f"{RULE}.approve_after_days": "7"}, f"{RULE}.approve_after_days: expected a whole number in [0, 360], got '7'"),
    ({f"{RULE}.approve_after_days": 7.5}, f"{RULE}.approve_after_days: expected a whole number in [0, 360], got 7.5"),
    ({f"{RULE}.approve_after_days": None}, f"{RULE}.approve_after_days: required for AMAZON_LINUX_2023"),
    ({"baselines[0].operating_system": "UBUNTU", f"{RULE}.filters": {"PRODUCT": ["Ubuntu22.04"]}},
     f"{RULE}.approve_after_days: UBUNTU rules support no soak; remove it"),
    ({f"{RULE}.compliance_level": "SEVERE"}, f"{RULE}.compliance_level: expected one of ['CRITICAL', 'HIGH',"),
    ({f"{RULE}.enable_non_security": "yes"}, f"{RULE}.enable_non_security: expected true or false, got 'yes'"),
    ({f"{RULE}.filters": {}}, f"{RULE}.filters: expected 1 to 4 filter keys, got 0"),
    ({f"{RULE}.filters": "Security"}, f"{RULE}.filters: expected a mapping, got 'Security'"),
    ({f"{RULE}.filters": {"SEVERITY": 3}}, f"{RULE}.filters.SEVERITY: expected a string or a non-empty list"),
    ({f"{RULE}.filters": {"SEVERITY": [f"v{n}" for n in range(21)]}},
     f"{RULE}.filters.SEVERITY: expected 1 to 20 values, got 21"),
    ({f"{RULE}.filters": {"MSRC_SEVERITY": ["Critical"]}},
     f"{RULE}.filters.MSRC_SEVERITY: key 'MSRC_SEVERITY' is not valid for AMAZON_LINUX_2023; use {LINUX_KEYS}"),
    ({"baselines[2].approval_rules[0].filters": {"SEVERITY": ["Critical"]}},
     "baselines[2].approval_rules[0].filters.SEVERITY: key 'SEVERITY' is not valid for WINDOWS; use"),
    ({f"{RULE}.filters": {"CLASSIFICATION": ["Security", "Securty"]}},
     f"{RULE}.filters.CLASSIFICATION: ['Securty'] not in ['*', 'Bugfix', 'Enhancement', 'Newpackage',"),
    # patch groups
    ({"patch_groups[0].name": ""}, "patch_groups[0].name: expected a patch group name (1-256"),
    ({"patch_groups[0].name": "g" * 257}, "patch_groups[0].name: expected a patch group name"),
    ({"patch_groups[0].name": "dev;linux"}, "patch_groups[0].name: expected a patch group name"),
    ({"patch_groups[0].baselines": []}, "patch_groups[0].baselines: expected a string or a non-empty list of strings"),
    ({"patch_groups[0].baselines": 5}, "patch_groups[0].baselines: expected a string or a non-empty list of strings"),
    # maintenance windows
    ({f"{WINDOW}.name": "w" * 121}, f"{WINDOW}.name: expected 3-120 characters of letters, digits, _ . -"),
    ({f"{WINDOW}.name": "prod install"}, f"{WINDOW}.name: expected 3-120 characters"),
    ({f"{WINDOW}.schedule": "every saturday"}, f"{WINDOW}.schedule: expected cron(...) of six fields, rate(...)"),
    ({f"{WINDOW}.schedule": "cron(0 2 ? * SAT)"}, f"{WINDOW}.schedule: expected cron(...) of six fields"),
    ({f"{WINDOW}.schedule": "rate(0 days)"}, f"{WINDOW}.schedule: expected cron(...)"),
    ({f"{WINDOW}.schedule": "rate(2 weeks)"}, f"{WINDOW}.schedule: expected cron(...)"),
    ({f"{WINDOW}.schedule": "at(2026-02-30)"}, f"{WINDOW}.schedule: expected cron(...)"),
    ({f"{WINDOW}.schedule_timezone": "Mars/Olympus"},
     f"{WINDOW}.schedule_timezone: expected an IANA time zone such as UTC or Europe/Berlin, got 'Mars/Olympus'"),
    ({f"{WINDOW}.duration_hours": 25}, f"{WINDOW}.duration_hours: expected a whole number in [1, 24], got 25"),
    ({f"{WINDOW}.duration_hours": "4"}, f"{WINDOW}.duration_hours: expected a whole number in [1, 24], got '4'"),
    ({f"{WINDOW}.cutoff_hours": -1}, f"{WINDOW}.cutoff_hours: expected a whole number in [0, 23], got -1"),
    ({f"{WINDOW}.cutoff_hours": 4}, f"{WINDOW}.cutoff_hours: cutoff_hours (4) must be less than duration_hours (4)"),
    ({f"{WINDOW}.operation": "Reboot"}, f"{WINDOW}.operation: expected one of ['Install', 'Scan'], got 'Reboot'"),
    ({f"{WINDOW}.reboot_option": "Always"}, f"{WINDOW}.reboot_option: expected one of ['RebootIfNeeded', 'NoReboot']"),
    ({f"{WINDOW}.targets": {}}, f"{WINDOW}.targets: expected 1 to 5 tag keys, got 0"),
    ({f"{WINDOW}.targets": {f"Key{n}": ["v"] for n in range(6)}}, f"{WINDOW}.targets: expected 1 to 5 tag keys, got 6"),
    ({f"{WINDOW}.targets": ["Environment"]}, f"{WINDOW}.targets: expected a mapping"),
    ({f"{WINDOW}.targets": {"Env$": ["prod"]}}, f"{WINDOW}.targets.Env$: expected a tag key (1-128 letters"),
    ({f"{WINDOW}.targets": {"Environment": ["prod,dev"]}},
     f"{WINDOW}.targets.Environment[0]: expected a tag value (0-256 letters, digits, spaces, _.:/=+-@), "
     "got 'prod,dev'"),
    ({f"{WINDOW}.targets": {"Environment": []}},
     f"{WINDOW}.targets.Environment: expected a string or a non-empty list of strings, got []"),
    ({f"{WINDOW}.description": "d" * 80},
     f"{WINDOW}.description: too long: 80 characters; SSM allows 128 characters with the marker"),
    ({f"{WINDOW}.max_concurrency": "0"}, f"{WINDOW}.max_concurrency: expected a count or a percentage such as 10%"),
    ({f"{WINDOW}.max_concurrency": 10}, f"{WINDOW}.max_concurrency: expected a count or a percentage"),
    ({f"{WINDOW}.max_errors": "101%"}, f"{WINDOW}.max_errors: expected a count or a percentage such as 5%"),
    ({f"{WINDOW}.priority": 6}, f"{WINDOW}.priority: expected a whole number in [0, 5], got 6"),
    # the Resource Data Sync and the applier
    ({"resource_data_sync.name": "s" * 65}, "resource_data_sync.name: expected 1-64 characters of letters, digits"),
    ({"resource_data_sync.bucket": "Bad_Bucket"}, "resource_data_sync.bucket: expected an S3 bucket name"),
    ({"resource_data_sync.bucket_region": "eu"}, "resource_data_sync.bucket_region: Region must look like eu-west-1"),
    ({"resource_data_sync.sync_format": "Parquet"},
     "resource_data_sync.sync_format: expected one of ['JsonSerDe'], got 'Parquet'"),
    ({"resource_data_sync.kms_key_arn": "alias/patches"}, "resource_data_sync.kms_key_arn: expected a KMS key ARN"),
    ({"policy_apply.role_name": "Patch Applier"}, "policy_apply.role_name: expected an IAM role name"),
    ({"policy_apply.role_name": 7}, "policy_apply.role_name: expected an IAM role name, got 7"),
    ({"policy_apply.role_name": "r" * 65}, "policy_apply.role_name: expected an IAM role name"),
    ({"scan.max_errors": "5 percent"}, "scan.max_errors: expected a count or a percentage such as 5%"),
    # an unknown key at each level of the policy sections (the keys of filters are checked per OS, above)
    ({"baselines[0].soak_days": 7}, "baselines[0].soak_days: unknown key"),
    ({f"{RULE}.aprove_after_days": 7}, f"{RULE}.aprove_after_days: unknown key (did you mean 'approve_after_days'?"),
    ({"patch_groups[0].baseline": ["x"]}, "patch_groups[0].baseline: unknown key (did you mean 'baselines'?"),
    ({f"{WINDOW}.timezone": "UTC"}, f"{WINDOW}.timezone: unknown key"),
    ({"resource_data_sync.region": "eu-west-1"}, "resource_data_sync.region: unknown key"),
    ({"policy_apply.role_arn": "arn:aws:iam::1:role/x"},
     "policy_apply.role_arn: unknown key (did you mean 'role_name'?"),
])
def test_a_bad_policy_value_fails_loading_with_its_path(changes: dict[str, Any], message: str) -> None:
    rejects(edited(changes), message)


def test_policy_values_within_the_limits_load() -> None:
    """The limits themselves are allowed: each check refuses only what SSM would."""
    settings = parse_settings(edited({
        "baselines[0].name": "b" * 128, "baselines[0].description": "d" * 975,
        f"{RULE}.approve_after_days": 360, f"{RULE}.filters": {"SEVERITY": "*"},
        f"{WINDOW}.name": "w" * 120, f"{WINDOW}.description": "d" * 79, f"{WINDOW}.schedule": "rate(7 days)",
        f"{WINDOW}.schedule_timezone": "Europe/Berlin", f"{WINDOW}.cutoff_hours": 3, f"{WINDOW}.max_errors": "0",
        "maintenance_windows[1].schedule": "at(2026-07-07T13:15:30)", "resource_data_sync.name": "s" * 64,
        "resource_data_sync.kms_key_arn": "arn:aws:kms:eu-west-1:333333333333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    }))
    assert settings.baselines[0].approval_rules[0].filters == {"SEVERITY": ("*",)}
    assert settings.maintenance_windows[0].name == "w" * 120
    ubuntu = parse_settings(edited({"baselines[0].operating_system": "UBUNTU", f"{RULE}.approve_after_days": None,
                                    f"{RULE}.filters": {"PRODUCT": ["Ubuntu22.04"]}}))
    assert ubuntu.baselines[0].approval_rules[0].approve_after_days is None


@pytest.mark.parametrize(("section", "expected"), [
    ("aws", {"connection_id": "aws_default", "region": "eu-west-1"}),
    ("storage", {"lake_uri": "s3://patch-compliance-lake/lake", "catalog": "sql", "catalog_uri": "",
                 "catalog_database": "patch_compliance", "retention_days": 400}),
    ("scan", {"target_tag_key": "PatchGroup", "target_tag_values": (), "sync_min_share": 0.95}),
    ("tags", {"team": ("Team",), "environment": ("Environment",), "patch_group": ("PatchGroup", "Patch Group")}),
    ("ingest", {"freshness_hours": 26, "max_quarantine_share": 0.01, "read_threads": 16, "max_line_bytes": 1 << 20}),
    ("report", {"critical_severities": ("Critical", "Important"), "missing_critical_age_days": 14}),
    ("patch_catalog", {"ssm": True, "max_lookups_per_day": 2000, "unknown_retry_days": 7, "feeds": ()}),
    ("airflow", {"owner": "platform-team", "retries": 3, "retry_delay_seconds": 120,
                 "slack_connection_id": "slack_webhook", "report_link_base": ""}),
    ("quality", {"tag_coverage_min": 0.99, "environment_patch_groups": {}, "top_offenders": 15,
                 "suites_dir": "expectations", "inactive_instance_statuses": ("Terminated", "Stopped")}),
    ("query", {"engine": "duckdb", "athena_database": "", "athena_workgroup": "primary", "athena_region": ""}),
    ("baselines", ()), ("patch_groups", ()), ("maintenance_windows", ()), ("resource_data_sync", None),
    ("policy_apply", {"role_name": ""}),
    ("notifications", {"teams": {}}),
])
def test_defaults_hold(section: str, expected: Any) -> None:
    value = getattr(parse_settings({}), section)
    if isinstance(expected, dict):
        assert {key: getattr(value, key) for key in expected} == expected
    else:
        assert value == expected


def test_given_values_are_kept_and_normalised() -> None:
    settings = parse_settings({"ingest": {"max_quarantine_share": 0.2}, "airflow": {"retries": 0, "owner": "ops"},
                               "storage": {"lake_uri": "s3://my-lake/prefix/"}, "tags": {"team": "Owner"},
                               "query": {"athena_output_location": "s3://results/q"}})
    assert settings.ingest == IngestSettings(max_quarantine_share=0.2)
    assert settings.airflow == AirflowSettings(retries=0, owner="ops")
    assert settings.storage.lake_uri == "s3://my-lake/prefix" and settings.tags.team == ("Owner",)
    assert settings.query == QuerySettings(athena_output_location="s3://results/q/")
    assert parse_settings({"quality": {"allowed_environments": []}}).quality == QualitySettings(allowed_environments=())
    teams = {"payments": "slack_payments", "(untagged)": "slack.platform-1"}
    assert parse_settings({"notifications": {"teams": teams}}).notifications == NotificationSettings(teams=teams)
