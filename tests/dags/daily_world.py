"""The simulated world the daily-DAG tests run against: a seeded moto fleet and its ground-truth checks."""

from __future__ import annotations

import json
import urllib.request
from datetime import date
from pathlib import Path

from patch_compliance.lake import Lake
from sim.catalog_service import ROUTE, publish_catalog
from sim.fleet import create_buckets, seed_moto
from sim.state import SimState, build_world
from sim.truth import ground_truth, views_on

DAILY = "patch_compliance_daily"
ON = date(2026, 11, 24)
FLEET_SIZE = 40
LAKE_URI = "s3://patch-compliance-lake/lake"


def aws_connection(endpoint_url: str) -> str:
    return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                       "extra": {"endpoint_url": endpoint_url, "region_name": "eu-west-1"}})


def seed_world(endpoint_url: str, workdir: Path, sync_delay: float = 0.0):
    """Fresh moto state with the simulated fleet's EC2 instances, the three buckets and the patch catalog."""
    state = SimState(seed=7, size=FLEET_SIZE, sim_date=ON, endpoint_url=endpoint_url,
                     faults={"sync_delay_seconds": sync_delay} if sync_delay else {})
    state.save(workdir / "sim-state.json")
    world = build_world(state)
    create_buckets(endpoint_url, world.settings)
    state.id_map = seed_moto(world.fleet, endpoint_url, ON, world.settings)
    state.save()
    publish_catalog(endpoint_url, world.catalog, ON)
    return state, build_world(state)


def assert_snapshot_matches_truth(lake: Lake, world, on: date) -> None:
    """The lake's ``instances`` for ``on`` against the simulator's own ground truth, node by node."""
    rows = {r["instance_id"]: r for r in lake.read("instances", [on]).to_pylist()}
    truth = ground_truth(world, on)
    checked = 0
    for expected in truth["instances"]:
        row = rows.get(expected["instance_id"])
        if expected["status"] == "UNMANAGED":
            assert row is None, expected["instance_id"]
            continue
        if expected["status"] == "TERMINATED":
            assert row["in_population"] is False
            continue
        assert row["compliance_status"] == expected["status"], expected["instance_id"]
        assert (row["team"] or "(untagged)") == expected["team"]
        assert row["non_compliant_items"] == expected["non_compliant_items"]
        checked += 1
    assert checked >= FLEET_SIZE // 2
    assert len(rows) == sum(1 for e in truth["instances"] if e["status"] != "UNMANAGED")




def assert_catalog_knows_the_day(lake: Lake, world, on: date, endpoint_url: str) -> None:
    """The run's fill_patch_catalog asked the stand-in and dated every Missing item of a covered product."""
    catalog = {(r["patch_id"], r["title"]): r for r in lake.read("patch_catalog", [on]).to_pylist()}
    families = {n.node_id: n.family for n in world.fleet.nodes}
    checked = set()
    for node_id, scan in views_on(world, on).items():
        for item in (scan.items or ()) if scan else ():
            if item.state not in ("Missing", "Failed") or families[node_id] == "Ubuntu":
                continue
            row = catalog[(item.patch_id, item.title)]
            assert row["release_date"] == item.release_date, (node_id, item.patch_id)
            assert row["source"] == ("al2023" if families[node_id] == "AmazonLinux2023" else "ssm")
            checked.add(families[node_id])
    assert checked >= {"AmazonLinux2023", "AmazonLinux2"}, checked
    with urllib.request.urlopen(f"{endpoint_url}{ROUTE}") as response:  # noqa: S310 - the local stand-in
        assert json.loads(response.read())["requests"], "SSM DescribeAvailablePatches was asked"
