"""Build N days of history into a lake: simulate a day, update the local RDS tree, ingest it, move on.

RDS overwrites a node's objects on every scan, so one working tree is updated in place day by day
(nodes that stopped reporting keep their old files) and only the lake keeps the past. Each day also
publishes an ``ec2_inventory`` snapshot (every EC2 instance, managed or not), and the first day the
``baselines`` the simulated scans use, as the daily DAG's ``record_baselines`` would (the simulator's
baselines do not change over time, so once is enough): in sync with the policy, except the drifted
ones (``FleetSpec.drifted_baselines``). The ``patch_catalog``
is never written here: it comes from the product's own catalog task (the daily DAG's
``fill_patch_catalog``, or ``ingest_day`` calling it) against the stand-in, as in a deployment.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from patch_compliance.aws import storage_access
from patch_compliance.lake import SPECS, Lake
from sim.catalog import OPERATING_SYSTEMS
from sim.model import Scan
from sim.rds_writer import PROBE_BODY, LocalSink, Renderer, execution_id, probe_key
from sim.state import World
from sim.truth import HistoryTracker, ground_truth, views_on


def ec2_inventory_table(world: World, on: date) -> pa.Table:
    """Every EC2 instance launched by ``on`` with its state and tags (hybrid nodes are not EC2)."""
    keys = world.settings.tags
    captured = datetime(on.year, on.month, on.day, 3, 0, tzinfo=UTC)
    rows: dict[str, list[Any]] = {name: [] for name in (
        "instance_id", "state", "platform", "launch_time", "team", "environment", "patch_group", "tags", "name",
        "captured_at", "account_id", "region")}

    def first(node_tags: dict[str, str], names: tuple[str, ...]) -> str | None:
        return next((node_tags[n] for n in names if n in node_tags), None)

    for node in world.fleet.nodes:
        if node.is_hybrid or node.launch_time.date() > on:
            continue
        tags = dict(node.tags)
        rows["instance_id"].append(node.node_id)
        rows["state"].append(node.ec2_state(on))
        rows["platform"].append("windows" if node.is_windows else "linux")
        rows["launch_time"].append(node.launch_time)
        rows["team"].append(first(tags, keys.team))
        rows["environment"].append(first(tags, keys.environment))
        rows["patch_group"].append(first(tags, keys.patch_group))
        rows["tags"].append(list(tags.items()))
        rows["name"].append(first(tags, keys.name))
        rows["captured_at"].append(captured)
        rows["account_id"].append(node.account_id)
        rows["region"].append(node.region)
    return pa.table(rows, schema=_with_partitions("ec2_inventory"))


def baselines_table(world: World, on: date) -> pa.Table:
    """One row per baseline the account's scanned nodes use, drifted where the model drifted it."""
    captured = datetime(on.year, on.month, on.day, 3, 0, tzinfo=UTC)
    used: dict[tuple[str, str, str], dict[str, Any]] = {}
    for node in world.fleet.nodes:
        if not node.has_agent or not world.model.is_scanned(node):
            continue
        baseline = world.model.scan_baseline(node)
        drifted = (node.account_id, baseline.baseline_id) in world.model.drifted
        row = used.setdefault((node.account_id, node.region, baseline.baseline_id), {
            "account_id": node.account_id, "region": node.region, "baseline_id": baseline.baseline_id,
            "name": baseline.name, "operating_system": OPERATING_SYSTEMS[node.family], "patch_groups": set(),
            "is_default": False, "approval_rules": "", "approved_patches": [], "rejected_patches": [],
            "rejected_patches_action": baseline.rejected_action, "declared_name": baseline.name,
            "drift": "drifted" if drifted else "in_sync",
            "drift_details": "approval rules edited outside the policy: every update approved at release"
            if drifted else "", "captured_at": captured})
        row["patch_groups"].add(node.patch_group)
    rows = [{**row, "patch_groups": sorted(row["patch_groups"])} for _, row in sorted(used.items())]
    return pa.Table.from_pylist(rows, schema=_with_partitions("baselines"))


def _with_partitions(table: str) -> pa.Schema:
    return SPECS[table].undated_schema


@dataclass
class DayWriter:
    """Writes what changed in a node's RDS content since the previous day (RDS overwrites per node)."""

    world: World
    sink: LocalSink
    renderer: Renderer
    written: dict[str, tuple[date, str]] = field(default_factory=dict)

    def render(self, on: date, views: dict[str, Scan | None]) -> dict[str, bytes]:
        """The objects to (over)write for ``on``: nodes whose shown scan or status changed."""
        objects: dict[str, bytes] = {}
        if not self.written:
            objects.update({probe_key(a): PROBE_BODY for a in sorted({n.account_id for n in self.world.fleet.nodes})})
        for node_id, scan in views.items():
            if scan is None:
                continue
            marker = (scan.day, scan.instance_status)
            if self.written.get(node_id) == marker:
                continue
            self.written[node_id] = marker
            exec_id = execution_id(self.world.state.seed, scan.node.account_id, scan.day)
            objects.update(self.renderer.objects(scan, exec_id, snapshot_id=exec_id))
        return objects

    def write(self, on: date, views: dict[str, Scan | None]) -> int:
        return self.sink.put_many(self.render(on, views))


def build_history(world: World, days: int, end: date, lake_uri: str, work_dir: str | Path,
                  ingest: bool = True, endpoint_url: str | None = None,
                  progress: Callable[[str], None] = print,
                  ingest_day: Callable[[date, Path], object] | None = None,
                  keep_copies: Path | None = None) -> dict[str, Any]:
    """Simulate ``days`` days ending ``end``; returns timings and the ground truth of ``end``.

    Each day's RDS tree becomes the day's snapshot through ``ingest_day(day, tree)`` when given (the
    demo runs the daily DAG on it), else through ``ingest_snapshot`` directly; the day's EC2 inventory
    is in the lake before that, as the daily DAG's own inventory task would have put it.

    Day N+1 is simulated and rendered in a worker thread while day N is ingested (DuckDB and pyarrow
    release the GIL), so ``simulate`` overlaps ``ingest``; ``waiting`` is the part that did not. With
    ``keep_copies``, each day's tree is also kept as ``keep_copies/<day>`` (hard links: the sink
    replaces files, never rewrites them) and that copy is ingested, so the worker writes day N+1's
    tree and inventory while day N is ingested too.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    work = Path(work_dir)
    tree = work / "rds"
    if tree.exists() and any(tree.iterdir()):
        raise ValueError(f"work directory {tree} is not empty; history starts from an empty RDS tree")
    access = storage_access(endpoint_url) if lake_uri.startswith("s3://") else None
    lake = Lake(lake_uri, access)
    if not ingest:
        ingest_day = None
    elif ingest_day is None:
        from patch_compliance.ingest import ingest_snapshot

        def ingest_day(day: date, rds_tree: Path) -> object:
            return ingest_snapshot(str(rds_tree), lake.uri, day, access=access)
    writer = DayWriter(world, LocalSink(tree), Renderer(world.state.seed, world.faults.malformed_share))
    tracker = HistoryTracker()
    timings = {"simulate": 0.0, "write": 0.0, "ingest": 0.0, "inventory": 0.0, "waiting": 0.0}
    started = time.perf_counter()
    dates = [end - timedelta(days=days - 1 - n) for n in range(days)]

    def publish_inputs(day: date, rendered: dict[str, bytes]) -> tuple[int, Path]:
        """Write the day's RDS tree (and kept copy) and its inventory; returns objects written, tree to ingest."""
        t0 = time.perf_counter()
        written = writer.sink.put_many(rendered)
        source = tree
        if keep_copies is not None:
            source = keep_copies / day.isoformat()
            shutil.copytree(tree, source, copy_function=os.link)
        t1 = time.perf_counter()
        lake.write_table_snapshot("ec2_inventory", day, ec2_inventory_table(world, day), {"source": "simulator"})
        if day == dates[0]:
            lake.write_table_snapshot("baselines", day, baselines_table(world, day), {"source": "simulator"})
        timings["write"] += t1 - t0
        timings["inventory"] += time.perf_counter() - t1
        return written, source

    def prepare(day: date) -> tuple[dict[str, Scan | None], dict[str, bytes], tuple[int, Path] | None]:
        # Runs in one worker thread, day after day, overlapping the previous day's ingest.
        t0 = time.perf_counter()
        day_views = views_on(world, day)
        tracker.feed(day, day_views)
        rendered = writer.render(day, day_views)
        timings["simulate"] += time.perf_counter() - t0
        # Without kept copies the working tree is ingested, so it may only change between ingests.
        return day_views, rendered, publish_inputs(day, rendered) if keep_copies is not None else None

    views: dict[str, Scan | None] = {}
    objects = 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(prepare, dates[0])
        for n, day in enumerate(dates):
            t0 = time.perf_counter()
            views, rendered, published = upcoming.result()
            timings["waiting"] += time.perf_counter() - t0
            written, source = published or publish_inputs(day, rendered)
            objects += written
            if n + 1 < len(dates):
                upcoming = pool.submit(prepare, dates[n + 1])
            t1 = time.perf_counter()
            if ingest_day is not None:
                ingest_day(day, source)
            timings["ingest"] += time.perf_counter() - t1
            progress(f"{day}: {written} objects written, day took {time.perf_counter() - t0:.2f} s")
    truth = ground_truth(world, end, dates, tracker=tracker, views=views)
    elapsed = time.perf_counter() - started
    return {"days": days, "end": end.isoformat(), "instances": len(world.fleet.nodes), "objects": objects,
            "seconds": round(elapsed, 2), "timings": {k: round(v, 2) for k, v in timings.items()},
            "malformed_lines": writer.renderer.malformed_lines, "truth": truth}
