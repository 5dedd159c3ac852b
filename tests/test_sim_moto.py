"""Fleet simulator against a real moto server over HTTP: seeding, Scan commands observed by the agent,
RDS output in S3, ingest reading it back over HTTP and matching the ground truth; and the history
builder's lake matching the ground truth day by day (lake read independently here)."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest

from patch_compliance import rds
from patch_compliance.aws import storage_access
from patch_compliance.ingest import ingest_snapshot
from patch_compliance.lake import Lake
from sim.agent import Agent, AgentRunner
from sim.fleet import account_session, create_buckets, seed_moto
from sim.history import build_history
from sim.state import SimState, build_world
from sim.truth import ground_truth

pytestmark = pytest.mark.xdist_group("sim-moto")
ON = date(2026, 11, 24)


def send_scans(endpoint_url: str, settings, run_id: str) -> list[tuple[str, str]]:
    """What the daily DAG does: one AWS-RunPatchBaseline Scan per account, targeted by PatchGroup."""
    sent = []
    for account in settings.accounts:
        ssm = account_session(endpoint_url, account.id, account.regions[0], account.role_arn).client(
            "ssm", endpoint_url=endpoint_url)
        command = ssm.send_command(
            DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Scan"], "SnapshotId": [str(uuid.uuid4())]},
            Targets=[{"Key": "tag:PatchGroup", "Values": list(settings.scan.target_tag_values)}],
            Comment=f"patch_compliance_daily {run_id}", MaxConcurrency="10%", MaxErrors="5%")["Command"]
        sent.append((account.id, command["CommandId"]))
    return sent


@pytest.fixture
def seeded(aws_env, tmp_path):
    state = SimState(seed=5, size=40, sim_date=ON, endpoint_url=aws_env.endpoint_url)
    state.save(tmp_path / "state.json")
    world = build_world(state)
    create_buckets(aws_env.endpoint_url, world.settings)
    state.id_map = seed_moto(world.fleet, aws_env.endpoint_url, ON, world.settings)
    state.save()
    return state, build_world(state)


def test_seed_creates_tagged_instances_per_account(seeded, aws_env):
    _state, world = seeded
    for account in world.settings.accounts:
        ec2 = account_session(aws_env.endpoint_url, account.id, "eu-west-1").client(
            "ec2", endpoint_url=aws_env.endpoint_url)
        found = {i["InstanceId"]: i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
        expected = [n for n in world.fleet.in_account(account.id) if not n.is_hybrid]
        assert set(found) == {n.node_id for n in expected}
        for node in expected:
            instance = found[node.node_id]
            assert {(t["Key"], t["Value"]) for t in instance.get("Tags", [])} == set(node.tags)
            assert instance.get("Platform") == ("windows" if node.is_windows else None)
            assert instance["State"]["Name"] == {"running": "running", "stopped": "stopped",
                                                 "terminated": "terminated"}[node.ec2_state(ON)]
    buckets = {b["Name"] for b in boto3.client("s3", endpoint_url=aws_env.endpoint_url).list_buckets()["Buckets"]}
    assert {"patch-rds-sync", "patch-compliance-lake", "patch-compliance-reports"} <= buckets


def test_agent_answers_scan_commands_and_ingest_matches_truth(seeded, aws_env, tmp_path):
    state, world = seeded
    endpoint = aws_env.endpoint_url
    state.faults = {"sync_delay_seconds": 30, "late_share": 0.25}
    state.save()
    world = build_world(state)
    agent = Agent(endpoint, state.path)
    started = datetime.now(UTC).replace(microsecond=0)
    sent = send_scans(endpoint, world.settings, "manual__2026-11-24T03:00:00")
    now = time.time()
    assert agent.poll_once(now=now) == []  # seen, but the sync delay has not passed
    s3 = boto3.client("s3", endpoint_url=endpoint)
    assert s3.list_objects_v2(Bucket="patch-rds-sync").get("KeyCount", 0) == 0
    reports = agent.poll_once(now=now + 31)
    assert sorted((r.account_id, r.command_id) for r in reports) == sorted(sent)
    assert all("manual__2026-11-24T03:00:00" in r.comment and r.sim_date == ON for r in reports)
    assert agent.poll_once(now=now + 60) == []  # each command is handled once

    listed = s3.list_objects_v2(Bucket="patch-rds-sync", Prefix="rds/")["Contents"]
    keys = {o["Key"] for o in listed}
    assert {f"rds/AWS:InstanceInformation/accountid={a.id}/test.json" for a in world.settings.accounts} <= keys
    assert all(o["LastModified"] >= started for o in listed)
    fresh_nodes = {n.node_id for n in world.fleet.nodes
                   if (v := world.model.view(n, ON)) is not None and v.day == ON and world.model.is_scanned(n)}
    parsed = [rds.parse_key(k.removeprefix("rds/")) for k in keys]
    written = {p.node_id for p in parsed if p and p.rds_type == rds.COMPLIANCE_ITEM}
    summaries = {p.node_id for p in parsed if p and p.rds_type == rds.PATCH_SUMMARY}
    summary_only = {n.node_id for n in world.fleet.nodes if n.summary_only}
    assert fresh_nodes - summary_only <= written and not written & summary_only
    assert fresh_nodes <= summaries  # summary-only nodes still write AWS:PatchSummary

    lake_dir = tmp_path / "lake"
    ingest_snapshot(world.settings.storage.sync_uri, str(lake_dir), ON, access=storage_access(endpoint))
    rows = Lake(str(lake_dir)).read("instances", [ON]).to_pylist()
    got = {r["instance_id"]: r for r in rows}
    truth = ground_truth(world, ON)
    statuses = Counter()
    for expected in truth["instances"]:
        statuses[expected["status"]] += 1
        row = got.get(expected["instance_id"])
        if expected["status"] == "UNMANAGED":
            assert row is None
        elif expected["status"] == "TERMINATED":
            assert row["in_population"] is False
        else:
            assert row["compliance_status"] == expected["status"], expected["instance_id"]
            assert (row["team"] or "(untagged)") == expected["team"]
            assert row["non_compliant_items"] == expected["non_compliant_items"]
    assert len(got) == sum(v for k, v in statuses.items() if k != "UNMANAGED")
    assert {"COMPLIANT", "NON_COMPLIANT", "UNMANAGED"} <= set(statuses)
    assert statuses["STALE"] + statuses["NO_DATA"] + statuses["TERMINATED"] >= 2

    # Late nodes show the previous day's scan until their own output lands, late_delay_seconds later.
    late = [n for n in world.fleet.nodes if world.model.is_late(n) and world.model.scans_on(n, ON)
            and world.model.is_scanned(n) and world.model.view(n, ON).day == ON - timedelta(days=1)]
    assert late

    def captured(node) -> str:
        key = "rds/" + rds.object_key(rds.INSTANCE_INFORMATION, node.account_id, node.region, node.node_id)
        return json.loads(s3.get_object(Bucket="patch-rds-sync", Key=key)["Body"].read())["captureTime"]

    assert {captured(n)[:10] for n in late} == {(ON - timedelta(days=1)).isoformat()}
    agent.poll_once(now=now + 31 + 600)
    assert {captured(n)[:10] for n in late} == {ON.isoformat()}


def test_agent_reads_windows_from_ssm_and_runs_in_background(seeded, aws_env):
    state, world = seeded
    endpoint = aws_env.endpoint_url
    dev = world.settings.accounts[0]
    ssm = account_session(endpoint, dev.id, "eu-west-1").client("ssm", endpoint_url=endpoint)
    window = ssm.create_maintenance_window(Name="dev-install", Schedule="cron(30 5 ? * FRI *)", Duration=3, Cutoff=1,
                                           AllowUnassociatedTargets=False)["WindowId"]
    target = ssm.register_target_with_maintenance_window(
        WindowId=window, ResourceType="INSTANCE", Targets=[{"Key": "tag:Environment", "Values": ["dev"]}])
    ssm.register_task_with_maintenance_window(
        WindowId=window, Targets=[{"Key": "WindowTargetIds", "Values": [target["WindowTargetId"]]}],
        TaskArn="AWS-RunPatchBaseline", TaskType="RUN_COMMAND", MaxConcurrency="10%", MaxErrors="5%",
        TaskInvocationParameters={"RunCommand": {"Parameters": {"Operation": ["Install"]}}})
    agent = Agent(endpoint, state.path)
    with AgentRunner(agent, interval=0.2) as runner:
        send_scans(endpoint, world.settings, "scheduled__2026-11-24")
        reports = runner.wait_for(3, timeout=60)
    assert {r.account_id for r in reports} == {a.id for a in world.settings.accounts}
    model = agent.world(agent.current_state()).model
    (only,) = model.account_windows[dev.id]
    assert (only.weekday, only.hour, only.minute, only.environments) == (4, 5, 30, frozenset({"dev"}))
    dev_node = next(n for n in agent.world(agent.current_state()).fleet.in_account(dev.id)
                    if n.has_agent and n.tag("Environment") == "dev" and n.patch_group)
    times = {i.installed_time[11:] for i in model.scan_of(dev_node, ON, ON).items
             if i.installed_time and i.installed_time[:10] > dev_node.base_date.isoformat()}
    assert times and times <= {"05:30:00Z"}, "installs follow the window registered in SSM"


def _first_seen_from_lake(lake: Lake, days: list[date]) -> dict[tuple[str, str], date]:
    """first_seen_missing per the shared definition, computed from the lake's own rows."""
    runs: dict[tuple[str, str], date] = {}
    for day in days:
        table = lake.read("patch_compliance", [day], columns=["instance_id", "patch_id", "patch_state"])
        states = dict(zip(zip(table["instance_id"].to_pylist(), table["patch_id"].to_pylist(), strict=True),
                          table["patch_state"].to_pylist(), strict=True))
        for key, state in states.items():
            if state in ("Missing", "Failed"):
                runs.setdefault(key, day)
            else:
                runs.pop(key, None)
    return runs


def test_history_producer_error_reaches_the_caller_before_that_day_is_ingested(tmp_path):
    """The worker process writes each day's kept copy; a failure there is raised here, and no day runs."""
    world = build_world(SimState(seed=9, size=20))
    end = date(2026, 11, 26)
    kept = tmp_path / "kept"
    (kept / (end - timedelta(days=1)).isoformat()).mkdir(parents=True)  # the first day's copy already exists
    ingested: list[date] = []
    with pytest.raises(FileExistsError, match="2026-11-25"):
        build_history(world, 2, end, str(tmp_path / "lake"), tmp_path / "work", progress=lambda _m: None,
                      keep_copies=kept, ingest_day=lambda day, _tree: ingested.append(day))
    assert ingested == []


def test_history_lake_matches_ground_truth_each_day(tmp_path):
    state = SimState(seed=9, size=120, faults={"malformed_share": 0.001})
    world = build_world(state)
    end = date(2026, 11, 26)
    result = build_history(world, 6, end, str(tmp_path / "lake"), tmp_path / "work", progress=lambda _m: None)
    lake = Lake(str(tmp_path / "lake"))
    days = [end - timedelta(days=n) for n in range(5, -1, -1)]
    assert lake.snapshot_dates() == days
    assert lake.snapshot_dates("ec2_inventory") == days
    assert lake.snapshot_dates("patch_catalog") == []  # only the product's catalog task writes the catalog
    inventory = lake.read("ec2_inventory", [end])
    assert inventory.num_rows == sum(not n.is_hybrid for n in world.fleet.nodes)
    assert set(inventory["account_id"].to_pylist()) == {a.id for a in world.settings.accounts}
    fresh = build_world(SimState(seed=9, size=120, faults={"malformed_share": 0.001}))
    for day in (days[0], end):
        truth = ground_truth(fresh, day, [d for d in days if d <= day])
        got = {r["instance_id"]: r for r in lake.read("instances", [day]).to_pylist()}
        for expected in truth["instances"]:
            row = got.get(expected["instance_id"])
            if expected["status"] == "UNMANAGED":
                assert row is None
            elif expected["status"] == "TERMINATED":
                assert row["in_population"] is False
            else:
                assert row["compliance_status"] == expected["status"], (day, expected["instance_id"])
    assert result["truth"]["instances"] == truth["instances"]
    assert result["malformed_lines"] > 0
    quarantined = lake.read("quarantine").num_rows
    assert quarantined == result["malformed_lines"]

    runs = _first_seen_from_lake(lake, days)
    every_family = frozenset(n.family for n in fresh.fleet.nodes)  # as if a catalog dated them all
    end_truth = ground_truth(fresh, end, days, catalog_families=every_family)
    no_catalog = result["truth"]
    for row in no_catalog["missing_critical_14d"]:
        assert runs[(row["instance_id"], row["patch_id"])].isoformat() == row["first_seen_missing"]
    for row in end_truth["missing_critical_14d"]:
        assert row["age_basis"] == "release_date" and row["age_days"] >= 14
    per_instance = defaultdict(int)
    for row in end_truth["missing_critical_14d"]:
        per_instance[row["instance_id"]] += 1
    assert per_instance, "a fortnight of history has missing critical patches aged >= 14 days by release date"
