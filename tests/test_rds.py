"""RDS object keys and line format (patch_compliance.rds): only the layout Resource Data Sync writes is read."""

from __future__ import annotations

import json

import pytest

from patch_compliance import rds


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
    text = rds.format_lines("i-0abc1234", "2026-11-02T03:10:04Z", [{"MissingCount": 5, "InstalledTime": None}])
    (record,) = [json.loads(x) for x in text.decode().splitlines()]
    assert record == {"MissingCount": "5", "InstalledTime": "", "resourceId": "i-0abc1234",
                      "captureTime": "2026-11-02T03:10:04Z", "schemaVersion": "1.0"}
