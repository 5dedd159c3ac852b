"""Every DAG parses, fast, without heavy imports, and follows the policy (owner, tags, docs, alerts)."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.dags.conftest import REPO

pytestmark = pytest.mark.xdist_group("airflow")

DAG_FILES = sorted(path.name for path in (REPO / "dags").glob("*.py") if not path.name.startswith("_"))
HEAVY_MODULES = ("pandas", "pyarrow", "duckdb", "boto3", "great_expectations")
# Loaded while parsing only by Airflow itself: the amazon provider's s3:// Asset URI handler imports boto3.
LOADED_BY_AIRFLOW = ("boto3",)


def dags_of(dagbag, file_name: str) -> list:
    """The DAGs a file defines (every file must define at least one, so none escapes the policy)."""
    found = [dag for dag in dagbag.dags.values() if Path(dag.fileloc).name == file_name]
    assert found, f"dags/{file_name} defines no DAG"
    return found


def test_dagbag_has_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert {Path(dag.fileloc).name for dag in dagbag.dags.values()} == set(DAG_FILES)


def test_parsing_all_dags_takes_under_two_seconds() -> None:
    # A fresh interpreter with Airflow already imported, as the DAG processor is: the parse alone, in
    # CPU seconds of this process, so other jobs on the machine cannot make it pass or fail.
    code = (
        "import time, airflow.sdk\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"start = time.process_time(); bag = DagBag(dag_folder={str(REPO / 'dags')!r})\n"
        "print(time.process_time() - start, len(bag.dags), len(bag.import_errors))\n"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                         timeout=120).stdout.split()
    seconds, dags, errors = float(out[-3]), int(out[-2]), int(out[-1])
    assert errors == 0 and dags >= len(DAG_FILES)
    whole = time.perf_counter() - started
    assert seconds < 2.0, f"parsing dags/ took {seconds:.2f} CPU s (whole process {whole:.1f} s wall)"


def test_dag_files_do_not_import_heavy_libraries_at_top_level() -> None:
    for path in sorted((REPO / "dags").glob("*.py")):
        top_level = [node for node in ast.parse(path.read_text()).body
                     if isinstance(node, ast.Import | ast.ImportFrom)]
        names = {alias.name for node in top_level if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module for node in top_level if isinstance(node, ast.ImportFrom) and node.module}
        assert not {n for n in names if n.split(".")[0] in HEAVY_MODULES}, f"{path.name} imports {names}"
    code = (
        "import sys, airflow.sdk\n"
        f"before = {{m for m in {HEAVY_MODULES!r} if m in sys.modules}}\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"DagBag(dag_folder={str(REPO / 'dags')!r})\n"
        f"print(sorted({{m for m in {HEAVY_MODULES!r} if m in sys.modules}} - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                         timeout=120).stdout.strip().splitlines()[-1]
    imported = set(ast.literal_eval(out)) - set(LOADED_BY_AIRFLOW)
    assert not imported, f"parsing the DAGs imported {sorted(imported)}"


@pytest.mark.parametrize("file_name", DAG_FILES)
def test_dag_policy(dagbag, file_name: str) -> None:
    for dag in dags_of(dagbag, file_name):
        check_dag_policy(dag)


def check_dag_policy(dag) -> None:
    dag_id = dag.dag_id
    assert dag.tags and "patch-compliance" in dag.tags
    assert dag.doc_md and len(dag.doc_md) > 200 and "###" in dag.doc_md
    assert dag.on_failure_callback is not None
    for task in dag.tasks:
        assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
        assert task.retries >= 1, f"{dag_id}.{task.task_id} does not retry"
        assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id} retries without backoff"
        assert task.retry_delay >= timedelta(seconds=30)
        assert task.on_failure_callback, f"{dag_id}.{task.task_id} has no failure alert"
        assert task.doc_md or task.doc, f"{dag_id}.{task.task_id} has no docs for the UI"
        # A dict result is one XCom: Airflow would otherwise infer one XCom per key from `-> dict`.
        assert not getattr(task, "multiple_outputs", False), f"{dag_id}.{task.task_id} pushes one XCom per key"


def test_daily_dag_shape(dagbag) -> None:
    dag = dagbag.dags["patch_compliance_daily"]
    assert dag.max_active_runs == 1
    assert dag.timetable.expression == "0 0 * * *" and str(dag.timetable.timezone) == "UTC"
    for wait_id in ("wait_for_command", "wait_for_rds_output"):
        wait = dag.get_task(wait_id)  # mapped: the operator's arguments live in its partial kwargs
        assert wait.operator_name == "ScanWaitOperator", "waits defer to the triggerer"
        assert wait.partial_kwargs["deadline_minutes"] > 0 and wait.partial_kwargs["poke_seconds"] > 0
    order = ["resolve_targets", "send_scan", "wait_for_command", "wait_for_rds_output",
             "snapshot_ec2_inventory", "ingest", "validate", "record_baselines", "publish", "lake_housekeeping"]
    for upstream, downstream in itertools.pairwise(order):
        assert upstream in dag.get_task(downstream).upstream_task_ids | {
            t for t in dag.get_task(downstream).get_flat_relative_ids(upstream=True)}
    # The branch names exactly its direct downstream tasks; both kinds of run ingest.
    from patch_compliance.tasks.daily import ARCHIVED_RUN_TASKS, LIVE_RUN_TASKS

    branch = dag.get_task("choose_sync_source")
    assert branch.downstream_task_ids == set(LIVE_RUN_TASKS) | set(ARCHIVED_RUN_TASKS)
    assert set(LIVE_RUN_TASKS) & set(ARCHIVED_RUN_TASKS) == {"ingest"}
    assert dag.get_task("ingest").upstream_task_ids >= {"snapshot_ec2_inventory", "snapshot_kept_inventory"}
    for joined in ("ingest", "publish"):  # they must run when the live-only branch is skipped
        assert dag.get_task(joined).trigger_rule == "none_failed_min_one_success"
    assert [outlet.uri for outlet in dag.get_task("publish").outlets] == [
        "s3://patch-compliance-lake/lake/patch_compliance"]


def test_the_lake_readers_declare_the_asset_the_daily_dag_updates(dagbag) -> None:
    (outlet,) = dagbag.dags["patch_compliance_daily"].get_task("publish").outlets
    readers = (("patch_compliance_monthly_report", "build_report"), ("patch_cve_evidence", "cve_evidence"))
    for dag_id, task_id in readers:
        assert dagbag.dags[dag_id].get_task(task_id).inlets == [outlet], dag_id


def test_evidence_dag_is_manual_with_a_validated_cve_param(dagbag) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    dag = dagbag.dags["patch_cve_evidence"]
    assert type(dag.timetable).__name__ == "NullTimetable"
    param = dag.params.get_param("cve_id")
    assert param.resolve("CVE-2026-12345") == "CVE-2026-12345"
    for bad in ("CVE-26-1", "cve-2026-1234", "CVE-2026-1234; DROP TABLE x", ""):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)
