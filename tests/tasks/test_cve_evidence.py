"""The CVE evidence DAG's task body (patch_compliance.tasks.cve_evidence), called as the task calls it, on a
crafted lake on local disk (the DAG runs are tests/dags/test_report_dags.py's)."""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest

from patch_compliance.config import load_settings
from patch_compliance.evidence import EVIDENCE_COLUMNS
from patch_compliance.tasks.cve_evidence import cve_evidence
from tests.fixtures import report_lakes as sc

pytestmark = pytest.mark.xdist_group("report_lake")


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cve_evidence")
    lake = sc.land_november(tmp)
    defaults = load_settings()
    return replace(defaults, storage=replace(defaults.storage, lake_uri=lake.uri, reports_uri=str(tmp / "reports")))


def test_the_evidence_csv_lands_under_the_cves_folder_of_the_reports_location(settings, caplog, capsys) -> None:
    with caplog.at_level(logging.INFO, logger="patch_compliance.tasks.cve_evidence"):
        result = cve_evidence(sc.CVE_FIXED.lower(), settings=settings)  # the id is validated and upper-cased
    expected = f"{settings.storage.reports_uri}/evidence/{sc.CVE_FIXED}/{sc.CVE_FIXED}.csv"
    assert (result["cve_id"], result["uri"], result["engine"]) == (sc.CVE_FIXED, expected, "duckdb")
    with open(expected, newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == EVIDENCE_COLUMNS
        rows = list(reader)
    # libxml2 carries the CVE on two hosts of the crafted lake: fixed on i-...b, never on i-...c
    assert result["rows"] == len(rows) == 2
    assert {r["cve_id"] for r in rows} == {sc.CVE_FIXED}
    assert result["queries"] == []  # the embedded engine: no Athena executions to list
    logged = caplog.text + capsys.readouterr().out  # Airflow's structlog may own the root handler
    assert f"evidence CSV written to {expected}" in logged
    assert re.search(r"cve_id +account_id +region +instance_id", logged)  # the table is in the task log
    assert result["message"].startswith(f"{sc.CVE_FIXED}: 2 affected") and result["message"] in logged


@pytest.mark.parametrize("bad", ["CVE-26-1", "cve-2026-1111; DROP TABLE instances", ""])
def test_a_bad_cve_id_fails_the_task_without_retry_and_writes_nothing(settings, bad) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException):
        cve_evidence(bad, settings=settings)
    evidence = Path(settings.storage.reports_uri) / "evidence"
    assert {p.name for p in evidence.iterdir()} <= {sc.CVE_FIXED} if evidence.exists() else True
