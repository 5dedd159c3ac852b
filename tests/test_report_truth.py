"""The report and CVE evidence against the fleet simulator's ground truth (sim/truth.py).

The simulator writes RDS JSON for 20 days, the real ingest lands it, and the report's CSVs must
agree with the truth the simulator computes from its own model.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from patch_compliance.evidence import collect_evidence
from patch_compliance.lake import Lake
from patch_compliance.report import build_report
from patch_compliance.report_model import CAUSES
from sim.history import build_history
from sim.state import SimState, build_world

pytestmark = pytest.mark.xdist_group("report_truth")

END = date(2026, 11, 16)
DAYS = 20  # from 2026-10-28: remediations in October too (month over month)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> tuple[Path, dict, Path]:
    tmp = tmp_path_factory.mktemp("truth")
    # More lifecycle cases and defects than 100 nodes would get by scaling, so each one (and every
    # cause) is present on END.
    world = build_world(SimState(seed=11, size=100, sim_date=END,
                                 fleet={"stopped": 8, "connection_lost": 6, "summary_only": 3, "unknown_patch_group": 3,
                                        "failed_installs": 3, "deferred_reboots": 3, "missed_windows": 3,
                                        "drifted_baselines": 1}))
    result = build_history(world, DAYS, END, str(tmp / "lake"), tmp / "work",
                           progress=lambda _message: None)
    build_report(str(tmp / "lake"), "2026-11", None, str(tmp / "out"))
    return tmp / "lake", result["truth"], tmp / "out"


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_summary_matches_truth(simulated):
    _, truth, out = simulated
    expected = [{k: ("" if v is None else f"{v:.1f}") if k == "compliance_pct" else str(v) for k, v in row.items()}
                for row in truth["team_environment_summary"]]
    assert read(out / "team_environment_summary.csv") == expected
    assert any(r["team"] == "(untagged)" for r in expected) or any(r["environment"] == "(untagged)"
                                                                   for r in expected)


def test_instance_status_matches_truth(simulated):
    _, truth, out = simulated
    rows = {r["instance_id"]: r for r in read(out / "instance_status.csv")}
    population = {r["instance_id"]: r for r in truth["instances"] if r["in_population"]}
    assert set(rows) == set(population)
    statuses = set()
    for instance_id, want in population.items():
        got = rows[instance_id]
        statuses.add(want["status"])
        for column in ("account_id", "region", "team", "environment", "status", "instance_status", "cause"):
            assert got[column] == want[column], (instance_id, column)
        if want["non_compliant_items"] is not None:  # managed (UNMANAGED and EC2-stopped rows have none)
            assert got["non_compliant_items"] == str(want["non_compliant_items"]), instance_id
            assert got["missing_critical_14d_items"] == str(want["missing_critical_14d_items"]), instance_id
            assert got["last_capture_time"] == want["last_capture_time"], instance_id
    assert {"COMPLIANT", "NON_COMPLIANT", "UNMANAGED", "STOPPED"} <= statuses
    assert any(r["instance_status"] == "ConnectionLost" for r in population.values())


def test_every_cause_is_produced_and_matches_truth(simulated):
    _, truth, out = simulated
    got = {r["instance_id"]: r["cause"] for r in read(out / "instance_status.csv")}
    want = {r["instance_id"]: r["cause"] for r in truth["instances"] if r["in_population"]}
    assert got == want
    assert set(want.values()) == {"", *CAUSES}  # the simulator makes every cause happen


def test_remediation_matches_truth(simulated):
    _, truth, out = simulated
    expected = [{k: "" if v is None else str(v) for k, v in row.items()} for row in truth["remediation"]]
    assert read(out / "remediation.csv") == expected
    assert any(r["remediated"] != "0" and r["month"] == "2026-10" for r in expected)  # month over month
    assert any(r["remediated_late"] != "0" for r in expected) and any(r["open_critical_breaching"] not in ("", "0")
                                                                      for r in expected)


def test_status_basis_matches_truth(simulated):
    lake, truth, _ = simulated
    instances = Lake(str(lake)).read("instances", [END], columns=["instance_id", "status_basis", "capture_basis"])
    got = dict(zip(instances["instance_id"].to_pylist(), instances["status_basis"].to_pylist(), strict=True))
    want = {r["instance_id"]: r["status_basis"] for r in truth["instances"] if "status_basis" in r}
    assert {k: got[k] for k in want} == want
    assert "summary" in want.values()  # summary-only nodes: NON_COMPLIANT from AWS:PatchSummary alone
    assert set(instances["capture_basis"].to_pylist()) <= {"capture_time", None}


def test_missing_critical_14d_matches_truth(simulated):
    _, truth, out = simulated
    rows = {(r["instance_id"], r["patch_id"]): r for r in read(out / "missing_critical_patches.csv")
            if int(r["age_days"]) >= 14}
    expected = {(r["instance_id"], r["patch_id"]): r for r in truth["missing_critical_14d"]}
    assert expected and set(rows) == set(expected)
    for key, want in expected.items():
        got = rows[key]
        for column in ("account_id", "team", "environment", "classification", "patch_severity", "patch_state",
                       "age_basis", "status"):
            assert got[column] == want[column], (key, column)
        assert int(got["age_days"]) == want["age_days"], key
        assert got["first_seen_missing"] == (want["first_seen_missing"] or ""), key
        # This lake has no catalog (only the product's catalog task fills one): no release date is known.
        assert got["release_date"] == ((want["release_date"] or "") if want["age_basis"] == "release_date" else ""), key
        # The contract says space-separated; the report sorts them, the truth keeps the data's order.
        assert sorted(got["cve_ids"].split()) == sorted(want["cve_ids"].split()), key


def test_cve_evidence_matches_truth(simulated):
    lake, truth, _ = simulated
    history = truth["cve_history"]
    fixed = sorted({r["cve_id"] for r in history if r["first_seen_installed"]})
    open_ = sorted({r["cve_id"] for r in history if not r["first_seen_installed"]})
    assert fixed and open_
    for cve in [*fixed[:3], *open_[:2]]:
        got = read_evidence(lake, cve)
        want = [r for r in history if r["cve_id"] == cve]
        assert [(r["instance_id"], r["patch_id"]) for r in got] == sorted(
            (r["instance_id"], r["patch_id"]) for r in want)
        by_key = {(r["instance_id"], r["patch_id"]): r for r in want}
        for row in got:
            expected = by_key[(row["instance_id"], row["patch_id"])]
            for column in ("account_id", "team", "environment", "first_seen_missing", "last_seen_missing",
                           "first_seen_installed", "current_state"):
                assert row[column] == (expected[column] or ""), (cve, row["instance_id"], column)
            assert row["installed_time"] == (expected["installed_time"] or ""), (cve, row["instance_id"])


def read_evidence(lake: Path, cve: str) -> list[dict[str, str]]:
    evidence = collect_evidence(str(lake), cve)
    return list(csv.DictReader(evidence.csv.decode().splitlines()))
