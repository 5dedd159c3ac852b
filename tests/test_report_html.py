"""The report pages' pieces: colour bands, the top lists and the age bars (report.py feeds them; the SVG charts are
tests/test_report_charts.py's)."""

from __future__ import annotations

from patch_compliance.report_html import _environment, age_bars, month_over_month, pct_class, top_cves, top_patches
from patch_compliance.template_cache import TEMPLATE_CACHE


def test_percentage_bands() -> None:
    assert [pct_class(p) for p in ("", "100.0", "95.0", "94.9", "80.0", "79.9")] == [
        "na", "good", "good", "warn", "warn", "bad"]


def _missing(instance: str, patch: str, age: int, cves: str) -> dict:
    return {"account_id": "111111111111", "region": "eu-west-1", "instance_id": instance, "patch_id": patch,
            "classification": "Security", "patch_severity": "Critical", "age_days": age, "cve_ids": cves}


def test_top_lists_rank_by_old_exposure_then_breadth() -> None:
    missing = [_missing("i-1", "openssl", 20, "CVE-2026-0001 CVE-2026-0002"),
               _missing("i-2", "openssl", 3, "CVE-2026-0001"),
               _missing("i-1", "curl", 15, "CVE-2026-0003"), _missing("i-2", "curl", 16, "CVE-2026-0003"),
               _missing("i-3", "bash", 2, "")]
    patches = top_patches(missing, threshold=14)
    assert [(p["patch_id"], p["instances"], p["old"], p["max_age"]) for p in patches] == [
        ("curl", 2, 2, 16), ("openssl", 2, 1, 20), ("bash", 1, 0, 2)]
    assert patches[1]["cves"] == "CVE-2026-0001 CVE-2026-0002"
    cves = top_cves(missing, threshold=14)
    assert [(c["cve_id"], c["instances"], c["old"], c["patches"]) for c in cves] == [
        ("CVE-2026-0003", 2, 2, "curl"), ("CVE-2026-0001", 2, 1, "openssl"), ("CVE-2026-0002", 1, 1, "openssl")]


def _remediation(month: str, team: str, severity: str, remediated: int = 0, **open_: int) -> dict:
    row = {"month": month, "team": team, "severity": severity, "remediated": remediated, "median_days": "",
           "p90_days": None, "open_critical": sum(open_.values())}
    return row | {f"open_critical_{b}": open_.get(b, 0) for b in ("0_7", "8_14", "15_30", "31_90", "over_90")}


def test_age_bars_sum_the_report_months_open_critical_items_per_team_or_severity() -> None:
    rows = [_remediation("2026-11", "b", "Critical", **{"0_7": 1, "over_90": 2}),
            _remediation("2026-11", "b", "Important", **{"8_14": 1}),
            _remediation("2026-11", "a", "Critical", **{"0_7": 1}),
            _remediation("2026-10", "c", "Critical", **{"0_7": 9})]  # another month: not open now
    assert age_bars(rows, "team", "2026-11") == [("b", {"0_7": 1, "8_14": 1, "15_30": 0, "31_90": 0, "over_90": 2}),
                                                 ("a", {"0_7": 1, "8_14": 0, "15_30": 0, "31_90": 0, "over_90": 0})]
    assert [label for label, _ in age_bars(rows, "severity", "2026-11")] == ["Critical", "Important"]


def test_month_over_month_puts_the_previous_calendar_month_beside_each_row() -> None:
    rows = [_remediation("2026-01", "a", "Critical", 2), _remediation("2025-12", "a", "Critical", 5),
            _remediation("2025-11", "b", "Critical", 7), _remediation("2026-01", "b", "Critical", 1)]
    current = month_over_month(rows, "2026-01")
    assert [(r["team"], r["previous"]["remediated"] if r["previous"] else None) for r in current] == [
        ("a", 5), ("b", None)]  # b's November is two months back


def test_the_pages_templates_are_compiled_through_the_shared_cache() -> None:
    """Each report is a new process: its templates are loaded compiled, not compiled again."""
    environment = _environment()
    assert environment.bytecode_cache is TEMPLATE_CACHE
    assert environment.autoescape("report.html.j2")  # escaping stays on for every page
