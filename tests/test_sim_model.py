"""Fleet simulator, offline: RDS output against the reference, determinism, soak, install windows,
faults and ground-truth bookkeeping. Expectations are derived here from the catalog and the reference,
not from the code paths under test."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from patch_compliance import rds
from sim.catalog import second_tuesday
from sim.fleet import Node
from sim.model import Item, Scan
from sim.rds_writer import LocalSink, Renderer, execution_id
from sim.state import SimState, build_world
from sim.truth import HistoryTracker, ground_truth

DAY = date(2026, 11, 19)  # a Thursday
CAPTURE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,}$")
ITEM_KEYS = {"ComplianceType", "ExecutionId", "ExecutionType", "ExecutionTime", "Id", "Title", "Status", "Severity",
             "DocumentName", "DocumentVersion", "Classification", "PatchBaselineId", "PatchSeverity", "PatchState",
             "PatchGroup", "InstalledTime"}
SUMMARY_KEYS = {"PatchGroup", "BaselineId", "SnapshotId", "OwnerInformation", "InstalledCount", "InstalledOtherCount",
                "InstalledPendingRebootCount", "InstalledRejectedCount", "NotApplicableCount",
                "UnreportedNotApplicableCount", "MissingCount", "FailedCount", "OperationType", "OperationStartTime",
                "OperationEndTime", "RebootOption", "InstallOverrideList", "LastNoRebootInstallOperationTime"}
INFO_KEYS = {"AgentType", "AgentVersion", "ComputerName", "InstanceId", "IpAddress", "PlatformName", "PlatformType",
             "PlatformVersion", "ResourceType", "AgentStatus", "InstanceStatus"}
ENVELOPE = {"resourceId", "captureTime", "schemaVersion"}
STATUS_OF = {"Installed": "COMPLIANT", "InstalledOther": "COMPLIANT", "InstalledPendingReboot": "NON_COMPLIANT",
             "InstalledRejected": "NON_COMPLIANT", "Missing": "NON_COMPLIANT", "Failed": "NON_COMPLIANT",
             "NotApplicable": ""}


@pytest.fixture(scope="module")
def world():
    return build_world(SimState(seed=7, size=40, sim_date=DAY))


def render_day(world, on: date) -> dict[str, bytes]:
    renderer = Renderer(world.state.seed)
    objects: dict[str, bytes] = {}
    for node in world.fleet.nodes:
        scan = world.model.view(node, on)
        if scan is not None:
            objects.update(renderer.objects(scan, execution_id(1, node.account_id, on), "snap"))
    return objects


def lines_of(data: bytes) -> list[dict[str, object]]:
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode().splitlines()]


def test_rds_objects_follow_the_reference(world):
    objects = render_day(world, DAY)
    types = Counter()
    accounts = {a.id for a in world.settings.accounts}
    for key, data in objects.items():
        parsed = rds.parse_key(key)
        assert parsed is not None, key
        assert parsed.account_id in accounts and parsed.region == "eu-west-1"
        node = next(n for n in world.fleet.nodes if n.node_id == parsed.node_id)
        types[parsed.rds_type] += 1
        records = lines_of(data)
        assert records
        for record in records:
            assert all(isinstance(v, str) for v in record.values()), record
            assert set(record) >= ENVELOPE
            assert record["resourceId"] == node.node_id and record["schemaVersion"] == "1.0"
            assert CAPTURE_RE.match(record["captureTime"])
            assert "AccountId" not in record and "Region" not in record
        if parsed.rds_type == rds.COMPLIANCE_ITEM:
            for record in records:
                assert set(record) >= ITEM_KEYS, record
                assert record["ComplianceType"] == "Patch" and record["DocumentName"] == "AWS-RunPatchBaseline"
                assert record["Status"] == STATUS_OF[record["PatchState"]]
                missing = record["PatchState"] in ("Missing", "Failed")
                assert ("CVEIds" in record) == missing
                if missing:
                    assert all(CVE_RE.match(c) for c in record["CVEIds"].split(",") if c)
                assert bool(record["InstalledTime"]) == record["PatchState"].startswith("Installed")
                if node.is_windows:
                    assert re.match(r"^KB\d+$", record["Id"])
                else:
                    assert record["Title"].startswith(record["Id"] + ":")
            assert len({r["Id"] for r in records}) == len(records), "one item per patch id"
        elif parsed.rds_type == rds.PATCH_SUMMARY:
            (summary,) = records
            assert set(summary) >= SUMMARY_KEYS
            item_key = rds.object_key(rds.COMPLIANCE_ITEM, parsed.account_id, parsed.region, parsed.node_id)
            assert (item_key not in objects) == node.summary_only  # summary-only nodes: no item object
            if node.summary_only:
                continue
            items = lines_of(objects[item_key])
            states = Counter(r["PatchState"] for r in items)
            assert int(summary["MissingCount"]) == states["Missing"]
            assert int(summary["InstalledCount"]) == states["Installed"]
            assert int(summary["NotApplicableCount"]) == states["NotApplicable"]
        elif parsed.rds_type == rds.INSTANCE_INFORMATION:
            (info,) = records
            assert set(info) >= INFO_KEYS
            assert info["InstanceId"] == node.node_id
            assert info["ResourceType"] == ("ManagedInstance" if node.is_hybrid else "EC2Instance")
            assert info["PlatformType"] == ("Windows" if node.is_windows else "Linux")
        elif parsed.rds_type == rds.TAG:
            assert {(r["Key"], r["Value"]) for r in records} == set(node.tags)
    assert set(types) == {rds.COMPLIANCE_ITEM, rds.COMPLIANCE_SUMMARY, rds.PATCH_SUMMARY, rds.INSTANCE_INFORMATION,
                          rds.TAG}
    assert any(n.is_hybrid for n in world.fleet.nodes if n.has_agent)
    assert any(k.split("/")[-1].startswith("mi-") for k in objects)


def test_item_templates_match_format_lines_byte_for_byte(world):
    node = next(n for n in world.fleet.nodes if n.has_agent and not n.is_windows and n.patch_group)
    scan = world.model.view(node, DAY)
    renderer = Renderer(world.state.seed)
    fast = renderer.compliance_items(scan, "exec-1")
    records = []
    for item in scan.items:
        record = {"ComplianceType": "Patch", "ExecutionId": "exec-1", "ExecutionType": "Command",
                  "ExecutionTime": scan.capture_time, "Id": item.patch_id, "Title": item.title,
                  "Status": item.status, "Severity": item.severity, "DocumentName": "AWS-RunPatchBaseline",
                  "DocumentVersion": "1", "Classification": item.classification,
                  "PatchBaselineId": scan.baseline_id, "PatchSeverity": item.patch_severity,
                  "PatchState": item.state, "PatchGroup": node.patch_group, "InstalledTime": item.installed_time}
        if item.state in ("Missing", "Failed"):
            record["CVEIds"] = item.cve_ids
        records.append(record)
    assert fast == rds.format_lines(node.node_id, scan.capture_time, records)


def test_same_seed_same_output_and_another_seed_differs(world):
    again = build_world(SimState(seed=7, size=40, sim_date=DAY))
    other = build_world(SimState(seed=8, size=40, sim_date=DAY))
    first = render_day(world, DAY)
    assert first == render_day(again, DAY)
    assert first != render_day(other, DAY)
    assert [n.node_id for n in world.fleet.nodes] == [n.node_id for n in again.fleet.nodes]


def test_fleet_shape_at_default_size():
    world = build_world(SimState(seed=42, size=800))
    nodes = world.fleet.nodes
    ec2 = [n for n in nodes if not n.is_hybrid]
    assert len(ec2) == 800 and 3 <= sum(n.is_hybrid for n in nodes) <= 10
    assert sum(not n.has_agent for n in nodes) == 100
    assert 20 <= sum(n.tag("Team") is None for n in ec2) <= 30
    assert 6 <= sum(n.tag("Environment") is None for n in ec2) <= 10
    assert any((n.tag("Environment") or "").isupper() for n in ec2)
    assert {n.family for n in nodes} == {"AmazonLinux2023", "AmazonLinux2", "Ubuntu", "WindowsServer2019",
                                         "WindowsServer2022"}
    assert {n.account_id for n in nodes} == {"111111111111", "222222222222", "333333333333"}
    on = date(2026, 11, 26)
    assert sum(n.ec2_state(on) == "terminated" for n in nodes) >= 5
    assert sum(n.ec2_state(on) == "stopped" for n in nodes) >= 5
    # The report's causes, each on purpose: four nodes of each defect, one drifted baseline (in prod).
    assert sum((n.patch_group or "").endswith("-legacy") for n in ec2) == 4
    assert [sum(getattr(n, flag) for n in ec2) for flag in ("fails_installs", "defers_reboot", "misses_windows")] == [
        4, 4, 4]
    assert all(n.is_windows for n in ec2 if n.defers_reboot)
    assert [account for account, _ in world.model.drifted] == ["333333333333"]


def _scenario(world, environment: str, windows_node: bool = False):
    """A node in ``environment`` and a security Critical/Important update of one of its packages released
    after its image, with no other release of that package within 14 days either side."""
    catalog = world.catalog
    for node in world.fleet.nodes:
        if (not node.has_agent or node.is_hybrid or node.tag("Environment") != environment
                or node.is_windows != windows_node or node.family == "Ubuntu" or node.patch_group is None
                or node.stop_date or node.terminate_date or node.lost_date):
            continue
        chains = catalog.updates[node.family]
        for patch_id in node.packages or tuple(chains):
            chain = chains[patch_id]
            for update in chain:
                if (update.classification in ("Security", "SecurityUpdates") and update.severity in
                        ("Critical", "Important") and date(2026, 9, 1) <= update.release_date <= date(2026, 11, 1)
                        and all(abs((u.release_date - update.release_date).days) > 14
                                for u in chain if u is not update and u.version > 0)):
                    return node, update
    raise AssertionError(f"no scenario for {environment}")


def item_for(world, node: Node, on: date, patch_id: str) -> Item | None:
    scan = world.model.scan_of(node, on, on)
    return next((i for i in scan.items if i.patch_id == patch_id), None)


@pytest.fixture(scope="module")
def big_world():
    return build_world(SimState(seed=3, size=200))


def test_prod_soaks_seven_days_non_prod_reports_missing_at_once(big_world):
    node, update = _scenario(big_world, "prod")
    released = update.release_date
    for day in (released, released + timedelta(days=6)):
        item = item_for(big_world, node, day, update.patch_id)
        assert item is None or item.title != update.title, f"prod reports {update.title} on {day}"
    item = item_for(big_world, node, released + timedelta(days=7), update.patch_id)
    assert item.title == update.title and item.state in ("Missing", "Failed")
    assert set(update.cve_ids) <= set(item.cve_ids.split(","))

    node, update = _scenario(big_world, "dev")
    item = item_for(big_world, node, update.release_date, update.patch_id)
    assert item.title == update.title and item.state in ("Missing", "Failed")


def test_installs_happen_in_the_maintenance_window(big_world):
    node, update = _scenario(big_world, "staging")
    released = update.release_date
    tuesday = released + timedelta(days=(1 - released.weekday()) % 7)  # scans at 03:10 precede 12:00
    before = item_for(big_world, node, tuesday, update.patch_id)
    assert before.state in ("Missing", "Failed") and before.title == update.title
    after = item_for(big_world, node, tuesday + timedelta(days=1), update.patch_id)
    if after.state in ("Missing", "Failed"):  # the install failed; the next Tuesday's window retries
        assert after.state == "Failed"
        after = item_for(big_world, node, tuesday + timedelta(days=8), update.patch_id)
        tuesday += timedelta(days=7)
    assert after.state in ("Installed", "InstalledPendingReboot")
    assert after.installed_time == f"{tuesday.isoformat()}T12:00:00Z"

    prod_node, prod_update = _scenario(big_world, "prod")
    approved = prod_update.release_date + timedelta(days=7)
    saturday = approved + timedelta(days=(5 - approved.weekday()) % 7)
    later = item_for(big_world, prod_node, saturday + timedelta(days=8), prod_update.patch_id)
    assert later.state != "Missing"
    assert later.installed_time in (f"{saturday.isoformat()}T02:00:00Z",
                                    f"{(saturday + timedelta(days=7)).isoformat()}T02:00:00Z")


def test_nodes_without_environment_tag_are_never_patched(big_world):
    unpatched = [n for n in big_world.fleet.nodes if n.has_agent and n.tag("Environment") is None
                 and n.patch_group and not (n.stop_date or n.terminate_date or n.lost_date)]
    assert unpatched
    node = unpatched[0]
    scan = big_world.model.scan_of(node, date(2026, 11, 26), date(2026, 11, 26))
    image = node.base_date.isoformat()
    assert [i for i in scan.items if i.installed_time and i.installed_time[:10] > image] == []
    assert any(i.state == "Missing" for i in scan.items)


def test_windows_second_tuesday_and_not_applicable_items(world):
    kb_dates = {u.release_date for u in world.catalog.all_updates() if u.family == "WindowsServer2022"}
    assert kb_dates == {second_tuesday(d.year, d.month) for d in kb_dates}
    assert all(d.weekday() == 1 and 8 <= d.day <= 14 for d in kb_dates)
    linux_days = {u.release_date.weekday() for u in world.catalog.all_updates() if u.family == "AmazonLinux2023"}
    assert linux_days == {3}
    node = next(n for n in world.fleet.nodes if n.is_windows and n.has_agent and n.patch_group)
    scan = world.model.scan_of(node, DAY, DAY)
    na = [i for i in scan.items if i.state == "NotApplicable"]
    assert na and all(i.status == "" and i.cve_ids == "" for i in na)


def test_fault_switches():
    base = SimState(seed=7, size=40, sim_date=DAY)
    silent = build_world(SimState(seed=7, size=40, faults={"silent_share": 1.0}))
    assert all(silent.model.view(n, DAY) is None for n in silent.fleet.nodes)
    truth = ground_truth(silent, DAY)
    nodes = silent.fleet.by_id()
    assert {(r["status"], nodes[r["instance_id"]].ec2_state(DAY)) for r in truth["instances"]} == {
        ("UNMANAGED", "running"), ("STOPPED", "stopped")}

    late = build_world(SimState(seed=7, size=40, faults={"late_share": 1.0}))
    views = [late.model.view(n, DAY) for n in late.fleet.nodes if n.has_agent and not n.lost_date]
    assert {v.day for v in views if v and not (v.node.stop_date or v.node.terminate_date)} == {DAY - timedelta(days=1)}

    dropped = build_world(SimState(seed=7, size=40, faults={"drop_team_share": 1.0}))
    assert all(n.tag("Team") is None for n in dropped.fleet.nodes)
    assert {r["team"] for r in ground_truth(dropped, DAY)["instances"]} == {"(untagged)"}

    world = build_world(SimState(seed=7, size=40, faults={"malformed_share": 0.05}))
    renderer = Renderer(7, world.faults.malformed_share)
    bad = total = 0
    for node in world.fleet.nodes:
        scan = world.model.view(node, DAY)
        if scan is None or not scan.items:
            continue
        for line in renderer.compliance_items(scan, "x").decode().splitlines():
            total += 1
            try:
                json.loads(line)
            except json.JSONDecodeError:
                bad += 1
    assert bad == renderer.malformed_lines and 0 < bad < total * 0.1

    with pytest.raises(ValueError, match="unknown fault"):
        build_world(SimState(seed=7, size=40, faults={"sync_dealy_seconds": 5}))
    with pytest.raises(ValueError, match="share"):
        build_world(SimState(seed=7, size=40, faults={"late_share": 2}))
    assert build_world(base).faults.as_dict()["sync_delay_seconds"] == 0


def _scan(node: Node, day: date, *items: Item) -> Scan:
    return Scan(node, day, f"{day}T03:10:00Z", items, "pb-1", "Active", f"{day}T03:10:00Z")


def _item(state: str, cves: str = "", installed: str = "") -> Item:
    status = STATUS_OF[state]
    return Item("openssl-libs.x86_64", "t", status, "HIGH", "Security", "Important", state, installed, cves, None)


def test_first_seen_missing_and_cve_history_follow_the_shared_definition(world):
    node = world.fleet.nodes[0]
    tracker = HistoryTracker()
    d = [date(2026, 11, 1) + timedelta(days=n) for n in range(7)]
    tracker.feed(d[0], {node.node_id: _scan(node, d[0], _item("Missing", "CVE-2026-1111"))})
    tracker.feed(d[1], {node.node_id: _scan(node, d[1], _item("Installed", installed="2026-11-02T12:00:00Z"))})
    tracker.feed(d[2], {node.node_id: _scan(node, d[2], _item("Failed", "CVE-2026-2222"))})
    tracker.feed(d[3], {node.node_id: None})  # absent: does not break the run
    tracker.feed(d[4], {node.node_id: _scan(node, d[4], _item("Missing", "CVE-2026-2222,CVE-2026-3333"))})
    assert tracker.run_start[(node.node_id, "openssl-libs.x86_64")] == d[2]
    tracker.feed(d[5], {node.node_id: _scan(node, d[5], _item("InstalledOther", installed="2026-11-06T12:00:00Z"))})
    assert (node.node_id, "openssl-libs.x86_64") not in tracker.run_start
    first = tracker.cves[("CVE-2026-1111", node.node_id, "openssl-libs.x86_64")]
    assert (first.first_seen_missing, first.last_seen_missing, first.first_seen_installed) == (d[0], d[0], d[1])
    assert first.installed_time == "2026-11-02T12:00:00Z" and first.current_state == "InstalledOther"
    second = tracker.cves[("CVE-2026-2222", node.node_id, "openssl-libs.x86_64")]
    assert (second.first_seen_missing, second.last_seen_missing, second.first_seen_installed) == (d[2], d[4], d[5])
    with pytest.raises(ValueError, match="ascending"):
        tracker.feed(d[0], {})


def test_ground_truth_statuses_and_summary(big_world):
    on = date(2026, 11, 26)
    dates = [on - timedelta(days=n) for n in range(20, -1, -1)]
    truth = ground_truth(big_world, on, dates)
    by_id = {r["instance_id"]: r for r in truth["instances"]}
    reference = max(datetime.fromisoformat(r["last_capture_time"].replace("Z", "+00:00"))
                    for r in truth["instances"] if r["last_capture_time"])
    for node in big_world.fleet.nodes:
        row = by_id.get(node.node_id)
        if not node.has_agent:
            assert node.is_hybrid or node.ec2_state(on) == "terminated" or row["status"] == "UNMANAGED"
            continue
        if node.terminate_date and node.terminate_date <= on:
            assert row["status"] == "TERMINATED" and row["in_population"] is False
            continue
        if node.stop_date and node.stop_date <= on:
            assert row["status"] == "STOPPED" and row["instance_status"] == "Stopped"
            continue
        last = datetime.fromisoformat(row["last_capture_time"].replace("Z", "+00:00"))
        if (reference - last).total_seconds() > 26 * 3600:
            assert row["status"] == "STALE"
            assert node.lost_date or node.stop_date
            assert row["instance_status"] == ("ConnectionLost" if node.lost_date and node.lost_date <= on
                                              else "Active")
        elif node.summary_only and node.patch_group is not None:
            assert row["status"] in ("NON_COMPLIANT", "NO_DATA") and row["non_compliant_items"] == 0
        elif node.patch_group is None or node.patch_group not in big_world.settings.scan.target_tag_values:
            assert row["status"] == "NO_DATA"  # not scanned: no group, or one the policy does not declare
        else:
            assert row["status"] in ("COMPLIANT", "NON_COMPLIANT")
    summary = truth["team_environment_summary"]
    population = [r for r in truth["instances"] if r["in_population"]]
    assert sum(r["instances"] for r in summary) == len(population)
    for row in summary:
        assert row["instances"] == sum(row[c] for c in ("compliant", "non_compliant", "stale", "no_data", "unmanaged",
                                                        "stopped"))
    assert any(r["team"] == "(untagged)" for r in summary)
    for row in truth["missing_critical_14d"]:
        assert row["age_basis"] == "first_seen_missing" and row["age_days"] >= 14
        assert date.fromisoformat(row["first_seen_missing"]) <= on - timedelta(days=14)
    assert truth["cve_history"] and all(CVE_RE.match(r["cve_id"]) for r in truth["cve_history"])
    installed = [r for r in truth["cve_history"] if r["first_seen_installed"]]
    assert installed and all(r["first_seen_installed"] > r["last_seen_missing"] for r in installed)


def test_cli_clock_faults_and_truth_export(tmp_path, capsys):
    from sim.__main__ import main

    state = str(tmp_path / "state.json")
    assert main(["--state", state, "set-date", "2026-10-22"]) == 0
    assert main(["--state", state, "advance", "--days", "2"]) == 0
    assert SimState.load(state).sim_date == date(2026, 10, 24)
    assert main(["--state", state, "set-date", "2026-13-01"]) == 2
    assert "not a calendar date" in capsys.readouterr().err
    assert main(["--state", state, "faults", "late_share=0.1", "sync_delay_seconds=5"]) == 0
    assert SimState.load(state).faults == {"late_share": 0.1, "sync_delay_seconds": 5.0}
    assert main(["--state", state, "faults", "bogus=1"]) == 2
    assert "unknown fault switches ['bogus']" in capsys.readouterr().err
    loaded = SimState.load(state)
    loaded.size = 40
    loaded.save()
    out = tmp_path / "truth.json"
    assert main(["--state", state, "truth", "--since", "2026-10-20", "--out", str(out)]) == 0
    truth = json.loads(out.read_text())
    assert truth["date"] == "2026-10-24" and len(truth["snapshot_dates"]) == 5
    assert set(truth) >= {"instances", "team_environment_summary", "missing_critical_14d", "cve_history",
                          "reference_time", "status_counts"}


def test_clean_fleet_has_no_defects_and_overrides_are_validated():
    from sim.fleet import CLEAN_FLEET

    clean = build_world(SimState(seed=7, size=40, fleet=CLEAN_FLEET))
    statuses = Counter(r["status"] for r in ground_truth(clean, DAY)["instances"])
    assert set(statuses) <= {"COMPLIANT", "NON_COMPLIANT", "UNMANAGED", "TERMINATED"}
    assert all(n.tag("Team") and n.tag("Environment") == n.tag("Environment").lower() and n.patch_group
               for n in clean.fleet.nodes)
    with pytest.raises(ValueError, match=r"unknown fleet settings \['missing_teams'\]"):
        build_world(SimState(seed=7, size=40, fleet={"missing_teams": 0}))
    with pytest.raises(ValueError, match="non-negative"):
        build_world(SimState(seed=7, size=40, fleet={"stopped": -1}))


def test_baseline_lists_rejections_and_approval_rules(big_world):
    from sim.baselines import Baseline, Rule, default_baseline, parse_weekly_cron

    node, update = _scenario(big_world, "prod")
    on = update.release_date + timedelta(days=30)
    default = default_baseline("prod", node.family)
    assert default.approval(update, node.family)[0] == update.release_date + timedelta(days=7)
    assert default.approval(update, "Ubuntu")[0] == update.release_date, "Ubuntu rules have no soak"
    until = Baseline("pb-until", "until", (Rule(None, None, None, update.release_date - timedelta(days=1)),))
    assert until.approval(update, node.family)[0] is None
    listed = Baseline("pb-listed", "listed", (), approved_patches=frozenset({update.patch_id}))
    assert listed.approval(update, node.family)[0] == update.release_date

    installed = item_for(big_world, node, on, update.patch_id)
    assert installed.state in ("Installed", "InstalledPendingReboot", "InstalledOther")
    for action, state, status in (("BLOCK", "InstalledRejected", "NON_COMPLIANT"),
                                  ("ALLOW_AS_DEPENDENCY", "InstalledOther", "COMPLIANT")):
        rejecting = Baseline("pb-rej", "rej", default.rules, rejected_patches=frozenset({update.patch_id}),
                             rejected_action=action)
        item = next(i for i in big_world.model.items(node, on, rejecting) if i.patch_id == update.patch_id)
        assert (item.state, item.status) == (state, status)
        assert item.installed_time == installed.installed_time

    # An edited baseline keeps its id: the next scan must use the new soak, not a cached approval.
    next_day = update.release_date + timedelta(days=1)
    soaked = next(i for i in big_world.model.items(node, next_day, default) if i.patch_id == update.patch_id)
    edited = Baseline(default.baseline_id, default.name, (replace(default.rules[0], approve_after_days=0),))
    fresh = next(i for i in big_world.model.items(node, next_day, edited) if i.patch_id == update.patch_id)
    assert soaked.title != update.title and (fresh.title, fresh.state) == (update.title, "Missing")

    assert parse_weekly_cron("cron(0 2 ? * SAT *)") == (5, 2, 0)
    assert parse_weekly_cron("cron(10 3 * * ? *)") is None


def test_local_sink_replaces_files_so_hard_linked_copies_keep_their_day(tmp_path):
    """The demo keeps each day's RDS tree as hard links; a later day's write must not reach into them."""
    key = "AWS:PatchSummary/accountid=111111111111/region=eu-west-1/resourcetype=ManagedInstanceInventory/i-0.json"
    sink = LocalSink(tmp_path / "rds")
    sink.put_many({key: b"day 1\n"})
    shutil.copytree(tmp_path / "rds", tmp_path / "kept-day-1", copy_function=os.link)
    assert sink.put_many({key: b"day 2\n"}) == 1
    assert (tmp_path / "rds" / key).read_bytes() == b"day 2\n"
    assert (tmp_path / "kept-day-1" / key).read_bytes() == b"day 1\n"
    assert not list((tmp_path / "rds").rglob("*.partial"))


def test_install_defects_show_in_the_items(big_world):
    """Failed installs stay Failed, deferred reboots stay pending, missed windows leave approved updates Missing."""
    world = build_world(SimState(seed=3, size=200, fleet={"failed_installs": 6, "deferred_reboots": 6,
                                                          "missed_windows": 6}))
    on = date(2026, 11, 26)

    def states(node) -> Counter:
        scan = world.model.view(node, on)
        return Counter(i.state for i in scan.items or ()) if scan else Counter()

    scanned = [n for n in world.fleet.nodes if n.has_agent and world.model.is_scanned(n) and world.model.view(n, on)
               and world.model.node_windows(n)]
    failing = [n for n in scanned if n.fails_installs]
    assert failing and all(states(n)["Failed"] and not states(n)["InstalledPendingReboot"] for n in failing)
    deferring = [n for n in scanned if n.defers_reboot]
    assert deferring and all(states(n)["InstalledPendingReboot"] and not states(n)["Failed"] for n in deferring)
    missing = [n for n in scanned if n.misses_windows]
    assert missing and all(states(n)["Missing"] and not states(n)["Failed"] for n in missing)
    # Nothing installed by a window on them: every installed item dates from their image.
    for node in missing:
        scan = world.model.view(node, on)
        installed = {i.installed_time for i in scan.items if i.state == "Installed"}
        assert len(installed) <= 1, installed


def test_a_drifted_baseline_approves_at_release_and_history_records_it(big_world):
    from sim.baselines import default_baseline
    from sim.baselines_in_force import baselines_table

    world = build_world(SimState(seed=3, size=200, fleet={"drifted_baselines": 1}))
    ((account, baseline_id),) = world.model.drifted
    node = next(n for n in world.fleet.nodes if n.account_id == account and n.has_agent and n.patch_group
                and world.model.is_scanned(n) and world.model.scan_baseline(n).baseline_id == baseline_id)
    declared = default_baseline("prod", node.family)
    assert declared.baseline_id == baseline_id and world.model.scan_baseline(node).source == "drifted"
    update = next(u for chain in world.catalog.updates[node.family].values() for u in chain
                  if u.classification not in ("Security", "SecurityUpdates", "CriticalUpdates"))
    assert declared.approval(update, node.family)[0] is None  # prod approves security only ...
    assert world.model.scan_baseline(node).approval(update, node.family)[0] == update.release_date  # ... not now
    rows = baselines_table(world, date(2026, 11, 26)).to_pylist()
    assert {(r["account_id"], r["baseline_id"]) for r in rows if r["drift"] == "drifted"} == {(account, baseline_id)}
    assert {r["drift"] for r in rows} == {"in_sync", "drifted"}
