"""Real Resource Data Sync semantics: stopped and ConnectionLost nodes, summary-only nodes, keys in any
case, timestamps that do not parse, freshness from patch data, CVE id lists.

Inputs are AWS's documented examples laid out as RDS writes them (tests/aws_doc_examples.py) plus
crafted cases; every expected value below is worked out by hand from those inputs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from patch_compliance.config import Settings, load_settings
from patch_compliance.ingest import ingest_snapshot
from patch_compliance.lake import Lake
from patch_compliance.quality import validate_snapshot
from tests.fixtures import aws_doc_examples as docs
from tests.fixtures.rds_fixtures import info, item, line, summary, write_node, write_object

DAY = date(2026, 11, 2)
REFERENCE = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)
FRESH = "2026-11-02T03:10:04Z"
OLD = "2026-10-30T01:00:00Z"  # 75 h before the reference: stale
NODE = {name: f"i-{n:017x}" for n, name in enumerate((
    "stopped", "lost", "summary_only", "summary_clean", "mismatch", "upper_keys", "stale_fresh_info",
    "fresh_old_info", "bad_times", "json_cves", "wrong_instance_id"), start=0x100)}


def test_aws_documented_examples_read_as_documented(tmp_path: Path) -> None:
    root = tmp_path / "rds"
    # DescribeInstancePatchStates' example, no item lines: MissingCount 1 + FailedCount 2 say non-compliant.
    write_object(root, "AWS:PatchSummary", docs.PATCH_STATE_INSTANCE, [docs.raw_line({
        **docs.PATCH_STATE_EXAMPLE, "resourceId": docs.PATCH_STATE_INSTANCE, "captureTime": "",
        "schemaVersion": "1.0"})])
    # DescribeInstancePatches' example items on a second node.
    patched = "i-00000000000000abc"
    write_object(root, "AWS:ComplianceItem", patched,
                 [line(patched, docs.rds_item(p), FRESH) for p in docs.INSTANCE_PATCHES_EXAMPLE])
    # GetInventory's example: no resourceId, CaptureTime capitalised, the node named by InstanceId.
    listed = docs.INVENTORY_EXAMPLE["InstanceId"]
    write_object(root, "AWS:InstanceInformation", listed, [docs.raw_line({
        **docs.INVENTORY_EXAMPLE, "CaptureTime": docs.INVENTORY_CAPTURE, "SchemaVersion": "1.0"})])

    lake = Lake(str(tmp_path / "lake"))
    manifest = ingest_snapshot(str(root), lake.uri, DAY, reference_time=datetime(2021, 5, 3, 19, 0, tzinfo=UTC))
    assert manifest["quarantined_lines"] == 0
    instances = {r["instance_id"]: r for r in lake.read("instances").to_pylist()}

    state = instances[docs.PATCH_STATE_INSTANCE]
    assert (state["compliance_status"], state["status_basis"]) == ("NON_COMPLIANT", "summary")
    assert state["summary_non_compliant_count"] == 3 and state["patch_items"] == 0
    # captureTime is empty, so freshness falls back to OperationEndTime, normalised from -07:00 to UTC.
    assert state["last_capture_time"] == datetime(2021, 5, 3, 18, 1, 9, tzinfo=UTC)
    assert state["capture_basis"] == "operation_end_time"
    assert state["operation_start_time"] == datetime(2021, 5, 3, 18, 0, 56, tzinfo=UTC)

    items = {r["patch_id"]: r for r in lake.read("patch_compliance").to_pylist()}
    assert items["KB4480979"]["installed_time"] == datetime(2019, 1, 9, tzinfo=UTC)
    assert items["KB4481031"]["patch_state"] == "InstalledOther" and items["KB4481031"]["classification"] is None
    assert instances[patched]["compliance_status"] == "COMPLIANT"

    inventory = instances[listed]
    assert inventory["compliance_status"] == "NO_DATA"
    assert inventory["computer_name"] == "ip-172-31-44-222.us-west-2.compute.internal"
    assert inventory["info_capture_time"] == datetime(2017, 2, 20, 18, 3, 58, tzinfo=UTC)
    assert inventory["last_capture_time"] is None  # instance information never stands in for patch data


@pytest.fixture(scope="module")
def semantics(tmp_path_factory) -> tuple[Lake, dict, dict[str, dict]]:
    tmp = tmp_path_factory.mktemp("semantics")
    root = tmp / "rds"
    missing = [item("openssl-libs.x86_64", "Missing", "NON_COMPLIANT", cves="CVE-2026-0101")]
    write_node(root, NODE["stopped"], items=missing, status="Stopped", capture=OLD)
    write_node(root, NODE["lost"], items=[item("vim.x86_64", "Installed", "COMPLIANT")], status="ConnectionLost",
               capture=OLD, with_summary=False)
    # No AWS:ComplianceItem object: only the summary speaks (MissingCount "1" in rds_fixtures.summary).
    write_object(root, "AWS:PatchSummary", NODE["summary_only"], [line(NODE["summary_only"], summary(), FRESH)])
    write_object(root, "AWS:PatchSummary", NODE["summary_clean"],
                 [line(NODE["summary_clean"], summary(MissingCount="0"), FRESH)])
    # Items say one Missing, the summary says three: a warning, the items decide the status.
    write_node(root, NODE["mismatch"], items=missing, with_summary=False)
    write_object(root, "AWS:PatchSummary", NODE["mismatch"],
                 [line(NODE["mismatch"], summary(MissingCount="3"), FRESH)])
    # Envelope keys in another case (as Glue or some tools write them).
    upper = {**item("curl.x86_64", "Missing", "NON_COMPLIANT"), "ResourceId": NODE["upper_keys"],
             "CaptureTime": FRESH, "SchemaVersion": "1.0"}
    write_object(root, "AWS:ComplianceItem", NODE["upper_keys"], [docs.raw_line(upper)])
    # Patch data 75 h old, instance information refreshed today: still STALE.
    write_node(root, NODE["stale_fresh_info"], items=[item("vim.x86_64", "Installed", "COMPLIANT")], capture=OLD,
               with_summary=False)
    write_object(root, "AWS:InstanceInformation", NODE["stale_fresh_info"],
                 [line(NODE["stale_fresh_info"], info(NODE["stale_fresh_info"]), FRESH)])
    # Fresh patch data, instance information from days ago: not stale.
    write_node(root, NODE["fresh_old_info"], items=[item("vim.x86_64", "Installed", "COMPLIANT")],
               with_summary=False)
    write_object(root, "AWS:InstanceInformation", NODE["fresh_old_info"],
                 [line(NODE["fresh_old_info"], info(NODE["fresh_old_info"]), OLD)])
    # Timestamps that are not ISO-8601: an epoch, an RFC 1123 date, garbage, a date without a zone.
    bad = [item("a.x86_64", "Installed", "COMPLIANT", installed="Mon, 02 Nov 2026 03:10:04 GMT",
                ExecutionTime="1700000000"),
           item("b.x86_64", "Installed", "COMPLIANT", installed="2026-11-01 02:00:00")]
    write_object(root, "AWS:ComplianceItem", NODE["bad_times"],
                 [line(NODE["bad_times"], bad[0], FRESH), line(NODE["bad_times"], bad[1], "garbage")])
    json_cves = item("c.x86_64", "Missing", "NON_COMPLIANT",
                     cves='["CVE-2026-0102", "cve-2026-0101", "CVE-2026-0102"]')
    write_node(root, NODE["json_cves"], items=[json_cves])
    # An InstanceInformation line naming another node by InstanceId (no resourceId): quarantined.
    other = {**info("i-0000000000000ffff"), "captureTime": FRESH, "schemaVersion": "1.0"}
    write_object(root, "AWS:InstanceInformation", NODE["wrong_instance_id"], [docs.raw_line(other)])

    for name in ("lost", "stale_fresh_info", "fresh_old_info"):  # their one item is Installed
        capture = FRESH if name == "fresh_old_info" else OLD
        write_object(root, "AWS:PatchSummary", NODE[name], [line(NODE[name], summary(MissingCount="0"), capture)])

    lake = Lake(str(tmp / "lake"))
    settings = Settings(ingest=load_settings().ingest.__class__(max_quarantine_share=0.1))  # one line of 30
    manifest = ingest_snapshot(str(root), lake.uri, DAY, reference_time=REFERENCE, settings=settings)
    instances = {r["instance_id"]: r for r in lake.read("instances").to_pylist()}
    return lake, manifest, instances


def test_stopped_and_connection_lost_nodes(semantics) -> None:
    lake, manifest, instances = semantics
    stopped = instances[NODE["stopped"]]
    # Stale and non-compliant by its data, but stopped: reported with its last known state.
    assert (stopped["compliance_status"], stopped["patch_status"], stopped["in_population"]) == (
        "STOPPED", "STALE", True)
    assert manifest["status_counts"]["STOPPED"] == 1
    items = lake.read("patch_compliance").to_pylist()
    assert [r["patch_id"] for r in items if r["instance_id"] == NODE["stopped"]] == ["openssl-libs.x86_64"]
    lost = instances[NODE["lost"]]
    assert (lost["compliance_status"], lost["instance_status"]) == ("STALE", "ConnectionLost")


def test_summary_speaks_when_there_are_no_items(semantics) -> None:
    _, manifest, instances = semantics
    only = instances[NODE["summary_only"]]
    assert (only["compliance_status"], only["status_basis"], only["summary_non_compliant_count"]) == (
        "NON_COMPLIANT", "summary", 1)
    clean = instances[NODE["summary_clean"]]  # a summary with nothing missing proves nothing: NO_DATA
    assert (clean["compliance_status"], clean["status_basis"]) == ("NO_DATA", None)
    mismatch = instances[NODE["mismatch"]]
    assert (mismatch["compliance_status"], mismatch["status_basis"], mismatch["summary_items_mismatch"]) == (
        "NON_COMPLIANT", "items", True)
    assert [k for k, v in instances.items() if v["summary_items_mismatch"]] == [NODE["mismatch"]]
    assert manifest["summary_items_mismatches"] == 1


def test_keys_in_any_case_and_instance_id_as_node(semantics) -> None:
    lake, manifest, instances = semantics
    upper = instances[NODE["upper_keys"]]
    assert (upper["compliance_status"], upper["last_capture_time"]) == (
        "NON_COMPLIANT", datetime(2026, 11, 2, 3, 10, 4, tzinfo=UTC))
    quarantine = lake.read("quarantine").to_pylist()
    assert [(q["source_key"].rsplit("/", 1)[-1], q["error"]) for q in quarantine] == [
        (f"{NODE['wrong_instance_id']}.json",
         f"resourceId 'i-0000000000000ffff' does not match the object's node {NODE['wrong_instance_id']!r}")]
    assert manifest["quarantined_lines"] == 1


def test_freshness_comes_from_patch_data_only(semantics) -> None:
    _, _, instances = semantics
    stale = instances[NODE["stale_fresh_info"]]
    assert (stale["compliance_status"], stale["last_capture_time"], stale["info_capture_time"]) == (
        "STALE", datetime(2026, 10, 30, 1, tzinfo=UTC), datetime(2026, 11, 2, 3, 10, 4, tzinfo=UTC))
    fresh = instances[NODE["fresh_old_info"]]
    assert (fresh["compliance_status"], fresh["capture_basis"]) == ("COMPLIANT", "capture_time")
    # The item whose captureTime is garbage falls back to the other line's capture (max over the items).
    assert instances[NODE["bad_times"]]["capture_basis"] == "capture_time"


def test_timestamps_that_do_not_parse_are_counted_and_kept(semantics) -> None:
    lake, manifest, instances = semantics
    assert manifest["invalid_timestamps"] == {
        "AWS:ComplianceItem": {"ExecutionTime": 1, "InstalledTime": 2, "captureTime": 1}}
    rows = sorted((r["field"], r["raw_value"], r["line_number"]) for r in lake.read("invalid_values").to_pylist())
    assert rows == [("ExecutionTime", "1700000000", 1), ("InstalledTime", "2026-11-01 02:00:00", 2),
                    ("InstalledTime", "Mon, 02 Nov 2026 03:10:04 GMT", 1), ("captureTime", "garbage", 2)]
    assert {r["instance_id"] for r in lake.read("invalid_values").to_pylist()} == {NODE["bad_times"]}
    assert instances[NODE["bad_times"]]["invalid_timestamps"] == 4
    items = [r for r in lake.read("patch_compliance").to_pylist() if r["instance_id"] == NODE["bad_times"]]
    assert all(r["installed_time"] is None for r in items)
    assert sum(r["invalid_timestamps"] for r in instances.values()) == 4


def test_cve_ids_from_a_json_array_string(semantics) -> None:
    lake, _, _ = semantics
    (row,) = [r for r in lake.read("patch_compliance").to_pylist() if r["instance_id"] == NODE["json_cves"]]
    assert row["cve_ids"] == ["CVE-2026-0101", "CVE-2026-0102"]


def test_data_quality_warns_and_names_the_nodes(semantics) -> None:
    lake, _, _ = semantics
    result = validate_snapshot(lake.uri, DAY, reference_time=REFERENCE)
    warned = {c.description.split(" ")[0]: c for c in result.warnings}
    assert {"AWS:PatchSummary's", "every"} <= set(warned)
    named = {o["instance_id"]: o["problems"] for o in result.offenders}
    assert any("AWS:PatchSummary" in p for p in named[NODE["mismatch"]])
    assert any("ISO-8601" in p for p in named[NODE["bad_times"]])
    assert NODE["stopped"] not in named  # a stopped node is not expected to scan
