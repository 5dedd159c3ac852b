"""Config loading (patch_compliance.config): every section typed at load, typos fail with their path.

A typo must never fall back to a default silently, so every mapping of the project's own
config/fleet.yaml is given a misspelt key and must fail with that key's path; each section also has
its bad values (with the message a user sees) and its defaults checked.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from patch_compliance.config import (
    POLICY_SECTIONS,
    AirflowSettings,
    AwsSettings,
    IngestSettings,
    PatchCatalogSettings,
    PolicyApplySettings,
    QualitySettings,
    QuerySettings,
    ReportSettings,
    ScanSettings,
    Settings,
    StorageSettings,
    TagKeys,
    default_config_path,
    load_settings,
    parse_settings,
)
from patch_compliance.inputs import InputError

RAW = yaml.safe_load(default_config_path().read_text())
FREE_FORM = {"environment_patch_groups", "filters", "targets"}  # their keys are data, not settings
FEED = {"name": "al2023", "products": ["AmazonLinux2023"],
        "mirror_list": "https://cdn.amazonlinux.com/al2023/core/mirrors/latest/x86_64/mirror.list"}


def rejects(config: Any, message: str) -> str:
    """The error text ``parse_settings`` gives for ``config``, checked to contain ``message``."""
    with pytest.raises(InputError) as raised:
        parse_settings(config)
    assert message in str(raised.value), str(raised.value)
    return str(raised.value)


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


def at(config: dict[str, Any], path: str) -> dict[str, Any]:
    node: Any = config
    for part in path.replace("[", ".[").split(".") if path else []:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


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


@pytest.mark.parametrize(("path", "typo", "suggestion"), [
    ("", "qualty", "quality"),
    ("quality", "tag_coverge_min", "tag_coverage_min"),
    ("accounts[1]", "rol_arn", "role_arn"),
    ("patch_catalog.feeds[0]", "mirorr_list", "mirror_list"),
    ("maintenance_windows[1]", "targets_", "targets"),
])
def test_a_typo_names_its_path_and_the_key_meant(path: str, typo: str, suggestion: str) -> None:
    config = copy.deepcopy(RAW)
    at(config, path)[typo] = at(config, path).pop(suggestion, "x")
    rejects(config, f"{path + '.' if path else ''}{typo}: unknown key (did you mean {suggestion!r}?")


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
    AirflowSettings, QualitySettings, QuerySettings, PolicyApplySettings, Settings])
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
    ({"baselines": [{**RAW["baselines"][0], "approval_rules": [{"filters": {}, "approve_after_days": "7"}]}]},
     "baselines[0].approval_rules[0].approve_after_days: expected a whole number, got '7'"),
    ({"patch_groups": [{"name": "g"}]}, "patch_groups[0].baselines: required key missing"),
    ({"maintenance_windows": [{**RAW["maintenance_windows"][0], "duration_hours": "4"}]},
     "maintenance_windows[0].duration_hours: expected a whole number, got '4'"),
    ({"resource_data_sync": {"bucket": "b"}}, "resource_data_sync.name: required key missing"),
    ({"policy_apply": {"role_name": 7}}, "policy_apply.role_name: expected a string, got 7"),
])
def test_policy_sections_are_typed(config: dict[str, Any], message: str) -> None:
    rejects(config, message)


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


def contains(read: Any, given: Any) -> bool:
    """``read`` has everything ``given`` has, at every level (and may add defaults)."""
    if isinstance(given, dict):
        return isinstance(read, dict) and all(k in read and contains(read[k], v) for k, v in given.items())
    if isinstance(given, list):
        return isinstance(read, list) and len(read) == len(given) and all(map(contains, read, given))
    return read == given


def test_raw_holds_only_the_policy_sections_as_written() -> None:
    """``Settings.raw`` is what policy.load_policy reads until it reads the typed sections."""
    raw = load_settings().raw
    assert set(raw) == set(POLICY_SECTIONS)
    assert all(contains(raw[name], RAW[name]) for name in POLICY_SECTIONS)
    assert raw["baselines"][0]["approval_rules"][0]["enable_non_security"] is False  # a default, filled in
    assert "resource_data_sync" not in parse_settings({}).raw
