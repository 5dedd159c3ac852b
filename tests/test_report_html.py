"""The report pages' pieces: the SVG charts, colour bands and the top lists (report.py feeds them)."""

from __future__ import annotations

import re
from datetime import date

from patch_compliance.report_charts import STATUS_COLOURS, age_histogram_svg, trend_svg
from patch_compliance.report_html import age_bars, month_over_month, pct_class, top_cves, top_patches


def _day(n: int, **counts: int) -> dict:
    row = {"snapshot_date": date(2026, 11, n), **{s.lower(): 0 for s in STATUS_COLOURS}, **counts}
    row["instances"] = sum(row[s.lower()] for s in STATUS_COLOURS)
    judged = row["instances"] - row["stopped"]
    row["compliance_pct"] = f"{100 * row['compliant'] / judged:.1f}" if judged else ""
    return row


def test_trend_chart_draws_one_bar_segment_per_nonzero_status_and_one_point_per_day() -> None:
    trend = [_day(1, compliant=8, non_compliant=2), _day(2, compliant=5, stale=1, stopped=4), _day(3)]
    svg = str(trend_svg(trend))
    segments = re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="(#\w+)"><title>'
                          r'([\d-]+): (\d+) (\w+)</title>', svg)
    assert [(d, int(n), s) for _, d, n, s in segments] == [
        ("2026-11-01", 8, "COMPLIANT"), ("2026-11-01", 2, "NON_COMPLIANT"),
        ("2026-11-02", 5, "COMPLIANT"), ("2026-11-02", 1, "STALE"), ("2026-11-02", 4, "STOPPED")]
    assert [colour for colour, *_ in segments][-1] == STATUS_COLOURS["STOPPED"]
    assert svg.count("<circle") == 3 and "83.3% compliant" in svg  # 5 of the 6 judged on the 2nd
    assert "<script" not in svg and "No snapshots" in str(trend_svg([]))


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


def test_age_histogram_draws_one_segment_per_nonzero_bin_and_escapes_labels() -> None:
    svg = str(age_histogram_svg([("<b>ops</b>", {"0_7": 2, "over_90": 1}), ("web", {"8_14": 3})]))
    segments = re.findall(r"<title>(.+?): (\d+) open critical item\(s\) aged (.+?)</title>", svg)
    assert segments == [("&lt;b&gt;ops&lt;/b&gt;", "2", "0-7 d"), ("&lt;b&gt;ops&lt;/b&gt;", "1", "&gt; 90 d"),
                        ("web", "3", "8-14 d")]
    assert "<b>" not in svg and "<script" not in svg
    assert "No open critical item" in str(age_histogram_svg([("ops", {})]))


def test_month_over_month_puts_the_previous_calendar_month_beside_each_row() -> None:
    rows = [_remediation("2026-01", "a", "Critical", 2), _remediation("2025-12", "a", "Critical", 5),
            _remediation("2025-11", "b", "Critical", 7), _remediation("2026-01", "b", "Critical", 1)]
    current = month_over_month(rows, "2026-01")
    assert [(r["team"], r["previous"]["remediated"] if r["previous"] else None) for r in current] == [
        ("a", 5), ("b", None)]  # b's November is two months back
