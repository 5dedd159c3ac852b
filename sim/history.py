"""Build N days of history into a lake: simulate a day, update the local RDS tree, ingest it, move on.

RDS overwrites a node's objects on every scan, so one working tree is updated in place day by day
(nodes that stopped reporting keep their old files) and only the lake keeps the past. Each day's
tree also holds what EC2's ``DescribeInstances`` answered that day (every EC2 instance, managed or
not) under ``_ec2_inventory/``, as a deployment keeping copies of its sync would keep it. The
product's own tasks turn each day into its snapshot (the daily DAG's archived run, or ``ingest_day``
calling the same functions), and the ``patch_catalog`` comes from the product's catalog task against
the stand-in, as in a deployment. The one table written here: without an ``ingest_day``, the first
day also gets the baselines in force (``sim.baselines_in_force``), which the product reads from SSM
and no kept file could feed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from patch_compliance.aws import storage_access
from patch_compliance.rds import KEPT_INVENTORY_DIR
from sim.model import Scan
from sim.rds_writer import PROBE_BODY, LocalSink, Renderer, execution_id, probe_key
from sim.state import World
from sim.truth import HistoryTracker, ground_truth, views_on


def describe_instances_documents(world: World, on: date) -> dict[tuple[str, str], dict[str, Any]]:
    """What ``aws ec2 describe-instances --output json`` answered on ``on``, per account and Region: every
    EC2 instance launched by then, with its state and tags (hybrid nodes are not EC2)."""
    documents: dict[tuple[str, str], dict[str, Any]] = {}
    for node in world.fleet.nodes:
        if node.is_hybrid or node.launch_time.date() > on:
            continue
        state = node.ec2_state(on)
        instance = {
            "InstanceId": node.node_id, "State": {"Code": EC2_STATE_CODES[state], "Name": state},
            "LaunchTime": node.launch_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "PlatformDetails": "Windows" if node.is_windows else "Linux/UNIX",
            "Tags": [{"Key": k, "Value": v} for k, v in dict(node.tags).items()]}
        document = documents.setdefault((node.account_id, node.region), {"Reservations": []})
        document["Reservations"].append({"OwnerId": node.account_id, "Instances": [instance]})
    return documents


EC2_STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}


def write_kept_inventory(world: World, on: date, tree: Path) -> int:
    """The day's DescribeInstances documents under the tree's ``_ec2_inventory/``, captured at 03:00 UTC.

    Each file is replaced (written aside, then renamed), never rewritten: a kept copy of an earlier
    day holds hard links to the earlier files.
    """
    captured = datetime(on.year, on.month, on.day, 3, 0, tzinfo=UTC).timestamp()
    documents = describe_instances_documents(world, on)
    for (account_id, region), document in sorted(documents.items()):
        path = tree / KEPT_INVENTORY_DIR / f"accountid={account_id}" / f"region={region}" / "describe-instances.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(document))
        os.utime(scratch, (captured, captured))
        os.replace(scratch, path)
    return len(documents)


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


class HistoryWorker:
    """The history's producer: simulates, renders and writes each day's tree, in its own process.

    Rendering a day is ≈150 MB of JSON built in Python; in a thread it held the interpreter lock
    against the day being ingested (the demo's DAG run), so it runs in a worker process and the
    ingest keeps the lock. The worker owns the world's copy, the tree writer and the ground-truth
    tracker, and is called in day order (one process, one call at a time).
    """

    def __init__(self, world: World, tree: Path, keep_copies: Path | None) -> None:
        self.world = world
        self.tree = tree
        self.keep_copies = keep_copies
        self.writer = DayWriter(world, LocalSink(tree), Renderer(world.state.seed, world.faults.malformed_share))
        self.tracker = HistoryTracker()
        self.timings = {"simulate": 0.0, "write": 0.0, "inventory": 0.0}
        self.views: dict[str, Scan | None] = {}
        self.rendered: dict[str, bytes] = {}

    def prepare(self, day: date) -> tuple[int, Path] | None:
        """Simulate and render ``day``; with kept copies also write it (the working tree is then not ingested)."""
        t0 = time.perf_counter()
        self.views = views_on(self.world, day)
        self.tracker.feed(day, self.views)
        self.rendered = self.writer.render(day, self.views)
        self.timings["simulate"] += time.perf_counter() - t0
        return self.publish(day) if self.keep_copies is not None else None

    def publish(self, day: date) -> tuple[int, Path]:
        """Write the rendered tree and the inventory documents (and kept copy); returns objects, tree to ingest."""
        t0 = time.perf_counter()
        written = self.writer.sink.put_many(self.rendered)
        self.rendered = {}
        t1 = time.perf_counter()
        write_kept_inventory(self.world, day, self.tree)
        t2 = time.perf_counter()
        source = self.tree
        if self.keep_copies is not None:
            source = self.keep_copies / day.isoformat()
            shutil.copytree(self.tree, source, copy_function=os.link)
        self.timings["write"] += t1 - t0 + time.perf_counter() - t2
        self.timings["inventory"] += t2 - t1
        return written, source

    def finish(self, end: date, dates: list[date]) -> dict[str, Any]:
        return {"truth": ground_truth(self.world, end, dates, tracker=self.tracker, views=self.views),
                "malformed_lines": self.writer.renderer.malformed_lines, "timings": self.timings}


_WORKER: HistoryWorker | None = None


def _start_worker(world: World, tree: Path, keep_copies: Path | None) -> None:
    global _WORKER
    _WORKER = HistoryWorker(world, tree, keep_copies)


def _call_worker(method: str, *args: Any) -> Any:
    assert _WORKER is not None, "the history worker was not started"
    return getattr(_WORKER, method)(*args)


def build_history(world: World, days: int, end: date, lake_uri: str, work_dir: str | Path,
                  ingest: bool = True, endpoint_url: str | None = None,
                  progress: Callable[[str], None] = print,
                  ingest_day: Callable[[date, Path], object] | None = None,
                  keep_copies: Path | None = None) -> dict[str, Any]:
    """Simulate ``days`` days ending ``end``; returns timings and the ground truth of ``end``.

    Each day's tree becomes the day's snapshot through ``ingest_day(day, tree)`` when given (the demo
    runs the daily DAG on it), else through the product's ``snapshot_kept_inventory`` and
    ``ingest_snapshot`` directly, in the order the daily DAG runs them.

    Day N+1 is simulated and rendered by a ``HistoryWorker`` process while day N is ingested here,
    so ``simulate`` overlaps ``ingest``; ``waiting`` is the part that did not. With ``keep_copies``,
    each day's tree is also kept as ``keep_copies/<day>`` (hard links: the sink replaces files, never
    rewrites them) and that copy is ingested, so the worker writes day N+1's tree and inventory while
    day N is ingested too; without, it writes the working tree only between ingests.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    work = Path(work_dir)
    tree = work / "rds"
    if tree.exists() and any(tree.iterdir()):
        raise ValueError(f"work directory {tree} is not empty; history starts from an empty RDS tree")
    access = storage_access(endpoint_url) if lake_uri.startswith("s3://") else None
    dates = [end - timedelta(days=days - 1 - n) for n in range(days)]
    if not ingest:
        ingest_day = None
    elif ingest_day is None:
        from patch_compliance.ingest import ingest_snapshot
        from patch_compliance.inventory import snapshot_kept_inventory
        from sim.baselines_in_force import record_baselines_in_force

        def ingest_day(day: date, rds_tree: Path) -> object:
            snapshot_kept_inventory(world.settings, str(rds_tree), day, access, lake_uri)
            if day == dates[0]:
                record_baselines_in_force(world, lake_uri, day, access)
            return ingest_snapshot(str(rds_tree), lake_uri, day, access=access)
    timings = {"ingest": 0.0, "waiting": 0.0}
    started = time.perf_counter()
    objects = 0
    # spawn, not fork: the caller may hold threads (Airflow, boto3 pools) that a forked child would inherit mid-lock.
    with ProcessPoolExecutor(1, multiprocessing.get_context("spawn"), _start_worker,
                             (world, tree, keep_copies)) as pool:
        upcoming = pool.submit(_call_worker, "prepare", dates[0])
        for n, day in enumerate(dates):
            t0 = time.perf_counter()
            published = upcoming.result() or pool.submit(_call_worker, "publish", day).result()
            timings["waiting"] += time.perf_counter() - t0
            written, source = published
            objects += written
            if n + 1 < len(dates):
                upcoming = pool.submit(_call_worker, "prepare", dates[n + 1])
            t1 = time.perf_counter()
            if ingest_day is not None:
                ingest_day(day, source)
            timings["ingest"] += time.perf_counter() - t1
            progress(f"{day}: {written} objects written, day took {time.perf_counter() - t0:.2f} s")
        produced = pool.submit(_call_worker, "finish", end, dates).result()
    elapsed = time.perf_counter() - started
    timings.update(produced["timings"])
    return {"days": days, "end": end.isoformat(), "instances": len(world.fleet.nodes), "objects": objects,
            "seconds": round(elapsed, 2), "timings": {k: round(v, 2) for k, v in timings.items()},
            "malformed_lines": produced["malformed_lines"], "truth": produced["truth"]}
