"""The report's charts as inline SVG: no script, no library, the same offline, in mail or archived for years.

Numbers, dates and fixed labels only, except team names and severities, which are escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

from patch_compliance.remediation import AGE_BINS

STATUS_COLOURS = {"COMPLIANT": "#2e7d32", "NON_COMPLIANT": "#c62828", "STALE": "#ef6c00",
                  "NO_DATA": "#6d4c41", "UNMANAGED": "#607d8b", "STOPPED": "#9e9e9e"}
AGE_COLOURS = {"0_7": "#fdd835", "8_14": "#fb8c00", "15_30": "#e53935", "31_90": "#b71c1c", "over_90": "#4a148c"}
AGE_LABELS = {"0_7": "0-7 d", "8_14": "8-14 d", "15_30": "15-30 d", "31_90": "31-90 d", "over_90": "> 90 d"}


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


def age_histogram_svg(bars: list[tuple[str, dict[str, int]]], width: int = 920) -> Markup:
    """Open critical items by age: one horizontal bar per label (a team, a severity), stacked by age bin."""
    left, right, top, row_h = 190, 60, 10, 22
    height = top + row_h * max(1, len(bars)) + 46
    plot_w = width - left - right
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'role="img" aria-label="Open critical items by age">']
    peak = max((sum(counts.values()) for _, counts in bars), default=0)
    if not peak:
        parts.append(f'<text x="{width / 2}" y="{top + 16}" text-anchor="middle">No open critical item</text></svg>')
        return Markup("".join(parts))  # noqa: S704 - a fixed label only
    for n, (label, counts) in enumerate(bars):
        y = top + row_h * n
        name = escape(label if len(label) <= 28 else label[:27] + "…")
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" class="axis">{name}</text>')
        x = float(left)
        for bin_name, _, _ in AGE_BINS:
            count = counts.get(bin_name, 0)
            if not count:
                continue
            w = plot_w * count / peak
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                         f'fill="{AGE_COLOURS[bin_name]}"><title>{escape(label)}: {count} open critical item(s) aged '
                         f'{escape(AGE_LABELS[bin_name])}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 15}" class="axis">{sum(counts.values())}</text>')
    legend_x, legend_y = left, height - 14
    for bin_name, colour in AGE_COLOURS.items():
        parts.append(f'<rect x="{legend_x}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="{legend_y}" class="axis">{escape(AGE_LABELS[bin_name])}</text>')
        legend_x += 80
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers, fixed labels and escaped names only
