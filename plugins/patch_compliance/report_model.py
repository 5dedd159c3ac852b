"""The monthly report's model: what a report is made of and how its values are written.

Pure: no lake, no query, no I/O. ``report`` (orchestration: scope, queries, manifest, files) and
``report_html`` (the page) both build on it; neither imports the other's internals.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patch_compliance.lake import DayRecord

STATUSES = ("COMPLIANT", "NON_COMPLIANT", "STALE", "NO_DATA", "UNMANAGED", "STOPPED")
# Why a NON_COMPLIANT, STALE, NO_DATA or UNMANAGED host is so, in the order the first match wins
# (sql/report/causes.sql decides; docs/report.md explains each).
CAUSES = ("no_agent", "stale_agent", "no_patch_group", "unknown_patch_group", "baseline_drift", "not_in_window",
          "install_failed", "pending_reboot", "not_patched_since_window", "awaiting_window", "other")

SUMMARY_COLUMNS = ("team", "environment", "instances", "compliant", "non_compliant", "stale", "no_data",
                   "unmanaged", "stopped", "compliance_pct", "instances_missing_critical_14d",
                   "missing_critical_14d_items", "quarantined_instances", *(f"cause_{c}" for c in CAUSES))
INSTANCE_COLUMNS = ("snapshot_date", "account_id", "region", "instance_id", "team", "environment",
                    "patch_group", "baseline_id", "platform", "status", "last_capture_time",
                    "non_compliant_items", "missing_critical_14d_items", "quarantined_lines", "instance_status",
                    "cause")
MISSING_COLUMNS = ("snapshot_date", "account_id", "region", "instance_id", "team", "environment", "patch_id",
                   "classification", "patch_severity", "patch_state", "cve_ids", "first_seen_missing",
                   "release_date", "age_days", "age_basis", "age_is_lower_bound", "status")


def format_value(value: object) -> str:
    """CSV text for a value: ISO dates, UTC ``...Z`` timestamps, empty for NULL."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compliance_pct(compliant: int, instances: int, stopped: int = 0) -> str:
    """100 * compliant / (instances - stopped), one decimal, rounded half up (no float surprises).

    A stopped host is neither compliant nor non-compliant, so it leaves the denominator.
    """
    judged = instances - stopped
    if judged <= 0:
        return ""
    value = Decimal(100 * compliant) / Decimal(judged)
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A text cell a spreadsheet will not run: a leading ``'`` before a formula trigger (OWASP CSV Injection)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def csv_bytes(columns: Sequence[str], rows: Sequence[dict[str, object]]) -> bytes:
    """CSV of the rows; every text cell (tags, names, patch ids, titles come from the fleet) is neutralised."""
    return CsvTable.of(columns, rows).to_bytes()


@dataclass(frozen=True)
class CsvTable:
    """Rows formatted once as CSV lines: the fleet's file and each team's file join the same lines.

    The team files are the fleet's rows of one team, so formatting them again would double the
    report's CSV work (≈ 0.1 s of a month report) for the same bytes.
    """

    rows: Sequence[dict[str, object]]
    lines: tuple[str, ...]  # the header, then each row's line (line ends included)

    @classmethod
    def of(cls, columns: Sequence[str], rows: Sequence[dict[str, object]]) -> CsvTable:
        lines: list[str] = []
        writer = csv.writer(_LineSink(lines), lineterminator="\n")  # one write() per row: the row's line
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutralise(v) if isinstance(v := row.get(c), str) else format_value(v)
                             for c in columns])
        return cls(rows, tuple(lines))

    def to_bytes(self) -> bytes:
        return "".join(self.lines).encode()

    def select(self, keep: Callable[[dict[str, object]], bool]) -> bytes:
        """The file of the rows ``keep`` accepts, header first."""
        body = [line for row, line in zip(self.rows, self.lines[1:], strict=True) if keep(row)]
        return "".join([self.lines[0], *body]).encode()


class _LineSink:
    """A file-like ``write`` that keeps each line ``csv.writer`` writes."""

    def __init__(self, lines: list[str]) -> None:
        self.write = lines.append


@dataclass(frozen=True)
class ReportScope:
    """Which day records a report reads, decided from the lake's ``snapshots`` table before any query."""

    month: str
    report_date: date
    excluded_dates: tuple[date, ...]  # snapshots of the month that failed critical data-quality checks
    month_records: tuple[DayRecord, ...]  # ingest days of the month up to report_date (the trend)
    history_records: tuple[DayRecord, ...]  # every ingest day <= report_date (first_seen_missing)
    inventory_records: tuple[DayRecord, ...]  # ec2_inventory days among the month's
    catalog_record: DayRecord | None
    baselines_record: DayRecord | None

    @property
    def month_dates(self) -> tuple[date, ...]:
        return tuple(r.snapshot_date for r in self.month_records)

    @property
    def history_dates(self) -> tuple[date, ...]:
        return tuple(r.snapshot_date for r in self.history_records)

    @property
    def inventory_dates(self) -> tuple[date, ...]:
        return tuple(r.snapshot_date for r in self.inventory_records)

    @property
    def report_record(self) -> DayRecord:
        return self.month_records[-1]

    @property
    def coverage_known(self) -> bool:
        return self.report_date in self.inventory_dates

    def inputs(self) -> dict[str, list[DayRecord]]:
        """Per lake table, the exact day records read (what the manifest keeps)."""
        return {"patch_compliance": list(self.history_records), "instances": list(self.month_records),
                "ec2_inventory": list(self.inventory_records),
                "patch_catalog": [self.catalog_record] if self.catalog_record else [],
                "baselines": [self.baselines_record] if self.baselines_record else []}


@dataclass(frozen=True)
class PolicyFacts:
    """What the declared policy says that the causes depend on, as the report used it (kept in the manifest).

    Window runs are UTC ``YYYY-MM-DD HH:MM:SS`` text: they travel as bound SQL text and JSON alike.
    """

    patch_groups: tuple[str, ...]
    window_targets: tuple[tuple[str, str, str], ...]  # (window, tag key, tag value) of each Install window
    window_runs: tuple[tuple[str, str, str], ...]  # (window, start, end) in the weeks before the report date
    unevaluated_windows: tuple[str, ...] = ()  # windows whose schedule gives no runs here (rate(...))

    def sql_params(self) -> list[str]:
        """The bound parameters of causes.sql after the report date."""
        return [",".join(self.patch_groups), ",".join("|".join(t) for t in self.window_targets),
                ",".join("|".join(r) for r in self.window_runs)]

    def as_manifest(self) -> dict[str, Any]:
        return {"patch_groups": list(self.patch_groups), "window_targets": [list(t) for t in self.window_targets],
                "window_runs": [list(r) for r in self.window_runs],
                "unevaluated_windows": list(self.unevaluated_windows)}

    @classmethod
    def from_manifest(cls, raw: dict[str, Any]) -> PolicyFacts:
        def triples(key: str) -> tuple[tuple[str, str, str], ...]:
            return tuple((a, b, c) for a, b, c in raw.get(key, []))

        return cls(tuple(raw.get("patch_groups", [])), triples("window_targets"), triples("window_runs"),
                   tuple(raw.get("unevaluated_windows", [])))


@dataclass
class ReportData:
    """Everything the outputs are made of, computed once."""

    scope: ReportScope
    instances: list[dict[str, Any]]
    missing: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    trend: list[dict[str, Any]]
    baselines: list[dict[str, Any]]
    threshold_days: int
    policy: PolicyFacts
    team_trend: list[dict[str, Any]]  # the trend's rows per (snapshot, team)
    remediation: list[dict[str, Any]]  # rows of remediation.csv


def summarise(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (team, environment), sorted; ``instances`` is the sum of the six statuses."""
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for row in instances:
        counter = groups[(row["team"], row["environment"])]
        counter[row["status"]] += 1
        items = row["missing_critical_14d_items"] or 0
        counter["missing_items"] += items
        counter["missing_instances"] += 1 if items else 0
        counter["quarantined"] += 1 if row.get("quarantined_lines") else 0
        if row.get("cause"):
            counter[f"cause_{row['cause']}"] += 1
    summary = []
    for (team, environment), counter in sorted(groups.items()):
        total = sum(counter[s] for s in STATUSES)
        summary.append({
            "team": team, "environment": environment, "instances": total,
            "compliant": counter["COMPLIANT"], "non_compliant": counter["NON_COMPLIANT"],
            "stale": counter["STALE"], "no_data": counter["NO_DATA"], "unmanaged": counter["UNMANAGED"],
            "stopped": counter["STOPPED"],
            "compliance_pct": compliance_pct(counter["COMPLIANT"], total, counter["STOPPED"]),
            "instances_missing_critical_14d": counter["missing_instances"],
            "missing_critical_14d_items": counter["missing_items"],
            "quarantined_instances": counter["quarantined"],
            **{f"cause_{c}": counter[f"cause_{c}"] for c in CAUSES},
        })
    return summary
