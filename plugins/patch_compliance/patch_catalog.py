"""The patch catalog: release date, classification, severity and CVEs of the patch versions the fleet reports.

Resource Data Sync says when a patch was *seen* missing, not when it was *released*, and puts CVE
ids only on Missing/Failed items. The report's ages and the CVE evidence therefore need a catalog,
kept in the lake's ``patch_catalog`` table, one snapshot a day, filled here after the day's ingest:

1. every (platform, patch id, title) the day's ``patch_compliance`` items name, in any state
   (``sql/catalog/patches_seen.sql``), is mapped to a *product* (``product_of``) and to the one
   source that covers it: SSM ``DescribeAvailablePatches`` (Amazon Linux 1/2, Windows Server) or a
   vendor feed (``patch_compliance.vendor_feeds``; e.g. Amazon Linux 2023's ``updateinfo.xml``);
2. the previous catalog snapshot is the cache: a (patch id, title) it knows is not asked again. A
   patch id is asked when one of its titles is new to the catalog (a Linux package's new version),
   and the answer replaces that patch id's rows (every version the source lists). Titles the source
   did not know are kept as rows without a release date (source named), and asked again once every
   ``patch_catalog.unknown_retry_days`` days (each patch id on its own day of the cycle);
3. at most ``patch_catalog.max_lookups_per_day`` patch ids are asked per day, Missing/Failed ones
   first; the rest are *deferred* to the next day;
4. the day's snapshot is whole: every row known before plus what was learned, in each account x
   Region partition that has ever reported the patch id (readers ignore the partition).

A source that fails (network, malformed document, API error) fails the task and publishes
nothing: the report then uses the previous day's snapshot, and the next run asks again.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from patch_compliance.catalog_source import CatalogRow, CatalogSource, CatalogSourceError, Partition, SourceAnswer
from patch_compliance.config import PatchCatalogSettings, Settings, ssm_covers
from patch_compliance.inputs import InputError
from patch_compliance.lake import SPECS, Lake

log = logging.getLogger(__name__)

CATALOG_SCHEMA = SPECS["patch_catalog"].undated_schema
SQL_PATCHES_SEEN = "catalog/patches_seen.sql"
SSM_SOURCE = "ssm"
SSM_VALUES_PER_FILTER = 20  # patch ids (KBs or package names) per DescribeAvailablePatches request

Key = tuple[str, str]  # (source, patch id)


_WINDOWS_RE = re.compile(r"Windows Server (\d{4})( R2)?")


def product_of(platform_name: str | None, platform_version: str | None) -> str | None:
    """Patch Manager's product name for a node's platform (``AmazonLinux2``, ``WindowsServer2022``, ...)."""
    name, version = (platform_name or "").strip(), (platform_version or "").strip()
    windows = _WINDOWS_RE.search(name)
    if windows:
        return f"WindowsServer{windows.group(1)}{'R2' if windows.group(2) else ''}"
    if not version:
        return None
    if name in ("Amazon Linux", "Amazon Linux AMI"):
        return "AmazonLinux2" if version.split(".")[0] == "2" else f"AmazonLinux{version}"
    prefixes = {"Ubuntu": "Ubuntu", "Red Hat Enterprise Linux": "RedhatEnterpriseLinux", "Debian": "Debian",
                "CentOS": "CentOS", "SLES": "Suse", "Oracle Linux": "OracleLinux", "Rocky Linux": "RockyLinux",
                "AlmaLinux": "AlmaLinux"}
    for prefix, product in prefixes.items():
        if name.startswith(prefix):
            return f"{product}{version}"
    return None


def _utc_date(moment: Any) -> date | None:
    if not isinstance(moment, datetime):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()


@dataclass
class SsmCatalogSource:
    """SSM ``DescribeAvailablePatches`` through the botocore paginator (the client brings adaptive retries).

    Windows patch ids are KB numbers (filter ``PATCH_ID``, any product); Linux ids are
    ``name.arch`` (filters ``PRODUCT``, ``NAME`` and ``ARCH``; the API requires ``PRODUCT`` for Linux).
    The catalog is AWS's, the same in every account and Region, so one client serves the fleet.
    """

    client: Any
    name: str = SSM_SOURCE
    requests: int = 0

    def covers(self, product: str) -> bool:
        return ssm_covers(product)

    def lookup(self, requests: Mapping[str, Sequence[str]]) -> SourceAnswer:
        rows: list[CatalogRow] = []
        rejected: list[str] = []
        for product, patch_ids in sorted(requests.items()):
            windows = product.startswith("WindowsServer")
            ids = sorted(set(patch_ids))
            for start in range(0, len(ids), SSM_VALUES_PER_FILTER):
                chunk = ids[start:start + SSM_VALUES_PER_FILTER]
                for patch in self._patches(self._filters(product, chunk, windows)):
                    try:
                        rows.append(self._row(patch))
                    except (ValueError, TypeError, KeyError) as exc:
                        rejected.append(f"{patch.get('KbNumber') or patch.get('Name')}: {exc}")
        return SourceAnswer(tuple(rows), len(rejected), tuple(rejected[:5]))

    @staticmethod
    def _filters(product: str, chunk: list[str], windows: bool) -> list[dict[str, Any]]:
        if windows:
            return [{"Key": "PATCH_ID", "Values": chunk}]
        names = sorted({pid.rpartition(".")[0] or pid for pid in chunk})
        arches = sorted({pid.rpartition(".")[2] for pid in chunk if "." in pid})
        filters = [{"Key": "PRODUCT", "Values": [product]}, {"Key": "NAME", "Values": names}]
        return filters + ([{"Key": "ARCH", "Values": arches}] if arches else [])

    def _patches(self, filters: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("describe_available_patches")
        try:
            for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 100}):
                self.requests += 1
                yield from page.get("Patches") or []
        except (ClientError, BotoCoreError) as exc:
            raise CatalogSourceError(f"SSM DescribeAvailablePatches failed ({filters}): {exc}") from exc

    @staticmethod
    def _row(patch: dict[str, Any]) -> CatalogRow:
        kb = patch.get("KbNumber")
        if kb:
            patch_id, title, severity = kb, patch.get("Title"), patch.get("MsrcSeverity")
        else:
            name, arch = patch["Name"], patch["Arch"]
            patch_id = f"{name}.{arch}"
            title = f"{patch_id}:{int(patch.get('Epoch') or 0)}:{patch['Version']}-{patch['Release']}"
            severity = patch.get("Severity")
        return CatalogRow(patch_id, title, patch["Product"], patch.get("Classification") or None, severity or None,
                          _utc_date(patch.get("ReleaseDate")), tuple(patch.get("CVEIds") or ()), SSM_SOURCE)


# --- the day's fill ------------------------------------------------------------------------------


@dataclass
class Need:
    """A patch id some node reported today, and the titles of it they reported."""

    product: str
    titles: set[str] = field(default_factory=set)
    missing: bool = False


@dataclass(frozen=True)
class Seen:
    """Today's patches, by catalog key, and which partitions reported each."""

    needs: dict[Key, Need]
    partitions: dict[Partition, set[Key]]
    no_source: frozenset[tuple[str, str]]  # (product or platform, patch id) no source covers


def patches_seen(rows: Iterable[dict[str, Any]], sources: Sequence[CatalogSource]) -> Seen:
    """Group ``patches_seen.sql`` rows by (source, patch id); patches no source covers are counted apart."""
    needs: dict[Key, Need] = {}
    partitions: dict[Partition, set[Key]] = defaultdict(set)
    no_source: set[tuple[str, str]] = set()
    for row in rows:
        product = product_of(row["platform_name"], row["platform_version"])
        source = next((s for s in sources if product and s.covers(product)), None)
        if source is None:
            no_source.add((product or f"{row['platform_name']} {row['platform_version']}", row["patch_id"]))
            continue
        key = (source.name, row["patch_id"])
        assert product is not None  # a source was found for it
        need = needs.setdefault(key, Need(product))
        if row["title"]:
            need.titles.add(row["title"])
        need.missing = need.missing or bool(row["missing"])
        partitions[(row["account_id"], row["region"])].add(key)
    return Seen(needs, dict(partitions), frozenset(no_source))


@dataclass
class CatalogState:
    """The catalog as of the previous snapshot: rows per (source, patch id) and who reported them."""

    rows: dict[Key, tuple[CatalogRow, ...]] = field(default_factory=dict)
    partitions: dict[Partition, set[Key]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def from_table(cls, table: pa.Table) -> CatalogState:
        state = cls()
        by_key: dict[Key, dict[str | None, CatalogRow]] = defaultdict(dict)
        for r in table.to_pylist():
            key = (r["source"], r["patch_id"])
            state.partitions[(r["account_id"], r["region"])].add(key)
            by_key[key].setdefault(r["title"], CatalogRow(
                r["patch_id"], r["title"], r["product"], r["classification"], r["severity"], r["release_date"],
                tuple(r["cve_ids"] or ()), r["source"]))
        state.rows = {key: tuple(rows[t] for t in sorted(rows, key=lambda t: t or "")) for key, rows in by_key.items()}
        return state

    def titles(self, key: Key, known: bool) -> set[str | None]:
        return {r.title for r in self.rows.get(key, ()) if (r.release_date is not None) == known}

    def table(self) -> pa.Table:
        rows = [row.as_row(partition) for partition in sorted(self.partitions)
                for key in sorted(self.partitions[partition]) for row in self.rows.get(key, ())]
        return pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA)


def retry_due(key: Key, day: date, every_days: int) -> bool:
    """Whether a patch id a source did not know is asked again today (each id on its own day of the cycle)."""
    return zlib.crc32(f"{key[0]}:{key[1]}".encode()) % every_days == day.toordinal() % every_days


@dataclass(frozen=True)
class Plan:
    """Which keys are asked today (in priority order), and why the others are not."""

    ask: tuple[Key, ...]
    deferred: tuple[Key, ...]
    cached: frozenset[Key]
    cached_unknown: frozenset[Key]


def plan_lookups(seen: Seen, state: CatalogState, day: date, config: PatchCatalogSettings) -> Plan:
    """Ask what the catalog does not know yet (and due retries of unknowns), Missing/Failed first, bounded."""
    wanted: list[tuple[tuple[int, int, str, str, str], Key]] = []
    cached: set[Key] = set()
    cached_unknown: set[Key] = set()
    for key, need in seen.needs.items():
        known, unknown = state.titles(key, True), state.titles(key, False)
        new = {t for t in need.titles if t not in known and t not in unknown}
        if key not in state.rows:
            new.add("")  # never asked
        if not new:
            pending = need.titles - known
            if not pending:
                cached.add(key)
                continue
            if not retry_due(key, day, config.unknown_retry_days):
                cached_unknown.add(key)
                continue
        wanted.append(((0 if need.missing else 1, 0 if new else 1, key[0], need.product, key[1]), key))
    ordered = tuple(key for _, key in sorted(wanted))
    bound = config.max_lookups_per_day
    return Plan(ordered[:bound], ordered[bound:], frozenset(cached), frozenset(cached_unknown))


@dataclass(frozen=True)
class FillResult:
    """The day's catalog snapshot, what was asked and what each source said."""

    table: pa.Table
    counts: dict[str, int]
    sources: dict[str, dict[str, Any]]
    seconds: float


def fill(seen: Seen, state: CatalogState, day: date, sources: Sequence[CatalogSource],
         config: PatchCatalogSettings, not_after: date) -> FillResult:
    """Ask the sources per the plan and return the whole snapshot of ``day`` (nothing is written here)."""
    started = time.perf_counter()
    plan = plan_lookups(seen, state, day, config)
    by_source = {s.name: s for s in sources}
    asked: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for key in plan.ask:
        asked[key[0]][seen.needs[key].product].append(key[1])
    found = unknown = 0
    report: dict[str, dict[str, Any]] = {}
    for name, requests in sorted(asked.items()):
        mark = time.perf_counter()
        answer = by_source[name].lookup(requests)
        valid: dict[str, dict[str | None, CatalogRow]] = defaultdict(dict)
        late = 0
        for row in answer.rows:
            if row.release_date is not None and row.release_date > not_after:
                late += 1
                continue
            current = valid[row.patch_id].get(row.title)
            if current is None or (row.release_date or date.max) < (current.release_date or date.max):
                valid[row.patch_id][row.title] = row
        for product, patch_ids in requests.items():
            for patch_id in patch_ids:
                key = (name, patch_id)
                rows = valid.get(patch_id, {})
                missing_titles = sorted(t for t in seen.needs[key].titles if t not in rows)
                negatives = [CatalogRow(patch_id, t, product, None, None, None, (), name) for t in missing_titles]
                state.rows[key] = tuple(sorted([*rows.values(), *negatives], key=lambda r: r.title or ""))
                if missing_titles or not rows:
                    unknown += 1
                else:
                    found += 1
        report[name] = {"patch_ids_asked": sum(len(v) for v in requests.values()), "rows": len(answer.rows),
                        "rejected": answer.rejected + late, "notes": list(answer.notes)
                        + ([f"{late} row(s) released after {not_after}"] if late else []),
                        "requests": getattr(by_source[name], "requests", None),
                        "seconds": round(time.perf_counter() - mark, 3)}
    for partition, keys in seen.partitions.items():
        state.partitions[partition] |= keys
    counts = {"patch_ids_seen": len(seen.needs), "asked": len(plan.ask), "found": found, "unknown": unknown,
              "cached": len(plan.cached), "cached_unknown": len(plan.cached_unknown),
              "deferred": len(plan.deferred), "no_source": len(seen.no_source)}
    table = state.table()
    counts["rows"] = table.num_rows
    return FillResult(table, counts, report, time.perf_counter() - started)


def fill_patch_catalog(lake: Lake, snapshot_date: date, sources: Sequence[CatalogSource],
                       settings: Settings, progress: Callable[[str], None] = log.info) -> dict[str, Any]:
    """Publish the day's ``patch_catalog`` snapshot from the day's ingest and the previous snapshot."""
    from patch_compliance.query import DuckDBEngine

    started = time.perf_counter()
    if lake.record(snapshot_date) is None:
        raise InputError(f"lake {lake.uri} has no ingest snapshot for {snapshot_date}: ingest the day first")
    engine = DuckDBEngine(lake)
    try:
        seen_rows = engine.run(SQL_PATCHES_SEEN, [snapshot_date], scope={
            "patch_compliance": [snapshot_date], "instances": [snapshot_date], "ec2_inventory": [],
            "patch_catalog": [], "baselines": []}).to_pylist()
    finally:
        engine.close()
    seen = patches_seen(seen_rows, sources)
    earlier = [d for d in lake.snapshot_dates("patch_catalog") if d < snapshot_date]
    previous = earlier[-1] if earlier else None
    state = CatalogState.from_table(lake.read("patch_catalog", [previous])) if previous else CatalogState()
    not_after = latest_plausible_release(snapshot_date)
    result = fill(seen, state, snapshot_date, sources, settings.patch_catalog, not_after)
    counts = result.counts
    progress(f"patch catalog {snapshot_date}: {counts['patch_ids_seen']} patch ids seen; asked {counts['asked']} "
             f"(found {counts['found']}, unknown {counts['unknown']}), cached {counts['cached']}, known unknown "
             f"{counts['cached_unknown']}, deferred {counts['deferred']} (max "
             f"{settings.patch_catalog.max_lookups_per_day}/day), no source {counts['no_source']}; "
             f"{counts['rows']} rows carried from {previous or 'no earlier snapshot'}")
    for name, facts in result.sources.items():
        progress(f"  source {name}: {facts['patch_ids_asked']} patch ids, {facts['rows']} rows, "
                 f"{facts['rejected']} rejected{', requests ' + str(facts['requests']) if facts['requests'] else ''}"
                 f" in {facts['seconds']} s" + (f"; {'; '.join(facts['notes'])}" if facts["notes"] else ""))
    manifest = lake.write_table_snapshot("patch_catalog", snapshot_date, result.table, {
        "source": "patch_catalog", "previous_snapshot": previous.isoformat() if previous else None,
        "counts": counts, "sources": result.sources,
        "timings": {"lookups": round(result.seconds, 3), "total": round(time.perf_counter() - started, 3)}})
    return {**manifest, "counts": counts}


def latest_plausible_release(snapshot_date: date) -> date:
    """No source can know a patch released after today (or the snapshot date, for a simulated future)."""
    return max(datetime.now(UTC).date(), snapshot_date) + timedelta(days=2)


def catalog_sources(settings: Settings, ssm_client: Any | None, snapshot_date: date) -> list[CatalogSource]:
    """SSM (when enabled and a client is given) and the configured vendor feeds."""
    from patch_compliance.vendor_feeds import feed_source

    sources: list[CatalogSource] = []
    if settings.patch_catalog.ssm and ssm_client is not None:
        sources.append(SsmCatalogSource(ssm_client))
    sources.extend(feed_source(feed, not_after=latest_plausible_release(snapshot_date))
                   for feed in settings.patch_catalog.feeds)
    return sources
