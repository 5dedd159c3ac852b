"""CVE evidence: which instances were exposed to a CVE, and when each one received the fix.

Answered from the lake's daily snapshots (RDS keeps no history): ``sql/evidence/cve_evidence.sql``
with the CVE id as a bound parameter, after validating it with ``inputs.validate_cve_id``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from patch_compliance.aws import StorageAccess
from patch_compliance.inputs import InputError, parse_location, validate_cve_id
from patch_compliance.lake import Lake
from patch_compliance.query import make_engine
from patch_compliance.report_model import csv_bytes
from patch_compliance.storage import open_location, write_bytes

EVIDENCE_COLUMNS = ("cve_id", "account_id", "region", "instance_id", "team", "environment", "patch_id",
                    "first_seen_missing", "last_seen_missing", "installed_time", "first_seen_installed",
                    "current_state")
SQL_EVIDENCE = "evidence/cve_evidence.sql"


@dataclass
class Evidence:
    """The evidence rows, the CSV text, and a one-line explanation for the operator."""

    cve_id: str
    rows: list[dict[str, Any]]
    csv: bytes
    message: str
    snapshot_dates: list[date]
    sql_sha256: dict[str, str]
    seconds: float
    queries: list[dict[str, Any]]  # the engine's remote executions (Athena: id, data scanned)


def collect_evidence(lake_uri: str, cve_id: str, *, engine: str = "duckdb", access: StorageAccess | None = None,
                     athena: dict[str, Any] | None = None) -> Evidence:
    """Evidence for one CVE over every committed snapshot (an unknown CVE gives no rows, not an error)."""
    started = time.perf_counter()
    cve = validate_cve_id(cve_id)
    lake = Lake(lake_uri, access)
    dates = lake.snapshot_dates("patch_compliance")
    if not dates:
        raise InputError(f"lake {lake.uri} has no committed snapshot; run the daily ingest first")
    query_engine = make_engine(engine, lake, **(athena or {}))
    rows = query_engine.run(SQL_EVIDENCE, [cve], scope={
        "patch_compliance": dates, "instances": [], "ec2_inventory": [], "baselines": [],
        "patch_catalog": lake.snapshot_dates("patch_catalog")}).to_pylist()
    span = f"{len(dates)} snapshot(s) {dates[0]} to {dates[-1]}"
    if rows:
        fixed = sum(1 for r in rows if r["first_seen_installed"] is not None)
        message = (f"{cve}: {len(rows)} affected instance/patch pair(s) on "
                   f"{len({(r['account_id'], r['region'], r['instance_id']) for r in rows})} instance(s), "
                   f"{fixed} installed since, over {span}")
    else:
        message = (f"{cve} does not appear on any Missing/Failed patch item in {span}, nor in the patch catalog: "
                   f"no instance is on record as affected (the CSV has the header only). Check the id if "
                   f"you expected a match.")
    return Evidence(cve, rows, csv_bytes(EVIDENCE_COLUMNS, rows), message, dates, dict(query_engine.used),
                    time.perf_counter() - started, list(query_engine.executions))


def write_evidence(evidence: Evidence, out: str, access: StorageAccess | None = None) -> str:
    """Write the CSV to a local path or ``s3://bucket/key.csv``; returns where it went."""
    parent, _, name = out.rstrip("/").rpartition("/")
    if not name or not name.endswith(".csv"):
        raise InputError(f"--out must name a .csv file (local path or s3://bucket/key.csv), got {out!r}")
    location = parse_location(parent or ".", "--out")
    _, fs = open_location(location.uri, access, "--out")
    write_bytes(fs, location.join(name), evidence.csv)
    return f"{location.uri}/{name}"
