"""Catalog rows are checked when made, whatever the source: feeds and APIs are untrusted input."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from patch_compliance.catalog_source import CatalogRow, SourceAnswer


def row(**changes) -> CatalogRow:
    fields = {"patch_id": "curl.x86_64", "title": "curl.x86_64:0:8.5.0-1.amzn2023.0.4", "product": "AmazonLinux2023",
              "classification": "Security", "severity": "Important", "release_date": date(2026, 10, 2),
              "cve_ids": ("CVE-2026-2000", "CVE-2026-1000", "CVE-2026-2000"), "source": "al2023"}
    return CatalogRow(**{**fields, **changes})


def test_a_valid_row_sorts_and_deduplicates_its_cves_and_becomes_a_lake_row() -> None:
    made = row()
    assert made.cve_ids == ("CVE-2026-1000", "CVE-2026-2000")
    assert made.as_row(("111111111111", "eu-west-1")) == {
        "patch_id": "curl.x86_64", "title": "curl.x86_64:0:8.5.0-1.amzn2023.0.4", "product": "AmazonLinux2023",
        "classification": "Security", "severity": "Important", "release_date": date(2026, 10, 2),
        "cve_ids": ["CVE-2026-1000", "CVE-2026-2000"], "source": "al2023", "account_id": "111111111111",
        "region": "eu-west-1"}
    unknown = row(release_date=None, classification=None, severity=None, cve_ids=())
    assert unknown.release_date is None and SourceAnswer((made, unknown)).rejected == 0


@pytest.mark.parametrize(("changes", "message"), [
    ({"patch_id": "curl; rm -rf /"}, "patch id"),
    ({"patch_id": ""}, "patch id"),
    ({"product": "Amazon<Linux>"}, "product"),
    ({"title": "curl\x1b[31m"}, "title"),
    ({"title": "x" * 1025}, "title"),
    ({"severity": "Critical\n"}, "severity"),
    ({"release_date": date(1989, 12, 31)}, "release date"),
    ({"release_date": datetime(2026, 10, 2, 12, 0)}, "release date"),
    ({"release_date": "2026-10-02"}, "release date"),
    ({"cve_ids": ("CVE-26-1",)}, "CVE ids"),
    ({"cve_ids": tuple(f"CVE-2026-{n:05d}" for n in range(2001))}, "CVE ids"),
])
def test_invalid_fields_are_refused(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        row(**changes)
