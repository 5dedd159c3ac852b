"""Remediation figures (patch_compliance.remediation) on a crafted lake: every event, median, 90th percentile,
bin and breach worked out by hand.

Snapshots on the Mondays 10-05 (the lake's first), 10-12, 10-26, 11-02, 11-09, 11-16 and 11-23 (the
report day). Severity is the vendor's (PatchSeverity); critical = Security with Critical or Important.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from patch_compliance.remediation import REMEDIATION_COLUMNS, age_bin, median, month_of, p90, remediation_rows
from patch_compliance.report import build_report
from tests.fixtures import report_lakes as sc

pytestmark = pytest.mark.xdist_group("report_remediation")

DAYS = [date(2026, 10, 5), date(2026, 10, 12), date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9),
        date(2026, 11, 16), date(2026, 11, 23)]
M = "Missing"
ALPHA = {"Team": "alpha", "Environment": "prod", "PatchGroup": "prod-linux"}
BETA = {"Team": "beta", "Environment": "dev", "PatchGroup": "dev-linux"}


def n(number: int) -> str:
    return f"i-{number:017x}"


def timeline(patch: str, states: dict[str, str], severity: str = "Critical", classification: str = "Security",
             titles: dict[str, str] | None = None):
    """The item of ``patch`` per day ("MM-DD" -> state); absent on other days."""
    def on(day: date) -> list[sc.Item]:
        key = f"{day:%m-%d}"
        if key not in states:
            return []
        return [sc.Item(patch, states[key], classification, severity, title=(titles or {}).get(key))]
    return on


EVERY_DAY = [f"{d:%m-%d}" for d in DAYS]
HOSTS = {
    n(1): (ALPHA, [
        timeline("p1", {"10-05": M, "10-12": M, "10-26": M, "11-02": "Installed"}),  # 28 d from 10-05, lower bound
        timeline("p2", {"11-02": M, "11-09": M, "11-16": "InstalledPendingReboot", "11-23": "Installed"},
                 "Important"),  # 21 d: the reboot of the 16th is not the fix
        timeline("p3", {"10-12": M, "10-26": "Installed"}),  # October, 14 d: not late
        timeline("p4", {"11-09": "Failed", "11-16": "Installed"}),  # 7 d
        timeline("p5", {"10-26": M, "11-02": "Installed", "11-09": M, "11-16": "Installed"}, "Medium", "Bugfix",
                 {"11-09": "p5:0:2.0-1"}),  # twice 7 d (a second version)
        timeline("p6", dict.fromkeys(EVERY_DAY, M)),  # open, 49 d (31-90), breaching
        timeline("p7", {"11-16": M, "11-23": M}),  # open, 7 d (0-7)
        timeline("p8", {"11-23": M}, "Low"),  # open, not critical
    ]),
    n(2): (ALPHA, [timeline("p9", {"10-26": M, "11-02": M, "11-09": "Installed"})]),  # released 10-20: 20 d
    n(3): (BETA, [
        timeline("q1", {"11-16": M, "11-23": "Installed"}),  # released 11-16: 7 d
        timeline("q2", {"11-16": M, "11-23": "Installed"}),  # released 11-13: 10 d
        timeline("q3", {"11-09": M, "11-16": M, "11-23": "Installed"}),  # released 11-08: 15 d
        timeline("q4", {"10-26": M, "11-02": M, "11-09": M, "11-16": M, "11-23": "Installed"}),  # 10-24: 30 d
        timeline("q5", dict.fromkeys(EVERY_DAY, M)),  # released 08-01: open 114 d (> 90)
        timeline("q6", {"11-16": M, "11-23": M}),  # released 11-12: open 11 d (8-14)
        timeline("q7", {"11-23": M}),  # released 11-01: open 22 d (15-30)
        timeline("q8", {"11-09": M, "11-16": M, "11-23": M}),  # no release date: open 14 d (8-14), breaching
    ]),
    n(4): ({}, [timeline("r1", {"11-09": M, "11-16": "Installed", "11-23": "Installed"}, "Important")]),  # 7 d
    # Terminated on the report day: its remediation counts, its open item does not.
    n(5): (ALPHA, [timeline("t1", {"11-02": M, "11-09": "Installed", "11-16": "Installed", "11-23": "Installed"}),
                   timeline("t2", {"11-23": M})]),
}
CATALOG = [("p9", sc.item_title("p9"), date(2026, 10, 20), []), ("q1", sc.item_title("q1"), date(2026, 11, 16), []),
           ("q2", sc.item_title("q2"), date(2026, 11, 13), []), ("q3", sc.item_title("q3"), date(2026, 11, 8), []),
           ("q4", sc.item_title("q4"), date(2026, 10, 24), []), ("q5", sc.item_title("q5"), date(2026, 8, 1), []),
           ("q6", sc.item_title("q6"), date(2026, 11, 12), []), ("q7", sc.item_title("q7"), date(2026, 11, 1), [])]


def nodes_on(day: date) -> list[sc.Node]:
    return [sc.Node(instance_id, tags=dict(tags), items=[i for t in timelines for i in t(day)],
                    instance_status="Terminated" if instance_id == n(5) and day == DAYS[-1] else "Active")
            for instance_id, (tags, timelines) in HOSTS.items()]


def row(month: str, team: str, severity: str, remediated: int, median_days: str, p90_days: str, max_days: str,
        lower_bound: int, late: int, open_: tuple[int, ...] | None = None) -> dict[str, str]:
    """A remediation.csv row; ``open_``: open, open critical, the five age bins, breaching (None: an earlier month)."""
    values = [month, team, severity, remediated, median_days, p90_days, max_days, lower_bound, late,
              *(open_ if open_ is not None else [""] * 8)]
    return dict(zip(REMEDIATION_COLUMNS, map(str, values), strict=True))


# By hand. alpha Critical this month: p4 7, t1 7, p9 20 (release), p1 28 (first seen on the lake's first day):
# median (7 + 20) / 2 = 13.5; p90 nearest rank ceil(0.9 * 4) = 4th = 28; late (> 14 d) p9 and p1.
# beta Critical: 7, 10, 15, 30: median 12.5, p90 30, late 15 and 30; open q5 (114), q6 (11), q7 (22), q8 (14):
# bins 8-14 twice, 15-30 once, > 90 once; breaching (>= 14 d) q5, q7, q8.
EXPECTED = [
    row("2026-11", "(untagged)", "Important", 1, "7.0", "7", "7", 0, 0, (0, 0, 0, 0, 0, 0, 0, 0)),
    row("2026-11", "alpha", "Critical", 4, "13.5", "28", "28", 1, 2, (2, 2, 1, 0, 0, 1, 0, 1)),
    row("2026-11", "alpha", "Important", 1, "21.0", "21", "21", 0, 1, (0, 0, 0, 0, 0, 0, 0, 0)),
    row("2026-11", "alpha", "Low", 0, "", "", "", 0, 0, (1, 0, 0, 0, 0, 0, 0, 0)),
    row("2026-11", "alpha", "Medium", 2, "7.0", "7", "7", 0, 0, (0, 0, 0, 0, 0, 0, 0, 0)),  # not critical: not late
    row("2026-11", "beta", "Critical", 4, "12.5", "30", "30", 0, 2, (4, 4, 0, 2, 1, 0, 1, 3)),
    row("2026-10", "alpha", "Critical", 1, "14.0", "14", "14", 0, 0),  # p3: exactly 14 d is not late
]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("remediation")
    lake = sc.land(tmp, {day: nodes_on(day) for day in DAYS})
    lake.write_table_snapshot("patch_catalog", DAYS[-1], sc.catalog_table(CATALOG))
    build_report(lake.uri, "2026-11", None, str(tmp / "out"))
    return tmp / "out"


def test_remediation_csv_is_worked_out_by_hand(report) -> None:
    with (report / "remediation.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == REMEDIATION_COLUMNS
        assert list(reader) == EXPECTED


def test_the_open_critical_items_are_those_of_missing_critical_patches(report) -> None:
    with (report / "missing_critical_patches.csv").open(newline="") as handle:
        ages = sorted((r["instance_id"], r["patch_id"], int(r["age_days"])) for r in csv.DictReader(handle))
    assert ages == [(n(1), "p6", 49), (n(1), "p7", 7), (n(3), "q5", 114), (n(3), "q6", 11), (n(3), "q7", 22),
                    (n(3), "q8", 14)]


def test_team_pages_carry_their_remediation_figures(report) -> None:
    alpha = (report / "teams" / "alpha" / "report.html").read_text()
    assert "13.5" in alpha and "21.0" in alpha and "12.5" not in alpha  # beta's median is on beta's page
    assert "1 / 14.0 / 14" in alpha  # Critical: October's remediated / median / p90 beside November's
    assert "12.5" in (report / "teams" / "beta" / "report.html").read_text()
    assert "Open critical items by age" in (report / "report.html").read_text()


@pytest.mark.parametrize(("values", "middle", "ninetieth"), [
    ([5], "5.0", 5), ([3, 1], "2.0", 3), ([1, 2, 4], "2.0", 4), (list(range(1, 11)), "5.5", 9),
    (list(range(1, 12)), "6.0", 10), ([], "", None)])
def test_median_and_nearest_rank_p90(values: list[int], middle: str, ninetieth: int | None) -> None:
    assert (median(values), p90(values)) == (middle, ninetieth)


@pytest.mark.parametrize(("age", "expected"), [
    (0, "0_7"), (7, "0_7"), (8, "8_14"), (14, "8_14"), (15, "15_30"), (30, "15_30"), (31, "31_90"), (90, "31_90"),
    (91, "over_90"), (4000, "over_90")])
def test_an_age_falls_in_the_bin_whose_bounds_include_it(age: int, expected: str) -> None:
    assert age_bin(age) == expected


def test_month_of_pads_the_month() -> None:
    assert (month_of(date(2026, 3, 31)), month_of(date(999, 12, 1))) == ("2026-03", "0999-12")


def test_rows_group_by_month_team_and_severity_and_only_the_report_month_counts_what_is_open() -> None:
    def bucket(month: int, days: int, count: int = 1, critical: int = 1, lower_bound: int = 0) -> dict:
        return {"remediated_year": 2026, "remediated_month": month, "team": "ops", "patch_severity": "Critical",
                "days_to_remediate": days, "remediations": count, "lower_bound_items": lower_bound,
                "critical_items": critical}
    # November: 4 (a lower bound), 15, 20 twice (one of them not critical); October: 30
    histogram = [bucket(11, 20, count=2), bucket(11, 4, lower_bound=1), bucket(11, 15), bucket(10, 30)]
    open_items = [{"team": "ops", "patch_severity": "Critical", "open_items": 3},
                  {"team": "web", "patch_severity": "Low", "open_items": 2}]
    missing = [{"team": "ops", "patch_severity": "Critical", "age_days": 3},
               {"team": "ops", "patch_severity": "Critical", "age_days": 14}]
    rows = {(r["month"], r["team"], r["severity"]): r for r in remediation_rows(
        histogram, open_items, missing, date(2026, 11, 30), threshold=14)}
    assert list(rows) == [("2026-11", "ops", "Critical"), ("2026-11", "web", "Low"), ("2026-10", "ops", "Critical")]
    november = rows[("2026-11", "ops", "Critical")]
    # 4, 15, 20, 20: the mean of the middle two; nearest rank ceil(0.9 * 4) = 4th; late = critical over 14 days:
    # 15 and one of the 20s
    assert (november["remediated"], november["median_days"], november["p90_days"], november["max_days"]) == (
        4, "17.5", 20, 20)
    assert (november["lower_bound_items"], november["remediated_late"]) == (1, 2)
    assert (november["open"], november["open_critical"], november["open_critical_0_7"],
            november["open_critical_8_14"], november["open_critical_breaching"]) == (3, 2, 1, 1, 1)
    web = rows[("2026-11", "web", "Low")]
    assert (web["remediated"], web["median_days"], web["p90_days"], web["open"], web["open_critical"]) == (
        0, "", None, 2, 0)
    october = rows[("2026-10", "ops", "Critical")]
    assert (october["remediated"], october["remediated_late"], october["open"], october["open_critical"]) == (
        1, 1, None, None)
