"""Data quality over the fleet simulator: its fault switches, through RDS JSON, ingest and GX."""

from __future__ import annotations

from datetime import date

import pytest

from patch_compliance.lake import Lake
from patch_compliance.messages import quality_alert_blocks, quality_alert_text
from patch_compliance.notify import send_slack
from patch_compliance.quality import validate_snapshot
from sim.history import build_history
from sim.state import SimState, build_world
from tests.fixtures.slack_receiver import slack_webhook  # noqa: F401  (fixture)

pytestmark = pytest.mark.xdist_group("quality")

YESTERDAY, TODAY = date(2026, 11, 1), date(2026, 11, 2)
TEAM_CHECK = "Team tag on at least quality.tag_coverage_min of active instances"
MANAGED_CHECK = "at least quality.managed_share_min of EC2 instances report to Patch Manager"


def test_simulator_faults_drop_team_and_silent_hosts(tmp_path, slack_webhook):  # noqa: F811
    lake = str(tmp_path / "lake")
    before = build_world(SimState(seed=42, size=150, sim_date=YESTERDAY))
    build_history(before, 1, YESTERDAY, lake, tmp_path / "day1", progress=lambda _m: None)
    after = build_world(SimState(seed=42, size=150, sim_date=TODAY,
                                 faults={"drop_team_share": 0.03, "silent_share": 0.2}))
    build_history(after, 1, TODAY, lake, tmp_path / "day2", progress=lambda _m: None)

    team_before = {n.node_id: n.tag("Team") for n in before.fleet.nodes}
    dropped = {n.node_id for n in after.fleet.nodes if team_before[n.node_id] and not n.tag("Team")}
    silent = {n.node_id for n in after.fleet.nodes if n.has_agent and after.model.is_silent(n)}
    assert dropped and silent
    in_lake = set(Lake(lake).read("instances", [TODAY], columns=["instance_id"])["instance_id"].to_pylist())
    visible_dropped = dropped & in_lake
    assert visible_dropped and not silent & in_lake

    result = validate_snapshot(lake, TODAY)
    assert not result.success
    checks = {c.description: c for c in result.checks}
    team = checks[TEAM_CHECK]
    assert not team.success and team.severity == "warning"
    # Every flagged host really lacks the tag, and every host that lost it to the fault is flagged.
    untagged_today = {n.node_id for n in after.fleet.nodes if not n.tag("Team")}
    assert set(team.offending) <= untagged_today and visible_dropped <= set(team.offending)
    owners = {o["instance_id"]: o for o in result.offenders}
    for instance_id in visible_dropped:
        assert owners[instance_id]["team"] == team_before[instance_id]
        assert owners[instance_id]["team_source"] == f"Team tag on {YESTERDAY}"
    # Silent hosts never report: the inventory shows them unmanaged (a warning), and the fleet shrank.
    managed = checks[MANAGED_CHECK]
    assert not managed.success and managed.severity == "warning"
    running_silent = {n.node_id for n in after.fleet.nodes
                      if n.node_id in silent and not n.is_hybrid and n.ec2_state(TODAY) != "terminated"}
    assert running_silent <= set(managed.offending)
    assert not checks["instance count within ±quality.max_instance_count_change of the previous snapshot"].success

    send_slack(quality_alert_text(result), quality_alert_blocks(result))
    [request] = slack_webhook.wait_for(1)
    text = request.text_content()
    assert TEAM_CHECK in text and MANAGED_CHECK in text
    for instance_id in visible_dropped:
        line = next(line for line in text.splitlines() if instance_id in line)
        assert f"*{team_before[instance_id]}*" in line
