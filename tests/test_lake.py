"""Lake tables published on their own (inventory, catalog, baselines): manifests, re-runs, reads."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from patch_compliance.inputs import InputError
from patch_compliance.lake import TABLES, TAGS, Lake


def inventory(rows: list[tuple[str, str, str]]) -> pa.Table:
    now = datetime(2026, 11, 2, 4, tzinfo=UTC)
    return pa.table({
        "account_id": [r[0] for r in rows], "region": ["eu-west-1"] * len(rows),
        "instance_id": [r[1] for r in rows], "state": [r[2] for r in rows], "platform": ["Linux"] * len(rows),
        "launch_time": [now] * len(rows), "team": ["web"] * len(rows), "environment": ["prod"] * len(rows),
        "patch_group": [None] * len(rows), "tags": pa.array([[("Team", "web")]] * len(rows), TAGS),
        "name": [None] * len(rows),
        "captured_at": [now] * len(rows),
    })


def test_table_snapshots_partition_replace_and_read_back(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    day = date(2026, 11, 2)
    rows = [("111111111111", "i-0000000a", "running"), ("222222222222", "i-0000000b", "stopped")]
    first = lake.write_table_snapshot("ec2_inventory", day, inventory(rows))
    assert first["tables"]["ec2_inventory"]["rows"] == 2
    assert {f["path"].split("/")[2] for f in first["tables"]["ec2_inventory"]["files"]} == {
        "account_id=111111111111", "account_id=222222222222"}
    lake.write_table_snapshot("ec2_inventory", day, inventory(rows[:1]))  # a re-run replaces
    table = lake.read("ec2_inventory")
    assert table.num_rows == 1
    assert table.column("snapshot_date").to_pylist() == [day]
    assert table.schema.field("tags").type == TABLES["ec2_inventory"].field("tags").type
    # Separately published tables do not create ingest snapshots, and vice versa.
    assert lake.snapshot_dates("ec2_inventory") == [day]
    assert lake.snapshot_dates("patch_compliance") == []
    assert lake.read("patch_compliance").num_rows == 0


def test_only_contract_columns_and_known_tables(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    with pytest.raises(ValueError, match="lacks contract columns"):
        lake.write_table_snapshot("ec2_inventory", date(2026, 11, 2), inventory([("111111111111", "i-1", "x")])
                                  .drop(["state"]))
    with pytest.raises(InputError, match="unknown lake table"):
        lake.read("nope")
    with pytest.raises(InputError):
        lake.write_table_snapshot("ec2_inventory", date(2026, 11, 2), inventory([("12", "i-1", "x")]))
