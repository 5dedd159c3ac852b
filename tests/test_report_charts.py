"""The report's inline SVG charts (patch_compliance.report_charts): one mark per non-zero count, labels escaped."""

from __future__ import annotations

import re
from datetime import date

from patch_compliance.report_charts import STATUS_COLOURS, age_histogram_svg, trend_svg


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


def test_age_histogram_draws_one_segment_per_nonzero_bin_and_escapes_labels() -> None:
    svg = str(age_histogram_svg([("<b>ops</b>", {"0_7": 2, "over_90": 1}), ("web", {"8_14": 3})]))
    segments = re.findall(r"<title>(.+?): (\d+) open critical item\(s\) aged (.+?)</title>", svg)
    assert segments == [("&lt;b&gt;ops&lt;/b&gt;", "2", "0-7 d"), ("&lt;b&gt;ops&lt;/b&gt;", "1", "&gt; 90 d"),
                        ("web", "3", "8-14 d")]
    assert "<b>" not in svg and "<script" not in svg
    assert "No open critical item" in str(age_histogram_svg([("ops", {})]))


def test_a_fully_compliant_day_fills_the_plot_and_puts_its_point_at_the_top() -> None:
    # 920 x 300, margins left 48, right 52, top 16, bottom 58: the plot is 820 x 226; one day is one slot of 820
    # with a bar 70 % wide (574) centred in it (x = 48 + 123 = 171), its point at the bar's middle (171 + 287).
    svg = str(trend_svg([_day(5, compliant=10)]))
    assert '<rect x="171.0" y="16.0" width="574.0" height="226.0" fill="#2e7d32">' in svg
    assert '<circle cx="458.0" cy="16.0" r="3" fill="#1565c0"><title>100.0% compliant</title>' in svg
    assert '<polyline points="458.0,16.0"' in svg
    assert '<text x="458.0" y="256" text-anchor="middle" class="axis">11-05</text>' in svg
    # the left axis counts instances (peak 10, quarter steps), the right one compliance in 25 % steps
    assert [float(v) for v in re.findall(r'text-anchor="end" class="axis">([\d.]+)</text>', svg)] == [
        0, 2, 5, 8, 10]  # 2.5 and 7.5 round half to even
    assert re.findall(r'class="axis">(\d+%)</text>', svg) == ["0%", "25%", "50%", "75%", "100%"]


def test_age_bars_are_as_long_as_their_share_of_the_longest_row() -> None:
    # plot width 920 - 190 - 60 = 670; the longest row (3 items) spans it, 2 of 3 is 446.7, 1 of 3 is 223.3
    svg = str(age_histogram_svg([("ops", {"0_7": 2, "over_90": 1}), ("web", {"8_14": 1})]))
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="\d+" width="([\d.]+)" height="16"', svg)]
    assert widths == [446.7, 223.3, 223.3]
    assert '<rect x="636.7" y="13" width="223.3"' in svg  # ops' second segment starts where the first ends
    totals = re.findall(r'<text x="[\d.]+" y="\d+" class="axis">(\d+)</text>', svg)
    assert totals == ["3", "1"]


def test_a_long_label_is_cut_to_28_characters_with_an_ellipsis() -> None:
    label = "platform-engineering-europe-west"  # 32 characters
    svg = str(age_histogram_svg([(label, {"0_7": 1})]))
    assert f">{label[:27]}…</text>" in svg
    assert f"<title>{label}: 1 open critical item(s)" in svg  # the tooltip keeps the whole name
