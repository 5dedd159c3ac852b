"""The cause of each non-compliant, stale, no-data and unmanaged host, on a crafted lake, worked out by hand.

The policy is config/fleet.yaml's: patch groups dev-/staging-/prod-linux|windows; prod-install runs on
Saturdays 02:00-06:00 UTC and targets Environment=prod, nonprod-install on Tuesdays 12:00-15:00 and
targets Environment=dev|staging. Snapshots: Tuesday 2026-11-10, Monday 11-16 and the report day, Thursday
11-19, each captured at 02:00. So on the report day the last runs that ended before the hosts' scans
are Saturday 11-14 (prod) and Tuesday 11-17 (dev).
"""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from patch_compliance.config import MaintenanceWindowConfig, load_settings
from patch_compliance.report import build_report
from patch_compliance.report_causes import policy_facts
from tests.fixtures import report_lakes as sc

pytestmark = pytest.mark.xdist_group("report_causes")

D10, D16, D19 = date(2026, 11, 10), date(2026, 11, 16), date(2026, 11, 19)
PROD = {"Team": "ops", "Environment": "prod", "PatchGroup": "prod-linux"}
DRIFTED, UNDECLARED = "pb-0dddddddddddddddd", "pb-0eeeeeeeeeeeeeeee"


def n(number: int) -> str:
    return f"i-{number:017x}"


def missing(patch: str, title: str | None = None) -> sc.Item:
    return sc.Item(patch, "Missing", title=title)


def nodes_on(day: date) -> list[sc.Node]:
    before_run = day == D10  # a snapshot before both windows' last runs
    after = day >= D16
    return [
        sc.Node(n(2), tags=dict(PROD), items=[missing("openssl")], capture_hours_before=30 if day == D19 else 1),
        sc.Node(n(3), tags=dict(PROD), items=[missing("openssl")], instance_status="ConnectionLost"),
        sc.Node(n(4), tags={"Team": "ops", "Environment": "prod"}, items=[missing("openssl")]),
        sc.Node(n(5), tags={**PROD, "PatchGroup": "prod-legacy"}, items=[missing("openssl")]),
        sc.Node(n(6), tags={**PROD, "PatchGroup": "Prod-Linux"}, items=[missing("openssl")]),  # tags are exact
        sc.Node(n(7), tags=dict(PROD), items=[missing("openssl")], baseline_id=DRIFTED),
        sc.Node(n(8), tags=dict(PROD), items=[missing("openssl")], baseline_id=UNDECLARED),
        sc.Node(n(9), tags={**PROD, "Environment": "qa"}, items=[missing("openssl")]),
        sc.Node(n(10), tags={"Team": "ops", "PatchGroup": "prod-linux"}, items=[missing("openssl")]),
        sc.Node(n(11), tags=dict(PROD), items=[missing("openssl"), sc.Item("curl", "Failed")]),
        sc.Node(n(12), tags=dict(PROD), items=[sc.Item("kernel", "InstalledPendingReboot"),
                                              sc.Item("glibc", "Installed")]),
        sc.Node(n(13), tags=dict(PROD), items=[sc.Item("kernel", "InstalledPendingReboot"),
                                              *([missing("curl")] if day == D19 else [])]),
        sc.Node(n(14), tags=dict(PROD), items=[missing("openssl")]),  # missing since the 10th
        sc.Node(n(15), tags=dict(PROD), items=[missing("openssl")] if after else []),  # since the 16th
        sc.Node(n(16), tags=dict(PROD), items=[missing("openssl", "openssl:0:1.0-1" if before_run else
                                                       "openssl:0:1.1-1")]),  # a new version since the 16th
        sc.Node(n(17), tags={"Team": "ops", "Environment": "dev", "PatchGroup": "dev-linux"},
                items=[missing("openssl")] if after else []),  # since the 16th, before Tuesday's run
        sc.Node(n(18), tags=dict(PROD), items=[sc.Item("telnet", "InstalledRejected")]),
        sc.Node(n(19), tags=dict(PROD)),  # agent, no patch data
        sc.Node(n(20), tags=dict(PROD), items=[sc.Item("openssl", "Installed")]),
        sc.Node(n(21), tags=dict(PROD), items=[missing("openssl")], instance_status="Stopped"),
        sc.Node(n(22), tags={**PROD, "Team": "web"}, items=[missing("openssl")] if day == D19 else []),
    ]


# Worked out by hand, first match wins:
EXPECTED = {
    n(1): "no_agent",                   # in EC2, no Systems Manager data
    n(2): "stale_agent",                # captured 30 h before the reference time: STALE
    n(3): "stale_agent",                # fresh data but ConnectionLost
    n(4): "no_patch_group",             # no PatchGroup tag
    n(5): "unknown_patch_group",        # prod-legacy is not declared
    n(6): "unknown_patch_group",        # Prod-Linux is not prod-linux
    n(7): "baseline_drift",             # its scan's baseline is recorded drifted on the 10th
    n(8): "baseline_drift",             # ... or undeclared
    n(9): "not_in_window",              # Environment qa: no window targets it
    n(10): "not_in_window",             # no Environment tag at all
    n(11): "install_failed",            # curl Failed (openssl Missing too: Failed comes first)
    n(12): "pending_reboot",            # only InstalledPendingReboot is non-compliant
    n(13): "awaiting_window",           # pending reboot and curl Missing since today: not only the reboot
    n(14): "not_patched_since_window",  # openssl Missing on the 10th, before Saturday's run, still Missing
    n(15): "awaiting_window",           # first Missing on the 16th, after Saturday's run
    n(16): "awaiting_window",           # 1.0 was missing before the run; 1.1, missing now, was not
    n(17): "not_patched_since_window",  # dev: Missing on Monday the 16th, before Tuesday's run
    n(18): "other",                     # an InstalledRejected item only
    n(19): "other",                     # NO_DATA with a declared group, in a window
    n(22): "awaiting_window",           # first Missing today
}


def land(tmp: Path):
    lake = sc.land(tmp, {day: nodes_on(day) for day in (D10, D16, D19)})
    ec2 = [sc.Ec2Instance(n(1), tags={"Team": "ops", "Environment": "prod"})]
    lake.write_table_snapshot("ec2_inventory", D19, sc.ec2_table(D19, ec2))
    lake.write_table_snapshot("baselines", D10, sc.baselines_table(D10, [
        {"baseline_id": sc.BASELINE_ID, "name": "prod-linux", "drift": "in_sync"},
        {"baseline_id": DRIFTED, "name": "prod-linux-edited", "drift": "drifted", "drift_details": "soak 0 != 7"},
        {"baseline_id": UNDECLARED, "name": "hand-made", "drift": "undeclared"}]))
    # After the report day: must not be read by a report of the 19th.
    lake.write_table_snapshot("baselines", date(2026, 11, 20), sc.baselines_table(date(2026, 11, 20), [
        {"baseline_id": sc.BASELINE_ID, "name": "prod-linux", "drift": "drifted"}]))
    return lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return land(tmp_path_factory.mktemp("causes"))


def causes_of(out: Path) -> dict[str, str]:
    with (out / "instance_status.csv").open(newline="") as handle:
        return {r["instance_id"]: r["cause"] for r in csv.DictReader(handle)}


def test_every_cause_on_the_crafted_lake(lake, tmp_path) -> None:
    build_report(lake.uri, "2026-11", None, str(tmp_path))
    assert causes_of(tmp_path) == {**EXPECTED, n(20): "", n(21): ""}  # compliant and stopped: no cause
    with (tmp_path / "team_environment_summary.csv").open(newline="") as handle:
        summary = {(r["team"], r["environment"]): r for r in csv.DictReader(handle)}
    assert {c: summary[("ops", "prod")][f"cause_{c}"] for c in ("no_agent", "stale_agent", "baseline_drift",
                                                               "awaiting_window", "not_in_window")} == {
        "no_agent": "1", "stale_agent": "2", "baseline_drift": "2", "awaiting_window": "3", "not_in_window": "0"}
    assert (summary[("ops", "qa")]["cause_not_in_window"], summary[("ops", "(untagged)")]["cause_not_in_window"],
            summary[("ops", "dev")]["cause_not_patched_since_window"]) == ("1", "1", "1")
    html = (tmp_path / "report.html").read_text()
    assert "Why: causes by Team × Environment" in html and "<code>not_patched_since_window</code>" in html


def test_policy_facts_are_the_declared_groups_targets_and_runs() -> None:
    facts = policy_facts(load_settings(), D19)
    assert facts.patch_groups == ("dev-linux", "dev-windows", "staging-linux", "staging-windows", "prod-linux",
                                  "prod-windows")
    assert facts.window_targets == (("prod-install", "Environment", "prod"), ("nonprod-install", "Environment", "dev"),
                                    ("nonprod-install", "Environment", "staging"))
    # 35 days before the 19th: the Saturdays from 10-17 and the Tuesdays from 10-20, each with its duration.
    assert facts.window_runs == (
        *(("prod-install", f"2026-{d} 02:00:00", f"2026-{d} 06:00:00")
           for d in ("10-17", "10-24", "10-31", "11-07", "11-14")),
        *(("nonprod-install", f"2026-{d} 12:00:00", f"2026-{d} 15:00:00")
           for d in ("10-20", "10-27", "11-03", "11-10", "11-17")))


def test_a_window_targets_a_host_only_when_every_target_key_matches(lake, tmp_path) -> None:
    """One window targeting Environment=prod AND Team=web: the ops hosts are outside every window now."""
    settings = load_settings()
    web = MaintenanceWindowConfig(name="web-install", schedule="cron(0 2 ? * SAT *)", duration_hours=4,
                                  operation="Install", targets={"Environment": ("prod",), "Team": ("web",)})
    build_report(lake.uri, "2026-11", None, str(tmp_path), settings=replace(settings, maintenance_windows=(web,)))
    causes = causes_of(tmp_path)
    assert (causes[n(14)], causes[n(17)], causes[n(22)]) == ("not_in_window", "not_in_window", "awaiting_window")
    assert causes[n(11)] == "not_in_window"  # outside every window comes before a failed install


def test_with_nothing_declared_the_policy_rules_are_off(lake, tmp_path) -> None:
    settings = replace(load_settings(), patch_groups=(), maintenance_windows=(), baselines=())
    manifest = build_report(lake.uri, "2026-11", None, str(tmp_path), settings=settings)
    causes = causes_of(tmp_path)
    assert (causes[n(5)], causes[n(9)], causes[n(14)]) == ("awaiting_window", "awaiting_window", "awaiting_window")
    assert (causes[n(4)], causes[n(7)]) == ("no_patch_group", "baseline_drift")  # the lake's facts still apply
    assert manifest["parameters"]["policy"] == {"patch_groups": [], "window_targets": [], "window_runs": [],
                                                "unevaluated_windows": []}


def test_a_regenerated_report_decides_with_the_policy_it_recorded(lake, tmp_path) -> None:
    first = tmp_path / "first"
    build_report(lake.uri, "2026-11", None, str(first))
    emptied = replace(load_settings(), patch_groups=(), maintenance_windows=(), baselines=())
    build_report(lake.uri, None, None, str(tmp_path / "again"), settings=emptied,
                 from_manifest=str(first / "manifest.json"))
    assert causes_of(tmp_path / "again") == causes_of(first)
