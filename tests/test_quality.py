"""Data quality: real Great Expectations runs over crafted lake snapshots.

Each test writes a fleet it knows completely, breaks it in one way, and checks that exactly the
expected expectations fail and exactly the broken instances are named.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from patch_compliance.cli import main
from patch_compliance.config import Settings, load_settings, suites_dir
from patch_compliance.lake import Lake
from patch_compliance.messages import quality_alert_blocks, quality_alert_text
from patch_compliance.notify import send_slack
from patch_compliance.quality import (
    FRAME_BUILDERS,
    QualityConfigError,
    SnapshotData,
    _categorical_frame,
    _run_suites,
    load_suites,
    load_summary,
    suite_parameters,
    validate_snapshot,
)
from tests.fixtures.quality_lake import (
    DAY,
    PREVIOUS_DAY,
    REFERENCE,
    copy_hosts,
    make_fleet,
    write_inventory,
    write_snapshot,
)
from tests.fixtures.slack_receiver import slack_webhook  # noqa: F401  (fixture)

pytestmark = pytest.mark.xdist_group("quality")

# The checks' descriptions (each expectation's meta.description); thresholds are in `expected`.
TEAM_PER_ENVIRONMENT = "Team tag on at least quality.tag_coverage_min of active instances in every Environment"
PATCH_GROUP_PER_ENVIRONMENT = ("PatchGroup tag on at least quality.tag_coverage_min of active instances in every "
                               "Environment")
TEAM = "Team tag on at least quality.tag_coverage_min of active instances"
FRESH_SHARE = "at least quality.fresh_share_min of active instances captured within ingest.freshness_hours"
STALE_NEVER_GREEN = "instances not captured within ingest.freshness_hours never report COMPLIANT or NON_COMPLIANT"
NEWEST_CAPTURE = "newest capture within ingest.freshness_hours of the reference time"
ENVIRONMENTS = "Environment is one of quality.allowed_environments"
INSTANCE_COUNT = "instance count within ±quality.max_instance_count_change of the previous snapshot"
ROW_COUNT = "patch row count within ±quality.max_row_count_change of the previous snapshot"
CLOCK_AHEAD = ("no instance captured more than ingest.future_capture_tolerance_hours after the reference time (a "
               "clock running ahead)")


def _lake(tmp_path, hosts, today_hosts=None, inventory_unmanaged: int | None = 0) -> str:
    """A lake with yesterday's clean snapshot and today's (possibly broken) one."""
    uri = str(tmp_path / "lake")
    write_snapshot(uri, PREVIOUS_DAY, hosts, REFERENCE - timedelta(days=1))
    write_snapshot(uri, DAY, today_hosts if today_hosts is not None else hosts, REFERENCE)
    if inventory_unmanaged is not None:
        write_inventory(uri, DAY, today_hosts if today_hosts is not None else hosts, inventory_unmanaged)
    return uri


def _failed(result) -> dict[str, object]:
    return {c.description: c for c in result.checks if not c.success}


def test_clean_snapshot_passes_and_stores_evidence(tmp_path):
    hosts = make_fleet(90, 12, REFERENCE)
    uri = _lake(tmp_path, hosts)
    result = validate_snapshot(uri, DAY)

    assert result.success, result.format_table()
    assert not result.critical_failures and not result.warnings and not result.offenders
    assert result.skipped == {}
    suites = {c.suite for c in result.checks}
    assert suites == {"patch_compliance", "instances", "instances_by_environment", "ec2_inventory",
                      "snapshot_volume", "lake_schema"}
    assert {c.severity for c in result.checks} == {"critical", "warning"}
    evidence = json.loads((tmp_path / "lake/validation/results/snapshot_date=2026-11-02/results.json").read_text())
    assert evidence["success"] is True and evidence["parameters"]["tag_coverage_min"] == 0.99
    patch_run = next(s for s in evidence["suites"] if s["suite"] == "patch_compliance")
    assert patch_run["rows"] == 90 * 12
    summary = load_summary(uri, [DAY])
    assert summary.num_rows == len(result.checks)
    assert set(summary["success"].to_pylist()) == {True}
    index = tmp_path / "lake/validation/data_docs/index.html"
    assert result.data_docs_index == str(index) and "patch_compliance" in index.read_text()

    # Re-validating supersedes the day's results instead of adding to them.
    first = Lake(uri).manifest(DAY, "quality")
    assert first["success"] is True and first["checks"] == len(result.checks)
    validate_snapshot(uri, DAY)
    assert load_summary(uri, [DAY]).num_rows == len(result.checks)
    assert Lake(uri).manifest(DAY, "quality")["run_id"] != first["run_id"]
    assert sorted(p.name for p in (tmp_path / "lake/validation/results/snapshot_date=2026-11-02").iterdir()) == [
        "results.json"]


def test_dropped_team_tags_fail_coverage_and_slack_names_last_known_teams(tmp_path, slack_webhook):  # noqa: F811
    hosts = make_fleet(200, 5, REFERENCE)
    today = copy_hosts(hosts)
    dropped = today[10:16]  # 6 of 200 hosts = 3 %
    for host in dropped:
        host.team = None
    uri = _lake(tmp_path, hosts, today)
    result = validate_snapshot(uri, DAY)

    assert result.success  # tag gaps alert the owners; untagged hosts still report, under (untagged)
    failed = _failed(result)
    team = failed[TEAM]
    assert team.severity == "warning" and team.unexpected_count == 6 and team.observed.startswith("97%")
    assert team.expected == "≥ 99% present"  # quality.tag_coverage_min, bound by GX
    assert set(team.offending) == {h.instance_id for h in dropped}
    assert TEAM_PER_ENVIRONMENT in failed
    assert {c.description for c in result.warnings} == set(failed) and not result.critical_failures
    # Owners: the hosts have no Team tag today; yesterday's snapshot still knows whose they are.
    by_id = {o["instance_id"]: o for o in result.offenders}
    assert set(by_id) == {h.instance_id for h in dropped}
    yesterday = {h.instance_id: h.team for h in hosts}
    for host in dropped:
        assert by_id[host.instance_id]["team"] == yesterday[host.instance_id]
        assert by_id[host.instance_id]["team_source"] == "Team tag on 2026-11-01"
        assert by_id[host.instance_id]["name"] == host.name

    send_slack(quality_alert_text(result), quality_alert_blocks(result, "http://airflow.local/run/1",
                                                                "http://docs.local/index.html"))
    [request] = slack_webhook.wait_for(1)
    assert request.path.startswith("/services/")
    body = request.body
    assert body["text"].startswith("Patch compliance data quality warnings for 2026-11-02")
    text = request.text_content()
    assert TEAM in text and "97% pass (6 of 200 fail)" in text and "expected: ≥ 99% present" in text
    for host in dropped:
        line = next(line for line in text.splitlines() if host.instance_id in line)
        assert yesterday[host.instance_id] in line and host.name in line
    buttons = [e["url"] for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["http://airflow.local/run/1", "http://docs.local/index.html"]


def test_stale_account_fails_freshness_and_lists_its_instances(tmp_path):
    hosts = make_fleet(90, 6, REFERENCE)
    today = copy_hosts(hosts)
    stale = [h for h in today if h.account_id == "222222222222"]
    for host in stale:
        host.last_capture = REFERENCE - timedelta(hours=40)
    stale[0].status_override = "COMPLIANT"  # stale data shown as green: must never pass
    uri = _lake(tmp_path, hosts, today)
    result = validate_snapshot(uri, DAY)

    assert not result.success
    failed = _failed(result)
    assert set(failed) == {FRESH_SHARE,
                           STALE_NEVER_GREEN}
    green = failed[STALE_NEVER_GREEN]
    assert green.offending == (stale[0].instance_id,)
    check = failed[FRESH_SHARE]
    assert check.unexpected_count == len(stale) == 30 and check.expected == "≥ 95% in {True}"
    assert set(check.offending) == {h.instance_id for h in stale}
    ages = {o["instance_id"]: o["capture_age_hours"] for o in result.offenders}
    assert ages == {h.instance_id: 40.0 for h in stale}
    assert {o["account_name"] for o in result.offenders} == {"staging"}
    text = "\n".join(b["text"]["text"] for b in quality_alert_blocks(result) if b["type"] == "section")
    assert f"`{stale[0].instance_id}` team *{stale[0].team}*" in text  # two problems: listed first
    assert "last capture 40.0 h before the reference time" in text


def test_newest_capture_too_old_fails_even_with_an_explicit_reference(tmp_path):
    hosts = make_fleet(30, 4, REFERENCE)
    uri = _lake(tmp_path, hosts)
    reference = REFERENCE + timedelta(hours=30)
    result = validate_snapshot(uri, DAY, reference_time=reference)
    failed = _failed(result)
    newest_age = min((reference - h.last_capture).total_seconds() / 3600 for h in hosts)
    assert newest_age > 26
    assert NEWEST_CAPTURE in failed
    assert float(failed[NEWEST_CAPTURE].observed) == round(newest_age, 2)
    assert failed[NEWEST_CAPTURE].expected == "≤ 26.0"  # ingest.freshness_hours
    assert not result.success and result.reference_time == reference


def test_corrupted_states_and_duplicates_fail_validity(tmp_path):
    hosts = make_fleet(60, 10, REFERENCE)
    today = copy_hosts(hosts)
    today[3].patches[0] = ("pkg0.x86_64", "Bogus", "COMPLIANT")
    today[4].patches[1] = ("pkg1.x86_64", "Installed", "NON_COMPLIANT")  # state and status disagree
    today[5].patches.append(today[5].patches[2])  # the same patch twice on one instance
    uri = _lake(tmp_path, hosts, today)
    result = validate_snapshot(uri, DAY)

    assert not result.success
    failed = _failed(result)
    assert set(failed) == {"patch_state is a Patch Manager state",
                           "patch_state and status agree (data contract §2)",
                           "(snapshot, instance, patch) is unique"}
    assert failed["patch_state is a Patch Manager state"].unexpected_count == 1
    assert failed["patch_state is a Patch Manager state"].offending == (today[3].instance_id,)
    assert set(failed["patch_state and status agree (data contract §2)"].offending) == {
        today[3].instance_id, today[4].instance_id}
    assert failed["(snapshot, instance, patch) is unique"].offending == (today[5].instance_id,)
    assert all(c.severity == "critical" for c in failed.values())


def test_environment_and_patch_group_must_agree(tmp_path):
    hosts = make_fleet(30, 3, REFERENCE)
    today = copy_hosts(hosts)
    today[0].patch_group = "prod-linux" if today[0].environment != "prod" else "dev-linux"
    today[1].environment = "qa"
    uri = _lake(tmp_path, hosts, today)
    failed = _failed(validate_snapshot(uri, DAY))
    assert set(failed) == {ENVIRONMENTS,
                           "PatchGroup is one allowed for the instance's Environment"}
    assert set(failed["PatchGroup is one allowed for the instance's Environment"].offending) == {
        today[0].instance_id, today[1].instance_id}
    assert failed[ENVIRONMENTS].offending == (today[1].instance_id,)
    assert failed[ENVIRONMENTS].expected == "all in {dev, staging, prod}"


def test_unmanaged_instances_only_warn_and_name_their_ec2_team(tmp_path):
    hosts = make_fleet(60, 3, REFERENCE)
    uri = _lake(tmp_path, hosts, inventory_unmanaged=12)  # 60 of 72 managed = 83.3 % < 85 %
    result = validate_snapshot(uri, DAY)
    assert result.success
    [warning] = result.warnings
    assert warning.check == "completeness" and warning.unexpected_count == 12
    assert {o["team"] for o in result.offenders} == {"data"}
    assert all(o["name"].startswith("unmanaged-") for o in result.offenders)


def test_day_over_day_drop_fails_and_missing_inputs_are_skipped(tmp_path):
    hosts = make_fleet(60, 4, REFERENCE)
    uri = _lake(tmp_path, hosts, hosts[:40], inventory_unmanaged=None)  # a third fewer instances
    result = validate_snapshot(uri, DAY)
    failed = _failed(result)
    assert INSTANCE_COUNT in failed
    observed = failed[INSTANCE_COUNT].observed
    assert observed == "0% pass (1 of 1 fail); 2026-11-01: -0.3333", observed
    assert failed[INSTANCE_COUNT].expected == "all between -0.1 and 0.1"
    assert failed[ROW_COUNT].severity == "warning"
    assert set(result.skipped) == {"ec2_inventory"}

    first = validate_snapshot(uri, PREVIOUS_DAY)
    assert first.success and set(first.skipped) == {"ec2_inventory", "snapshot_volume"}


def test_a_file_with_a_missing_column_fails_the_schema_suite(tmp_path):
    hosts = make_fleet(30, 3, REFERENCE)
    uri = _lake(tmp_path, hosts)
    lake = Lake(uri)
    victim = lake.committed_files("patch_compliance", [DAY])[0]
    table = pq.read_table(victim)
    pq.write_table(table.drop_columns(["title"]), victim)
    failed = _failed(validate_snapshot(uri, DAY))
    assert set(failed) == {"every file has exactly the contract's columns and types"}
    check = failed["every file has exactly the contract's columns and types"]
    assert check.offending == (lake.relative(victim),)
    assert "patch_compliance.title:MISSING" in check.observed


def test_cli_exit_codes_and_table(tmp_path, capsys):
    hosts = make_fleet(30, 3, REFERENCE)
    today = copy_hosts(hosts)
    today[0].patches[0] = ("pkg0.x86_64", "Bogus", "COMPLIANT")
    uri = _lake(tmp_path, hosts, today)
    assert main(["validate", "--lake", uri, "--date", "2026-11-01"]) == 0
    assert "PASSED: 0 critical" in capsys.readouterr().out
    assert main(["validate", "--lake", uri, "--date", "2026-11-02", "--data-docs-dir",
                 str(tmp_path / "docs")]) == 1
    out = capsys.readouterr().out
    assert "FAIL    critical  patch_compliance          patch_state is a Patch Manager state" in out
    assert (tmp_path / "docs/index.html").is_file()
    assert main(["validate", "--lake", uri, "--date", "2026-10-31"]) == 2
    assert "no committed snapshot for 2026-10-31" in capsys.readouterr().err
    assert main(["validate", "--lake", uri, "--date", "2026-13-01"]) == 2


def own_suites(tmp_path: Path) -> tuple[Path, Settings]:
    """An empty suites directory, and the project's settings reading their suites from it."""
    suites = tmp_path / "suites"
    suites.mkdir(parents=True)
    settings = load_settings()
    return suites, replace(settings, quality=replace(settings.quality, suites_dir=str(suites)))


def test_every_suite_file_is_a_gx_suite_as_written():
    """GX's own loaders read each file unmodified; every expectation states a native severity."""
    from great_expectations.core import ExpectationSuite
    from great_expectations.core.expectation_suite import ExpectationSuiteSchema
    from great_expectations.expectations.metadata_types import FailureSeverity

    settings = load_settings()
    known = suite_parameters(settings.quality, settings)
    files = sorted(suites_dir(settings.quality.suites_dir).glob("*.json"))
    assert [f.stem for f in files] == ["ec2_inventory", "instances", "instances_by_environment", "lake_schema",
                                       "patch_compliance", "snapshot_volume"]
    used: set[str] = set()
    for path in files:
        text = path.read_text()
        assert "${" not in text, path
        raw = json.loads(text)
        with path.open() as f:
            suite = ExpectationSuite(**json.load(f))
        stored = ExpectationSuite(**ExpectationSuiteSchema().loads(text))  # GX's file-backed suite store
        assert suite.name == stored.name == path.stem
        assert len(suite.expectations) == len(stored.expectations) == len(raw["expectations"]) > 0, path
        for given, expectation in zip(raw["expectations"], suite.expectations, strict=True):
            assert given["severity"] in {s.value for s in FailureSeverity}, given  # explicit, not GX's default
            assert expectation.severity == FailureSeverity(given["severity"])
            assert "severity" not in (given.get("meta") or {}), given
            assert expectation.meta["description"] and expectation.meta["check"], given
        assert suite.meta["frame"] in FRAME_BUILDERS
        used |= set(suite.suite_parameter_options)
    assert used == set(known)  # every parameter the suites use is bound, and every bound one is used
    assert load_suites(known, suites_dir(settings.quality.suites_dir)).keys() == {f.stem for f in files}


def test_suite_files_with_unbound_parameters_or_bad_severities_are_rejected(tmp_path):
    hosts = make_fleet(9, 2, REFERENCE)
    uri = _lake(tmp_path, hosts)
    suites, settings = own_suites(tmp_path)

    def rejected(expectation: dict, match: str) -> None:
        suite = {"name": "x", "meta": {"frame": "instances"}, "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "team"}, **expectation}]}
        (suites / "x.json").write_text(json.dumps(suite))
        with pytest.raises(QualityConfigError, match=match):
            validate_snapshot(uri, DAY, settings=settings)

    rejected({"kwargs": {"column": "team", "mostly": {"$PARAMETER": "nope"}}, "severity": "critical"},
             r"x\.json: no value for \$PARAMETER nope; known: \[.*'tag_coverage_min'")
    rejected({"severity": "major"}, r"x\.json is not a GX expectation suite: .*severity.*critical, warning, info")
    rejected({"meta": {"severity": "warning"}}, r"x\.json expectation 0 .*: needs a severity")
    rejected({"kwargs": {"column": "team", "mostly": "${tag_coverage_min}"}, "severity": "warning"},
             r"x\.json expectation 0 \(expect_column_values_to_not_be_null\): .*mostly")
    rejected({"severity": "warning", "rule": "x"}, r"is not a GX expectation suite: .*rule.*Unknown field")


def test_bound_parameters_decide_the_outcome(tmp_path):
    """The suites' $PARAMETERs take the config's values at run time: a stricter one fails the same data."""
    hosts = make_fleet(100, 2, REFERENCE)
    today = copy_hosts(hosts)
    for host in today[:3]:
        host.team = None
    late = today[50:53]
    for host in late:
        host.last_capture = REFERENCE - timedelta(hours=40)
    uri = _lake(tmp_path, hosts, today)
    settings = load_settings()

    default = validate_snapshot(uri, DAY, settings=settings)  # 97 % fresh ≥ 0.95; 97 % Team < 0.99
    assert default.success and {c.description for c in default.warnings} == {TEAM, TEAM_PER_ENVIRONMENT}

    stricter = replace(settings, quality=replace(settings.quality, tag_coverage_min=0.9, fresh_share_min=0.99))
    result = validate_snapshot(uri, DAY, settings=stricter)
    assert not result.success and not result.warnings
    [fresh] = result.critical_failures
    assert fresh.description == FRESH_SHARE and fresh.expected == "≥ 99% in {True}"
    assert set(fresh.offending) == {h.instance_id for h in late} == {o["instance_id"] for o in result.offenders}
    team = next(c for c in result.checks if c.description == TEAM)
    assert team.success and team.expected == "≥ 90% present"

    # The evidence keeps what GX ran: the bound value and the native severity, not the $PARAMETER.
    evidence = json.loads((tmp_path / "lake/validation/results/snapshot_date=2026-11-02/results.json").read_text())
    assert evidence["parameters"]["fresh_share_min"] == 0.99 and evidence["success"] is False
    [run] = [s for s in evidence["suites"] if s["suite"] == "instances"]
    [config] = [r["expectation_config"] for r in run["result"]["results"]
                if r["expectation_config"]["kwargs"]["column"] == "captured_in_window"]
    assert config["kwargs"]["mostly"] == 0.99 and config["severity"] == "critical"
    suite_file = json.loads((suites_dir("expectations") / "instances.json").read_text())
    [raw] = [e for e in suite_file["expectations"] if e["kwargs"]["column"] == "captured_in_window"]
    assert raw["kwargs"]["mostly"] == {"$PARAMETER": "fresh_share_min"}


def test_info_expectations_are_recorded_but_neither_block_nor_alert(tmp_path):
    hosts = make_fleet(9, 2, REFERENCE)
    uri = _lake(tmp_path, hosts)
    suites, settings = own_suites(tmp_path)
    (suites / "fyi.json").write_text(json.dumps({"name": "fyi", "meta": {"frame": "instances"}, "expectations": [
        {"type": "expect_column_values_to_be_in_set", "severity": "info", "kwargs": {
            "column": "environment", "value_set": ["prod"]}, "meta": {"description": "only prod (for the record)"}}]}))
    result = validate_snapshot(uri, DAY, settings=settings)
    [check] = result.checks
    assert not check.success and check.severity == "info" and check.unexpected_count == 6
    assert result.success and not result.warnings and not result.critical_failures and not result.offenders
    assert load_summary(uri, [DAY])["severity"].to_pylist() == ["info"]


def test_s3_lake_on_the_local_stand_in(tmp_path, aws_env):
    import boto3

    boto3.client("s3").create_bucket(Bucket="quality-lake",
                                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    hosts = make_fleet(40, 3, REFERENCE)
    today = copy_hosts(hosts)
    today[7].team = None
    uri = "s3://quality-lake/lake"
    write_snapshot(uri, PREVIOUS_DAY, hosts, REFERENCE - timedelta(days=1))
    write_snapshot(uri, DAY, today, REFERENCE)
    result = validate_snapshot(uri, DAY, data_docs_dir=str(tmp_path / "docs"))

    assert result.success and result.warnings  # one untagged host: an alert, not a block
    assert [o["instance_id"] for o in result.offenders] == [today[7].instance_id]
    assert result.offenders[0]["team"] == hosts[7].team
    s3 = boto3.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="quality-lake", Prefix="lake/validation/")["Contents"]
            if not o["Key"].endswith("/")}  # pyarrow leaves directory markers
    assert keys == {"lake/validation/results/snapshot_date=2026-11-02/results.json"}
    assert load_summary(uri, [DAY]).num_rows == len(result.checks)
    assert (tmp_path / "docs/index.html").is_file()

    # Without a local directory, the Data Docs of an S3 lake are published into the lake itself.
    again = validate_snapshot(uri, DAY)
    assert again.data_docs_index == "s3://quality-lake/lake/validation/data_docs/index.html"
    index = s3.get_object(Bucket="quality-lake", Key="lake/validation/data_docs/index.html")["Body"].read()
    assert b"snapshot_date=2026-11-02" in index
    pages = s3.list_objects_v2(Bucket="quality-lake", Prefix="lake/validation/data_docs/validations/")["Contents"]
    assert {p["Key"].split("/")[4] for p in pages if p["Key"].endswith(".html")} == {
        "patch_compliance", "instances", "instances_by_environment", "snapshot_volume", "lake_schema"}


def test_through_ingest_from_rds_json(tmp_path):
    """The suites accept what ingest really writes, and catch faults present in the RDS source."""
    from patch_compliance.ingest import ingest_snapshot
    from tests.fixtures.quality_lake import write_rds_tree

    hosts = make_fleet(100, 8, REFERENCE)
    lake = str(tmp_path / "lake")
    write_rds_tree(str(tmp_path / "rds1"), [replace(h, last_capture=h.last_capture - timedelta(days=1))
                                            for h in hosts])
    ingest_snapshot(str(tmp_path / "rds1"), lake, PREVIOUS_DAY)
    clean = validate_snapshot(lake, PREVIOUS_DAY)
    assert clean.success and not clean.warnings, clean.format_table()

    today = copy_hosts(hosts)
    for host in today[20:23]:
        host.team = None
    today[40].patches[0] = (today[40].patches[0][0], "Bogus", "COMPLIANT")
    write_rds_tree(str(tmp_path / "rds2"), today)
    ingest_snapshot(str(tmp_path / "rds2"), lake, DAY)
    result = validate_snapshot(lake, DAY)
    failed = _failed(result)
    assert set(failed) == {TEAM,
                           TEAM_PER_ENVIRONMENT,
                           "patch_state is a Patch Manager state",
                           "patch_state and status agree (data contract §2)"}, result.format_table()
    owners = {o["instance_id"]: o["team"] for o in result.offenders}
    assert owners == {**{h.instance_id: h.team for h in hosts[20:23]}, today[40].instance_id: today[40].team}


def test_coverage_is_also_required_per_environment(tmp_path):
    hosts = make_fleet(300, 1, REFERENCE)  # 100 per Environment
    today = copy_hosts(hosts)
    prod = [h for h in today if h.environment == "prod"][:2]
    for host in prod:
        host.patch_group = None  # 298 of 300 overall (passes), 98 of 100 in prod (fails)
    uri = _lake(tmp_path, hosts, today)
    result = validate_snapshot(uri, DAY)
    failed = _failed(result)
    assert set(failed) == {PATCH_GROUP_PER_ENVIRONMENT}
    check = failed[PATCH_GROUP_PER_ENVIRONMENT]
    assert check.offending == ("prod",) and check.observed.endswith("prod: 0.98")
    assert {o["instance_id"] for o in result.offenders} == {h.instance_id for h in prod}


def test_an_expectation_that_errors_fails_critically_with_its_message(tmp_path):
    hosts = make_fleet(9, 2, REFERENCE)
    uri = _lake(tmp_path, hosts)
    suites, settings = own_suites(tmp_path)
    (suites / "typo.json").write_text(json.dumps({"name": "typo", "meta": {"frame": "instances"}, "expectations": [
        {"type": "expect_column_values_to_not_be_null", "severity": "critical", "kwargs": {"column": "teem"},
         "meta": {"description": "a misspelt column"}}]}))
    result = validate_snapshot(uri, DAY, settings=settings)
    [check] = result.checks
    assert not result.success and check.description == "a misspelt column"
    assert check.observed.startswith("error: ") and "teem" in check.observed


def test_hostile_names_and_teams_reach_slack_as_inert_text(tmp_path, slack_webhook):  # noqa: F811
    hosts = make_fleet(100, 3, REFERENCE)
    today = copy_hosts(hosts)
    today[3].team = None
    today[3].name = "<https://evil.example/login|Open runbook>"
    hosts[3].team = "<!channel>"  # yesterday's Team tag names the owner in the alert
    uri = _lake(tmp_path, hosts, today)
    result = validate_snapshot(uri, DAY)
    send_slack(quality_alert_text(result), quality_alert_blocks(result))
    [request] = slack_webhook.wait_for(1)
    text = str(request.body)
    assert "<!channel>" not in text and "<https://evil.example" not in text
    assert "&lt;!channel&gt;" in text and "&lt;https://evil.example/login|Open runbook&gt;" in text


def test_lost_compliance_lines_fail_critically_and_a_clock_ahead_warns(tmp_path):
    """Both name their hosts: the node whose items were quarantined, the node whose clock runs ahead."""
    from patch_compliance.ingest import ingest_snapshot
    from tests.fixtures.quality_lake import write_rds_tree

    hosts = make_fleet(100, 4, REFERENCE)
    hosts[5] = replace(hosts[5], last_capture=REFERENCE + timedelta(days=3))
    root = tmp_path / "rds"
    write_rds_tree(str(root), hosts)
    lossy = next(root.glob(f"AWS:ComplianceItem/*/*/*/{hosts[9].instance_id}.json"))
    lossy.write_text(lossy.read_text() + '{"ComplianceType": "Patch", "Id": "cut-o\n')
    lake = str(tmp_path / "lake")
    ingest_snapshot(str(root), lake, DAY)
    result = validate_snapshot(lake, DAY)
    failed = _failed(result)
    lost = failed["no instance lost AWS:ComplianceItem lines to quarantine (its status would be a guess)"]
    ahead = failed[CLOCK_AHEAD]
    assert not result.success and lost.severity == "critical" and ahead.severity == "warning"
    assert set(lost.offending) == {hosts[9].instance_id} and set(ahead.offending) == {hosts[5].instance_id}
    assert {o["instance_id"] for o in result.offenders} >= {hosts[5].instance_id, hosts[9].instance_id}
    assert not [c for c in result.critical_failures if c is not lost]  # the reference time was not moved


def _patch_rows(bad: bool) -> pa.Table:
    """A patch_compliance frame's columns, with one broken value per expectation when ``bad``."""
    rows = []
    for n in range(40):
        rows.append({"snapshot_date": DAY, "account_id": "111111111111", "region": "eu-west-1",
                     "instance_id": f"i-{n:017x}", "patch_id": f"pkg{n % 7}.x86_64", "patch_state": "Installed",
                     "status": "COMPLIANT", "capture_time": REFERENCE})
    if bad:
        rows[1]["instance_id"] = "host-1"
        rows[2]["account_id"] = "1234"
        rows[3]["patch_id"] = None
        rows[4]["capture_time"] = None
        rows[5]["patch_state"] = "Bogus"
        rows[6]["status"] = "MAYBE"
        rows[7]["instance_id"] = None
        rows[9] = dict(rows[8])  # a duplicate (snapshot, instance, patch)
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("snapshot_date", pa.date32()), ("account_id", pa.string()), ("region", pa.string()),
        ("instance_id", pa.string()), ("patch_id", pa.string()), ("patch_state", pa.string()),
        ("status", pa.string()), ("capture_time", pa.timestamp("us", "UTC"))]))
    state = pc.binary_join_element_wise(pc.fill_null(table["patch_state"], "(null)"),
                                        pc.fill_null(table["status"], ""), "/")
    return table.append_column("state_status", state)


def _gx_outcomes(frame) -> list[tuple]:
    settings = load_settings()
    params = suite_parameters(settings.quality, settings)
    specs = load_suites(params, suites_dir(settings.quality.suites_dir))
    data = SnapshotData(None, DAY, REFERENCE, settings.quality, 24.0, frame, None,  # type: ignore[arg-type]
                        frames={"patch_compliance": frame})
    [run], _ = _run_suites(data, {"patch_compliance": specs["patch_compliance"]}, params, None)
    return [(r.expectation_config.type, r.expectation_config.kwargs.get("column"), r.success,
             r.result.get("unexpected_count"), sorted(map(str, r.result.get("partial_unexpected_list") or [])),
             sorted(map(str, r.result.get("partial_unexpected_index_list") or [])))
            for r in run["result"].results]


@pytest.mark.parametrize("bad", [False, True])
def test_the_categorical_patch_frame_gets_the_verdicts_of_plain_text(bad):
    """The patch frame's Categorical columns are only an encoding: GX's results are those of plain strings."""
    table = _patch_rows(bad)
    frame = _categorical_frame(table)
    assert all(str(frame[c].dtype) == "category" for c in frame.columns if c != "capture_time")
    outcomes = _gx_outcomes(frame)
    assert outcomes == _gx_outcomes(table.to_pandas())
    assert all(o[2] for o in outcomes) is not bad
    if bad:
        assert {o[0] for o in outcomes if not o[2]} == {
            "expect_column_values_to_not_be_null", "expect_column_values_to_match_regex",
            "expect_column_values_to_be_in_set", "expect_compound_columns_to_be_unique"}
        assert sum(not o[2] for o in outcomes) == 9  # every expectation of the suite caught its broken value

