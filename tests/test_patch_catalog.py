"""The daily patch catalog task against the stand-in: SSM DescribeAvailablePatches over HTTP (moto with
sim/moto_ext) and the AL2023 repository the simulator publishes in the stand-in's S3.

Days of the simulated fleet go through the real ingest; every expectation comes from the simulator's
own catalog and model (``sim.catalog``, ``sim.truth.views_on``), never from the code under test.
"""

from __future__ import annotations

import csv
import json
import urllib.request
import zlib
from collections import defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from patch_compliance.config import load_settings
from patch_compliance.ingest import ingest_snapshot
from patch_compliance.lake import Lake
from patch_compliance.patch_catalog import catalog_sources, fill_patch_catalog, plan_lookups
from patch_compliance.report import build_report
from sim.catalog import CATALOG_START
from sim.catalog_service import CATALOGUED_FAMILIES, ROUTE, feed_url, publish_catalog
from sim.history import DayWriter
from sim.rds_writer import LocalSink, Renderer
from sim.state import SimState, build_world
from sim.truth import ground_truth, views_on

D1, D2 = date(2026, 11, 10), date(2026, 11, 12)  # a patch Tuesday; then AL2's Wednesday, AL2023's Thursday
SOURCE_OF = {"AmazonLinux2": "ssm", "WindowsServer2019": "ssm", "WindowsServer2022": "ssm", "AmazonLinux2023": "al2023"}


@pytest.fixture(scope="module")
def world():
    return build_world(SimState(seed=5, size=24, sim_date=D2))


def settings_for(endpoint_url: str, **knobs):
    settings = load_settings()
    feeds = tuple(replace(f, mirror_list=feed_url(endpoint_url)) for f in settings.patch_catalog.feeds)
    return replace(settings, patch_catalog=replace(settings.patch_catalog, feeds=feeds, **knobs))


def ingest_day(world, lake_dir: Path, day: date, work: Path) -> None:
    tree = work / f"rds-{day}"
    DayWriter(world, LocalSink(tree), Renderer(world.state.seed)).write(day, views_on(world, day))
    ingest_snapshot(str(tree), str(lake_dir), day)


def fill_day(endpoint_url: str, world, lake_dir: Path, day: date, **knobs) -> tuple[dict, list]:
    publish_catalog(endpoint_url, world.catalog, day)  # what SSM and the AL2023 repository know that day
    settings = settings_for(endpoint_url, **knobs)
    ssm = boto3.client("ssm", endpoint_url=endpoint_url, region_name="eu-west-1",
                       config=Config(retries={"mode": "adaptive", "total_max_attempts": 10}))
    sources = catalog_sources(settings, ssm, day)
    return fill_patch_catalog(Lake(str(lake_dir)), day, sources, settings, progress=lambda _m: None), sources


def ssm_requests(endpoint_url: str) -> list[dict]:
    with urllib.request.urlopen(f"{endpoint_url}{ROUTE}") as response:  # noqa: S310 - the local stand-in
        return json.loads(response.read())["requests"]


# --- expectations from the simulator ---------------------------------------------------------------


def seen(world, day: date) -> tuple[dict[tuple[str, str], set[str]], set[tuple[str, str]], set[str]]:
    """(source, patch id) -> titles the nodes reported; keys with a Missing/Failed item; Ubuntu patch ids."""
    titles: dict[tuple[str, str], set[str]] = defaultdict(set)
    missing, ubuntu = set(), set()
    families = {n.node_id: n.family for n in world.fleet.nodes}
    for node_id, scan in views_on(world, day).items():
        for item in (scan.items or ()) if scan else ():
            if families[node_id] == "Ubuntu":
                ubuntu.add(item.patch_id)
                continue
            key = (SOURCE_OF[families[node_id]], item.patch_id)
            titles[key].add(item.title)
            if item.state in ("Missing", "Failed"):
                missing.add(key)
    return dict(titles), missing, ubuntu


def versions(world, key: tuple[str, str], on: date) -> dict[str, tuple[date, tuple[str, ...]]]:
    """title -> (release date, CVEs) of every version the source publishes for the patch id on ``on``."""
    source, patch_id = key
    families = ("AmazonLinux2023",) if source == "al2023" else (
        "AmazonLinux2", "WindowsServer2019", "WindowsServer2022")
    found = {}
    for family in families:
        for update in world.catalog.updates[family].get(patch_id, ()):
            if update.version > 0 and update.release_date <= on:
                windows = family.startswith("Windows")  # the API gives CVE ids for Linux patches only
                found[update.title] = (update.release_date, () if windows else tuple(sorted(update.cve_ids)))
    for kbs in world.catalog.not_applicable.values():
        found.update({kb.title: (kb.release_date, ()) for kb in kbs if kb.patch_id == patch_id and source == "ssm"})
    return found


def due(key: tuple[str, str], day: date, every: int) -> bool:
    """docs/lake.md: an unknown patch id is asked again on one day of every cycle, by CRC-32 of 'source:id'."""
    return zlib.crc32(f"{key[0]}:{key[1]}".encode()) % every == day.toordinal() % every


def catalog_rows(lake: Lake, day: date) -> dict[tuple[str, str], dict[str, tuple]]:
    rows: dict[tuple[str, str], dict[str, tuple]] = defaultdict(dict)
    for r in lake.read("patch_catalog", [day]).to_pylist():
        rows[(r["source"], r["patch_id"])][r["title"]] = (r["release_date"], tuple(r["cve_ids"]))
    return rows


def asked_in(requests: list[dict]) -> tuple[set[str], set[str]]:
    """KB ids and Amazon Linux 2 package names the SSM requests named."""
    kbs, names = set(), set()
    for request in requests:
        for f in request.get("Filters", []):
            (kbs if f["Key"] == "PATCH_ID" else names if f["Key"] == "NAME" else set()).update(f["Values"])
    return kbs, names


def test_day_one_asks_everything_day_two_only_what_is_new(aws_env, world, tmp_path) -> None:
    lake_dir = tmp_path / "lake"
    endpoint = aws_env.endpoint_url
    seen1, _, ubuntu1 = seen(world, D1)
    ingest_day(world, lake_dir, D1, tmp_path)
    manifest, sources = fill_day(endpoint, world, lake_dir, D1, unknown_retry_days=365)
    counts = manifest["counts"]
    assert counts["asked"] == len(seen1) and counts["cached"] == counts["deferred"] == 0
    assert counts["found"] + counts["unknown"] == counts["asked"]
    assert counts["no_source"] == len(ubuntu1)
    day1_requests = ssm_requests(endpoint)
    kbs, names = asked_in(day1_requests)
    assert kbs == {pid for s, pid in seen1 if s == "ssm" and pid.startswith("KB")}
    assert names == {pid.rpartition(".")[0] for s, pid in seen1 if s == "ssm" and not pid.startswith("KB")}
    assert {s.name: s.requests for s in sources}["al2023"] == 3  # mirror list, repomd.xml, updateinfo

    lake = Lake(str(lake_dir))
    rows1 = catalog_rows(lake, D1)
    assert set(rows1) == set(seen1)
    for key, titles in seen1.items():
        published = versions(world, key, D1)
        assert {t: v for t, v in rows1[key].items() if v[0] is not None} == published, key
        assert {t for t, v in rows1[key].items() if v[0] is None} == titles - set(published), key  # asked, unknown
    assert {r["source"] for r in lake.read("patch_catalog", [D1]).to_pylist()} == {"ssm", "al2023"}

    seen2, _, _ = seen(world, D2)
    positives = {k: set(versions(world, k, D1)) for k in seen1}
    expected = set()
    for key, titles in seen2.items():
        known = positives.get(key, set()) | seen1.get(key, set())
        new = key not in seen1 or bool(titles - known)
        pending = titles - positives.get(key, set())
        if new or (pending and due(key, D2, 365)):
            expected.add(key)
    assert expected, "new versions were released between the two days"
    ingest_day(world, lake_dir, D2, tmp_path)
    manifest2, sources2 = fill_day(endpoint, world, lake_dir, D2, unknown_retry_days=365)
    assert manifest2["counts"]["asked"] == len(expected)
    assert manifest2["counts"]["cached"] + manifest2["counts"]["cached_unknown"] + len(expected) == len(seen2)
    day2_requests = ssm_requests(endpoint)[len(day1_requests):]
    kbs2, names2 = asked_in(day2_requests)
    assert kbs2 == {pid for s, pid in expected if s == "ssm" and pid.startswith("KB")}
    assert names2 == {pid.rpartition(".")[0] for s, pid in expected if s == "ssm" and not pid.startswith("KB")}
    assert len(day2_requests) < len(day1_requests)
    assert {s.name: s.requests for s in sources2}["al2023"] == (3 if any(s == "al2023" for s, _ in expected) else 0)

    rows2 = catalog_rows(Lake(str(lake_dir)), D2)
    assert set(rows2) >= set(rows1)  # carried forward: every patch id known on day 1 is still there
    for key, titles in rows1.items():
        if key not in expected:
            assert rows2[key] == titles, key  # not asked again: the very same rows
    for key in expected:
        published = versions(world, key, D2)
        assert {t: v for t, v in rows2[key].items() if v[0] is not None} == published, key


def test_lookups_are_bounded_missing_first_and_the_rest_wait_a_day(aws_env, world, tmp_path) -> None:
    lake_dir = tmp_path / "lake"
    seen1, missing1, _ = seen(world, D1)
    ingest_day(world, lake_dir, D1, tmp_path)
    manifest, _ = fill_day(aws_env.endpoint_url, world, lake_dir, D1, max_lookups_per_day=5)
    assert (manifest["counts"]["asked"], manifest["counts"]["deferred"]) == (5, len(seen1) - 5)
    asked = set(catalog_rows(Lake(str(lake_dir)), D1))
    assert len(asked) == 5 and asked <= missing1  # Missing/Failed patches are looked up first
    ingest_day(world, lake_dir, D2, tmp_path)
    manifest2, _ = fill_day(aws_env.endpoint_url, world, lake_dir, D2, max_lookups_per_day=100_000)
    seen2, _, _ = seen(world, D2)
    assert set(catalog_rows(Lake(str(lake_dir)), D2)) == asked | set(seen2)
    assert manifest2["counts"]["deferred"] == 0 and manifest2["counts"]["asked"] >= len(set(seen2) - asked)


def test_retry_rule_of_unknowns(world) -> None:
    """plan_lookups alone: a known-unknown title is asked again only on its day of the cycle."""
    from patch_compliance.catalog_source import CatalogRow
    from patch_compliance.patch_catalog import CatalogState, Need, Seen

    key = ("ssm", "curl.x86_64")
    unknown = CatalogRow("curl.x86_64", "curl.x86_64:0:1.0-1.amzn2.0.1", "AmazonLinux2", None, None, None, (), "ssm")
    state = CatalogState(rows={key: (unknown,)})
    seen_today = Seen({key: Need("AmazonLinux2", {unknown.title})}, {("111111111111", "eu-west-1"): {key}},
                      frozenset())
    config = replace(load_settings().patch_catalog, unknown_retry_days=7)
    asked_on = [d for d in (date(2026, 11, n) for n in range(1, 15)) if plan_lookups(seen_today, state, d, config).ask]
    assert asked_on == [d for d in (date(2026, 11, n) for n in range(1, 15)) if due(key, d, 7)]
    assert len(asked_on) == 2 and (asked_on[1] - asked_on[0]).days == 7


def test_first_day_lake_reports_release_date_ages_the_catalog_knows(aws_env, tmp_path) -> None:
    # A 3-day threshold: this small fleet has nothing missing for 14 days, and one snapshot could never
    # show an age above 0 without the catalog.
    settings = load_settings()
    settings = replace(settings, report=replace(settings.report, missing_critical_age_days=3))
    world = build_world(SimState(seed=5, size=24, sim_date=D2), settings=settings)
    lake_dir = tmp_path / "lake"
    ingest_day(world, lake_dir, D1, tmp_path)
    fill_day(aws_env.endpoint_url, world, lake_dir, D1)
    build_report(str(lake_dir), "2026-11", D1, str(tmp_path / "out"), settings=settings)
    with (tmp_path / "out" / "missing_critical_patches.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    families = {n.node_id: n.family for n in world.fleet.nodes}
    items = {(node_id, i.patch_id): i for node_id, scan in views_on(world, D1).items() if scan
             for i in scan.items or ()}
    by_family = defaultdict(int)
    for row in rows:
        family = families[row["instance_id"]]
        by_family[family] += 1
        item = items[(row["instance_id"], row["patch_id"])]
        if family == "Ubuntu":  # no source knows Ubuntu: the first (and only) sighting, a lower bound
            assert (row["age_basis"], row["age_days"], row["age_is_lower_bound"]) == ("first_seen_missing", "0", "true")
        else:
            assert row["age_basis"] == "release_date" and row["age_is_lower_bound"] == "false", row
            assert row["release_date"] == item.release_date.isoformat()
            assert int(row["age_days"]) == (D1 - item.release_date).days
    assert {"AmazonLinux2", "AmazonLinux2023"} <= set(by_family), by_family
    truth = ground_truth(world, D1, [D1], catalog_families=CATALOGUED_FAMILIES)
    expected_old = {(r["instance_id"], r["patch_id"]) for r in truth["missing_critical_14d"]
                    if families[r["instance_id"]] != "Ubuntu"}
    assert expected_old and expected_old == {(r["instance_id"], r["patch_id"]) for r in rows
                                             if int(r["age_days"]) >= 3}
    assert min(r["release_date"] for r in rows if r["release_date"]) >= CATALOG_START.isoformat()


def test_cve_evidence_finds_fixes_installed_before_the_lake_began(aws_env, world, tmp_path) -> None:
    """RDS lists CVEs on Missing/Failed items only; the catalog maps installed versions to the CVEs they fix."""
    from patch_compliance.evidence import collect_evidence

    lake_dir = tmp_path / "lake"
    ingest_day(world, lake_dir, D1, tmp_path)
    fill_day(aws_env.endpoint_url, world, lake_dir, D1)
    families = {n.node_id: n.family for n in world.fleet.nodes}
    fixes = {(u.family, u.title): u.cve_ids for family in ("AmazonLinux2", "AmazonLinux2023")
             for chain in world.catalog.updates[family].values() for u in chain if u.release_date <= D1}
    items = [(node_id, item) for node_id, scan in views_on(world, D1).items() if scan for item in scan.items or ()]
    on_missing = {c for _, i in items if i.state in ("Missing", "Failed") for c in i.cve_ids.split(",") if c}
    installed_only = sorted({c for node_id, i in items if i.state.startswith("Installed")
                             for c in fixes.get((families[node_id], i.title), ()) if c not in on_missing})
    assert installed_only, "some installed version fixes a CVE no node is missing"
    cve = installed_only[0]
    expected = sorted((node_id, i.patch_id, i.installed_time, i.state) for node_id, i in items
                      if i.state.startswith("Installed") and cve in fixes.get((families[node_id], i.title), ()))
    rows = collect_evidence(str(lake_dir), cve).rows
    assert sorted((r["instance_id"], r["patch_id"], r["installed_time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                   r["current_state"]) for r in rows) == expected
    assert all(r["first_seen_missing"] is None and r["first_seen_installed"] == D1 for r in rows)
