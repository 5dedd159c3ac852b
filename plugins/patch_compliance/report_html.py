"""The report's HTML pages: the fleet's and each team's, one self-contained file each (inline CSS and SVG).

The charts are SVG drawn by ``report_charts``, so a page needs no script, library or network and
looks the same offline, in a mail client, or archived years later. Every value from the fleet
(tags, names, ids, titles) is escaped by Jinja's autoescape.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from patch_compliance import __version__
from patch_compliance.config import Settings
from patch_compliance.remediation import AGE_BINS, month_of
from patch_compliance.report_causes import RUNS_LOOKBACK_DAYS
from patch_compliance.report_charts import STATUS_COLOURS, age_histogram_svg, trend_svg
from patch_compliance.report_model import CAUSES, ReportData, compliance_pct, format_value
from patch_compliance.template_cache import TEMPLATE_CACHE

LISTED = ("NON_COMPLIANT", "STALE", "NO_DATA", "UNMANAGED", "STOPPED")  # statuses whose hosts the pages list
LIST_LIMIT = 200
TOP_LIMIT = 15
CAUSE_NOTES = {
    "no_agent": "EC2 instance without Systems Manager data: install or repair the SSM Agent",
    "stale_agent": "patch data older than the freshness threshold, or the agent lost its connection",
    "no_patch_group": "no PatchGroup tag: the OS default baseline applies and the scan does not target it",
    "unknown_patch_group": "PatchGroup tag value not declared in the policy",
    "baseline_drift": "the baseline of its last scan differs from the declared policy (drifted or undeclared)",
    "not_in_window": "no declared Install window targets its tags",
    "install_failed": "an install left items Failed",
    "pending_reboot": "patches installed, waiting for a reboot",
    "not_patched_since_window": "missing patches the last window that targeted it should have installed",
    "awaiting_window": "missing patches approved after the last window: the next one should install them",
    "other": "none of the above (rejected patches installed, lines lost at ingest, ...)",
}


def pct_class(pct: str) -> str:
    """Colour band of a compliance percentage (presentation only: >= 95 good, >= 80 warn)."""
    if not pct:
        return "na"
    value = float(pct)
    return "good" if value >= 95 else "warn" if value >= 80 else "bad"


def top_patches(missing: list[dict[str, Any]], threshold: int) -> list[dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    for m in missing:
        g = grouped.setdefault(m["patch_id"], {"patch_id": m["patch_id"], "classification": m["classification"],
                                               "patch_severity": m["patch_severity"], "instances": set(),
                                               "old": set(), "max_age": 0, "cves": set()})
        key = (m["account_id"], m["region"], m["instance_id"])
        g["instances"].add(key)
        if m["age_days"] >= threshold:
            g["old"].add(key)
        g["max_age"] = max(g["max_age"], m["age_days"])
        g["cves"].update(m["cve_ids"].split())
    rows = [{**g, "instances": len(g["instances"]), "old": len(g["old"]), "cves": " ".join(sorted(g["cves"]))}
            for g in grouped.values()]
    return sorted(rows, key=lambda r: (-r["old"], -r["instances"], r["patch_id"]))[:TOP_LIMIT]


def top_cves(missing: list[dict[str, Any]], threshold: int) -> list[dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = defaultdict(lambda: {"instances": set(), "old": set(), "patches": set(),
                                                              "max_age": 0})
    for m in missing:
        key = (m["account_id"], m["region"], m["instance_id"])
        for cve in m["cve_ids"].split():
            g = grouped[cve]
            g["instances"].add(key)
            g["patches"].add(m["patch_id"])
            g["max_age"] = max(g["max_age"], m["age_days"])
            if m["age_days"] >= threshold:
                g["old"].add(key)
    rows = [{"cve_id": cve, "instances": len(g["instances"]), "old": len(g["old"]),
             "patches": " ".join(sorted(g["patches"])), "max_age": g["max_age"]} for cve, g in grouped.items()]
    return sorted(rows, key=lambda r: (-r["old"], -r["instances"], r["cve_id"]))[:TOP_LIMIT]


@cache
def _environment() -> Environment:
    # Compiled templates come from the shared cache: each report is a new process.
    env = Environment(loader=PackageLoader("patch_compliance", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True,
                      bytecode_cache=TEMPLATE_CACHE)
    env.filters["fmt"] = format_value
    return env


def month_over_month(rows: list[dict[str, Any]], month: str) -> list[dict[str, Any]]:
    """The report month's remediation rows, each with the previous calendar month's figures beside it."""
    year, number = int(month[:4]), int(month[5:])
    previous = f"{year - (number == 1):04d}-{12 if number == 1 else number - 1:02d}"
    before = {(r["team"], r["severity"]): r for r in rows if r["month"] == previous}
    return [{**r, "previous": before.get((r["team"], r["severity"]))} for r in rows if r["month"] == month]


def age_bars(rows: list[dict[str, Any]], by: str, month: str) -> list[tuple[str, dict[str, int]]]:
    """Open critical items per age bin, summed per ``by`` (team or severity) over the report month's rows."""
    bars: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row["month"] == month and row["open_critical"]:
            bars[row[by]].update({name: row[f"open_critical_{name}"] for name, _, _ in AGE_BINS})
    return sorted(((label, dict(counts)) for label, counts in bars.items()), key=lambda b: (-sum(b[1].values()), b[0]))


def _context(data: ReportData, settings: Settings, lake_uri: str, freshness: dict[str, Any] | None,
             by: str, listed: tuple[str, ...]) -> dict[str, Any]:
    """What the fleet page and a team page both show, computed from (that part of) the report's data."""
    scope = data.scope
    by_status: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in data.instances:
        by_status[row["status"]].append(row)
    totals = {s: len(by_status[s]) for s in STATUS_COLOURS}
    population = sum(totals.values())
    captures = [r["last_capture_time"] for r in data.instances if r["last_capture_time"] is not None]
    basis_counts = Counter(m["age_basis"] for m in data.missing)
    cause_totals = Counter(r["cause"] for r in data.instances if r["cause"])
    month = month_of(scope.report_date)
    return dict(
        data=data, scope=scope, settings=settings, lake_uri=lake_uri, version=__version__,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        totals=totals, population=population,
        overall_pct=compliance_pct(totals["COMPLIANT"], population, totals["STOPPED"]),
        missing_14d_items=sum(r["missing_critical_14d_items"] or 0 for r in data.instances),
        missing_14d_instances=sum(1 for r in data.instances if r["missing_critical_14d_items"]),
        chart=trend_svg(data.trend), pct_class=pct_class, colours=STATUS_COLOURS,
        runs_lookback_days=RUNS_LOOKBACK_DAYS, causes=[c for c in CAUSES if cause_totals[c]],
        cause_totals=cause_totals, cause_notes=CAUSE_NOTES,
        remediation=month_over_month(data.remediation, month), month=month,
        earlier_months=sorted({r["month"] for r in data.remediation if r["month"] < month}, reverse=True),
        age_chart=age_histogram_svg(age_bars(data.remediation, by, month)), age_bins=[n for n, _, _ in AGE_BINS],
        top_patches=top_patches(data.missing, data.threshold_days),
        top_cves=top_cves(data.missing, data.threshold_days),
        lists=[(s, by_status[s][:LIST_LIMIT], len(by_status[s])) for s in listed],
        connection_lost=[r for r in data.instances if r.get("instance_status") == "ConnectionLost"],
        quarantined=[r for r in data.instances if r.get("quarantined_lines")],
        oldest_capture=min(captures) if captures else None, newest_capture=max(captures) if captures else None,
        basis_counts=dict(basis_counts), lower_bounds=sum(1 for m in data.missing if m["age_is_lower_bound"]),
        freshness=freshness or {}, drifted=[b for b in data.baselines if b["drift"] and b["drift"] != "in_sync"],
    )


def render_html(data: ReportData, settings: Settings, lake_uri: str, freshness: dict[str, Any] | None = None,
                teams: list[dict[str, Any]] | None = None) -> str:
    """The fleet's page; ``teams`` lists each team's figures and page (``path``, relative to it)."""
    return _environment().get_template("report.html.j2").render(
        **_context(data, settings, lake_uri, freshness, "team", LISTED), teams=teams or [])


def render_team_html(data: ReportData, team: str, settings: Settings, lake_uri: str,
                     freshness: dict[str, Any] | None = None, fleet_page: str = "../../report.html") -> str:
    """One team's page (``data`` holds that team's part of the report), linking back to the fleet's."""
    return _environment().get_template("team_report.html.j2").render(
        **_context(data, settings, lake_uri, freshness, "severity", (*LISTED, "COMPLIANT")), team=team,
        fleet_page=fleet_page)
