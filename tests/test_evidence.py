"""CVE evidence against expectations computed here from the scenario's day-by-day data."""

from __future__ import annotations

import csv
import io

import pytest

from patch_compliance.cli import main
from patch_compliance.evidence import EVIDENCE_COLUMNS, collect_evidence, write_evidence
from patch_compliance.inputs import InputError
from tests.fixtures import report_lakes as sc

pytestmark = pytest.mark.xdist_group("report_lake")


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("november-evidence")
    sc.land_november(tmp)
    return tmp / "lake"


def expected_evidence(cve: str) -> list[dict[str, str]]:
    """Walk every day of every node: affected pairs, missing span, first install after it, latest state."""
    history: dict[tuple[str, str, str], list[tuple]] = {}
    for day in sc.DAYS:
        for node in sc.november_nodes(day):
            for item in node.items:
                history.setdefault((node.account_id, node.instance_id, item.patch_id), []).append((day, item, node))
    catalog_patches = {pid for catalog in (sc.CATALOG_1ST, sc.CATALOG_20TH) for pid, title, _, cves in catalog
                       if cve in cves and title == sc.item_title(pid)}
    rows = []
    for (account, instance, patch), seen in sorted(history.items()):
        missing = [day for day, item, _ in seen if item.state in ("Missing", "Failed")
                   and (cve in item.cves or patch in catalog_patches)]
        if not missing:
            continue
        missing_days = [day for day, item, _ in seen if item.state in ("Missing", "Failed")]
        installs = [(day, item) for day, item, _ in seen
                    if item.state.startswith("Installed") and day > max(missing_days)]
        _, last_item, last_node = seen[-1]
        rows.append({
            "cve_id": cve, "account_id": account, "region": sc.REGION, "instance_id": instance,
            "team": last_node.tags.get("Team", "(untagged)"),
            "environment": last_node.tags.get("Environment", "(untagged)"), "patch_id": patch,
            "first_seen_missing": min(missing_days).isoformat(), "last_seen_missing": max(missing_days).isoformat(),
            "installed_time": installs[0][1].installed_time.strftime("%Y-%m-%dT%H:%M:%SZ") if installs else "",
            "first_seen_installed": installs[0][0].isoformat() if installs else "",
            "current_state": last_item.state})
    return rows


def parse(csv_bytes: bytes) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(csv_bytes.decode()))
    return list(reader.fieldnames or []), list(reader)


def test_cve_fixed_mid_month_on_one_instance_and_not_another(lake_dir):
    evidence = collect_evidence(str(lake_dir), sc.CVE_FIXED)
    header, rows = parse(evidence.csv)
    assert header == list(EVIDENCE_COLUMNS)
    assert rows == expected_evidence(sc.CVE_FIXED)
    fixed = {r["instance_id"]: r for r in rows}
    assert fixed["i-0000000000000000b"]["installed_time"] == "2026-11-13T23:00:00Z"
    assert fixed["i-0000000000000000b"]["first_seen_installed"] == "2026-11-14"
    assert fixed["i-0000000000000000b"]["last_seen_missing"] == "2026-11-08"
    assert fixed["i-0000000000000000c"]["current_state"] == "Missing"
    assert fixed["i-0000000000000000c"]["installed_time"] == ""
    assert "1 installed since" in evidence.message


@pytest.mark.parametrize("cve", ["CVE-2026-3003", "CVE-2026-0101", sc.CVE_CATALOG_ONLY, "CVE-2026-2002"])
def test_other_cves_match_expectations(lake_dir, cve):
    rows = parse(collect_evidence(str(lake_dir), cve).csv)[1]
    assert rows == expected_evidence(cve)
    assert rows  # every one of these CVEs affected at least one instance


def test_curl_installed_on_the_20th_and_catalog_mapping(lake_dir):
    rows = parse(collect_evidence(str(lake_dir), "CVE-2026-2002").csv)[1]
    assert [(r["patch_id"], r["first_seen_installed"], r["current_state"]) for r in rows] == [
        ("curl.x86_64", "2026-11-20", "Installed")]
    catalog_rows = parse(collect_evidence(str(lake_dir), sc.CVE_CATALOG_ONLY).csv)[1]
    assert [(r["instance_id"], r["patch_id"]) for r in catalog_rows] == [("i-0000000000000000b", "zlib.x86_64")]


def test_unknown_cve_gives_header_only_csv_and_clear_message(lake_dir):
    evidence = collect_evidence(str(lake_dir), "cve-2031-99999")
    assert evidence.cve_id == "CVE-2031-99999"
    assert evidence.csv.decode() == ",".join(EVIDENCE_COLUMNS) + "\n"
    assert "does not appear" in evidence.message and "header only" in evidence.message


@pytest.mark.parametrize("bad", ["CVE-26-1", "CVE-2026-1111' OR '1'='1", "2026-1111", ""])
def test_invalid_cve_is_rejected_before_any_query(lake_dir, bad):
    with pytest.raises(InputError, match="CVE id must look like"):
        collect_evidence(str(lake_dir), bad)


def test_write_evidence_and_cli(lake_dir, tmp_path, capsys):
    evidence = collect_evidence(str(lake_dir), sc.CVE_FIXED)
    target = write_evidence(evidence, str(tmp_path / "sub" / "evidence.csv"))
    assert (tmp_path / "sub" / "evidence.csv").read_bytes() == evidence.csv
    assert target.endswith("evidence.csv")
    with pytest.raises(InputError, match=r"must name a \.csv file"):
        write_evidence(evidence, str(tmp_path / "evidence.txt"))

    out = tmp_path / "cli.csv"
    assert main(["evidence", "--lake", str(lake_dir), "--cve", sc.CVE_FIXED, "--out", str(out)]) == 0
    assert parse(out.read_bytes())[1] == expected_evidence(sc.CVE_FIXED)
    assert main(["evidence", "--lake", str(lake_dir), "--cve", "CVE-2031-99999"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ",".join(EVIDENCE_COLUMNS) + "\n"
    assert "does not appear" in captured.err
    assert main(["evidence", "--lake", str(lake_dir), "--cve", "not-a-cve"]) == 2
