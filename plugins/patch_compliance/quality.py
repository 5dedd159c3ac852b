"""Data quality of a lake snapshot: Great Expectations suites, stored evidence, and offenders.

A compliance report is only as good as its inputs, so every snapshot is validated before it is
used: tag coverage, freshness, validity/schema and completeness. The suites are GX 1.x JSON files
in ``expectations/`` (one per validated frame), read by GX's own suite loader. Thresholds live in
the ``quality:`` section of ``config/fleet.yaml``; the suites name them as GX suite parameters
(``{"$PARAMETER": "tag_coverage_min"}``) and every run binds them through GX's
``expectation_parameters``. Each expectation's native GX ``severity`` decides the verdict:
``critical`` fails the validation, ``warning`` alerts, ``info`` is only recorded. Checks that need
aggregates (coverage per Environment, day-over-day volume, the physical Parquet schema) run on
small derived frames, still through GX expectations.

Great Expectations is imported inside the functions that run it: importing this module stays
cheap for DAG parsing.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from patch_compliance.aws import StorageAccess
from patch_compliance.config import QualitySettings, Settings, load_settings, suites_dir
from patch_compliance.inputs import INSTANCE_ID_RE, InputError
from patch_compliance.lake import SPECS, TABLES, Lake
from patch_compliance.storage import publish_files, write_bytes

log = logging.getLogger(__name__)

# GX's FailureSeverity values: critical blocks the snapshot, warning alerts, info is only recorded.
SEVERITIES = ("critical", "warning", "info")
PATCH_STATES = ("Installed", "InstalledOther", "InstalledPendingReboot", "InstalledRejected", "Missing",
                "Failed", "NotApplicable", "AvailableSecurityUpdate")
# patch_state/status pairs allowed by the data contract (§2); '' is an empty (not-applicable) status.
STATE_STATUS_PAIRS = (
    "Installed/COMPLIANT", "InstalledOther/COMPLIANT", "InstalledPendingReboot/NON_COMPLIANT",
    "InstalledRejected/NON_COMPLIANT", "Missing/NON_COMPLIANT", "Failed/NON_COMPLIANT",
    "NotApplicable/", "NotApplicable/COMPLIANT",
    "AvailableSecurityUpdate/COMPLIANT", "AvailableSecurityUpdate/NON_COMPLIANT",
)
UNTAGGED = "(untagged)"
SCHEMA_TABLES = ("patch_compliance", "instances")


class QualityConfigError(InputError):
    """An expectation suite file is not usable (the ``quality:`` section is checked at config load)."""


def suite_parameters(quality: QualitySettings, settings: Settings) -> dict[str, Any]:
    """The values GX binds to the suites' ``{"$PARAMETER": name}`` kwargs (``expectation_parameters``)."""
    groups = quality.environment_patch_groups or {
        env: tuple(v for v in settings.scan.target_tag_values if v.startswith(f"{env}-"))
        for env in quality.allowed_environments}
    contract = [f"{table}.{f.name}:{type_name(f.type)}" for table in SCHEMA_TABLES for f in TABLES[table]]
    return {
        "tag_coverage_min": quality.tag_coverage_min,
        "allowed_environments": list(quality.allowed_environments),
        "environment_patch_groups": sorted(f"{env}|{pg}" for env, names in groups.items() for pg in names),
        "freshness_hours": float(settings.ingest.freshness_hours),
        "fresh_share_min": quality.fresh_share_min,
        "managed_share_min": quality.managed_share_min,
        "max_instance_count_change": quality.max_instance_count_change,
        "min_instance_count_change": -quality.max_instance_count_change,
        "max_row_count_change": quality.max_row_count_change,
        "min_row_count_change": -quality.max_row_count_change,
        "patch_states": list(PATCH_STATES),
        "state_status_pairs": list(STATE_STATUS_PAIRS),
        "instance_id_regex": INSTANCE_ID_RE.pattern,
        "contract_column_types": contract,
    }


def type_name(kind: pa.DataType) -> str:
    """An Arrow type as text, without what a Parquet file does not decide: the child field names round
    trips may rename, and the offset width (pyiceberg's writers store ``large_string``, others ``string``)."""
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return f"list<{type_name(kind.value_type)}>"
    if pa.types.is_map(kind):
        return f"map<{type_name(kind.key_type)}, {type_name(kind.item_type)}>"
    if pa.types.is_large_string(kind):
        return "string"
    return str(kind)


@dataclass(frozen=True)
class SuiteSpec:
    """A suite as GX loaded it, plus how to validate it (from the suite's ``meta``)."""

    name: str
    frame: str
    result_format: str
    index_columns: tuple[str, ...]
    suite: Any  # great_expectations.core.ExpectationSuite, not bound to any Data Context


def load_suite(path: Path) -> Any:
    """One suite file through GX's own loader: the schema GX's file-backed suite store reads with.

    Unknown fields, an invalid ``severity`` and kwargs an expectation does not take are errors
    naming the file. So is an expectation without an explicit ``severity`` (GX would quietly make
    it critical).
    """
    from great_expectations.core import ExpectationSuite
    from great_expectations.core.expectation_suite import ExpectationSuiteSchema
    from great_expectations.exceptions import GreatExpectationsError
    from marshmallow import ValidationError

    text = path.read_text()
    try:
        raw = json.loads(text)
        document = ExpectationSuiteSchema().loads(text)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise QualityConfigError(f"suite {path} is not a GX expectation suite: {exc}") from exc
    for n, (config, given) in enumerate(zip(document.get("expectations") or [], raw.get("expectations") or [],
                                            strict=True)):
        where = f"suite {path} expectation {n} ({config.type})"
        if "severity" not in given:
            raise QualityConfigError(f"{where}: needs a severity, one of {SEVERITIES}")
        try:
            config.to_domain_obj()  # what ExpectationSuite() does, minus its log-and-drop of some errors
        except (ValueError, GreatExpectationsError) as exc:  # pydantic's errors are ValueErrors
            raise QualityConfigError(f"{where}: {' '.join(str(exc).split())}") from exc
    return ExpectationSuite(**document)


def load_suites(params: dict[str, Any], directory: Path) -> dict[str, SuiteSpec]:
    """Load every ``*.json`` suite under ``directory``; each parameter a suite uses must be in ``params``."""
    if not directory.is_dir():
        raise QualityConfigError(f"expectation suites directory {directory} not found "
                                 "(set quality.suites_dir to an absolute path, or leave it as expectations)")
    specs = {}
    for path in sorted(directory.glob("*.json")):
        suite = load_suite(path)
        meta = suite.meta or {}
        if meta.get("frame") not in FRAME_BUILDERS:
            raise QualityConfigError(f"suite {path}: needs meta.frame in {sorted(FRAME_BUILDERS)}")
        unbound = sorted(set(suite.suite_parameter_options) - set(params))
        if unbound:
            raise QualityConfigError(f"suite {path}: no value for $PARAMETER {', '.join(unbound)}; "
                                     f"known: {sorted(params)}")
        specs[suite.name] = SuiteSpec(suite.name, meta["frame"], meta.get("result_format", "SUMMARY"),
                                      tuple(meta.get("index_columns") or ()), suite)
    if not specs:
        raise QualityConfigError(f"no expectation suites (*.json) in {directory}")
    return specs


# ---------------------------------------------------------------------------------------------
# Frames: what each suite validates, read from the committed lake.


@dataclass
class SnapshotData:
    """Everything read from the lake for one validation."""

    lake: Lake
    snapshot_date: date
    reference_time: datetime
    quality: QualitySettings
    freshness_hours: float
    instances_all: pd.DataFrame  # every instance row of the day (offender details)
    previous_date: date | None
    frames: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


_PATCH_COLUMNS = ["snapshot_date", "account_id", "region", "instance_id", "patch_id", "patch_state", "status",
                  "capture_time"]
_INSTANCE_COLUMNS = ["account_id", "region", "instance_id", "name", "computer_name", "team", "environment",
                     "patch_group", "instance_status", "in_population", "compliance_status", "last_capture_time",
                     "reference_time", "quarantined_item_lines", "capture_in_future", "summary_items_mismatch",
                     "invalid_timestamps"]


def _patch_frame(data: SnapshotData) -> pd.DataFrame:
    table = data.lake.read("patch_compliance", [data.snapshot_date], columns=_PATCH_COLUMNS)
    status = pc.fill_null(table["status"], "")
    state = pc.fill_null(table["patch_state"], "(null)")
    table = table.append_column("state_status", pc.binary_join_element_wise(state, status, "/"))
    return _categorical_frame(table)


def _categorical_frame(table: pa.Table) -> pd.DataFrame:
    """A wide Arrow table as pandas with its text and date columns as ``Categorical`` (few distinct values).

    GX's pandas engine filters the whole frame once per metric (``df[df[column].notnull()]``), so
    each expectation copies every column; a categorical column copies small integer codes instead
    of 240,000 strings. The values, nulls and what every expectation sees are unchanged (``isin``,
    ``isnull``, ``duplicated`` and the regex's ``astype(str)`` work on the values). Arrow's dictionary
    encoding becomes ``pd.Categorical`` in ``to_pandas`` (not the slower ``ArrowDtype`` dictionary).
    """
    columns = [pc.dictionary_encode(column)
               if pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
               or pa.types.is_date(column.type) else column for column in table.columns]
    return pa.table(columns, names=table.column_names).to_pandas()


def _active(data: SnapshotData) -> pd.DataFrame:
    frame = data.instances_all
    inactive = frame["instance_status"].isin(data.quality.inactive_instance_statuses)
    return frame[frame["in_population"].fillna(True).astype(bool) & ~inactive]


def _instances_frame(data: SnapshotData) -> pd.DataFrame:
    frame = _active(data).copy()
    age = (pd.Timestamp(data.reference_time) - frame["last_capture_time"]).dt.total_seconds() / 3600
    frame["capture_age_hours"] = age.round(2)
    frame["captured_in_window"] = (age <= data.freshness_hours).fillna(False).astype(bool)
    # Stale per the snapshot's own reference time, recomputed here rather than trusting is_stale.
    stored_reference = frame["reference_time"].fillna(pd.Timestamp(data.reference_time))
    stale = ~((stored_reference - frame["last_capture_time"]) <= pd.Timedelta(hours=data.freshness_hours))
    frame["status_if_stale"] = frame["compliance_status"].where(stale, None)
    both = frame["environment"].notna() & frame["patch_group"].notna()
    frame["environment_patch_group"] = (frame["environment"] + "|" + frame["patch_group"]).where(both, None)
    return frame.reset_index(drop=True)


def _by_environment_frame(data: SnapshotData) -> pd.DataFrame:
    frame = _active(data)
    grouped = frame.assign(environment=frame["environment"].fillna(UNTAGGED),
                           has_team=frame["team"].notna(), has_patch_group=frame["patch_group"].notna())
    result = grouped.groupby("environment", as_index=False).agg(
        instances=("instance_id", "size"), team_share=("has_team", "mean"),
        patch_group_share=("has_patch_group", "mean"))
    return result.round({"team_share": 4, "patch_group_share": 4})


def _inventory_frame(data: SnapshotData) -> pd.DataFrame | None:
    if data.lake.manifest(data.snapshot_date, "ec2_inventory") is None:
        data.skipped["ec2_inventory"] = f"no ec2_inventory snapshot committed for {data.snapshot_date}"
        return None
    table = data.lake.read("ec2_inventory", [data.snapshot_date],
                           columns=["account_id", "region", "instance_id", "state", "name", "team", "environment"])
    frame = table.to_pandas()
    frame = frame[~frame["state"].fillna("").str.lower().isin(["terminated", "shutting-down"])].copy()
    frame["managed"] = frame["instance_id"].isin(set(data.instances_all["instance_id"]))
    return frame.reset_index(drop=True)


def _manifest_counts(lake: Lake, day: date) -> tuple[int, int]:
    manifest = lake.manifest(day) or {}
    tables = manifest.get("tables", {})
    return int(tables.get("instances", {}).get("rows", 0)), int(tables.get("patch_compliance", {}).get("rows", 0))


def _volume_frame(data: SnapshotData) -> pd.DataFrame | None:
    if data.previous_date is None:
        data.skipped["snapshot_volume"] = f"no committed snapshot before {data.snapshot_date} to compare with"
        return None
    prev_instances, prev_rows = _manifest_counts(data.lake, data.previous_date)
    instances, rows = _manifest_counts(data.lake, data.snapshot_date)

    def change(now: int, before: int) -> float:
        return round((now - before) / before, 4) if before else (0.0 if now == 0 else 1.0)

    return pd.DataFrame([{
        "previous_date": data.previous_date.isoformat(), "previous_instances": prev_instances,
        "instances": instances, "instance_count_change": change(instances, prev_instances),
        "previous_rows": prev_rows, "rows": rows, "row_count_change": change(rows, prev_rows)}])


def _schema_frame(data: SnapshotData) -> pd.DataFrame:
    rows = []
    for table in SCHEMA_TABLES:
        contract = TABLES[table].names
        for path in data.lake.committed_files(table, [data.snapshot_date]):
            schema = pq.read_schema(data.lake.fs_path(path), filesystem=data.lake.fs)
            relative = data.lake.relative(path)
            for name in contract:
                index = schema.get_field_index(name)
                kind = type_name(schema.field(index).type) if index >= 0 else "MISSING"
                rows.append({"file": relative, "column_type": f"{table}.{name}:{kind}"})
            rows += [{"file": relative, "column_type": f"{table}.{name}:{type_name(schema.field(name).type)}"}
                     for name in schema.names if name not in contract]
    return pd.DataFrame(rows, columns=["file", "column_type"])


FRAME_BUILDERS = {
    "patch_compliance": _patch_frame,
    "instances": _instances_frame,
    "instances_by_environment": _by_environment_frame,
    "ec2_inventory": _inventory_frame,
    "snapshot_volume": _volume_frame,
    "lake_schema": _schema_frame,
}


def _reference_time(instances: pd.DataFrame, given: datetime | None) -> datetime:
    if given is not None:
        return given.astimezone(UTC)
    for column in ("reference_time", "last_capture_time"):
        newest = instances[column].max() if column in instances else None
        if newest is not None and not pd.isna(newest):
            return pd.Timestamp(newest).to_pydatetime().astimezone(UTC)
    raise InputError("the snapshot has no reference time and no capture time; pass --reference-time")


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class CheckResult:
    """One expectation's outcome, flattened for tables, Parquet and Slack."""

    suite: str
    frame: str
    expectation_type: str
    column: str
    check: str
    severity: str
    success: bool
    description: str
    observed: str
    expected: str
    unexpected_count: int | None
    element_count: int | None
    offending: tuple[str, ...]  # values of the suite's first index column (instance ids mostly)


@dataclass
class QualityResult:
    """The outcome of validating one snapshot: ``success`` is False when a critical check failed."""

    snapshot_date: date
    reference_time: datetime
    checks: list[CheckResult]
    offenders: list[dict[str, Any]]
    skipped: dict[str, str]
    results_path: str = ""
    summary_path: str = ""
    data_docs_index: str | None = None
    seconds: float = 0.0
    top_offenders: int = 15  # how many offenders an alert lists (quality.top_offenders)

    @property
    def critical_failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity == "critical"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity == "warning"]

    @property
    def success(self) -> bool:
        return not self.critical_failures

    @property
    def table(self) -> list[tuple[str, str, str, str, str, str]]:
        """Rows (result, severity, suite, check, observed, expected) for printing."""
        return [("PASS" if c.success else "FAIL", c.severity, c.suite, c.description, c.observed, c.expected)
                for c in self.checks]

    def format_table(self) -> str:
        header = ("result", "severity", "suite", "check", "observed", "expected")
        rows = [header, *self.table]
        widths = [min(60, max(len(r[i]) for r in rows)) for i in range(len(header))]
        return "\n".join("  ".join(cell[:60].ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                         for row in rows)


def _percent(share: float) -> str:
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _describe(kind: str, kwargs: dict[str, Any], result: dict[str, Any]) -> tuple[str, str]:
    """Human observed/expected strings for the expectation kinds the suites use."""
    if "unexpected_count" in result and "element_count" in result:
        total, bad = result["element_count"], result["unexpected_count"] or 0
        observed = f"{_percent(1 - bad / total) if total else 'n/a'} pass ({bad} of {total} fail)"
        mostly = kwargs.get("mostly")
        rule = ""
        if "value_set" in kwargs:
            values = [str(v) for v in kwargs["value_set"]]
            rule = "in {" + ", ".join(values[:6]) + (", …" if len(values) > 6 else "") + "}"
        elif "regex" in kwargs:
            rule = f"match {kwargs['regex']}"
        elif "min_value" in kwargs or "max_value" in kwargs:
            rule = _bounds(kwargs)
        elif kind.endswith("unique"):
            rule = "unique"
        elif kind.endswith("not_be_null"):
            rule = "present"
        share = f"≥ {_percent(mostly)}" if mostly is not None else "all"
        return observed, f"{share} {rule}".strip()
    return str(result.get("observed_value")), _bounds(kwargs)


def _bounds(kwargs: dict[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None:
        return f"≤ {high}"
    if high is None:
        return f"≥ {low}"
    return f"between {low} and {high}"


def _exception_message(info: dict[str, Any]) -> str | None:
    """GX reports an expectation's error flat or keyed by metric; either way, find the message."""
    for entry in [info, *(v for v in info.values() if isinstance(v, dict))]:
        if entry.get("raised_exception") or entry.get("exception_message"):
            return str(entry.get("exception_message") or "expectation raised an exception")
    return None


def _flatten(suite: str, frame: str, index_columns: tuple[str, ...], result: Any) -> CheckResult:
    """One GX ``ExpectationValidationResult``: its configuration is the one GX ran (parameters bound)."""
    config = result.expectation_config
    kwargs, meta, body = config.kwargs, config.meta or {}, result.result or {}
    observed, expected = _describe(config.type, kwargs, body)
    error = _exception_message(result.exception_info or {})
    if error:
        observed = f"error: {error}"
    key = index_columns[0] if index_columns else None
    indexes = body.get("unexpected_index_list") or body.get("partial_unexpected_index_list") or []
    offending = tuple(dict.fromkeys(str(i[key]) for i in indexes if isinstance(i, dict) and key in i))
    column = kwargs.get("column")
    if offending and column and key != "instance_id":
        # Aggregate frames (per Environment, day-over-day): show which rows failed and their values.
        observed += "; " + ", ".join(f"{i[key]}: {i.get(column)}" for i in indexes[:6] if key in i)
    return CheckResult(
        suite=suite, frame=frame, expectation_type=config.type,
        column=str(kwargs.get("column") or ",".join(kwargs.get("column_list") or [])),
        check=str(meta.get("check", "")), severity=config.severity.value, success=bool(result.success),
        description=str(meta.get("description") or config.type), observed=observed, expected=expected,
        unexpected_count=body.get("unexpected_count"), element_count=body.get("element_count"),
        offending=offending)


def _last_known_teams(data: SnapshotData, instance_ids: set[str]) -> dict[str, tuple[str, str]]:
    """Owner hints for untagged offenders: EC2 inventory tags today, else the previous snapshot's Team."""
    hints: dict[str, tuple[str, str]] = {}
    frame = data.frames.get("ec2_inventory")
    if frame is not None:
        for row in frame[frame["instance_id"].isin(instance_ids) & frame["team"].notna()].itertuples():
            hints[row.instance_id] = (row.team, "EC2 tag")
    missing = instance_ids - set(hints)
    if missing and data.previous_date is not None:
        previous = data.lake.read("instances", [data.previous_date], columns=["instance_id", "team"])
        previous = previous.filter(pc.is_in(previous["instance_id"], pa.array(sorted(missing))))
        for instance_id, team in zip(previous["instance_id"].to_pylist(), previous["team"].to_pylist(), strict=True):
            if team:
                hints[instance_id] = (team, f"Team tag on {data.previous_date}")
    return hints


def _offenders(data: SnapshotData, checks: list[CheckResult], accounts: dict[str, str]) -> list[dict[str, Any]]:
    """Instances behind failed checks, with what owners need to find and fix them."""
    by_id = data.instances_all.drop_duplicates("instance_id").set_index("instance_id")
    inventory = data.frames.get("ec2_inventory")
    inventory_by_id = (inventory.drop_duplicates("instance_id").set_index("instance_id")
                       if inventory is not None else None)
    wanted: dict[str, list[str]] = {}
    critical: set[str] = set()
    active = _active(data)
    for check in checks:
        if check.success or check.severity not in ("critical", "warning"):
            continue  # an info expectation is recorded, never alerted on
        offending = list(check.offending)
        if check.frame == "instances_by_environment" and check.column.endswith("_share"):
            # The failing rows are Environments: name their instances that lack the tag.
            tag = check.column.removesuffix("_share")
            in_failing = active["environment"].fillna(UNTAGGED).isin(offending) & active[tag].isna()
            offending = active.loc[in_failing, "instance_id"].tolist()
        elif check.frame not in ("instances", "patch_compliance", "ec2_inventory"):
            continue
        for instance_id in offending:
            wanted.setdefault(instance_id, []).append(check.description)
            if check.severity == "critical":
                critical.add(instance_id)
    hints = _last_known_teams(data, {i for i in wanted if i not in by_id.index or pd.isna(by_id.at[i, "team"])})
    offenders: list[dict[str, Any]] = []
    for instance_id, problems in wanted.items():
        source = by_id if instance_id in by_id.index else inventory_by_id
        row = source.loc[instance_id] if source is not None and instance_id in source.index else None

        def value(column: str, row: pd.Series | None = row) -> str | None:
            if row is None or column not in row or pd.isna(row[column]):
                return None
            return str(row[column])

        team, team_source = value("team"), "Team tag"
        if team is None:
            team, team_source = hints.get(instance_id, (None, "no Team tag; none known"))
        account = value("account_id")
        age = None
        if row is not None and "last_capture_time" in row and not pd.isna(row["last_capture_time"]):
            age = round((pd.Timestamp(data.reference_time) - row["last_capture_time"]).total_seconds() / 3600, 1)
        offenders.append({
            "instance_id": instance_id, "account_id": account, "account_name": accounts.get(account or ""),
            "region": value("region"), "name": value("name") or value("computer_name"),
            "environment": value("environment"), "patch_group": value("patch_group"),
            "team": team, "team_source": team_source, "capture_age_hours": age, "problems": problems,
            "detail": f"last capture {age} h before the reference time" if age and age > data.freshness_hours
            else "",
            "severity": "critical" if instance_id in critical else "warning"})
    # Hosts behind critical failures first: they block the report, so the alert lists them first.
    offenders.sort(key=lambda o: (o["severity"] != "critical", -len(o["problems"]), o["team"] or "~",
                                  o["instance_id"]))
    return offenders


# ---------------------------------------------------------------------------------------------
# Running GX


def _cached_view(kind: str) -> dict[str, str]:
    """GX's Jinja page views, with compiled templates cached (see :mod:`patch_compliance.quality_docs`)."""
    return {"module_name": "patch_compliance.quality_docs", "class_name": f"CachedJinja{kind}PageView"}


def _gx_context(data_docs_dir: str | None):
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if data_docs_dir:
        sites["patch_compliance"] = {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": data_docs_dir},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": _cached_view("Index")},
            "site_section_builders": {section: {"view": _cached_view("")}
                                      for section in ("expectations", "validations", "profiling")},
        }
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(), analytics_enabled=False,
                               progress_bars=ProgressBarsConfig(globally=False), data_docs_sites=sites)
    return gx.get_context(mode="ephemeral", project_config=config)


def _run_suites(data: SnapshotData, specs: dict[str, SuiteSpec], params: dict[str, Any],
                data_docs_dir: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Run each suite on its frame, binding ``params`` to its suite parameters; GX result objects."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    context = _gx_context(data_docs_dir)
    # Data Docs file validations under the snapshot they checked, not the wall-clock alone.
    run_id = RunIdentifier(run_name=f"snapshot_date={data.snapshot_date.isoformat()}", run_time=datetime.now(UTC))
    source = context.data_sources.add_pandas("lake")
    results = []
    for spec in specs.values():
        frame = data.frames.get(spec.frame)
        if frame is None:
            continue
        asset = source.add_dataframe_asset(spec.name)
        batch = asset.add_batch_definition_whole_dataframe(data.snapshot_date.isoformat())
        # A copy per context: the loaded suite stays unbound (GX assigns ids to what it stores).
        suite = context.suites.add(gx.ExpectationSuite(
            name=spec.name, expectations=[e.configuration for e in spec.suite.expectations],
            meta=dict(spec.suite.meta)))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=spec.name, data=batch, suite=suite))
        result_format: dict[str, Any] = {"result_format": spec.result_format, "partial_unexpected_count": 20}
        usable = [c for c in spec.index_columns if c in frame.columns]
        if usable:
            result_format["unexpected_index_column_names"] = usable
        outcome = definition.run(batch_parameters={"dataframe": frame}, expectation_parameters=params,
                                 result_format=result_format, run_id=run_id)
        results.append({"suite": spec.name, "frame": spec.frame, "rows": len(frame),
                        "index_columns": usable, "result": outcome})
    index = None
    if data_docs_dir:
        Path(data_docs_dir).mkdir(parents=True, exist_ok=True)
        context.build_data_docs(site_names=["patch_compliance"])
        index = str(Path(data_docs_dir) / "index.html")
    return results, index


def _summary_table(result: QualityResult) -> pa.Table:
    """One row per expectation: the lake's ``quality`` table for the day."""
    return pa.Table.from_pylist([{
        "reference_time": result.reference_time,
        "suite": c.suite, "expectation_type": c.expectation_type, "column": c.column, "check": c.check,
        "severity": c.severity, "success": c.success, "description": c.description, "observed": c.observed,
        "expected": c.expected, "unexpected_count": c.unexpected_count, "element_count": c.element_count,
    } for c in result.checks], schema=SPECS["quality"].row_schema)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


# Validation documents live beside the lake tables, not inside a table's location.
EVIDENCE_PREFIX = "validation"
DATA_DOCS_PREFIX = f"{EVIDENCE_PREFIX}/data_docs"


def _publish_data_docs(lake: Lake, local_dir: Path) -> str:
    """Copy a rendered Data Docs site below ``<lake>/validation/data_docs/``; returns its index URI.

    Only what changed is sent: GX re-renders its ~20 static assets (4.4 MB) on every build.
    """
    files = {path.relative_to(local_dir).as_posix(): path.read_bytes()
             for path in sorted(p for p in local_dir.rglob("*") if p.is_file())}
    written = publish_files(lake.fs, lake.location.join(DATA_DOCS_PREFIX), files, lake.access)
    log.info("Data Docs: %d of %d files changed and were published", written, len(files))
    return f"{lake.uri}/{DATA_DOCS_PREFIX}/index.html"


def validate_snapshot(lake_uri: str, snapshot_date: date, reference_time: datetime | None = None,
                      settings: Settings | None = None, data_docs_dir: str | None = None,
                      access: StorageAccess | None = None) -> QualityResult:
    """Validate one committed snapshot, store the evidence under ``<lake>/quality/``, render Data Docs.

    Raises ``InputError`` when the snapshot is not committed; returns a result whose ``success`` is
    False when a critical expectation failed (callers decide: the CLI exits 1, the DAG task raises).
    """
    started = time.perf_counter()
    settings = settings or load_settings()
    quality = settings.quality
    lake = Lake(lake_uri, access, settings)
    if lake.manifest(snapshot_date) is None:
        raise InputError(f"no committed snapshot for {snapshot_date} in {lake.uri}; run ingest first "
                         f"(committed: {[d.isoformat() for d in lake.snapshot_dates()][-5:]})")
    params = suite_parameters(quality, settings)
    specs = load_suites(params, suites_dir(quality.suites_dir))
    instances_all = lake.read("instances", [snapshot_date], columns=_INSTANCE_COLUMNS).to_pandas()
    previous = [d for d in lake.snapshot_dates() if d < snapshot_date]
    data = SnapshotData(lake, snapshot_date, _reference_time(instances_all, reference_time), quality,
                        float(settings.ingest.freshness_hours), instances_all, previous[-1] if previous else None)
    for frame in {spec.frame for spec in specs.values()}:
        data.frames[frame] = FRAME_BUILDERS[frame](data)
    if data_docs_dir or lake.location.scheme == "file":
        runs, index = _run_suites(data, specs, params, data_docs_dir or lake.location.join(DATA_DOCS_PREFIX))
    else:  # an S3 lake: render locally, then publish next to the results
        with tempfile.TemporaryDirectory(prefix="data-docs-") as scratch:
            runs, _ = _run_suites(data, specs, params, scratch)
            index = _publish_data_docs(lake, Path(scratch))
    checks = [_flatten(run["suite"], run["frame"], tuple(run["index_columns"]), result)
              for run in runs for result in run["result"].results]
    accounts = {a.id: a.name for a in settings.accounts}
    result = QualityResult(snapshot_date, data.reference_time, checks, _offenders(data, checks, accounts),
                           data.skipped, data_docs_index=index, top_offenders=quality.top_offenders)
    result.results_path = lake.location.join(EVIDENCE_PREFIX, "results",
                                             f"snapshot_date={snapshot_date.isoformat()}", "results.json")
    result.seconds = round(time.perf_counter() - started, 3)
    evidence = {
        "snapshot_date": snapshot_date, "reference_time": data.reference_time, "success": result.success,
        "validated_at": datetime.now(UTC), "seconds": result.seconds, "parameters": params,
        "critical_failures": len(result.critical_failures), "warnings": len(result.warnings),
        "skipped": data.skipped, "offenders": result.offenders, "data_docs_index": index,
        "suites": [{**run, "result": run["result"].to_json_dict()} for run in runs],
    }
    write_bytes(lake.fs, result.results_path, json.dumps(evidence, indent=1, default=_json_default).encode())
    record = lake.write_table_snapshot("quality", snapshot_date, _summary_table(result), {
        "success": result.success, "critical_failures": len(result.critical_failures),
        "warnings": len(result.warnings), "checks": len(result.checks), "results": result.results_path,
        "data_docs_index": index, "reference_time": data.reference_time.isoformat().replace("+00:00", "Z")})
    result.summary_path = f"{lake.uri} table quality, run {record['run_id']}"
    return result


def load_summary(lake_uri: str, dates: Iterable[date], access: StorageAccess | None = None) -> pa.Table:
    """The stored per-expectation results of some dates (the lake's ``quality`` table)."""
    return Lake(lake_uri, access).read("quality", list(dates))


def failed_validation_dates(lake: Lake, dates: Iterable[date]) -> list[date]:
    """Snapshots whose latest validation failed a critical check: they are not used as report input.

    Reads the verdict :func:`validate_snapshot` records with the day's ``quality`` table. A
    snapshot that was never validated is not in the list (the report says which were).
    """
    verdicts = lake.latest_records("quality")
    return [d for d in dates if d in verdicts and verdicts[d].details.get("success") is False]
