"""The published reports (patch_compliance.report_files): names looked up among what exists, on disk and on S3."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from patch_compliance.aws import storage_access
from patch_compliance.report_files import NotFound, ReportFiles
from tests.fixtures.published_reports import FLEET, PUBLISHED, publish, published_at


@pytest.fixture
def local_reports(tmp_path) -> Path:
    return published_at(tmp_path / "reports")


def test_the_reports_location_lists_months_teams_and_files_that_exist(local_reports) -> None:
    files = ReportFiles.open(str(local_reports))
    assert files.months() == ["2026-12", "2026-11", "2026-10"]
    assert files.latest() == "2026-11"  # 2026-12 has no fleet page yet
    assert files.teams("2026-11") == ["payments", "web shop"] and files.teams("2026-10") == []
    assert files.files("2026-11") == ["instance_status.csv", "manifest.json", "report.html"]
    assert files.files("2026-11", "payments") == ["instance_status.csv", "report.html"]
    assert files.read("2026-11", "report.html") == FLEET
    assert files.read("2026-11", "report.html", "web shop") == PUBLISHED["2026-11/teams/web shop/report.html"]
    assert ReportFiles.open(str(local_reports / "absent")).latest() is None


@pytest.mark.parametrize(("month", "name", "team"), [
    ("2026-13", "report.html", None), ("2026-1", "report.html", None), ("../2026-11", "report.html", None),
    ("2026-11/..", "report.html", None), ("2025-01", "report.html", None), ("evidence", "report.html", None),
    ("2026-11", "../2026-10/report.html", None), ("2026-11", "notes.txt", None), ("2026-11", ".hidden.csv", None),
    ("2026-11", "teams", None), ("2026-11", "report.html", "drafts"), ("2026-11", "report.html", ".."),
    ("2026-11", "report.html", "../../2026-10"), ("2026-11", "report.html", "payments/../web shop"),
    ("2026-11", "report.html", "Payments"), ("2026-11", "/etc/passwd", None),
])
def test_a_name_that_is_not_listed_is_refused(local_reports, month, name, team) -> None:
    with pytest.raises(NotFound):
        ReportFiles.open(str(local_reports)).read(month, name, team)


def test_the_same_names_on_s3(aws_env) -> None:
    boto3.client("s3", endpoint_url=aws_env.endpoint_url).create_bucket(
        Bucket="ui-reports", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    access = storage_access(aws_env.endpoint_url)
    publish("s3://ui-reports/reports", access)
    files = ReportFiles.open("s3://ui-reports/reports", access)
    assert files.months() == ["2026-12", "2026-11", "2026-10"] and files.latest() == "2026-11"
    assert files.teams("2026-11") == ["payments", "web shop"]
    assert files.files("2026-11", "payments") == ["instance_status.csv", "report.html"]
    assert files.read("2026-11", "report.html") == FLEET
    with pytest.raises(NotFound):
        files.read("2026-11", "report.html", "drafts")
