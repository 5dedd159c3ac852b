"""Team reports: a folder per team (untrusted names made safe and distinct), its rows, its page, the fleet's links."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest

from patch_compliance.report import build_report
from patch_compliance.report_teams import team_dirs
from tests.fixtures import report_lakes as sc

pytestmark = pytest.mark.xdist_group("report_teams")

DAY = date(2026, 11, 2)
HOSTILE = '=HYPERLINK("https://evil.example/x","open")'
TEAMS = ["payments", "Payments", "pay ments", "../../etc", "<script>alert(1)</script>", HOSTILE, "con", "Ünïcode",
         "team-a3f0c2d1"]


def test_directory_names_are_safe_distinct_and_stable() -> None:
    dirs = team_dirs([*TEAMS, "(untagged)"])
    assert dirs["payments"] == "payments" and dirs["team-a3f0c2d1"] == "team-a3f0c2d1"  # clean names stay bare
    for team, directory in dirs.items():
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", directory), (team, directory)
    assert len({d.lower() for d in dirs.values()}) == len(dirs)  # distinct, even on a case-blind disk
    assert dirs["Payments"].startswith("payments-") and dirs["pay ments"].startswith("pay-ments-")
    assert dirs["con"].startswith("con-")  # a reserved device name on Windows
    assert dirs["../../etc"].startswith("etc-") and dirs["(untagged)"].startswith("untagged-")
    assert team_dirs(["Payments", "zeta"])["Payments"] == dirs["Payments"]  # the same whatever the other teams


def test_a_digest_that_collides_with_another_name_is_lengthened() -> None:
    short = team_dirs(["Payments"])["Payments"]  # "payments-<8 hex>"
    dirs = team_dirs(["Payments", short])  # a team literally named like Payments' folder
    assert dirs[short] == short and dirs["Payments"] != short and dirs["Payments"].startswith(short)


def node(number: int, team: str | None, state: str = "Missing", env: str = "prod") -> sc.Node:
    tags = {"Environment": env, "PatchGroup": "prod-linux", **({"Team": team} if team else {})}
    return sc.Node(f"i-{number:017x}", tags=tags, items=[sc.Item("openssl.x86_64", state, cves=("CVE-2026-0101",))])


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("teams")
    nodes = [node(1, "payments"), node(2, "payments", "Installed", "dev"), node(3, "Payments"),
             node(4, "<script>alert(1)</script>", "Installed"), node(5, HOSTILE), node(6, None)]
    lake = sc.land(tmp, {DAY: nodes})
    manifest = build_report(lake.uri, "2026-11", None, str(tmp / "out"))
    return tmp / "out", manifest


def read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_every_team_has_its_three_files_and_the_fleet_page_links_them(report) -> None:
    out, manifest = report
    teams = manifest["teams"]
    assert set(teams) == {"payments", "Payments", "<script>alert(1)</script>", HOSTILE, "(untagged)"}
    fleet = (out / "report.html").read_text()
    for directory in teams.values():
        assert {p.name for p in (out / "teams" / directory).iterdir()} == {
            "report.html", "instance_status.csv", "missing_critical_patches.csv"}
        assert f'href="teams/{directory}/report.html"' in fleet
        for name in ("report.html", "instance_status.csv", "missing_critical_patches.csv"):
            assert f"teams/{directory}/{name}" in manifest["outputs"]  # checksummed like the fleet's files
    assert sorted(p.name for p in (out / "teams").iterdir()) == sorted(teams.values())


def test_a_teams_csvs_are_the_fleets_rows_of_that_team(report) -> None:
    out, manifest = report
    fleet = read(out / "instance_status.csv")
    missing = read(out / "missing_critical_patches.csv")
    for team, directory in manifest["teams"].items():
        cell = "'" + team if team == HOSTILE else team  # neutralised in every CSV
        assert read(out / "teams" / directory / "instance_status.csv") == [r for r in fleet if r["team"] == cell]
        assert read(out / "teams" / directory / "missing_critical_patches.csv") == [
            r for r in missing if r["team"] == cell]
    payments = read(out / "teams" / "payments" / "instance_status.csv")
    assert [(r["instance_id"], r["environment"], r["status"]) for r in payments] == [
        ("i-00000000000000001", "prod", "NON_COMPLIANT"), ("i-00000000000000002", "dev", "COMPLIANT")]


def test_a_team_page_shows_its_own_figures_escaped(report) -> None:
    out, manifest = report
    page = (out / "teams" / "payments" / "report.html").read_text()
    assert "team payments, 2026-11" in page and 'href="../../report.html"' in page
    assert "50.0%" in page  # 1 of its 2 hosts compliant
    assert "i-00000000000000001" in page and "i-00000000000000003" not in page  # Payments is another team
    assert page.count("<svg") == 2 and "<script" not in page  # trend and age charts, nothing to run
    hostile = (out / "teams" / manifest["teams"]["<script>alert(1)</script>"] / "report.html").read_text()
    assert "<script>alert(1)</script>" not in hostile and "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile
    assert "<script>alert" not in (out / "report.html").read_text()
    cells = [c for p in (out / "teams").rglob("*.csv") for r in csv.reader(p.open()) for c in r]
    assert "'" + HOSTILE in cells and not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
