"""The report's HTML page: one self-contained file (inline CSS, inline SVG, no network).

The chart is drawn here as SVG from the trend rows, so the page needs no script or library and
looks the same offline, in a mail client, or archived years later.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from html import escape
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from patch_compliance import __version__
from patch_compliance.config import Settings
from patch_compliance.report_model import ReportData, compliance_pct, format_value

STATUS_COLOURS = {"COMPLIANT": "#2e7d32", "NON_COMPLIANT": "#c62828", "STALE": "#ef6c00",
                  "NO_DATA": "#6d4c41", "UNMANAGED": "#607d8b", "STOPPED": "#9e9e9e"}
LISTED = ("STALE", "NO_DATA", "UNMANAGED", "STOPPED")  # statuses whose hosts the page lists
LIST_LIMIT = 200
TOP_LIMIT = 15


def pct_class(pct: str) -> str:
    """Colour band of a compliance percentage (presentation only: >= 95 good, >= 80 warn)."""
    if not pct:
        return "na"
    value = float(pct)
    return "good" if value >= 95 else "warn" if value >= 80 else "bad"


def trend_svg(trend: list[dict[str, Any]], width: int = 920, height: int = 300) -> Markup:
    """Stacked bars of status counts per snapshot, with the compliance % as a line on the right axis."""
    left, right, top, bottom = 48, 52, 16, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'role="img" aria-label="Compliance trend over the month\'s snapshots">']
    if not trend:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">No snapshots</text></svg>')
        return Markup("".join(parts))  # noqa: S704 - numbers and fixed labels only
    peak = max(row["instances"] for row in trend) or 1
    slot = plot_w / len(trend)
    bar_w = max(2.0, slot * 0.7)
    for tick in range(5):
        value = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{value:.0f}</text>')
        parts.append(f'<text x="{left + plot_w + 6}" y="{y + 4:.1f}" class="axis">{tick * 25}%</text>')
    points = []
    for n, row in enumerate(trend):
        x = left + slot * n + (slot - bar_w) / 2
        y = top + plot_h
        for status, colour in STATUS_COLOURS.items():
            count = row[status.lower()]
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                         f'<title>{row["snapshot_date"]}: {count} {status}</title></rect>')
        pct = float(row["compliance_pct"] or 0)
        points.append((x + bar_w / 2, top + plot_h - plot_h * pct / 100, pct))
        if len(trend) <= 16 or n % max(1, len(trend) // 16) == 0 or n == len(trend) - 1:
            label = row["snapshot_date"].strftime("%m-%d")
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                         f'class="axis">{label}</text>')
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
    parts.append(f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="2.5"/>')
    for x, y, pct in points:
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1565c0"><title>{pct:.1f}% compliant'
                     f'</title></circle>')
    legend_y = height - 18
    legend_x = left
    for status, colour in [*STATUS_COLOURS.items(), ("compliance %", "#1565c0")]:
        parts.append(f'<rect x="{legend_x}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="{legend_y}" class="axis">{escape(status)}</text>')
        legend_x += 30 + 8 * len(status)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers, dates and escaped fixed labels only


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


def render_html(data: ReportData, settings: Settings, lake_uri: str,
                freshness: dict[str, Any] | None = None) -> str:
    env = Environment(loader=PackageLoader("patch_compliance", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    scope = data.scope
    by_status: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in data.instances:
        by_status[row["status"]].append(row)
    totals = {s: len(by_status[s]) for s in STATUS_COLOURS}
    population = sum(totals.values())
    captures = [r["last_capture_time"] for r in data.instances if r["last_capture_time"] is not None]
    basis_counts: defaultdict[str, int] = defaultdict(int)
    for m in data.missing:
        basis_counts[m["age_basis"]] += 1
    lower_bounds = sum(1 for m in data.missing if m["age_is_lower_bound"])
    return env.get_template("report.html.j2").render(
        data=data, scope=scope, settings=settings, lake_uri=lake_uri, version=__version__,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        totals=totals, population=population,
        overall_pct=compliance_pct(totals["COMPLIANT"], population, totals["STOPPED"]),
        missing_14d_items=sum(r["missing_critical_14d_items"] or 0 for r in data.instances),
        missing_14d_instances=sum(1 for r in data.instances if r["missing_critical_14d_items"]),
        chart=trend_svg(data.trend), pct_class=pct_class, colours=STATUS_COLOURS,
        top_patches=top_patches(data.missing, data.threshold_days),
        top_cves=top_cves(data.missing, data.threshold_days),
        lists=[(s, by_status[s][:LIST_LIMIT], len(by_status[s])) for s in LISTED],
        connection_lost=[r for r in data.instances if r.get("instance_status") == "ConnectionLost"],
        quarantined=[r for r in data.instances if r.get("quarantined_lines")],
        oldest_capture=min(captures) if captures else None, newest_capture=max(captures) if captures else None,
        basis_counts=dict(basis_counts), lower_bounds=lower_bounds, freshness=freshness or {},
        drifted=[b for b in data.baselines if b["drift"] and b["drift"] != "in_sync"],
    )


def _fmt(value: object) -> str:
    return format_value(value)
