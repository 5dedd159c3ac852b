"""What every DAG shares: default args, the lake asset, a run's snapshot date, failing fast, log tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from patch_compliance.config import load_settings, parse_settings
from patch_compliance.tasks import common


def test_default_args_carry_the_airflow_knobs_and_the_failure_callback() -> None:
    knobs = load_settings().airflow
    args = common.default_args()
    assert args["owner"] == knobs.owner and args["retries"] == knobs.retries
    assert args["retry_delay"] == timedelta(seconds=knobs.retry_delay_seconds)
    assert args["max_retry_delay"] == timedelta(seconds=knobs.max_retry_delay_seconds)
    assert args["retry_exponential_backoff"] == 2.0
    from patch_compliance.notifiers import TaskFailureNotifier

    assert isinstance(args["on_failure_callback"], TaskFailureNotifier)
    assert args["on_failure_callback"].slack_webhook_conn_id == knobs.slack_connection_id


def test_lake_asset_is_the_patch_compliance_table_under_the_lake() -> None:
    settings = parse_settings({"storage": {"lake_uri": "s3://some-lake/prefix/"}})
    assert common.lake_asset_uri(settings) == "s3://some-lake/prefix/patch_compliance"
    asset = common.lake_asset()  # the daily DAG's outlet, the readers' inlet: the configured lake's table
    assert asset.uri == common.lake_asset_uri() and asset.extra == {"table": "patch_compliance"}


def test_snapshot_date_is_the_logical_date_else_the_day_the_run_runs_after() -> None:
    logical = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    after = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert common.snapshot_date_of(logical, after) == date(2026, 11, 24)
    assert common.snapshot_date_of(None, after) == date(2026, 11, 25)
    assert common.run_snapshot_date(None, SimpleNamespace(run_after=after)) == date(2026, 11, 25)


def test_format_table_aligns_columns_blanks_nulls_and_caps_the_rows() -> None:
    rows = [{"instance_id": "i-0123456789abcdef0", "state": "Installed"}, {"instance_id": "i-1", "state": None}]
    assert common.format_table(("instance_id", "state"), rows).splitlines() == [
        "instance_id          state",
        "i-0123456789abcdef0  Installed",
        "i-1"]
    capped = common.format_table(("instance_id",), rows, limit=1).splitlines()
    assert capped == ["instance_id", "i-0123456789abcdef0", "... 1 more rows in the CSV"]
