"""Remediation figures: how fast each team installs what went missing, and what is still open, per severity.

The remediations themselves come from ``sql/report/remediation.sql`` (the histogram of every (host, patch)
that went from Missing/Failed to installed in the lake's history: per month, team, severity and
days to remediate, how many), what is open from ``open_items.sql``
and the report's missing critical rows (which carry their age). This module only groups and counts:
medians and 90th percentiles are computed here, exactly and alike for both engines (Athena's
``approx_percentile`` is approximate). The columns are ``remediation.csv``'s (docs/report.md).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

AGE_BINS = (("0_7", 0, 7), ("8_14", 8, 14), ("15_30", 15, 30), ("31_90", 31, 90), ("over_90", 91, None))
OPEN_COLUMNS = ("open", "open_critical", *(f"open_critical_{name}" for name, _, _ in AGE_BINS),
                "open_critical_breaching")
REMEDIATION_COLUMNS = ("month", "team", "severity", "remediated", "median_days", "p90_days", "max_days",
                       "lower_bound_items", "remediated_late", *OPEN_COLUMNS)


def median(values: list[int]) -> str:
    """The middle value (the mean of the two middle ones for an even count), one decimal; empty for none."""
    if not values:
        return ""
    ordered = sorted(values)
    middle = len(ordered) // 2
    value = Decimal(ordered[middle]) if len(ordered) % 2 else Decimal(ordered[middle - 1] + ordered[middle]) / 2
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def p90(values: list[int]) -> int | None:
    """The 90th percentile by nearest rank: the smallest value at least 90 % of the values do not exceed."""
    if not values:
        return None
    return sorted(values)[math.ceil(0.9 * len(values)) - 1]


def age_bin(age_days: int) -> str:
    return next(name for name, low, high in AGE_BINS if age_days >= low and (high is None or age_days <= high))


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def remediation_rows(histogram: Iterable[dict[str, Any]], open_items: Iterable[dict[str, Any]],
                     missing: Iterable[dict[str, Any]], report_date: date, threshold: int) -> list[dict[str, Any]]:
    """``remediation.csv``: per month of remediations (the report month first) x team x severity.

    The report month's rows also count what is open on the report snapshot (every (team, severity)
    with a remediation or an open item has a row); earlier months' rows have no open figures, since
    the lake's snapshot of that month's end is not what this report reads.
    """
    report_month = month_of(report_date)
    days: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    counts: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for bucket in histogram:
        key = (f"{bucket['remediated_year']:04d}-{bucket['remediated_month']:02d}", bucket["team"],
               bucket["patch_severity"])
        days[key].extend([bucket["days_to_remediate"]] * bucket["remediations"])
        counts[key]["lower_bound_items"] += bucket["lower_bound_items"]
        counts[key]["remediated_late"] += bucket["critical_items"] if bucket["days_to_remediate"] > threshold else 0
    for item in open_items:
        counts[(report_month, item["team"], item["patch_severity"])]["open"] += item["open_items"]
    for row in missing:
        key = (report_month, row["team"], row["patch_severity"])
        counts[key]["open_critical"] += 1
        counts[key][f"open_critical_{age_bin(row['age_days'])}"] += 1
        counts[key]["open_critical_breaching"] += 1 if row["age_days"] >= threshold else 0
    rows = []
    for key in sorted(set(days) | set(counts), key=lambda k: (-int(k[0].replace("-", "")), k[1], k[2])):
        month, team, severity = key
        values, found = days.get(key, []), counts.get(key, {})
        current = month == report_month
        rows.append({
            "month": month, "team": team, "severity": severity, "remediated": len(values),
            "median_days": median(values), "p90_days": p90(values), "max_days": max(values, default=None),
            "lower_bound_items": found.get("lower_bound_items", 0), "remediated_late": found.get("remediated_late", 0),
            **{column: found.get(column, 0) if current else None for column in OPEN_COLUMNS},
        })
    return rows
