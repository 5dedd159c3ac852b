"""The scan: freshness arithmetic and the RDS prefix (targets and sessions: test_aws.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patch_compliance import scan
from patch_compliance.config import load_settings
from patch_compliance.inputs import InputError


@pytest.mark.parametrize(("expected", "share", "required"), [
    (440, 0.95, 418), (20, 0.95, 19), (3, 0.75, 3), (1, 0.5, 1), (0, 0.95, 0), (100, 1.0, 100), (7, 0.0, 1)])
def test_required_nodes_round_up(expected: int, share: float, required: int) -> None:
    assert scan._required(expected, share) == required


def test_rds_prefix_is_the_patch_summary_partition_of_the_target() -> None:
    bucket, prefix = scan.rds_prefix(load_settings(), "333333333333", "eu-west-1")
    assert bucket == "patch-rds-sync"
    assert prefix == ("rds/AWS:PatchSummary/accountid=333333333333/region=eu-west-1/"
                      "resourcetype=ManagedInstanceInventory/")
    with pytest.raises(InputError):
        scan.rds_prefix(load_settings(), "3333", "eu-west-1")


def test_sync_deadline_counts_from_the_scan_start() -> None:
    started = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    facts = {"scan_started_at": started.isoformat()}
    assert not scan.wait_deadline_passed(facts, 30, now=started + timedelta(minutes=29, seconds=59))
    assert scan.wait_deadline_passed(facts, 30, now=started + timedelta(minutes=30, seconds=1))


