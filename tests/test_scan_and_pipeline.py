"""Pure parts of the DAGs' library: freshness arithmetic, config knobs, the report headline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patch_compliance import pipeline, scan
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


def test_report_headline_totals_and_worst_cells() -> None:
    cells = [
        {"team": "a", "environment": "prod", "instances": "10", "compliant": "9", "non_compliant": "1", "stale": "0",
         "no_data": "0", "unmanaged": "0", "instances_missing_critical_14d": "0"},
        {"team": "b", "environment": "dev", "instances": "4", "compliant": "1", "non_compliant": "2", "stale": "1",
         "no_data": "0", "unmanaged": "0", "instances_missing_critical_14d": "2"},
        {"team": "(untagged)", "environment": "dev", "instances": "2", "compliant": "1", "non_compliant": "1",
         "stale": "0", "no_data": "0", "unmanaged": "0", "instances_missing_critical_14d": "1"},
    ]
    head = pipeline.report_headline(cells)
    assert (head["instances"], head["compliant"], head["compliance_pct"]) == (16, 11, 68.8)
    assert [(c["team"], c["environment"]) for c in head["worst"]] == [("b", "dev"), ("(untagged)", "dev"),
                                                                      ("a", "prod")]
    # Two stopped hosts more in b/dev: in the instance count, out of the denominators (11 of 16 again).
    cells[1] = {**cells[1], "instances": "6", "stopped": "2"}
    head = pipeline.report_headline(cells)
    assert (head["instances"], head["stopped"], head["compliance_pct"]) == (18, 2, 68.8)
    assert (head["worst"][0]["team"], head["worst"][0]["environment"]) == ("b", "dev")


def test_report_month_prefers_the_form_and_validates_it() -> None:
    moment = datetime(2026, 12, 25, 8, tzinfo=UTC)
    assert pipeline.report_month(None, moment) == "2026-12"
    assert pipeline.report_month("2026-11", moment) == "2026-11"
    with pytest.raises(InputError):
        pipeline.report_month("2026-13", moment)
