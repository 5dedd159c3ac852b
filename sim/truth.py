"""Ground truth from the simulator's own model (never from the pipeline), for any simulated date.

Applies DESIGN.md's report definitions and the brief's shared definitions to what the simulated
RDS tree holds on each snapshot date: instance statuses (Terminated out of the population; EC2
instances without SSM data are UNMANAGED), each host's cause (from what the simulator knows: its
tags, the install windows it models, the baselines it drifted, the items it reported), Team x
Environment counts with the columns of ``team_environment_summary.csv``, missing critical patches
aged >= 14 days (release date and first_seen_missing both given), the remediation figures of
``remediation.csv`` and each CVE's history.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from patch_compliance.inputs import parse_timestamp
from sim.fleet import PLATFORM, Node
from sim.model import Item, Scan
from sim.rds_writer import malformed_items
from sim.state import World

UNTAGGED = "(untagged)"
MISSING_STATES = frozenset(("Missing", "Failed"))
INSTALLED_STATES = frozenset(("Installed", "InstalledOther", "InstalledPendingReboot", "InstalledRejected"))
SUMMARY_COLUMNS = ("team", "environment", "instances", "compliant", "non_compliant", "stale", "no_data",
                   "unmanaged", "stopped", "compliance_pct", "instances_missing_critical_14d",
                   "missing_critical_14d_items", "quarantined_instances")
SUMMARY_NON_COMPLIANT = frozenset(("Missing", "Failed", "InstalledPendingReboot", "InstalledRejected"))
STATUS_COLUMNS = ("compliant", "non_compliant", "stale", "no_data", "unmanaged", "stopped")
CAUSES = ("no_agent", "stale_agent", "no_patch_group", "unknown_patch_group", "baseline_drift", "not_in_window",
          "install_failed", "pending_reboot", "not_patched_since_window", "awaiting_window", "other")
SUMMARY_COLUMNS += tuple(f"cause_{c}" for c in CAUSES)
REMEDIATED_STATES = frozenset(("Installed", "InstalledOther"))
AGE_BINS = (("0_7", 7), ("8_14", 14), ("15_30", 30), ("31_90", 90), ("over_90", None))  # upper bounds


@dataclass
class CveRecord:
    cve_id: str
    instance_id: str
    patch_id: str
    first_seen_missing: date
    last_seen_missing: date
    installed_time: str | None = None
    first_seen_installed: date | None = None
    current_state: str = ""


@dataclass
class HistoryTracker:
    """Follows items across snapshot dates: first_seen_missing runs and CVE install histories.

    ``first_seen_missing`` per the brief: the earliest snapshot S such that the item is Missing/Failed
    in every snapshot from S to D in which the instance has the item (absence does not break a run).
    """

    run_start: dict[tuple[str, str], date] = field(default_factory=dict)
    cves: dict[tuple[str, str, str], CveRecord] = field(default_factory=dict)
    by_item: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    days: list[date] = field(default_factory=list)
    # Of nodes whose item lines reach the lake: the first day each (node, patch, title) was Missing or
    # Failed, the unbroken missing run of each (node, patch), whether it was last missing or installed,
    # and every remediation (a missing run followed by an install, other states in between skipped).
    missing_since: dict[tuple[str, str, str], date] = field(default_factory=dict)
    open_runs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    last_runs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    decisive: dict[tuple[str, str], str] = field(default_factory=dict)
    remediations: list[dict[str, Any]] = field(default_factory=list)

    def feed(self, day: date, views: dict[str, Scan | None]) -> None:
        if self.days and day <= self.days[-1]:
            raise ValueError(f"snapshots must be fed in ascending order ({day} after {self.days[-1]})")
        self.days.append(day)
        run_start, by_item, cves = self.run_start, self.by_item, self.cves
        for node_id, scan in views.items():
            if scan is None or not scan.items:
                continue
            for item in scan.items:
                if not scan.node.summary_only:
                    self._follow(day, node_id, item)
                key = (node_id, item.patch_id)
                if item.state in MISSING_STATES:
                    run_start.setdefault(key, day)
                    for cve in item.cve_ids.split(","):
                        if not cve:
                            continue
                        record = cves.get((cve, node_id, item.patch_id))
                        if record is None:
                            cves[(cve, node_id, item.patch_id)] = CveRecord(cve, node_id, item.patch_id, day, day,
                                                                             current_state=item.state)
                            by_item[key].add(cve)
                        else:
                            record.last_seen_missing = day
                            record.installed_time = record.first_seen_installed = None
                    for cve in by_item.get(key, ()):
                        cves[(cve, node_id, item.patch_id)].current_state = item.state
                    continue
                run_start.pop(key, None)
                for cve in by_item.get(key, ()):
                    record = cves[(cve, node_id, item.patch_id)]
                    record.current_state = item.state
                    if item.state in INSTALLED_STATES and record.first_seen_installed is None:
                        record.first_seen_installed = day
                        record.installed_time = item.installed_time or None


    def _follow(self, day: date, node_id: str, item: Item) -> None:
        key = (node_id, item.patch_id)
        if item.state in MISSING_STATES:
            self.missing_since.setdefault((node_id, item.patch_id, item.title), day)
            run = self.open_runs.get(key)
            if run is None:
                run = self.open_runs[key] = {"first_seen_missing": day, "title": item.title,
                                             "release_date": item.release_date}
            run.update(last_seen_missing=day, classification=item.classification, severity=item.patch_severity)
            self.last_runs[key] = run
            self.decisive[key] = "missing"
            return
        self.open_runs.pop(key, None)  # any other state ends the run
        if item.state in REMEDIATED_STATES:
            if self.decisive.get(key) == "missing":
                self.remediations.append({"instance_id": node_id, "patch_id": item.patch_id, "remediated_on": day,
                                          **self.last_runs[key]})
            self.decisive[key] = "installed"


def _label(value: str | None) -> str:
    return value if value else UNTAGGED


def instance_truth(world: World, on: date, views: dict[str, Scan | None], tracker: HistoryTracker,
                   catalog_families: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Statuses, summary and missing-critical items on ``on`` given that day's views.

    ``catalog_families``: the node families whose release dates the lake's patch catalog knows (the
    product's catalog task filled it each day); other items age from their first sighting.
    """
    settings = world.settings
    report = settings.report
    # As the ingest judges a day: the 95th percentile (lower neighbour) of the patch-data captures.
    captures = sorted(scan.capture_time for scan in views.values() if scan is not None and scan.items is not None)
    reference = captures[int(0.95 * (len(captures) - 1))] if captures else None
    threshold = (parse_timestamp(reference) - timedelta(hours=settings.ingest.freshness_hours)) if reference else None
    instances = []
    missing_rows = []
    for node in world.fleet.nodes:
        scan = views.get(node.node_id)
        team, environment = _label(node.tag("Team")), _label(node.tag("Environment"))
        row: dict[str, Any] = {
            "account_id": node.account_id, "region": node.region, "instance_id": node.node_id,
            "team": team, "environment": environment, "patch_group": node.patch_group or "",
            "platform": node.family, "platform_name": PLATFORM[node.family][0],
            "platform_type": PLATFORM[node.family][1], "baseline_id": "", "last_capture_time": None,
            "non_compliant_items": 0, "quarantined_lines": 0,
            "missing_critical_14d_items": 0, "in_population": True, "instance_status": "",
        }
        if scan is None:
            state = node.ec2_state(on)
            if node.is_hybrid or state == "terminated":
                continue
            row.update(status="STOPPED" if state == "stopped" else "UNMANAGED", non_compliant_items=None,
                       cause="" if state == "stopped" else "no_agent")
            instances.append(row)
            continue
        row["last_capture_time"] = scan.capture_time
        row["instance_status"] = scan.instance_status
        row["baseline_id"] = scan.baseline_id if scan.items is not None else ""
        written = scan.items is not None and not node.summary_only  # its AWS:ComplianceItem lines exist
        items = [i for i in scan.items or () if i.state != "NotApplicable"] if written else []
        non_compliant = [i for i in items if i.status == "NON_COMPLIANT"]
        summary_counts = sum(1 for i in scan.items or () if i.state in SUMMARY_NON_COMPLIANT)
        summary_only = scan.items is not None and not written and summary_counts > 0
        row["non_compliant_items"] = len(non_compliant)
        row["status_basis"] = "items" if items else "summary" if summary_only else None
        lost = malformed_items(world.state.seed, world.faults.malformed_share, scan) if written else []
        row["quarantined_lines"] = len(lost)  # lines quarantined at ingest
        row["patch_status"] = (
            "NO_DATA" if not items and not summary_only  # as the ingest classifies: no items is NO_DATA, stale or not
            else "STALE" if threshold is not None and parse_timestamp(scan.capture_time) < threshold
            else "NON_COMPLIANT" if non_compliant or lost or summary_only  # a node that lost a line is never COMPLIANT
            else "COMPLIANT")
        if scan.instance_status == "Terminated":
            row.update(status="TERMINATED", in_population=False)
        elif scan.instance_status == "Stopped":  # reported with its last known state, counted neither way
            row["status"] = "STOPPED"
        else:
            row["status"] = row["patch_status"]
        row["cause"] = cause_of(world, node, scan, row, tracker)
        if row["in_population"]:
            for item in non_compliant:
                if (item.state not in MISSING_STATES or item.classification not in report.critical_classifications
                        or item.patch_severity not in report.critical_severities):
                    continue
                first_seen = tracker.run_start.get((node.node_id, item.patch_id))
                use_release = node.family in catalog_families and item.release_date is not None
                basis_date = item.release_date if use_release else first_seen
                if basis_date is None:
                    continue
                age = (on - basis_date).days
                if age < report.missing_critical_age_days:
                    continue
                row["missing_critical_14d_items"] += 1
                missing_rows.append({
                    "snapshot_date": on.isoformat(), "account_id": node.account_id, "region": node.region,
                    "instance_id": node.node_id, "team": team, "environment": environment,
                    "patch_id": item.patch_id, "title": item.title, "classification": item.classification,
                    "patch_severity": item.patch_severity, "patch_state": item.state,
                    "cve_ids": " ".join(c for c in item.cve_ids.split(",") if c),
                    "first_seen_missing": first_seen.isoformat() if first_seen else None,
                    "release_date": item.release_date.isoformat() if item.release_date else None,
                    "age_days": age, "age_basis": "release_date" if use_release else "first_seen_missing",
                    "status": row["status"]})
        instances.append(row)
    return {"reference_time": reference, "instances": instances, "missing_critical_14d": missing_rows,
            "team_environment_summary": summarise(instances)}


def cause_of(world: World, node: Node, scan: Scan, row: dict[str, Any], tracker: HistoryTracker) -> str:
    """The first cause that holds, per the report's definitions (docs/report.md), from the model's own facts."""
    if row["status"] not in ("NON_COMPLIANT", "STALE", "NO_DATA"):
        return ""
    if row["status"] == "STALE" or scan.instance_status == "ConnectionLost":
        return "stale_agent"
    settings = world.settings
    declared = {g.name for g in settings.patch_groups}
    if node.patch_group is None:
        return "no_patch_group"
    if declared and node.patch_group not in declared:
        return "unknown_patch_group"
    if row["baseline_id"] and (node.account_id, row["baseline_id"]) in world.model.drifted:
        return "baseline_drift"
    windows = world.model.node_windows(node)
    if any(w.operation == "Install" for w in settings.maintenance_windows) and not windows:
        return "not_in_window"
    states = [i.state for i in scan.items or ()]
    if "Failed" in states:
        return "install_failed"
    if "InstalledPendingReboot" in states and not {"Missing", "InstalledRejected"} & set(states):
        return "pending_reboot"
    if node.summary_only or scan.items is None:  # no item lines in the lake to tell more
        return "other"
    missing_now = [i for i in scan.items if i.state == "Missing"]
    capture = parse_timestamp(scan.capture_time)
    last = max((w.last_start_at_or_before(capture - timedelta(hours=w.duration_hours)) for w in windows),
               default=None)
    if last is not None and any(tracker.missing_since.get((node.node_id, i.patch_id, i.title), date.max) < last.date()
                                for i in missing_now):
        return "not_patched_since_window"
    return "awaiting_window" if missing_now else "other"


def remediation_truth(world: World, on: date, views: dict[str, Scan | None], tracker: HistoryTracker,
                      catalog_families: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """remediation.csv's rows: remediations per month x team x severity, the report month's open items."""
    report = world.settings.report
    threshold = report.missing_critical_age_days
    nodes = world.fleet.by_id()
    month = f"{on:%Y-%m}"

    def critical(classification: str, severity: str) -> bool:
        return classification in report.critical_classifications and severity in report.critical_severities

    groups: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(lambda: {"days": [], "lower": 0, "late": 0,
                                                                              "open": 0, "ages": []})
    for event in tracker.remediations:
        if event["remediated_on"] > on:
            continue
        node = nodes[event["instance_id"]]
        release = event["release_date"] if node.family in catalog_families else None
        days = (event["remediated_on"] - (release or event["first_seen_missing"])).days
        group = groups[(f"{event['remediated_on']:%Y-%m}", _label(node.tag("Team")), event["severity"] or "(none)")]
        group["days"].append(days)
        group["lower"] += release is None and event["first_seen_missing"] == tracker.days[0]
        group["late"] += critical(event["classification"], event["severity"]) and days > threshold
    for node_id, scan in views.items():
        node = nodes[node_id]
        if scan is None or not scan.items or node.summary_only or scan.instance_status == "Terminated":
            continue
        for item in scan.items:
            if item.state not in MISSING_STATES:
                continue
            group = groups[(month, _label(node.tag("Team")), item.patch_severity or "(none)")]
            group["open"] += 1
            if critical(item.classification, item.patch_severity):
                release = item.release_date if node.family in catalog_families else None
                group["ages"].append((on - (release or tracker.run_start[(node_id, item.patch_id)])).days)
    def age_bin(age: int) -> str:
        return next(name for name, high in AGE_BINS if high is None or age <= high)

    rows = []
    by_team = sorted(groups.items(), key=lambda g: (g[0][1], g[0][2]))
    for (row_month, team, severity), group in sorted(by_team, key=lambda g: g[0][0], reverse=True):
        days = sorted(group["days"])
        bins = {name: sum(1 for age in group["ages"] if age_bin(age) == name) for name, _ in AGE_BINS}
        current = row_month == month
        rows.append({
            "month": row_month, "team": team, "severity": severity, "remediated": len(days),
            "median_days": f"{statistics.median(days):.1f}" if days else "",
            "p90_days": days[math.ceil(0.9 * len(days)) - 1] if days else None, "max_days": days[-1] if days else None,
            "lower_bound_items": group["lower"], "remediated_late": group["late"],
            "open": group["open"] if current else None, "open_critical": len(group["ages"]) if current else None,
            **{f"open_critical_{name}": count if current else None for name, count in bins.items()},
            "open_critical_breaching": sum(1 for a in group["ages"] if a >= threshold) if current else None})
    return rows


def summarise(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Team x Environment rows in the column order of team_environment_summary.csv."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in instances:
        if not row["in_population"]:
            continue
        group = groups.setdefault((row["team"], row["environment"]), {
            "team": row["team"], "environment": row["environment"], "compliant": 0, "non_compliant": 0,
            "stale": 0, "no_data": 0, "unmanaged": 0, "stopped": 0, "instances_missing_critical_14d": 0,
            "missing_critical_14d_items": 0, "quarantined_instances": 0, **{f"cause_{c}": 0 for c in CAUSES}})
        group[row["status"].lower()] += 1
        if row["cause"]:
            group[f"cause_{row['cause']}"] += 1
        group["quarantined_instances"] += 1 if row.get("quarantined_lines") else 0
        if row["missing_critical_14d_items"]:
            group["instances_missing_critical_14d"] += 1
            group["missing_critical_14d_items"] += row["missing_critical_14d_items"]
    out = []
    for key in sorted(groups):
        group = groups[key]
        total = sum(group[c] for c in STATUS_COLUMNS)
        group["instances"] = total
        judged = total - group["stopped"]  # stopped hosts leave the denominator
        group["compliance_pct"] = round(100 * group["compliant"] / judged, 1) if judged else None
        out.append({c: group[c] for c in SUMMARY_COLUMNS})
    return out


def views_on(world: World, on: date) -> dict[str, Scan | None]:
    return {node.node_id: world.model.view(node, on) for node in world.fleet.nodes}


def cve_history(world: World, tracker: HistoryTracker) -> list[dict[str, Any]]:
    nodes = world.fleet.by_id()
    rows = []
    for record in sorted(tracker.cves.values(), key=lambda r: (r.cve_id, r.instance_id, r.patch_id)):
        node = nodes[record.instance_id]
        rows.append({
            "cve_id": record.cve_id, "account_id": node.account_id, "region": node.region,
            "instance_id": record.instance_id, "team": _label(node.tag("Team")),
            "environment": _label(node.tag("Environment")), "patch_id": record.patch_id,
            "first_seen_missing": record.first_seen_missing.isoformat(),
            "last_seen_missing": record.last_seen_missing.isoformat(),
            "installed_time": record.installed_time,
            "first_seen_installed": record.first_seen_installed.isoformat() if record.first_seen_installed else None,
            "current_state": record.current_state})
    return rows


def ground_truth(world: World, on: date, snapshot_dates: list[date] | None = None,
                 catalog_families: frozenset[str] = frozenset(), tracker: HistoryTracker | None = None,
                 views: dict[str, Scan | None] | None = None) -> dict[str, Any]:
    """The full export for ``on``. ``snapshot_dates`` (default: just ``on``) are the days ingested."""
    dates = sorted(d for d in (snapshot_dates or [on]) if d <= on)
    if tracker is None:
        tracker = HistoryTracker()
        for day in dates:
            day_views = views_on(world, day)
            tracker.feed(day, day_views)
            if day == on:
                views = day_views
    if views is None:
        views = views_on(world, on)
    truth = instance_truth(world, on, views, tracker, catalog_families)
    return {
        "date": on.isoformat(),
        "generated_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "seed": world.state.seed,
        "fleet_size": world.state.size,
        "snapshot_dates": [d.isoformat() for d in tracker.days],
        "freshness_hours": world.settings.ingest.freshness_hours,
        "catalog_families": sorted(catalog_families),
        "faults": world.faults.as_dict(),
        **truth,
        "status_counts": _status_counts(truth["instances"]),
        "remediation": remediation_truth(world, on, views, tracker, catalog_families),
        "cve_history": cve_history(world, tracker),
    }


def _status_counts(instances: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in instances:
        counts[row["status"]] += 1
    return dict(sorted(counts.items()))


def write_truth(truth: dict[str, Any], path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(truth, indent=1, default=str))
    return target
