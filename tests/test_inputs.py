"""Validation of external inputs (patch_compliance.inputs): clear errors, nothing escapes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

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
