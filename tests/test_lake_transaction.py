"""The lake's Iceberg transaction computes its table metadata once per state, and commits what pyiceberg's would."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from patch_compliance import lake_transaction
from patch_compliance.lake import SPECS, Lake
from patch_compliance.lake_transaction import LakeTransaction

DAY = date(2026, 11, 2)
NOW = datetime(2026, 11, 2, 4, tzinfo=UTC)


def inventory(accounts: int) -> pa.Table:
    """One instance in each of ``accounts`` accounts: the writer makes one data file per account."""
    return pa.Table.from_pylist([{
        "account_id": f"{n:012d}", "region": "eu-west-1", "instance_id": f"i-{n:08x}", "state": "running",
        "platform": "Linux", "launch_time": NOW, "team": "web", "environment": "prod", "patch_group": None,
        "tags": [("Team", "web")], "name": None, "captured_at": NOW} for n in range(1, accounts + 1)],
        schema=SPECS["ec2_inventory"].undated_schema)


@pytest.fixture
def computations(monkeypatch) -> list[int]:
    """Counts every metadata computation a ``LakeTransaction`` makes (pyiceberg's own function, wrapped)."""
    calls: list[int] = []
    original = lake_transaction.update_table_metadata

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(lake_transaction, "update_table_metadata", counted)
    return calls


def test_repeated_reads_compute_once_and_a_staged_update_recomputes(tmp_path, computations) -> None:
    table = Lake(str(tmp_path)).table("baselines")
    transaction = LakeTransaction(table)
    first = transaction.table_metadata
    assert transaction.table_metadata is first and len(computations) == 1
    transaction.set_properties(owner="platform")
    assert transaction.table_metadata.properties["owner"] == "platform" and len(computations) == 2
    assert "owner" not in first.properties  # the earlier state is not changed under its reader
    transaction.commit_transaction()
    assert table.metadata.properties["owner"] == "platform"
    assert transaction.table_metadata.properties["owner"] == "platform"  # recomputed from the committed table


def test_a_days_commit_computes_the_metadata_a_few_times_whatever_its_files(tmp_path, computations) -> None:
    counts = []
    for accounts in (2, 40):
        lake = Lake(str(tmp_path / str(accounts)))
        lake.ensure_tables()
        computations.clear()
        record = lake.write_table_snapshot("ec2_inventory", DAY, inventory(accounts))
        assert len(record["tables"]["ec2_inventory"]["files"]) == accounts
        counts.append(len(computations))
        assert lake.read("ec2_inventory", [DAY]).num_rows == accounts
    assert counts[0] == counts[1] and counts[0] <= 12, counts  # pyiceberg's own Transaction: 50 for either


def test_a_rerun_through_it_replaces_the_day_as_pyicebergs_transaction_does(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    lake.write_table_snapshot("ec2_inventory", DAY, inventory(3))
    rerun = lake.write_table_snapshot("ec2_inventory", DAY, inventory(2))
    table = lake.table("ec2_inventory", refresh=True)
    assert [s.summary.operation.value for s in table.snapshots()] == ["append", "delete", "append"]
    assert table.current_snapshot().snapshot_id == rerun["tables"]["ec2_inventory"]["iceberg_snapshot_id"]
    assert sorted(lake.read("ec2_inventory", [DAY])["account_id"].to_pylist()) == ["000000000001", "000000000002"]
