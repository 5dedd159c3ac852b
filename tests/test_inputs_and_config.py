"""Validation of external inputs, RDS key parsing and config loading: clear errors, nothing escapes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from patch_compliance import rds
from patch_compliance.config import load_settings, parse_settings
from patch_compliance.inputs import (
    InputError,
    parse_date,
    parse_location,
    parse_month,
    parse_timestamp,
    validate_account_id,
    validate_cve_id,
    validate_instance_id,
    validate_region,
)


def test_dates_months_and_timestamps() -> None:
    assert parse_date("2028-02-29") == date(2028, 2, 29)
    assert parse_month("2026-11") == (2026, 11)
    assert parse_timestamp("2026-11-02T03:10:04Z") == datetime(2026, 11, 2, 3, 10, 4, tzinfo=UTC)
    assert parse_timestamp("2026-11-02T05:10:04+02:00") == datetime(2026, 11, 2, 3, 10, 4, tzinfo=UTC)
    for bad in ("2026-13-01", "2027-02-29", "26-11-02", "2026-11-02; DROP TABLE x", ""):
        with pytest.raises(InputError):
            parse_date(bad)
    for bad in ("2026-13", "2026-1", "2026-11-01"):
        with pytest.raises(InputError):
            parse_month(bad)
    with pytest.raises(InputError, match="ISO-8601"):
        parse_timestamp("yesterday")


def test_ids() -> None:
    assert validate_instance_id("i-0abc123def4567890") == "i-0abc123def4567890"
    assert validate_instance_id("i-0abc1234") == "i-0abc1234"
    assert validate_instance_id("mi-0123456789abcdef0") == "mi-0123456789abcdef0"
    assert validate_cve_id(" cve-2026-12345 ") == "CVE-2026-12345"
    assert validate_account_id("123456789012") and validate_region("us-gov-west-1")
    for check, bad in [(validate_instance_id, "i-XYZ"), (validate_instance_id, "i-0abc/../x"),
                       (validate_cve_id, "CVE-2026-123"), (validate_cve_id, "CVE-2026-1234' OR 1=1"),
                       (validate_account_id, "12345"), (validate_region, "eu_west_1")]:
        with pytest.raises(InputError):
            check(bad)


def test_locations_cannot_escape() -> None:
    location = parse_location("s3://my-bucket/lake/")
    assert (location.bucket, location.path, location.uri) == ("my-bucket", "lake", "s3://my-bucket/lake")
    assert location.join("patch_compliance", "x.parquet") == "my-bucket/lake/patch_compliance/x.parquet"
    with pytest.raises(InputError):
        location.join("../other")
    local = parse_location("relative/dir")
    assert Path(local.path).is_absolute()
    for bad in ("s3://ab/x", "s3://Bad_Bucket", "s3://bucket/a/../b", "gs://bucket/x", "  "):
        with pytest.raises(InputError):
            parse_location(bad)


@pytest.mark.parametrize(("key", "expected"), [
    ("AWS:ComplianceItem/accountid=123456789012/region=eu-west-1/resourcetype=ManagedInstanceInventory/"
     "i-0abc123def4567890.json", ("AWS:ComplianceItem", "123456789012", "eu-west-1", "i-0abc123def4567890")),
    ("AWS%3ATag/accountid=123456789012/region=us-east-2/resourcetype=ManagedInstanceInventory/"
     "mi-0123456789abcdef0.json", ("AWS:Tag", "123456789012", "us-east-2", "mi-0123456789abcdef0")),
    # Keys are relative to the sync prefix: the layout one level deeper is a nested copy, not this day.
    ("old/AWS%3ATag/accountid=123456789012/region=us-east-2/resourcetype=ManagedInstanceInventory/"
     "mi-0123456789abcdef0.json", None),
    ("AWS:InstanceInformation/accountid=123456789012/test.json", None),
    ("AWS:Tag/accountid=123456789012/region=eu-west-1/resourcetype=ManagedInstance/i-0abc1234.json", None),
    ("AWS:Tag/accountid=1234/region=eu-west-1/resourcetype=ManagedInstanceInventory/i-0abc1234.json", None),
    ("AWS:Tag/accountid=123456789012/region=eu-west-1/resourcetype=ManagedInstanceInventory/i-../x.json", None),
])
def test_rds_keys(key: str, expected: tuple[str, str, str, str] | None) -> None:
    parsed = rds.parse_key(key)
    got = None if parsed is None else (parsed.rds_type, parsed.account_id, parsed.region, parsed.node_id)
    assert got == expected
    if expected:
        canonical = key.replace("%3A", ":")
        assert rds.object_key(*expected) == canonical


def test_format_lines_writes_strings_and_envelope() -> None:
    import json

    text = rds.format_lines("i-0abc1234", "2026-11-02T03:10:04Z", [{"MissingCount": 5, "InstalledTime": None}])
    (record,) = [json.loads(x) for x in text.decode().splitlines()]
    assert record == {"MissingCount": "5", "InstalledTime": "", "resourceId": "i-0abc1234",
                      "captureTime": "2026-11-02T03:10:04Z", "schemaVersion": "1.0"}


def test_project_config_loads_and_bad_config_is_explained() -> None:
    settings = load_settings()
    assert [a.name for a in settings.accounts] == ["dev", "staging", "prod"]
    assert settings.tags.patch_group == ("PatchGroup", "Patch Group")
    assert settings.ingest.freshness_hours == 26
    with pytest.raises(InputError, match="unknown keys"):
        parse_settings({"ingest": {"freshness": 3}})
    with pytest.raises(InputError, match=r"ingest.max_quarantine_share: expected a number in \[0, 1\]"):
        parse_settings({"ingest": {"max_quarantine_share": 5}})
    with pytest.raises(InputError, match="account id"):
        parse_settings({"accounts": [{"id": "12", "name": "x", "regions": ["eu-west-1"]}]})
    with pytest.raises(InputError, match="role in account"):
        parse_settings({"accounts": [{"id": "123456789012", "name": "x", "regions": "eu-west-1",
                                      "role_arn": "arn:aws:iam::999999999999:role/x"}]})


@pytest.mark.parametrize(("section", "values", "message"), [
    ("storage", {"catalog": "hive"}, r"storage\.catalog: expected one of \['sql', 'glue'\]"),
    ("storage", {"catalog_uri": "mongodb://x"}, r"storage\.catalog_uri: expected a SQLAlchemy URI"),
    ("storage", {"catalog_database": "Bad-Name"}, r"storage\.catalog_database: expected a Glue database name"),
    ("storage", {"retention_days": 0}, r"storage\.retention_days: expected a whole number in \[1, 3650\]"),
    ("ingest", {"max_line_bytes": 10}, r"ingest\.max_line_bytes: expected a whole number"),
    ("ingest", {"future_capture_tolerance_hours": -1}, r"ingest\.future_capture_tolerance_hours"),
])
def test_lake_and_ingest_settings_are_validated_with_their_path(section, values, message) -> None:
    with pytest.raises(InputError, match=message):
        parse_settings({section: values})
