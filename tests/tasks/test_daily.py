"""The daily DAG's task bodies that need no AWS: the branch between a live and an archived run."""

from __future__ import annotations

from datetime import date

import pytest

from patch_compliance.inputs import InputError
from patch_compliance.tasks import daily

DAY = date(2026, 11, 24)


@pytest.mark.parametrize("params", [None, {}, {"rds_source": None}, {"rds_source": ""}, {"rds_source": "  "}])
def test_no_rds_source_is_a_live_run(params) -> None:
    assert daily.archived_source(params) is None
    assert daily.choose_sync_source(params, DAY) == daily.LIVE_RUN_TASKS


def test_an_rds_source_is_an_archived_run_of_that_copy(tmp_path) -> None:
    assert daily.archived_source({"rds_source": "s3://kept-syncs/2026-11-24/"}) == "s3://kept-syncs/2026-11-24"
    assert daily.archived_source({"rds_source": str(tmp_path)}) == str(tmp_path)
    assert daily.choose_sync_source({"rds_source": "s3://kept-syncs/2026-11-24"}, DAY) == daily.ARCHIVED_RUN_TASKS
    assert set(daily.ARCHIVED_RUN_TASKS) & set(daily.LIVE_RUN_TASKS) == {"ingest"}


@pytest.mark.parametrize("source", ["https://example.com/sync", "s3://Bad_Bucket/x", "s3://bucket/a/../b"])
def test_an_rds_source_that_is_not_a_location_is_refused(source) -> None:
    with pytest.raises(InputError, match="rds_source"):
        daily.archived_source({"rds_source": source})
