"""Ingest: every RDS type and edge of the data contract, statuses, atomicity, quarantine, S3."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from patch_compliance.aws import storage_access
from patch_compliance.config import Settings, TagKeys, load_settings
from patch_compliance.ingest import QuarantineThresholdError, SourceError, ingest_snapshot
from patch_compliance.inputs import InputError
from patch_compliance.lake import Lake
from tests.fixtures.rds_fixtures import ACCOUNT, REGION, info, item, line, tags, write_node, write_object

DAY = date(2026, 11, 2)
NODES = {
    "compliant": "i-0000000000000000a",
    "noncompliant": "i-0000000000000000b",
    "stale": "i-0000000000000000c",
    "nodata": "i-0000000000000000d",
    "terminated": "i-0000000000000000e",
    "hybrid": "mi-0123456789abcdef0",
    "only_na": "i-0000000000000000f",
}


def build_tree(root: Path) -> None:
    write_node(root, NODES["compliant"],
               node_tags=tags(Team="payments", Environment="prod", PatchGroup="prod-linux", Name="pay-1",
                              Owner="alice"),
               items=[item("kernel.x86_64", "Installed", "COMPLIANT", installed="2026-10-20T02:05:00Z"),
                      item("KB000001", "NotApplicable", "", classification="", severity="")])
    write_node(root, NODES["noncompliant"], node_tags=tags(Team="search", Environment="prod",
                                                            Patch_Group="prod-linux"),
               items=[item("openssl-libs.x86_64", "MISSING", "NON_COMPLIANT", cves="CVE-2026-0101,CVE-2026-0102"),
                      item("curl.x86_64", "Failed", "NON_COMPLIANT", cves="CVE-2026-0200 cve-2026-0201",
                           severity="Critical"),
                      item("bash.x86_64", "InstalledOther", "COMPLIANT", classification="", severity="")])
    write_node(root, NODES["stale"], node_tags=tags(Team="search", Environment="dev"),
               items=[item("vim.x86_64", "Installed", "COMPLIANT")], capture="2026-10-31T01:00:00Z")
    write_node(root, NODES["nodata"], node_tags=tags(Environment="staging"))  # untagged team, no scan yet
    write_node(root, NODES["terminated"], node_tags=tags(Team="search", Environment="prod"), status="Terminated",
               items=[item("vim.x86_64", "Missing", "NON_COMPLIANT")])
    write_node(root, NODES["hybrid"], node_tags=tags(Team="ops", Environment="prod"),
               items=[item("KB5034441", "Installed", "COMPLIANT", classification="SecurityUpdates",
                           severity="Critical")])
    write_node(root, NODES["only_na"], node_tags=tags(Team="ops", Environment="dev"),
               items=[item("KB1", "NotApplicable", "")])
    # Things that must be skipped or ignored, never crash the reader:
    probe = root / "AWS:InstanceInformation" / f"accountid={ACCOUNT}" / "test.json"
    probe.write_text("{}\n")
    (root / "README.txt").write_text("not RDS\n")
    write_object(root, "AWS:Application", NODES["compliant"], [line(NODES["compliant"], {"Name": "nginx"})])
    write_object(root, "AWS:ComplianceItem", "i-00000000000000010", [
        line("i-00000000000000010", {"ComplianceType": "Association", "Id": "assoc", "Status": "COMPLIANT"})])


def lake_rows(lake: Lake, table: str) -> dict[str, list[dict]]:
    rows = lake.read(table).to_pylist()
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["instance_id"], []).append(row)
    return grouped


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "rds"
    build_tree(root)
    return root


def test_every_type_is_typed_per_contract(tree: Path, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    manifest = ingest_snapshot(str(tree), lake.uri, DAY)
    items = lake_rows(lake, "patch_compliance")

    missing = next(r for r in items[NODES["noncompliant"]] if r["patch_id"] == "openssl-libs.x86_64")
    assert missing["patch_state"] == "Missing"  # UPPER_SNAKE accepted
    assert missing["cve_ids"] == ["CVE-2026-0101", "CVE-2026-0102"]
    assert missing["capture_time"] == datetime(2026, 11, 2, 3, 10, 4, tzinfo=UTC)
    assert missing["execution_time"] == datetime(2026, 11, 2, 3, 10, tzinfo=UTC)
    assert missing["installed_time"] is None  # "" -> null
    assert (missing["team"], missing["environment"], missing["patch_group"]) == ("search", "prod", "prod-linux")
    assert missing["scan_patch_group"] == "prod-linux"
    assert dict(missing["tags"]) == {"Team": "search", "Environment": "prod", "Patch Group": "prod-linux"}
    assert (missing["snapshot_date"], missing["account_id"], missing["region"]) == (DAY, ACCOUNT, REGION)
    assert missing["platform_type"] == "Linux" and missing["resource_type"] == "EC2Instance"
    failed = next(r for r in items[NODES["noncompliant"]] if r["patch_id"] == "curl.x86_64")
    assert failed["cve_ids"] == ["CVE-2026-0200", "CVE-2026-0201"]  # whitespace separator, case folded
    installed = next(r for r in items[NODES["compliant"]] if r["patch_id"] == "kernel.x86_64")
    assert installed["installed_time"] == datetime(2026, 10, 20, 2, 5, tzinfo=UTC)
    assert dict(installed["tags"])["Owner"] == "alice"  # every tag kept, not only the known ones
    na = next(r for r in items[NODES["compliant"]] if r["patch_state"] == "NotApplicable")
    assert na["status"] is None and na["classification"] is None
    assert items[NODES["hybrid"]][0]["resource_type"] == "ManagedInstance"
    assert "i-00000000000000010" not in items  # non-Patch compliance types filtered

    instances = {r["instance_id"]: r for r in lake.read("instances").to_pylist()}
    summary = instances[NODES["noncompliant"]]
    assert summary["missing_count"] == 1 and summary["unreported_not_applicable_count"] == -1
    assert summary["operation_type"] == "Scan" and summary["ssm_snapshot_id"] == "snap-guid"
    assert summary["operation_end_time"] == datetime(2026, 11, 2, 3, 10, tzinfo=UTC)
    assert summary["summary_status"] == "NON_COMPLIANT"
    assert summary["platform_name"] == "Amazon Linux" and summary["agent_version"] == "3.3.1.0"

    # The probe, the README and AWS:Application are not node objects of ingested types.
    assert manifest["source"]["skipped_keys"] == 2
    assert manifest["source"]["other_types"] == {"AWS:Application": 1}
    assert manifest["quarantined_lines"] == 0


def test_instance_status_follows_report_definitions(tree: Path, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    manifest = ingest_snapshot(str(tree), lake.uri, DAY)
    instances = {r["instance_id"]: r for r in lake.read("instances").to_pylist()}
    expected = {
        NODES["compliant"]: ("COMPLIANT", True, 1, 0),  # NotApplicable item ignored
        NODES["noncompliant"]: ("NON_COMPLIANT", True, 3, 2),
        NODES["stale"]: ("STALE", True, 1, 0),  # captured 50 h before the newest capture
        NODES["nodata"]: ("NO_DATA", True, 0, 0),
        NODES["terminated"]: ("NON_COMPLIANT", False, 1, 1),  # kept, out of the population
        NODES["hybrid"]: ("COMPLIANT", True, 1, 0),
        NODES["only_na"]: ("NO_DATA", True, 0, 0),
        "i-00000000000000010": ("NO_DATA", True, 0, 0),
    }
    actual = {k: (v["compliance_status"], v["in_population"], v["patch_items"], v["non_compliant_items"])
              for k, v in instances.items()}
    assert actual == expected
    assert instances[NODES["nodata"]]["team"] is None and instances[NODES["nodata"]]["environment"] == "staging"
    assert instances[NODES["stale"]]["is_stale"] is True
    assert instances[NODES["compliant"]]["reference_time"] == datetime(2026, 11, 2, 3, 10, 4, tzinfo=UTC)
    assert manifest["status_counts"] == {"COMPLIANT": 2, "NON_COMPLIANT": 1, "STALE": 1, "NO_DATA": 3, "STOPPED": 0}
    assert manifest["terminated"] == 1


def test_reference_time_can_make_everything_stale(tree: Path, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    ingest_snapshot(str(tree), lake.uri, DAY, reference_time=datetime(2026, 11, 4, 12, tzinfo=UTC))
    statuses = {r["instance_id"]: r["compliance_status"] for r in lake.read("instances").to_pylist()}
    assert statuses[NODES["compliant"]] == "STALE" and statuses[NODES["noncompliant"]] == "STALE"
    assert statuses[NODES["nodata"]] == "NO_DATA"


def test_tag_keys_are_configurable(tree: Path, tmp_path: Path) -> None:
    settings = Settings(tags=TagKeys(team=("Owner", "Team")))
    lake = Lake(str(tmp_path / "lake"))
    ingest_snapshot(str(tree), lake.uri, DAY, settings=settings)
    teams = {r["instance_id"]: r["team"] for r in lake.read("instances").to_pylist()}
    assert teams[NODES["compliant"]] == "alice" and teams[NODES["noncompliant"]] == "search"


def test_url_encoded_colons_are_accepted(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    node = "i-0123456789abcdef0"
    for rds_type, record in [("AWS:ComplianceItem", item("kernel", "Installed", "COMPLIANT")),
                             ("AWS:Tag", {"Key": "Team", "Value": "web"}),
                             ("AWS:InstanceInformation", info(node))]:
        write_object(root, rds_type, node, [line(node, record)], type_dir=rds_type.replace(":", "%3A"))
    lake = Lake(str(tmp_path / "lake"))
    ingest_snapshot(str(root), lake.uri, DAY)
    (row,) = lake.read("instances").to_pylist()
    assert (row["instance_id"], row["team"], row["compliance_status"]) == (node, "web", "COMPLIANT")


def test_rerun_supersedes_and_keeps_the_old_version_by_time_travel(tree: Path, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    first = ingest_snapshot(str(tree), lake.uri, DAY)
    write_node(tree, "i-00000000000000099", node_tags=tags(Team="x"), items=[item("zsh", "Missing", "NON_COMPLIANT")])
    second = ingest_snapshot(str(tree), lake.uri, DAY)
    assert first["run_id"] != second["run_id"]
    assert lake.snapshot_dates() == [DAY]
    assert lake.manifest(DAY)["run_id"] == second["run_id"]
    ids = lake.read("patch_compliance").column("patch_id").to_pylist()
    assert len(ids) == second["tables"]["patch_compliance"]["rows"] == 10 and "zsh" in ids  # replaced, not added
    # The superseded version stays readable at its own Iceberg snapshot until retention expires it.
    old = lake.record_of_run(DAY, "ingest", first["run_id"])
    assert sorted(lake.read("patch_compliance", records=[old]).column("patch_id").to_pylist()) == sorted(
        i for i in ids if i != "zsh")
    history = [s.snapshot_id for s in lake.table("patch_compliance").metadata.snapshots]
    assert old.tables["patch_compliance"]["iceberg_snapshot_id"] in history


def test_day_record_checksums_match_files(tree: Path, tmp_path: Path) -> None:
    import hashlib

    lake = Lake(str(tmp_path / "lake"))
    manifest = ingest_snapshot(str(tree), lake.uri, DAY)
    assert Lake(lake.uri).manifest(DAY) == manifest  # what was returned is what the snapshots table holds
    for table in ("patch_compliance", "instances"):
        for entry in manifest["tables"][table]["files"]:
            path = lake.fs_path(entry["path"])
            assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == entry["sha256"]
            assert pq.read_metadata(path).num_rows == entry["rows"]
    assert manifest["source"]["objects"] == 33


def test_crash_before_commit_keeps_previous_snapshot(tree: Path, tmp_path: Path, monkeypatch) -> None:
    from patch_compliance.lake import DayWriter

    lake = Lake(str(tmp_path / "lake"))
    ingest_snapshot(str(tree), lake.uri, DAY)
    before = sorted(map(str, lake.read("patch_compliance").column("patch_id").to_pylist()))

    # The next day's source changes, and the run dies after writing data files, before its commit.
    write_node(tree, "i-00000000000000099", node_tags=tags(Team="x"), items=[item("zsh", "Missing", "NON_COMPLIANT")])

    def commit(self, details):
        raise OSError("simulated crash before the commit")

    monkeypatch.setattr(DayWriter, "commit", commit)
    with pytest.raises(OSError, match="simulated crash"):
        ingest_snapshot(str(tree), lake.uri, DAY)
    monkeypatch.undo()
    after = sorted(map(str, Lake(lake.uri).read("patch_compliance").column("patch_id").to_pylist()))
    assert after == before and "zsh" not in after


def test_orphans_of_a_killed_run_stay_invisible_until_housekeeping(tree: Path, tmp_path: Path) -> None:
    from datetime import timedelta

    from patch_compliance.lake import housekeeping

    lake = Lake(str(tmp_path / "lake"))
    ingest_snapshot(str(tree), lake.uri, DAY)
    rows = lake.read("patch_compliance").num_rows
    # A run killed mid-write leaves data files no Iceberg snapshot references.
    committed = Path(lake.fs_path(lake.committed_files("patch_compliance", [DAY])[0]))
    orphan = committed.with_name("19990101T000000-deadbeef-00001.parquet")
    orphan.write_bytes(committed.read_bytes())
    assert Lake(lake.uri).read("patch_compliance").num_rows == rows
    kept = housekeeping(lake)  # inside the grace period: an in-flight writer's file is never touched
    assert orphan.exists() and kept.orphan_files_removed["patch_compliance"] == 0
    result = housekeeping(lake, orphan_grace=timedelta(0))
    assert not orphan.exists() and result.orphan_files_removed["patch_compliance"] == 1
    assert committed.exists() and Lake(lake.uri).read("patch_compliance").num_rows == rows


def test_malformed_lines_are_quarantined_and_counted(tree: Path, tmp_path: Path) -> None:
    node = NODES["noncompliant"]
    path = next(tree.glob(f"AWS:ComplianceItem/*/*/*/{node}.json"))
    good = path.read_text().splitlines()
    path.write_text("\n".join([good[0], '{"ComplianceType": "Patch", "Id": ', good[1], "", good[2],
                               '{"ComplianceType":"Patch","Id":"x","resourceId":"i-0ffffffffffffffff"}']) + "\n")
    settings = Settings(ingest=load_settings().ingest.__class__(max_quarantine_share=0.2))
    lake = Lake(str(tmp_path / "lake"))
    manifest = ingest_snapshot(str(tree), lake.uri, DAY, settings=settings)
    quarantined = sorted(lake.read("quarantine").to_pylist(), key=lambda r: r["line_number"])
    assert [(q["line_number"], q["raw_line"]) for q in quarantined] == [
        (2, '{"ComplianceType": "Patch", "Id": '),
        (6, '{"ComplianceType":"Patch","Id":"x","resourceId":"i-0ffffffffffffffff"}')]
    assert quarantined[0]["error"].startswith("invalid JSON")
    assert "does not match" in quarantined[1]["error"]
    assert all(q["source_key"].endswith(f"{node}.json") for q in quarantined)
    assert manifest["quarantined_lines"] == 2
    # The good lines around them were kept.
    ids = {r["patch_id"] for r in lake.read("patch_compliance").to_pylist() if r["instance_id"] == node}
    assert ids == {"openssl-libs.x86_64", "curl.x86_64", "bash.x86_64"}


def test_too_many_malformed_lines_fail_without_publishing(tree: Path, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    path = next(tree.glob(f"AWS:ComplianceItem/*/*/*/{NODES['compliant']}.json"))
    path.write_text(path.read_text() + "not json\n" * 5)
    with pytest.raises(QuarantineThresholdError, match=r"5 of \d+ lines .* above the allowed 1\.00%"):
        ingest_snapshot(str(tree), lake.uri, DAY)
    assert lake.snapshot_dates() == []
    assert not list((tmp_path / "lake").rglob("*.parquet"))  # the aborted run cleaned up


def test_non_string_values_and_unknown_fields_do_not_crash(tmp_path: Path) -> None:
    root = tmp_path / "rds"
    node = "i-0123456789abcdef0"
    record = {**item("kernel", "Missing", "NON_COMPLIANT"), "NewField": {"nested": 1}}
    write_object(root, "AWS:ComplianceItem", node, [line(node, record)])
    summary_line = json.dumps({"MissingCount": 5, "OperationType": "Scan", "resourceId": node,
                               "captureTime": "2026-11-02T03:10:04Z", "schemaVersion": "1.0"})
    write_object(root, "AWS:PatchSummary", node, [summary_line])
    lake = Lake(str(tmp_path / "lake"))
    ingest_snapshot(str(root), lake.uri, DAY)
    (row,) = lake.read("instances").to_pylist()
    assert row["missing_count"] == 5 and row["compliance_status"] == "NON_COMPLIANT"


def test_empty_or_missing_source_names_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    expected = r"no Resource Data Sync objects under .*empty.*AWS:ComplianceItem/accountid="
    with pytest.raises(SourceError, match=expected):
        ingest_snapshot(str(tmp_path / "empty"), str(tmp_path / "lake"), DAY)
    with pytest.raises(SourceError, match="no Resource Data Sync objects"):
        ingest_snapshot(str(tmp_path / "absent"), str(tmp_path / "lake"), DAY)


@pytest.mark.parametrize("uri", ["s3://A_bad_bucket/x", "s3://bucket/../etc", "http://example.com/x", ""])
def test_bad_uris_are_rejected(uri: str, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        ingest_snapshot(uri, str(tmp_path / "lake"), DAY)


def test_same_data_from_moto_s3_over_http(tree: Path, tmp_path: Path, aws_env) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_env.endpoint_url)
    for bucket in ("rds-sync-test", "lake-test"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for path in tree.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), "rds-sync-test", f"sync/{path.relative_to(tree).as_posix()}")

    local = Lake(str(tmp_path / "lake"))
    ingest_snapshot(str(tree), local.uri, DAY)
    access = storage_access(aws_env.endpoint_url)
    remote = Lake("s3://lake-test/lake", access)
    manifest = ingest_snapshot("s3://rds-sync-test/sync", remote.uri, DAY, access=access)

    def canonical(lake: Lake, table: str) -> list[str]:
        return sorted(json.dumps(r, default=str, sort_keys=True) for r in lake.read(table).to_pylist())

    for table in ("patch_compliance", "instances"):
        assert canonical(remote, table) == canonical(local, table)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake-test")["Contents"]]
    assert any(k.startswith("lake/patch_compliance/metadata/") and k.endswith(".metadata.json") for k in keys)
    assert any(k.startswith("lake/patch_compliance/data/snapshot_date=2026-11-02/") for k in keys)
    glue = boto3.client("glue", endpoint_url=aws_env.endpoint_url, region_name="eu-west-1")
    table = glue.get_table(DatabaseName="patch_compliance", Name="patch_compliance")["Table"]
    assert table["Parameters"]["table_type"].upper() == "ICEBERG"
    assert manifest["source"]["objects"] == 33


def test_cli_prints_summary_and_rejects_bad_dates(tree: Path, tmp_path: Path, capsys) -> None:
    from patch_compliance.cli import main

    assert main(["ingest", "--source", str(tree), "--lake", str(tmp_path / "lake"), "--date", "2026-11-02"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"instances\s+8\s+\(population 7, terminated 1\)", out)
    assert re.search(r"NON_COMPLIANT\s+1\n", out) and re.search(r"patch items\s+9\n", out)
    assert main(["ingest", "--source", str(tree), "--lake", str(tmp_path / "lake"), "--date", "2026-02-30"]) == 2
    assert "not a calendar date" in capsys.readouterr().err


# --- Integrity under faults: bytes, links, nested copies, clocks, reproducibility ---------------------

def _committed_files_open(lake: Lake) -> int:
    """Every data file the day records list opens in DuckDB and in pyarrow; returns how many."""
    import duckdb

    files = [lake.fs_path(p) for table in ("patch_compliance", "instances", "quarantine")
             for p in lake.committed_files(table)]
    for path in files:
        pq.read_table(path)
        duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
    return len(files)


def test_invalid_utf8_oversized_lines_and_bad_escapes_are_quarantined_and_the_lake_stays_readable(
        tree: Path, tmp_path: Path) -> None:
    node = NODES["noncompliant"]
    path = next(tree.glob(f"AWS:ComplianceItem/*/*/*/{node}.json"))
    lines = path.read_bytes().splitlines()
    bad_utf8 = lines[0].replace(b"openssl-libs.x86_64:1:1.0-1", b"openssl \xff\xfe title")
    oversized = line(node, item("huge.x86_64", "Missing", "NON_COMPLIANT", DetailedText="x" * 3000)).encode()
    surrogate = line(node, item("kernel.x86_64", "Missing", "NON_COMPLIANT")).replace(
        '"Title": "kernel', '"Title": "\\ud800kernel').encode()
    path.write_bytes(b"\n".join([bad_utf8, *lines[1:], oversized, surrogate]) + b"\n")
    settings = Settings(ingest=load_settings().ingest.__class__(max_quarantine_share=0.5, max_line_bytes=2048))
    lake = Lake(str(tmp_path / "lake"))
    manifest = ingest_snapshot(str(tree), lake.uri, DAY, settings=settings)

    quarantined = sorted(lake.read("quarantine").to_pylist(), key=lambda r: r["line_number"])
    assert [(q["line_number"], q["error"].split(":")[0]) for q in quarantined] == [
        (1, "not valid UTF-8"),
        (4, f"line of {len(oversized):,} bytes exceeds ingest.max_line_bytes (2,048); the first 4,096 bytes are kept"),
        (5, "a value holds an unpaired UTF-16 surrogate escape (not representable as text)")]
    assert "byte 0xff at offset" in quarantined[0]["error"] and "\ufffd" in quarantined[0]["raw_line"]
    assert quarantined[1]["raw_line"].startswith('{"ComplianceType": "Patch"')
    assert all(q["source_key"].endswith(f"{node}.json") for q in quarantined)
    assert manifest["quarantined_lines"] == 3
    assert _committed_files_open(lake) >= 3
    # The node lost lines: it is never COMPLIANT, and instances says how many lines it lost.
    row = next(r for r in lake.read("instances").to_pylist() if r["instance_id"] == node)
    assert (row["quarantined_lines"], row["quarantined_item_lines"], row["compliance_status"]) == (
        3, 3, "NON_COMPLIANT")


def test_a_node_that_lost_lines_is_never_compliant(tree: Path, tmp_path: Path) -> None:
    node = NODES["compliant"]
    path = next(tree.glob(f"AWS:ComplianceItem/*/*/*/{node}.json"))
    path.write_text(path.read_text() + '{"ComplianceType": "Patch", "Id": "lost", "Status": "NON_COMPL\n')
    settings = Settings(ingest=load_settings().ingest.__class__(max_quarantine_share=0.5))
    lake = Lake(str(tmp_path / "lake"))
    ingest_snapshot(str(tree), lake.uri, DAY, settings=settings)
    rows = {r["instance_id"]: r for r in lake.read("instances").to_pylist()}
    assert rows[node]["non_compliant_items"] == 0 and rows[node]["quarantined_item_lines"] == 1
    assert rows[node]["compliance_status"] == "NON_COMPLIANT"
    assert rows[NODES["hybrid"]]["compliance_status"] == "COMPLIANT"  # nothing lost: unchanged


def test_symbolic_links_are_never_followed(tree: Path, tmp_path: Path) -> None:
    secret = tmp_path / "environ"
    secret.write_text("AWS_SECRET_ACCESS_KEY=do-not-copy\n")
    node_dir = next(tree.glob("AWS:ComplianceItem/*/*/*"))
    (node_dir / "i-0000000000000abcd.json").symlink_to(secret)  # a file link to any readable file
    outside = tmp_path / "elsewhere"
    write_node(outside, "i-00000000000000fed", node_tags=tags(Team="fake"),
               items=[item("x", "Missing", "NON_COMPLIANT")])
    (tree / "AWS:Tag" / f"accountid={ACCOUNT}" / "region=eu-west-2").symlink_to(
        next(outside.glob("AWS:Tag/*/*")), target_is_directory=True)  # a directory link fabricating nodes
    (node_dir / "loop").symlink_to(tree, target_is_directory=True)  # a link loop
    lake = Lake(str(tmp_path / "lake"))
    messages: list[str] = []
    manifest = ingest_snapshot(str(tree), lake.uri, DAY, progress=messages.append)
    assert manifest["source"]["skipped"]["symlink"] == 3
    assert any("3 symbolic link(s) not followed" in m for m in messages)
    assert manifest["instances"] == 8 and manifest["tables"]["patch_compliance"]["rows"] == 9  # as without links
    assert "do-not-copy" not in json.dumps(lake.read("quarantine").to_pylist())
    assert "i-00000000000000fed" not in lake.read("instances").column("instance_id").to_pylist()


def test_a_nested_older_copy_is_refused_with_its_name(tree: Path, tmp_path: Path) -> None:
    write_node(tree / "archive" / "2026-10-01", "i-00000000000000777", node_tags=tags(Team="old"),
               items=[item("old.x86_64", "Missing", "NON_COMPLIANT")])
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(SourceError, match=r"1 nested cop\(ies\) .*/rds/archive/2026-10-01\b.*forge history"):
        ingest_snapshot(str(tree), lake.uri, DAY)
    assert lake.snapshot_dates() == []


def test_a_clock_days_ahead_does_not_make_the_fleet_stale(tmp_path: Path) -> None:
    root = tmp_path / "rds"
    nodes = [f"i-{n:017x}" for n in range(1, 101)]
    for n, node in enumerate(nodes):
        capture = "2026-11-05T03:10:04Z" if n == 0 else f"2026-11-02T03:{10 + n % 40:02d}:04Z"
        write_node(root, node, node_tags=tags(Team="web", Environment="prod"),
                   items=[item("bash.x86_64", "Installed", "COMPLIANT")], capture=capture)
    lake = Lake(str(tmp_path / "lake"))
    manifest = ingest_snapshot(str(root), lake.uri, DAY)
    assert manifest["reference_time"].startswith("2026-11-02T03:")  # not the node three days ahead
    assert manifest["status_counts"]["STALE"] == 0 and manifest["status_counts"]["COMPLIANT"] == 100
    assert manifest["future_captures"] == 1
    flagged = [r["instance_id"] for r in lake.read("instances").to_pylist() if r["capture_in_future"]]
    assert flagged == [nodes[0]]


def test_the_same_source_gives_byte_identical_files(tree: Path, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    first = ingest_snapshot(str(tree), lake.uri, DAY)
    second = ingest_snapshot(str(tree), lake.uri, DAY)
    for table in ("patch_compliance", "instances"):
        digests = [[f["sha256"] for f in run["tables"][table]["files"]] for run in (first, second)]
        assert digests[0] == digests[1] and digests[0]
    assert first["source"]["objects_sha256"] == second["source"]["objects_sha256"]
