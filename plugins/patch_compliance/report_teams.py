"""Team reports: every Team (``(untagged)`` included) gets its own page and CSVs under ``teams/<dir>/``.

A team's report is the fleet report's rows of that team, so its numbers add up to the fleet's.
Team names are tag values anyone who can tag an instance controls, so a directory name is derived,
never the name itself: a lowercase slug, kept bare only when it *is* the name (``payments``), else
followed by a digest of the exact name, so names that differ only in case or punctuation never
share a directory and a team keeps its address from month to month. The pages escape the name and
the CSVs neutralise it like every other text cell.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from patch_compliance.config import Settings
from patch_compliance.report_html import render_team_html
from patch_compliance.report_model import CsvTable, ReportData, compliance_pct

TEAMS_DIR = "teams"
_BARE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))})


def _slug(team: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", team.lower()).strip("-")[:40].strip("-") or "team"


def team_dirs(teams: set[str] | list[str]) -> dict[str, str]:
    """A distinct directory name per team: ``[a-z0-9-]`` only, never ``.``/``..``, unique ignoring case."""
    digits = 8
    while True:
        dirs = {}
        for team in sorted(set(teams)):
            slug = _slug(team)
            bare = team == slug and _BARE.fullmatch(team) is not None and team not in _RESERVED
            digest = hashlib.sha256(team.encode()).hexdigest()[:digits]
            dirs[team] = slug if bare else f"{slug}-{digest}"
        if len(set(dirs.values())) == len(dirs):
            return dirs
        digits *= 2  # a digest prefix collided (or matched a bare name): longer prefixes until none does


def in_team(team: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a report row is one team's: what its page and its CSVs are cut by."""
    return lambda row: row["team"] == team


def team_view(data: ReportData, team: str) -> ReportData:
    """The report's rows of one team (the fleet's baselines, scope and policy stay as they are)."""
    keep = in_team(team)
    return replace(
        data,
        instances=[r for r in data.instances if keep(r)],
        missing=[r for r in data.missing if keep(r)],
        summary=[r for r in data.summary if keep(r)],
        trend=[r for r in data.team_trend if keep(r)],
        team_trend=[r for r in data.team_trend if keep(r)],
        remediation=[r for r in data.remediation if keep(r)],
    )


def team_index(data: ReportData, dirs: dict[str, str]) -> list[dict[str, Any]]:
    """One line per team for the fleet page: its figures and the relative path of its page."""
    lines = []
    for team, directory in sorted(dirs.items()):
        rows = [r for r in data.summary if r["team"] == team]
        totals = {k: sum(r[k] for r in rows) for k in ("instances", "compliant", "non_compliant", "stopped",
                                                       "instances_missing_critical_14d")}
        lines.append({"team": team, "path": f"{TEAMS_DIR}/{directory}/report.html", **totals,
                      "compliance_pct": compliance_pct(totals["compliant"], totals["instances"], totals["stopped"])})
    return lines


def team_outputs(data: ReportData, dirs: dict[str, str], fleet_csv: dict[str, CsvTable], settings: Settings,
                 lake_uri: str, freshness: dict[str, Any]) -> dict[str, bytes]:
    """``teams/<dir>/`` for every team: each of the fleet's CSVs (by file name) cut to the team, and its page."""
    outputs: dict[str, bytes] = {}
    for team, directory in sorted(dirs.items()):
        base = f"{TEAMS_DIR}/{directory}"
        outputs |= {f"{base}/{name}": table.select(in_team(team)) for name, table in fleet_csv.items()}
        outputs[f"{base}/report.html"] = render_team_html(team_view(data, team), team, settings, lake_uri,
                                                          freshness).encode()
    return outputs
