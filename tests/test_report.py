"""The monthly report against expectations computed here, independently, from the scenario data."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from patch_compliance.config import sql_dir
from patch_compliance.inputs import InputError
from patch_compliance.lake import Lake
from patch_compliance.report import build_report
from tests.fixtures import report_lakes as sc

pytestmark = pytest.mark.xdist_group("report_lake")

CRITICAL_CLASSES = {"Security", "SecurityUpdates", "CriticalUpdates"}
CRITICAL_SEVERITIES = {"Critical", "Important"}
NON_COMPLIANT_STATES = {"Missing", "Failed", "InstalledPendingReboot", "InstalledRejected"}


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("november")
    sc.land_november(tmp)
    return tmp / "lake"


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def z(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pct(compliant: int, total: int) -> str:
    return str((Decimal(compliant * 100) / Decimal(total)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def item_on(day: date, instance_id: str, patch_id: str) -> sc.Item | None:
    for node in sc.november_nodes(day):
        if node.instance_id == instance_id:
            return next((i for i in node.items if i.patch_id == patch_id), None)
    return None


def first_seen_missing(instance_id: str, patch_id: str, report_date: date) -> date:
    """Walk back from the report date; an absent item does not break the run, any other state does."""
    first = report_date
    for day in sorted((d for d in sc.DAYS if d <= report_date), reverse=True):
        item = item_on(day, instance_id, patch_id)
        if item is None:
            continue
        if item.state not in ("Missing", "Failed"):
            break
        first = day
    return first


def catalog_release(catalog: list[sc.CatalogRow], patch_id: str, title: str) -> date | None:
    """The catalog row of the same patch_id and title, else the patch_id's only release date."""
    dated = [(t, rel) for pid, t, rel, _ in catalog if pid == patch_id and rel is not None]
    by_title = [rel for t, rel in dated if t == title]
    if by_title:
        return min(by_title)
    return dated[0][1] if len({rel for _, rel in dated}) == 1 else None


def expected_status(node: sc.Node) -> str:
    """DESIGN.md's status rules, first match wins."""
    counted = [i for i in node.items if i.state != "NotApplicable"]
    if node.instance_status == "Stopped":
        return "STOPPED"
    if not counted:
        return "NO_DATA"
    if node.capture_hours_before > 26:
        return "STALE"
    return "NON_COMPLIANT" if any(i.state in NON_COMPLIANT_STATES for i in counted) else "COMPLIANT"


def expected_missing(report_date: date, catalog: list[sc.CatalogRow]) -> list[dict[str, str]]:
    rows = []
    for node in sc.november_nodes(report_date):
        if node.instance_status == "Terminated":
            continue
        for item in node.items:
            if not (item.state in ("Missing", "Failed") and item.classification in CRITICAL_CLASSES
                    and item.severity in CRITICAL_SEVERITIES):
                continue
            seen = first_seen_missing(node.instance_id, item.patch_id, report_date)
            release = catalog_release(catalog, item.patch_id, sc.item_title(item.patch_id))
            basis = release or seen
            rows.append({
                "snapshot_date": report_date.isoformat(), "account_id": node.account_id, "region": sc.REGION,
                "instance_id": node.instance_id, "team": node.tags.get("Team", "(untagged)"),
                "environment": node.tags.get("Environment", "(untagged)"), "patch_id": item.patch_id,
                "classification": item.classification, "patch_severity": item.severity,
                "patch_state": item.state, "cve_ids": " ".join(sorted(item.cves)),
                "first_seen_missing": seen.isoformat(), "release_date": release.isoformat() if release else "",
                "age_days": str((report_date - basis).days),
                "age_basis": "release_date" if release else "first_seen_missing",
                # Seen missing since the lake's first snapshot, release unknown: it may be older.
                "age_is_lower_bound": "true" if not release and seen == min(sc.DAYS) else "false",
                "status": expected_status(node)})
    return sorted(rows, key=lambda r: (r["account_id"], r["region"], r["instance_id"], r["patch_id"]))


# Causes worked out by hand from the scenario and config/fleet.yaml's policy (prod-install Saturdays 02:00-06:00
# targets Environment=prod, nonprod-install Tuesdays 12:00-15:00 targets dev/staging; captures at 01:00 or 02:00):
#   a  prod-linux, openssl Missing since 11-01, before the Saturday run of the 14th      -> not_patched_since_window
#   b  zlib Failed since the 8th                                                          -> install_failed
#   c  dev-linux, libxml2 Missing since 10-25, before the Tuesday runs of the 10th/17th   -> not_patched_since_window
#   e  no PatchGroup tag (untagged Windows host with a missing KB)                        -> no_patch_group
#   f  the 15th: captured 30 h before, ConnectionLost -> stale_agent; the 20th: fresh, openssl Missing since 11-01,
#      before the 14th's run                                                              -> not_patched_since_window
#   4, 5  NO_DATA without a PatchGroup tag                                                -> no_patch_group
#   1  the 15th's EC2 inventory, no SSM data                                              -> no_agent
# Compliant and stopped hosts have none.
CAUSES_ON = {
    date(2026, 11, 15): {"i-0000000000000000a": "not_patched_since_window", "i-0000000000000000b": "install_failed",
                         "i-0000000000000000c": "not_patched_since_window", "i-0000000000000000e": "no_patch_group",
                         "i-0000000000000000f": "stale_agent", "i-00000000000000004": "no_patch_group",
                         "i-00000000000000005": "no_patch_group", "i-00000000000000001": "no_agent"},
    date(2026, 11, 20): {"i-0000000000000000a": "not_patched_since_window", "i-0000000000000000b": "install_failed",
                         "i-0000000000000000c": "not_patched_since_window", "i-0000000000000000e": "no_patch_group",
                         "i-0000000000000000f": "not_patched_since_window", "i-00000000000000004": "no_patch_group",
                         "i-00000000000000005": "no_patch_group"},
}
CAUSES = ("no_agent", "stale_agent", "no_patch_group", "unknown_patch_group", "baseline_drift", "not_in_window",
          "install_failed", "pending_reboot", "not_patched_since_window", "awaiting_window", "other")


def expected_instances(report_date: date, missing: list[dict[str, str]], with_inventory: bool) -> list[dict[str, str]]:
    old = {}
    for m in missing:
        if int(m["age_days"]) >= 14:
            old[m["instance_id"]] = old.get(m["instance_id"], 0) + 1
    rows = []
    nodes = sc.november_nodes(report_date)
    for node in nodes:
        if node.instance_status == "Terminated":
            continue
        counted = [i for i in node.items if i.state != "NotApplicable"]
        status = expected_status(node)
        rows.append({
            "snapshot_date": report_date.isoformat(), "account_id": node.account_id, "region": sc.REGION,
            "instance_id": node.instance_id, "team": node.tags.get("Team", "(untagged)"),
            "environment": node.tags.get("Environment", "(untagged)"), "patch_group": node.tags.get("PatchGroup", ""),
            "baseline_id": "pb-0123456789abcdef0" if node.items else "", "platform": node.platform,
            "status": status, "last_capture_time": z(sc.capture_time(report_date, node)),
            "non_compliant_items": str(sum(1 for i in counted if i.state in NON_COMPLIANT_STATES)),
            "missing_critical_14d_items": str(old.get(node.instance_id, 0)), "quarantined_lines": "0",
            "instance_status": node.instance_status, "cause": CAUSES_ON[report_date].get(node.instance_id, "")})
    if with_inventory:
        managed = {(n.account_id, n.instance_id) for n in nodes}
        for ec2 in sc.november_ec2(report_date):
            if ec2.state == "terminated" or (ec2.account_id, ec2.instance_id) in managed:
                continue
            rows.append({
                "snapshot_date": report_date.isoformat(), "account_id": ec2.account_id, "region": sc.REGION,
                "instance_id": ec2.instance_id, "team": ec2.tags.get("Team", "(untagged)"),
                "environment": ec2.tags.get("Environment", "(untagged)"), "patch_group": ec2.tags.get("PatchGroup", ""),
                "baseline_id": "", "platform": ec2.platform,
                "status": "STOPPED" if ec2.state == "stopped" else "UNMANAGED", "last_capture_time": "",
                "non_compliant_items": "", "missing_critical_14d_items": "", "quarantined_lines": "",
                "instance_status": "", "cause": CAUSES_ON[report_date].get(ec2.instance_id, "")})
    return sorted(rows, key=lambda r: (r["account_id"], r["region"], r["instance_id"]))


def expected_summary(instances: list[dict[str, str]]) -> list[dict[str, str]]:
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in instances:
        groups.setdefault((row["team"], row["environment"]), []).append(row)
    out = []
    for (team, env), rows in sorted(groups.items()):
        count = {s: sum(1 for r in rows if r["status"] == s)
                 for s in ("COMPLIANT", "NON_COMPLIANT", "STALE", "NO_DATA", "UNMANAGED", "STOPPED")}
        old = [int(r["missing_critical_14d_items"] or 0) for r in rows]
        out.append({"team": team, "environment": env, "instances": str(len(rows)),
                    "compliant": str(count["COMPLIANT"]), "non_compliant": str(count["NON_COMPLIANT"]),
                    "stale": str(count["STALE"]), "no_data": str(count["NO_DATA"]),
                    "unmanaged": str(count["UNMANAGED"]), "stopped": str(count["STOPPED"]),
                    "compliance_pct": pct(count["COMPLIANT"], len(rows) - count["STOPPED"]),
                    "instances_missing_critical_14d": str(sum(1 for n in old if n)),
                    "missing_critical_14d_items": str(sum(old)), "quarantined_instances": "0",
                    **{f"cause_{c}": str(sum(1 for r in rows if r["cause"] == c)) for c in CAUSES}})
    return out


@pytest.fixture(scope="module")
def report_15th(lake_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-15")
    build_report(str(lake_dir), "2026-11", "2026-11-15", str(out))
    return out


def test_missing_critical_patches_csv(report_15th):
    header, rows = read_csv(report_15th / "missing_critical_patches.csv")
    assert header == ["snapshot_date", "account_id", "region", "instance_id", "team", "environment", "patch_id",
                      "classification", "patch_severity", "patch_state", "cve_ids", "first_seen_missing",
                      "release_date", "age_days", "age_basis", "age_is_lower_bound", "status"]
    expected = expected_missing(date(2026, 11, 15), sc.CATALOG_1ST)
    assert rows == expected
    by_key = {(r["instance_id"], r["patch_id"]): r for r in rows}
    a, b = "i-0000000000000000a", "i-0000000000000000b"
    # The scenario's edge cases, spelled out: the 14/13-day boundary, a broken run, an absence, a catalog date.
    assert by_key[(a, "openssl.x86_64")]["age_days"] == "14"
    assert by_key[(a, "curl.x86_64")]["age_days"] == "13"
    assert by_key[(a, "kernel.x86_64")]["first_seen_missing"] == "2026-11-14"
    assert by_key[(b, "sudo.x86_64")]["first_seen_missing"] == "2026-10-25"
    assert by_key[(b, "sudo.x86_64")]["age_is_lower_bound"] == "true"  # missing since the lake's first day
    assert by_key[(a, "kernel.x86_64")]["age_is_lower_bound"] == "false"  # first seen missing after that
    assert by_key[(b, "zlib.x86_64")]["age_basis"] == "release_date"
    assert by_key[(b, "zlib.x86_64")]["patch_state"] == "Failed"
    assert not any(r["instance_id"] == "i-00000000000000009" for r in rows)  # terminated
    assert not any(r["patch_id"] == "bash.x86_64" for r in rows)  # Low severity is not critical


def test_instance_status_csv(report_15th):
    header, rows = read_csv(report_15th / "instance_status.csv")
    assert header == ["snapshot_date", "account_id", "region", "instance_id", "team", "environment", "patch_group",
                      "baseline_id", "platform", "status", "last_capture_time", "non_compliant_items",
                      "missing_critical_14d_items", "quarantined_lines", "instance_status", "cause"]
    report_date = date(2026, 11, 15)
    expected = expected_instances(report_date, expected_missing(report_date, sc.CATALOG_1ST), True)
    assert rows == expected
    statuses = {r["instance_id"]: r["status"] for r in rows}
    assert statuses["i-0000000000000000f"] == "STALE"
    assert statuses["i-00000000000000005"] == "NO_DATA"  # NotApplicable items only
    assert statuses["i-0000000000000000d"] == "COMPLIANT"  # NotApplicable ignored
    assert statuses["i-00000000000000001"] == "UNMANAGED"
    assert statuses["i-00000000000000007"] == "STOPPED"  # InstanceStatus Stopped, whatever its data says
    assert statuses["i-00000000000000002"] == "STOPPED"  # no SSM data, EC2 says stopped
    by_id = {r["instance_id"]: r for r in rows}
    assert by_id["i-0000000000000000f"]["instance_status"] == "ConnectionLost"
    assert "i-00000000000000003" not in statuses and "i-00000000000000009" not in statuses


def test_team_environment_summary_csv(report_15th):
    header, rows = read_csv(report_15th / "team_environment_summary.csv")
    assert header == ["team", "environment", "instances", "compliant", "non_compliant", "stale", "no_data",
                      "unmanaged", "stopped", "compliance_pct", "instances_missing_critical_14d",
                      "missing_critical_14d_items", "quarantined_instances", *(f"cause_{c}" for c in CAUSES)]
    report_date = date(2026, 11, 15)
    instances = expected_instances(report_date, expected_missing(report_date, sc.CATALOG_1ST), True)
    assert rows == expected_summary(instances)
    assert ("(untagged)", "(untagged)") in {(r["team"], r["environment"]) for r in rows}
    for row in rows:
        assert int(row["instances"]) == sum(int(row[k]) for k in ("compliant", "non_compliant", "stale", "no_data",
                                                                   "unmanaged", "stopped"))
    payments = next(r for r in rows if (r["team"], r["environment"]) == ("payments", "prod"))
    assert payments["stopped"] == "1"  # i-…7: out of the denominator, in the instances count


def test_manifest_records_inputs_sql_and_outputs(report_15th, lake_dir):
    manifest = json.loads((report_15th / "manifest.json").read_text())
    assert manifest["report_snapshot_date"] == "2026-11-15"
    assert manifest["trend_snapshot_dates"] == ["2026-11-01", "2026-11-02", "2026-11-08", "2026-11-14", "2026-11-15"]
    assert manifest["history_snapshot_dates"][0] == "2026-10-25"
    assert manifest["parameters"]["as_of"] == "2026-11-15"
    assert manifest["package_version"]
    for relative, entry in manifest["sql"].items():
        assert entry["sha256"] == hashlib.sha256((sql_dir() / relative).read_bytes()).hexdigest()
    assert set(manifest["sql"]) >= {"report/instance_status.sql", "report/missing_critical_patches.sql",
                                    "report/trend.sql", "report/baselines.sql"}
    for name, entry in manifest["outputs"].items():
        assert entry["sha256"] == hashlib.sha256((report_15th / name).read_bytes()).hexdigest()
    inputs = manifest["inputs"]
    assert [p["snapshot_date"] for p in inputs["patch_compliance"]] == manifest["history_snapshot_dates"]
    assert [p["snapshot_date"] for p in inputs["patch_catalog"]] == ["2026-11-01"]
    lake = Lake(str(lake_dir))
    for table, reads in inputs.items():
        history = {s.snapshot_id for s in lake.table(table).metadata.snapshots}
        for read in reads:  # each day read is one day record: its run and the Iceberg snapshot of the table
            record = lake.record_of_run(date.fromisoformat(read["snapshot_date"]), read["table_group"], read["run_id"])
            assert read["iceberg_snapshot_id"] == record.tables[table]["iceberg_snapshot_id"] in history
            assert read["rows"] == record.rows(table) == lake.read(table, records=[record]).num_rows


def test_from_manifest_regenerates_the_report_exactly_after_reruns(tmp_path):
    """A rerun of a day changes what a new report says, never what a regenerated one says."""
    days = {date(2026, 11, 2): [sc.Node(f"i-{n:017x}", tags={"Team": "web", "Environment": "prod"},
                                        items=[sc.Item("openssl.x86_64", "Missing")]) for n in range(1, 6)]}
    lake = sc.land(tmp_path, days)
    first = tmp_path / "first"
    build_report(lake.uri, "2026-11", None, str(first))
    # The day is rerun from a different source: every host now has the patch.
    fixed = {date(2026, 11, 2): [sc.Node(n.instance_id, tags=n.tags, items=[sc.Item("openssl.x86_64", "Installed")])
                                 for n in days[date(2026, 11, 2)]]}
    sc.land(tmp_path / "rerun", fixed, lake_dir=tmp_path / "lake")
    fresh, again = tmp_path / "fresh", tmp_path / "again"
    build_report(lake.uri, "2026-11", None, str(fresh))
    assert (fresh / "instance_status.csv").read_bytes() != (first / "instance_status.csv").read_bytes()
    manifest = build_report(lake.uri, None, None, str(again), from_manifest=str(first / "manifest.json"))
    for name in ("team_environment_summary.csv", "instance_status.csv", "missing_critical_patches.csv"):
        assert (again / name).read_bytes() == (first / name).read_bytes(), name
    original = json.loads((first / "manifest.json").read_text())
    assert manifest["inputs"] == original["inputs"] and manifest["parameters"]["month"] == "2026-11"

    from patch_compliance.cli import main

    assert main(["report", "--lake", lake.uri, "--from-manifest", str(first / "manifest.json"),
                 "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "instance_status.csv").read_bytes() == (first / "instance_status.csv").read_bytes()
    assert main(["report", "--lake", lake.uri, "--from-manifest", str(tmp_path / "absent.json"),
                 "--out", str(tmp_path / "cli")]) == 2


def test_html_is_self_contained_with_chart_and_methodology(report_15th):
    html = (report_15th / "report.html").read_text()
    assert "<svg" in html and "<polyline" in html
    assert html.count("<rect") > 10
    without_svg_namespace = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in without_svg_namespace and "https://" not in without_svg_namespace
    assert "<script" not in html and "<link" not in html
    for text in ("Team × Environment", "Compliance trend", "Top missing critical patches", "Top CVEs",
                 "Stale instances (1)", "Instances with no patch data (2)", "Unmanaged EC2 instances (1)",
                 "Stopped instances (not counted either way) (2)", "Instances whose agent lost its connection (1)",
                 "Methodology", "Baselines in force", "drifted", "2026-11-14, 2026-11-15"):
        assert text in html


def test_report_defaults_to_latest_snapshot_and_flags_unknown_coverage(lake_dir, tmp_path):
    manifest = build_report(str(lake_dir), "2026-11", None, str(tmp_path))
    report_date = date(2026, 11, 20)
    assert manifest["report_snapshot_date"] == report_date.isoformat()
    assert manifest["ec2_inventory_known"] is False
    missing = expected_missing(report_date, sc.CATALOG_20TH)  # the catalog of the 20th
    assert {m["patch_id"]: m["age_basis"] for m in missing if m["instance_id"] == "i-0000000000000000a"} == {
        "openssl.x86_64": "release_date", "kernel.x86_64": "first_seen_missing"}
    assert read_csv(tmp_path / "missing_critical_patches.csv")[1] == missing
    instances = expected_instances(report_date, missing, with_inventory=False)
    assert read_csv(tmp_path / "instance_status.csv")[1] == instances
    assert read_csv(tmp_path / "team_environment_summary.csv")[1] == expected_summary(instances)
    assert "coverage is unknown" in (tmp_path / "report.html").read_text()


def test_as_of_before_first_snapshot_of_month_is_a_clear_error(lake_dir, tmp_path):
    with pytest.raises(InputError, match="no committed snapshot in 2026-12"):
        build_report(str(lake_dir), "2026-12", None, str(tmp_path))
    with pytest.raises(InputError, match="month must be YYYY-MM"):
        build_report(str(lake_dir), "2026-13x", None, str(tmp_path))
    with pytest.raises(InputError, match="before the month"):
        build_report(str(lake_dir), "2026-11", "2026-10-30", str(tmp_path))


def test_cli_report_writes_every_file_and_rejects_bad_input(lake_dir, tmp_path, capsys):
    from patch_compliance.cli import main

    out = tmp_path / "cli"
    assert main(["report", "--lake", str(lake_dir), "--month", "2026-11", "--as-of", "2026-11-15",
                 "--out", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "instance_status.csv", "manifest.json", "missing_critical_patches.csv", "remediation.csv", "report.html",
        "team_environment_summary.csv",
        *(f"teams/{team}/{name}" for team in ("payments", "platform", "untagged-bca5491e")
          for name in ("instance_status.csv", "missing_critical_patches.csv", "report.html"))]
    assert "on snapshot 2026-11-15" in capsys.readouterr().out
    assert main(["report", "--lake", str(lake_dir), "--month", "2026-11", "--as-of", "15/11/2026",
                 "--out", str(out)]) == 2
    assert "--as-of must be YYYY-MM-DD" in capsys.readouterr().err


def test_snapshot_failing_critical_quality_checks_is_not_report_input(tmp_path: Path) -> None:
    """A day whose validation failed a critical check is skipped; the report says so."""
    from patch_compliance.quality import validate_snapshot

    tags = {"Team": "web", "Environment": "prod", "PatchGroup": "prod-linux", "Name": "w"}
    good = [sc.Node(f"i-{n:017x}", tags=dict(tags), items=[sc.Item("openssl.x86_64", "Missing")])
            for n in range(1, 21)]
    corrupted = [sc.Node(n.instance_id, tags=dict(tags), items=[sc.Item("openssl.x86_64", "Installed")])
                 for n in good]
    corrupted[0].items = [sc.Item("openssl.x86_64", "Exploded")]  # a state outside the contract
    lake = sc.land(tmp_path, {date(2026, 11, 2): good, date(2026, 11, 3): corrupted})
    assert validate_snapshot(lake.uri, date(2026, 11, 2)).success
    assert not validate_snapshot(lake.uri, date(2026, 11, 3)).success

    manifest = build_report(lake.uri, "2026-11", None, str(tmp_path / "out"))
    assert manifest["report_snapshot_date"] == "2026-11-02"
    assert manifest["excluded_snapshot_dates"] == ["2026-11-03"]
    _, rows = read_csv(tmp_path / "out" / "instance_status.csv")
    assert {r["status"] for r in rows} == {"NON_COMPLIANT"} and len(rows) == 20
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Snapshots excluded" in html and "2026-11-03" in html


HOSTILE = {"Team": '=HYPERLINK("https://evil.example/x","open")', "Environment": "+cmd|' /C calc'!A0",
           "Name": "@SUM(1+1)", "PatchGroup": "-2+3"}


def test_fleet_text_is_neutralised_in_every_csv_and_escaped_in_html(tmp_path: Path) -> None:
    """OWASP CSV injection: tag values an account owner controls never become live formulas."""
    nodes = [sc.Node("i-00000000000000001", tags=dict(HOSTILE),
                     items=[sc.Item("\topenssl.x86_64", "Missing", cves=("CVE-2026-1111",))]),
             sc.Node("i-00000000000000002", tags={"Team": "<script>alert(1)</script>", "Environment": "prod"},
                     items=[sc.Item("bash.x86_64", "Installed")])]
    lake = sc.land(tmp_path, {date(2026, 11, 2): nodes})
    build_report(lake.uri, "2026-11", None, str(tmp_path / "out"))
    cells = [cell for name in ("team_environment_summary.csv", "instance_status.csv", "missing_critical_patches.csv")
             for row in csv.reader((tmp_path / "out" / name).open()) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'" + HOSTILE["Team"] in cells and "'" + HOSTILE["Environment"] in cells
    assert "'\topenssl.x86_64" in cells
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    from patch_compliance.evidence import collect_evidence

    evidence = list(csv.DictReader(io.StringIO(collect_evidence(lake.uri, "CVE-2026-1111").csv.decode())))
    assert [(r["team"], r["environment"], r["patch_id"]) for r in evidence] == [
        ("'" + HOSTILE["Team"], "'" + HOSTILE["Environment"], "'\topenssl.x86_64")]


def test_quarantined_lines_are_in_every_output_and_the_node_is_not_compliant(tmp_path: Path) -> None:
    day = date(2026, 11, 2)
    nodes = [sc.Node(f"i-{n:017x}", tags={"Team": "web", "Environment": "prod"},
                     items=[sc.Item("bash.x86_64", "Installed")]) for n in range(1, 4)]
    source = tmp_path / "rds"
    sc.write_rds_day(source, day, nodes)
    lossy = next(source.glob(f"AWS:ComplianceItem/*/*/*/{nodes[0].instance_id}.json"))
    lossy.write_text(lossy.read_text() + '{"ComplianceType": "Patch", "Id": "cut\n')
    from dataclasses import replace

    from patch_compliance.config import load_settings
    from patch_compliance.ingest import ingest_snapshot

    settings = load_settings()
    settings = replace(settings, ingest=replace(settings.ingest, max_quarantine_share=0.5))
    ingest_snapshot(str(source), str(tmp_path / "lake"), day, sc.reference_time(day), settings=settings)
    manifest = build_report(str(tmp_path / "lake"), "2026-11", None, str(tmp_path / "out"))
    _, rows = read_csv(tmp_path / "out" / "instance_status.csv")
    by_id = {r["instance_id"]: r for r in rows}
    assert (by_id[nodes[0].instance_id]["status"], by_id[nodes[0].instance_id]["quarantined_lines"]) == (
        "NON_COMPLIANT", "1")
    assert {by_id[n.instance_id]["status"] for n in nodes[1:]} == {"COMPLIANT"}
    _, summary = read_csv(tmp_path / "out" / "team_environment_summary.csv")
    assert [(r["compliant"], r["non_compliant"], r["quarantined_instances"]) for r in summary] == [("2", "1", "1")]
    assert manifest["quarantine"] == {"report_day_quarantined_lines": 1, "instances": {nodes[0].instance_id: 1}}
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Instances that lost lines to quarantine (1)" in html and nodes[0].instance_id in html
