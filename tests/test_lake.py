"""The Iceberg lake: table contracts, day records, reruns and time travel, housekeeping, concurrent writers.

The concurrency tests start real processes (the product's CLI) against one lake, on the SQL catalog
(SQLite beside a local lake) and on the Glue catalog of the local stand-in, and check what a reader
sees afterwards against the two runs' own inputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import pyarrow as pa
import pytest

from patch_compliance.inputs import InputError
from patch_compliance.lake import (
    GROUPS,
    RECORD_VERSIONS_KEPT,
    SPECS,
    TABLES,
    TAGS,
    ConcurrentWriteError,
    Lake,
    housekeeping,
)
from patch_compliance.report import build_report
from tests.fixtures import report_lakes as sc
from tests.fixtures.athena_stand_in import ALL_SQL

DAY = date(2026, 11, 2)
NOW = datetime(2026, 11, 2, 4, tzinfo=UTC)


def inventory(rows: list[tuple[str, str, str]]) -> pa.Table:
    return pa.Table.from_pylist([{
        "account_id": account, "region": "eu-west-1", "instance_id": instance, "state": state,
        "platform": "Linux", "launch_time": NOW, "team": "web", "environment": "prod", "patch_group": None,
        "tags": [("Team", "web")], "name": None, "captured_at": NOW} for account, instance, state in rows],
        schema=SPECS["ec2_inventory"].undated_schema)


ROWS = [("111111111111", "i-0000000a", "running"), ("222222222222", "i-0000000b", "stopped")]


def test_every_table_has_its_contract_partitions_and_sort_order(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    assert sorted(lake.ensure_tables()) == sorted([*TABLES, "snapshots"])
    assert (tmp_path / "catalog.db").is_file()  # a local lake keeps its SQL catalog beside it
    for name, spec in SPECS.items():
        table = lake.table(name)
        assert table.metadata.format_version == 2
        assert table.schema().as_arrow().names == spec.schema.names
        assert [f.name for f in table.spec().fields] == list(spec.partition_by)
        assert [table.schema().find_column_name(f.source_id) for f in table.sort_order().fields] == list(
            spec.sort_by)
        assert table.location() == f"file://{tmp_path}/{name}"
    assert {t for tables in GROUPS.values() for t in tables} == set(TABLES)


def test_a_day_is_replaced_by_a_rerun_and_the_old_version_stays_readable(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    first = lake.write_table_snapshot("ec2_inventory", DAY, inventory(ROWS))
    assert first["tables"]["ec2_inventory"]["rows"] == 2
    files = first["tables"]["ec2_inventory"]["files"]
    assert sorted(f["path"].split("/")[-3] for f in files) == ["account_id=111111111111", "account_id=222222222222"]
    second = lake.write_table_snapshot("ec2_inventory", DAY, inventory(ROWS[:1]))  # a rerun replaces
    table = Lake(str(tmp_path)).read("ec2_inventory")
    assert table.num_rows == 1 and table.column("snapshot_date").to_pylist() == [DAY]
    assert table.schema.field("tags").type == TAGS
    assert lake.manifest(DAY, "ec2_inventory")["run_id"] == second["run_id"]
    old = lake.record_of_run(DAY, "ec2_inventory", first["run_id"])
    assert lake.read("ec2_inventory", records=[old]).num_rows == 2  # time travel
    # Tables published on their own do not create ingest days, and vice versa.
    assert lake.snapshot_dates("ec2_inventory") == [DAY]
    assert lake.snapshot_dates("patch_compliance") == []
    assert lake.read("patch_compliance").num_rows == 0


def _append(lake: Lake, table: str, rows: pa.Table) -> None:
    """Another engine's commit (Athena DML), here made with pyiceberg directly."""
    lake.table(table, refresh=True).append(rows.cast(lake.table(table).schema().as_arrow()))


def _dated(rows: list[tuple[str, str, str]]) -> pa.Table:
    table = inventory(rows)
    return table.append_column("snapshot_date", pa.array([DAY] * table.num_rows, pa.date32())).select(
        SPECS["ec2_inventory"].schema.names)


def test_a_day_another_engine_wrote_is_recorded_with_its_snapshot_and_files(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    lake.write_table_snapshot("ec2_inventory", DAY, inventory(ROWS))  # an earlier run of the date
    day = lake.external_day(DAY, "ec2_inventory", run_id="20261102T040000-external")
    lake.table("ec2_inventory", refresh=True).delete(f"snapshot_date = '{DAY}'")
    _append(lake, "ec2_inventory", _dated(ROWS[:1]))
    written = lake.table("ec2_inventory", refresh=True).current_snapshot().snapshot_id
    assert day.read("ec2_inventory", ["instance_id"]).column("instance_id").to_pylist() == ["i-0000000a"]
    record = day.commit({"engine": "athena"})
    assert record.run_id == "20261102T040000-external" and lake.record(DAY, "ec2_inventory") == record
    version = record.tables["ec2_inventory"]
    assert version["iceberg_snapshot_id"] == written and version["rows"] == 1
    assert [f["sha256"] for f in version["files"]] == [None]
    assert lake.read("ec2_inventory", [DAY]).column("instance_id").to_pylist() == ["i-0000000a"]


def test_an_external_day_with_a_second_writer_or_foreign_files_is_refused(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    lake.ensure_tables()
    two = lake.external_day(DAY, "ec2_inventory")
    _append(lake, "ec2_inventory", _dated(ROWS[:1]))
    _append(lake, "ec2_inventory", _dated(ROWS[1:]))  # another run's INSERT of the same date
    with pytest.raises(ConcurrentWriteError, match="2 commits added ec2_inventory rows for this date"):
        two.locate()
    kept = lake.external_day(DAY, "ec2_inventory")  # no DELETE first: the earlier files stay live
    _append(lake, "ec2_inventory", _dated(ROWS[:1]))
    with pytest.raises(ConcurrentWriteError, match=r"files of this date that run .* did not write"):
        kept.locate()
    assert lake.record(DAY, "ec2_inventory") is None  # nothing was recorded


def test_same_rows_in_any_order_write_the_same_bytes(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    one = lake.write_table_snapshot("ec2_inventory", DAY, inventory(ROWS))
    two = lake.write_table_snapshot("ec2_inventory", DAY, inventory(ROWS[::-1]))
    assert [f["sha256"] for f in one["tables"]["ec2_inventory"]["files"]] == [
        f["sha256"] for f in two["tables"]["ec2_inventory"]["files"]]


def test_only_contract_columns_and_known_tables(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    with pytest.raises(ValueError, match="lacks contract columns"):
        lake.write_table_snapshot("ec2_inventory", DAY, inventory(ROWS).drop(["state"]))
    with pytest.raises(InputError, match="unknown lake table"):
        lake.read("nope")
    with pytest.raises(InputError):
        lake.write_table_snapshot("ec2_inventory", DAY, inventory([("12", "i-1", "x")]))
    assert lake.snapshot_dates("ec2_inventory") == []
    assert not list(tmp_path.rglob("*.parquet"))  # a refused write leaves no data files behind


def test_an_s3_lake_on_the_sql_catalog_needs_its_uri(tmp_path) -> None:
    from patch_compliance.lake import CatalogConfig

    lake = Lake("s3://some-lake/lake", catalog=CatalogConfig(kind="sql"))
    with pytest.raises(InputError, match=r"storage\.catalog_uri"):
        lake.table("instances")


def test_housekeeping_expires_superseded_versions_and_keeps_every_current_day(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    first = lake.write_table_snapshot("ec2_inventory", DAY, inventory(ROWS))
    lake.write_table_snapshot("ec2_inventory", DAY + timedelta(days=1), inventory(ROWS))
    lake.write_table_snapshot("ec2_inventory", DAY, inventory(ROWS[:1]))  # supersedes the first version
    superseded = [Path(lake.fs_path(f["path"])) for f in first["tables"]["ec2_inventory"]["files"]]
    assert all(p.exists() for p in superseded)

    result = housekeeping(Lake(str(tmp_path)), now=datetime.now(UTC) + timedelta(days=401),
                          orphan_grace=timedelta(0))
    assert result.expired_snapshots["ec2_inventory"] >= 2
    assert not any(p.exists() for p in superseded)
    fresh = Lake(str(tmp_path))
    assert fresh.read("ec2_inventory", [DAY]).num_rows == 1
    assert fresh.read("ec2_inventory", [DAY + timedelta(days=1)]).num_rows == 2  # its snapshot expired, not its rows
    with pytest.raises(ValueError, match="Snapshot not found"):
        fresh.table("ec2_inventory").scan(snapshot_id=first["tables"]["ec2_inventory"]["iceberg_snapshot_id"]
                                          ).to_arrow()


def test_the_day_record_table_keeps_a_bounded_history_and_every_record(tmp_path) -> None:
    """Each record adds two versions of the record table; past twice RECORD_VERSIONS_KEPT the older ones expire,
    so a commit's cost stays flat over a year of days, and no record is lost."""
    lake = Lake(str(tmp_path))
    days = [DAY + timedelta(days=n) for n in range(RECORD_VERSIONS_KEPT + 1)]
    for day in days:
        lake.write_table_snapshot("ec2_inventory", day, inventory(ROWS))
    versions = len(Lake(str(tmp_path)).table("snapshots").metadata.snapshots)
    assert RECORD_VERSIONS_KEPT <= versions <= 2 * RECORD_VERSIONS_KEPT
    fresh = Lake(str(tmp_path))
    assert fresh.snapshot_dates("ec2_inventory") == days
    assert [r.sequence for r in fresh.records()] == list(range(1, len(days) + 1))
    assert all(fresh.read("ec2_inventory", [day]).num_rows == 2 for day in days)


# --- Two real writers of one date ------------------------------------------------------------------

def _nodes(patch_id: str, count: int = 40) -> list[sc.Node]:
    return [sc.Node(f"i-{n:017x}", tags={"Team": "web", "Environment": "prod", "PatchGroup": "prod-linux"},
                    items=[sc.Item(patch_id, "Missing"), sc.Item("bash.x86_64", "Installed")])
            for n in range(1, count + 1)]


def _race(sources: dict[str, Path], lake_uri: str, env: dict[str, str],
          barrier: Path) -> dict[str, subprocess.CompletedProcess]:
    """Start one ``ingest`` per source; both have loaded the tables before either commits (the barrier)."""
    barrier.mkdir(parents=True)
    env = {**env, "PYTHONPATH": f"{BARRIER_SITE}{os.pathsep}{env['PYTHONPATH']}", "COMMIT_BARRIER": str(barrier),
           "COMMIT_BARRIER_PARTIES": str(len(sources))}
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "patch_compliance", "ingest", "--source", str(source), "--lake", lake_uri,
             "--date", DAY.isoformat(), "--reference-time", sc.reference_time(DAY).isoformat()],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, source in sources.items()}
    return {name: subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate())
            for name, p in processes.items()}


def _check_round(lake: Lake, outcomes: dict[str, subprocess.CompletedProcess]) -> int:
    """What a reader sees is one whole run; a loser exits 3 naming the date and the winner. Returns losses."""
    winners = {name for name, o in outcomes.items() if o.returncode == 0}
    losers = {name for name, o in outcomes.items() if o.returncode != 0}
    assert winners, {name: o.stderr[-2000:] for name, o in outcomes.items()}
    record = lake.record(DAY)
    for name in losers:
        error = outcomes[name].stderr.strip().splitlines()[-1]
        assert outcomes[name].returncode == 3, outcomes[name].stderr[-2000:]
        assert error.startswith("error: snapshot 2026-11-02") and "run 2026" in error and "Rerun" in error
        assert "Traceback" not in outcomes[name].stderr
    patch_ids = set(lake.read("patch_compliance", [DAY], columns=["patch_id"]).column("patch_id").to_pylist())
    day_of = {"alpha": "alpha.x86_64", "beta": "beta.x86_64"}
    (source,) = [name for name, patch in day_of.items() if patch in patch_ids]  # never a mix of the two
    assert source in winners and patch_ids == {day_of[source], "bash.x86_64"}
    assert f"(run {record.run_id})" in outcomes[source].stdout  # the record is the winner's run
    for table in ("patch_compliance", "instances"):
        assert lake.read(table, [DAY]).num_rows == record.rows(table) > 0
        assert all(record.run_id in path for path in record.files(table))
    return len(losers)


@pytest.fixture
def racing_sources(tmp_path) -> dict[str, Path]:
    sources = {"alpha": tmp_path / "rds-alpha", "beta": tmp_path / "rds-beta"}
    sc.write_rds_day(sources["alpha"], DAY, _nodes("alpha.x86_64"))
    sc.write_rds_day(sources["beta"], DAY, _nodes("beta.x86_64"))
    return sources


BARRIER_SITE = Path(__file__).resolve().parent / "fixtures" / "commit_barrier"


def _env(**extra: str) -> dict[str, str]:
    root = Path(__file__).resolve().parents[1]
    return {**os.environ, "PYTHONPATH": f"{root / 'plugins'}{os.pathsep}{root}", **extra}


def test_concurrent_writers_on_the_sql_catalog(tmp_path, racing_sources) -> None:
    lake_uri = str(tmp_path / "lake")
    rounds = 3
    losses = sum(_check_round(Lake(lake_uri), _race(racing_sources, lake_uri, _env(), tmp_path / f"barrier-{n}"))
                 for n in range(rounds))
    assert losses == rounds  # the runs overlapped every time: Iceberg refused exactly one writer per round
    # Readers work afterwards: validation and the report see the winner's whole day.
    from patch_compliance.quality import validate_snapshot

    validate_snapshot(lake_uri, DAY)
    manifest = build_report(lake_uri, "2026-11", None, str(tmp_path / "out"))
    assert manifest["inputs"]["instances"][0]["run_id"] == Lake(lake_uri).record(DAY).run_id


def test_concurrent_writers_on_the_glue_catalog(tmp_path, racing_sources, aws_env) -> None:
    boto3.client("s3").create_bucket(Bucket="race-lake",
                                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    lake_uri = "s3://race-lake/lake"
    Lake(lake_uri).ensure_tables()  # table creation is not what races here
    rounds = 3
    losses = sum(_check_round(Lake(lake_uri), _race(racing_sources, lake_uri, _env(**aws_env.env()),
                                                    tmp_path / f"barrier-{n}"))
                 for n in range(rounds))
    assert losses == rounds
    build_report(lake_uri, "2026-11", None, str(tmp_path / "out"))


def test_cli_housekeeping_reports_what_it_did_and_rejects_bad_input(tmp_path, capsys) -> None:
    from patch_compliance.cli import main

    lake = Lake(str(tmp_path / "lake"))
    lake.write_table_snapshot("ec2_inventory", DAY, inventory(ROWS))
    lake.write_table_snapshot("ec2_inventory", DAY, inventory(ROWS[:1]))
    assert main(["housekeeping", "--lake", lake.uri]) == 0
    out = capsys.readouterr()
    assert "expired 0 snapshot(s) older than 400 days, removed 0 orphan file(s)" in out.out
    assert "ec2_inventory: expired 0 snapshot(s)" in out.err  # progress per table
    assert main(["housekeeping", "--lake", lake.uri, "--retention-days", "0"]) == 2
    assert "--retention-days must be at least 1" in capsys.readouterr().err


# --- Schema evolution ------------------------------------------------------------------------------

NEW_INSTANCE_COLUMNS = ("capture_basis", "status_basis", "patch_status", "summary_non_compliant_count",
                        "summary_items_mismatch", "invalid_timestamps")


def test_a_lake_written_by_an_earlier_version_gains_the_new_columns(tmp_path, monkeypatch) -> None:
    """Tables created before a column existed are evolved (additive) on first use; old days read NULL."""
    spec = SPECS["instances"]
    older = type(spec)(spec.name, pa.schema([f for f in spec.schema if f.name not in NEW_INSTANCE_COLUMNS]),
                       spec.partition_by, spec.sort_by)
    nodes = _nodes("openssl.x86_64", count=3)
    with monkeypatch.context() as patch:
        patch.setitem(SPECS, "instances", older)
        patch.setitem(TABLES, "instances", older.schema)
        lake = sc.land(tmp_path / "before", {DAY: nodes}, lake_dir=tmp_path / "lake")
        assert "status_basis" not in lake.table("instances").schema().column_names
    later = DAY + timedelta(days=1)
    lake = sc.land(tmp_path / "after", {later: nodes}, lake_dir=tmp_path / "lake")
    assert set(NEW_INSTANCE_COLUMNS) <= set(lake.table("instances").schema().column_names)
    before, after = lake.read("instances", [DAY]), lake.read("instances", [later])
    assert before.schema == after.schema == SPECS["instances"].schema
    assert before["status_basis"].to_pylist() == [None] * 3
    assert after["status_basis"].to_pylist() == ["items"] * 3
    assert before["compliance_status"].to_pylist() == after["compliance_status"].to_pylist()


def test_lake_tables_are_iceberg_tables_in_glue_that_athena_reads_as_they_are(aws_env):
    """No lake DDL and no partition projection: pyiceberg registers each table in Glue as Iceberg."""
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="glue-lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    lake = Lake("s3://glue-lake/lake")
    assert lake.config.kind == "glue"
    lake.ensure_tables()
    glue = boto3.client("glue", region_name="eu-west-1")
    for name, schema in TABLES.items():
        table = glue.get_table(DatabaseName="patch_compliance", Name=name)["Table"]
        assert table["Parameters"]["table_type"].upper() == "ICEBERG"
        assert table["Parameters"]["metadata_location"].startswith(f"s3://glue-lake/lake/{name}/metadata/")
        assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == schema.names
        iceberg = lake.table(name)
        assert [f.name for f in iceberg.spec().fields] == list(SPECS[name].partition_by)
        assert [iceberg.schema().find_column_name(f.source_id) for f in iceberg.sort_order().fields] == list(
            SPECS[name].sort_by)
    assert not [p for p in ALL_SQL if p.startswith("athena/lake_")]
