"""The monthly compliance report: CSVs, self-contained HTML pages (the fleet's and each team's) and a manifest.

The definitions are DESIGN.md's "Report definitions (the contract)". Per-instance facts, causes,
the age of every missing critical item and every remediation come from the SQL in ``sql/report/``
(Athena/Trino dialect, run by DuckDB over the lake or by Athena) through ``report_queries``; this
module decides what the report reads (its scope), writes the files and the audit manifest. The
values and how they are written are in ``report_model``; the pages are ``report_html``, the team
folders ``report_teams``.

Benchmarks call :func:`build_report` directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from patch_compliance import __version__
from patch_compliance.aws import StorageAccess
from patch_compliance.config import Settings, load_settings
from patch_compliance.inputs import InputError, parse_date, parse_location, parse_month
from patch_compliance.lake import DayRecord, Lake
from patch_compliance.query import QueryEngine, make_engine
from patch_compliance.remediation import REMEDIATION_COLUMNS
from patch_compliance.report_causes import policy_facts
from patch_compliance.report_html import render_html
from patch_compliance.report_model import (
    INSTANCE_COLUMNS,
    MISSING_COLUMNS,
    SUMMARY_COLUMNS,
    CsvTable,
    PolicyFacts,
    ReportData,
    ReportScope,
    csv_bytes,
)
from patch_compliance.report_queries import collect
from patch_compliance.report_teams import team_dirs, team_index, team_outputs
from patch_compliance.storage import open_location, write_bytes


def resolve_scope(lake: Lake, month: str, as_of: date | None) -> ReportScope:
    """The report snapshot is the latest of the month on or before ``as_of``."""
    year, month_number = parse_month(month)
    first = date(year, month_number, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    cutoff = min(last, as_of) if as_of else last
    if as_of and as_of < first:
        raise InputError(f"--as-of {as_of} is before the month {month}")
    all_dates = lake.snapshot_dates("patch_compliance")
    candidates = [d for d in all_dates if first <= d <= cutoff]
    from patch_compliance.quality import failed_validation_dates  # here: quality imports pandas

    excluded = tuple(failed_validation_dates(lake, candidates))
    month_dates = tuple(d for d in candidates if d not in excluded)
    if not month_dates:
        known = ", ".join(d.isoformat() for d in all_dates[-5:]) or "none"
        failed = f"; not used, failed critical data-quality checks: {', '.join(map(str, excluded))}" if excluded else ""
        raise InputError(f"no committed snapshot in {month} on or before {cutoff} in lake {lake.uri} "
                         f"(latest snapshots: {known}{failed})")
    report_date = month_dates[-1]
    ingest = lake.latest_records("ingest")

    def latest(group: str) -> DayRecord | None:
        records = lake.latest_records(group)
        candidates = [d for d in records if d <= report_date]
        return records[max(candidates)] if candidates else None

    inventory = lake.latest_records("ec2_inventory")
    return ReportScope(
        month=month, report_date=report_date, excluded_dates=excluded,
        month_records=tuple(ingest[d] for d in month_dates),
        history_records=tuple(ingest[d] for d in all_dates if d <= report_date and d not in excluded),
        inventory_records=tuple(inventory[d] for d in month_dates if d in inventory),
        catalog_record=latest("patch_catalog"), baselines_record=latest("baselines"),
    )


def scope_from_manifest(lake: Lake, manifest: dict[str, Any]) -> ReportScope:
    """The exact day records an earlier report read (reruns since then do not change them)."""
    inputs = manifest.get("inputs")
    if not isinstance(inputs, dict) or "instances" not in inputs:
        raise InputError("the manifest has no 'inputs' of day records; was it written by this version?")

    def records(table: str) -> tuple[DayRecord, ...]:
        return tuple(lake.record_of_run(date.fromisoformat(r["snapshot_date"]), r["table_group"], r["run_id"])
                     for r in inputs.get(table, []))

    month_records = records("instances")
    if not month_records:
        raise InputError("the manifest lists no instances day records to reproduce")
    catalog, baselines = records("patch_catalog"), records("baselines")
    return ReportScope(
        month=manifest["parameters"]["month"], report_date=month_records[-1].snapshot_date,
        excluded_dates=tuple(date.fromisoformat(d) for d in manifest.get("excluded_snapshot_dates", [])),
        month_records=month_records, history_records=records("patch_compliance"),
        inventory_records=records("ec2_inventory"), catalog_record=catalog[0] if catalog else None,
        baselines_record=baselines[0] if baselines else None)


def _table_reads(table: str, records: Sequence[DayRecord]) -> list[dict[str, Any]]:
    """The day records read for a table: enough to read exactly the same rows again (time travel)."""
    return [{"snapshot_date": r.snapshot_date.isoformat(), "table_group": r.table_group, "run_id": r.run_id,
             "committed_at": r.as_manifest()["committed_at"],
             "iceberg_snapshot_id": r.tables[table]["iceberg_snapshot_id"], "rows": r.rows(table)}
            for r in records]


def audit_manifest(lake: Lake, data: ReportData, engine: QueryEngine, parameters: dict[str, Any],
                   outputs: dict[str, bytes], timings: dict[str, float], teams: dict[str, str]) -> dict[str, Any]:
    from patch_compliance.lake import sha256

    scope = data.scope
    return {
        "report": "monthly patch compliance",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "package_version": __version__,
        "engine": engine.name,
        "parameters": parameters,
        "report_snapshot_date": scope.report_date.isoformat(),
        "trend_snapshot_dates": [d.isoformat() for d in scope.month_dates],
        "excluded_snapshot_dates": [d.isoformat() for d in scope.excluded_dates],
        "history_snapshot_dates": [d.isoformat() for d in scope.history_dates],
        "ec2_inventory_known": scope.coverage_known,
        "quarantine": {  # what the report day lost at ingest, and where (such nodes are never COMPLIANT)
            "report_day_quarantined_lines": scope.report_record.details.get("quarantined_lines"),
            "instances": {r["instance_id"]: r["quarantined_lines"] for r in data.instances
                          if r.get("quarantined_lines")},
        },
        "lake_catalog": {"kind": "sql" if lake.location.scheme == "file" else lake.config.kind,
                         "database": lake.config.database},
        "inputs": {table: _table_reads(table, records) for table, records in scope.inputs().items()},
        "sql": {path: {"sha256": digest} for path, digest in sorted(engine.used.items())},
        "athena_queries": engine.executions,  # every query's execution id and data scanned (none on DuckDB)
        "outputs": {name: {"bytes": len(body), "sha256": sha256(body)} for name, body in sorted(outputs.items())},
        "teams": teams,  # team -> its folder under teams/
        "timings_seconds": {k: round(v, 4) for k, v in timings.items()},
    }


def load_manifest(uri: str, access: StorageAccess | None = None) -> dict[str, Any]:
    """A report's ``manifest.json`` (local path or s3://bucket/key), validated enough to reproduce it."""
    from patch_compliance.storage import read_bytes

    location = parse_location(uri, "--from-manifest")
    _, fs = open_location(location.uri, access, "--from-manifest")
    try:
        manifest = json.loads(read_bytes(fs, location.fs_path))
    except FileNotFoundError as exc:
        raise InputError(f"--from-manifest: {uri} does not exist") from exc
    except ValueError as exc:
        raise InputError(f"--from-manifest: {uri} is not a JSON report manifest: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("parameters"), dict):
        raise InputError(f"--from-manifest: {uri} is not a report manifest (no 'parameters')")
    return manifest


def settings_of_manifest(settings: Settings, manifest: dict[str, Any]) -> Settings:
    """The settings with the thresholds the original report used (they decide every number)."""
    from dataclasses import replace

    p = manifest["parameters"]
    return replace(settings,
                   report=replace(settings.report, critical_classifications=tuple(p["critical_classifications"]),
                                  critical_severities=tuple(p["critical_severities"]),
                                  missing_critical_age_days=int(p["missing_critical_age_days"])),
                   ingest=replace(settings.ingest, freshness_hours=p["freshness_hours"]))


def write_outputs(data: ReportData, settings: Settings, lake_uri: str, teams: dict[str, str],
                  freshness: dict[str, Any]) -> dict[str, bytes]:
    """Every file of the report but the manifest, by its path under the report's folder."""
    per_team = {"instance_status.csv": CsvTable.of(INSTANCE_COLUMNS, data.instances),
                "missing_critical_patches.csv": CsvTable.of(MISSING_COLUMNS, data.missing)}
    outputs = {
        "team_environment_summary.csv": csv_bytes(SUMMARY_COLUMNS, data.summary),
        **{name: table.to_bytes() for name, table in per_team.items()},
        "remediation.csv": csv_bytes(REMEDIATION_COLUMNS, data.remediation),
        "report.html": render_html(data, settings, lake_uri, freshness, team_index(data, teams)).encode(),
    }
    return outputs | team_outputs(data, teams, per_team, settings, lake_uri, freshness)


def build_report(lake_uri: str, month: str | None, as_of: date | str | None, out_dir: str, *,
                 settings: Settings | None = None, engine: str = "duckdb", access: StorageAccess | None = None,
                 athena: dict[str, Any] | None = None, from_manifest: str | None = None) -> dict[str, Any]:
    """Write the report's files to ``out_dir`` (local directory or s3://) and return its manifest.

    ``as_of`` (a date or ``YYYY-MM-DD``) picks the latest snapshot of ``month`` on or before it;
    the default is the month's latest snapshot. ``from_manifest`` regenerates an earlier report
    exactly: the same day records (Iceberg snapshots) and thresholds, whatever was rerun since.
    """
    started = time.perf_counter()
    settings = settings or load_settings()
    as_of_date = parse_date(as_of, "--as-of") if isinstance(as_of, str) else as_of
    out_location = parse_location(out_dir, "--out")
    lake = Lake(lake_uri, access, settings)
    if from_manifest:
        original = load_manifest(from_manifest, access)
        settings = settings_of_manifest(settings, original)
        scope = scope_from_manifest(lake, original)
        month, as_of_date = scope.month, (parse_date(original["parameters"]["as_of"], "as_of")
                                          if original["parameters"].get("as_of") else None)
        policy = (PolicyFacts.from_manifest(original["parameters"]["policy"]) if "policy" in original["parameters"]
                  else policy_facts(settings, scope.report_date))
    else:
        if month is None:
            raise InputError("--month is required (or --from-manifest)")
        parse_month(month)
        scope = resolve_scope(lake, month, as_of_date)
        policy = policy_facts(settings, scope.report_date)
    query_engine = make_engine(engine, lake, **(athena or {}))
    timings = {"scope": time.perf_counter() - started}

    mark = time.perf_counter()
    data = collect(query_engine, scope, settings, policy)
    timings["queries"] = time.perf_counter() - mark

    mark = time.perf_counter()
    ingest_manifest = scope.report_record.as_manifest()
    freshness = {k: ingest_manifest.get(k) for k in ("committed_at", "reference_time")}
    teams = team_dirs({r["team"] for r in data.instances})
    outputs = write_outputs(data, settings, lake.uri, teams, freshness)
    timings["render"] = time.perf_counter() - mark
    parameters = {"lake": lake.uri, "month": month, "as_of": as_of_date.isoformat() if as_of_date else None,
                  "engine": engine, "from_manifest": from_manifest,
                  "critical_classifications": list(settings.report.critical_classifications),
                  "critical_severities": list(settings.report.critical_severities),
                  "missing_critical_age_days": data.threshold_days,
                  "freshness_hours": settings.ingest.freshness_hours, "policy": policy.as_manifest()}
    timings["total"] = time.perf_counter() - started
    manifest = audit_manifest(lake, data, query_engine, parameters, outputs, timings, teams)
    outputs["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    _, out_fs = open_location(out_location.uri, access, "--out")
    for name, body in outputs.items():
        write_bytes(out_fs, out_location.join(name), body)
    return manifest
