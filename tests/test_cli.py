"""The command line's exit codes: 0 ok, 1 the data failed a check, 2 bad input, 3 the environment failed.

Every non-zero exit prints one actionable ``error:`` line and no traceback unless ``--debug``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from patch_compliance.cli import main
from tests.fixtures import report_lakes as sc
from tests.fixtures.policy_world import PROD, expected_creates, pytestmark_moto
from tests.fixtures.quality_lake import DAY, REFERENCE, make_fleet, write_inventory, write_snapshot
from tests.fixtures.rds_fixtures import item, tags, write_node
from tests.fixtures.slack_receiver import slack_webhook  # noqa: F401  (fixture)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("cli")
    nodes = [sc.Node(f"i-{n:017x}", tags={"Team": "web", "Environment": "prod"},
                     items=[sc.Item("openssl.x86_64", "Missing")]) for n in range(1, 4)]
    return sc.land(tmp, {date(2026, 11, 2): nodes}).uri


def test_over_threshold_quarantine_is_a_data_failure(tmp_path: Path, capsys) -> None:
    root = tmp_path / "rds"
    write_node(root, "i-0000000000000000a", node_tags=tags(Team="web"), items=[item("a", "Installed", "COMPLIANT")])
    path = next(root.glob("AWS:ComplianceItem/*/*/*/*.json"))
    path.write_text(path.read_text() + "not json\n" * 3)
    assert main(["ingest", "--source", str(root), "--lake", str(tmp_path / "lake"), "--date", "2026-11-02"]) == 1
    err = capsys.readouterr().err
    assert error_lines(err) == [next(line for line in err.splitlines() if line.startswith("error:"))]
    assert "above the allowed 1.00%" in err and "was not published" in err and "Traceback" not in err


def test_unreachable_storage_is_an_environment_failure_in_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    # The message is under test, not the retry policy (tests/test_aws.py): two attempts instead of ten backoffs.
    monkeypatch.setattr("patch_compliance.aws.RETRY_POLICY", {"mode": "adaptive", "total_max_attempts": 2})
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = ["ingest", "--source", "s3://sync-bucket/rds", "--lake", str(tmp_path / "lake"), "--date", "2026-11-02",
            "--endpoint-url", f"http://127.0.0.1:{port}"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert "sync-bucket" in line and "Could not connect" in line and "Traceback" not in err
    assert main([*argv, "--debug"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_an_unusable_output_path_is_an_environment_failure(lake: str, tmp_path: Path, capsys) -> None:
    occupied = tmp_path / "a-file"
    occupied.write_text("already here")
    assert main(["report", "--lake", lake, "--month", "2026-11", "--out", str(occupied)]) == 3
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert str(occupied) in line and "Traceback" not in err
    assert occupied.read_text() == "already here"


def _as_a_process(*args: str) -> subprocess.CompletedProcess[str]:
    plugins = str(Path(__file__).resolve().parents[1] / "plugins")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (plugins, os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([sys.executable, "-m", "patch_compliance", *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def test_as_a_process_every_output_is_whole_and_the_exit_code_is_mains(lake: str, tmp_path: Path) -> None:
    # The entry point skips the interpreter's final garbage collection: nothing may depend on it.
    done = _as_a_process("report", "--lake", lake, "--month", "2026-11", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "took" in done.stdout  # the summary, printed last, reached the pipe
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["outputs"]) >= 5
    for name, entry in manifest["outputs"].items():
        body = (tmp_path / "out" / name).read_bytes()
        assert (len(body), hashlib.sha256(body).hexdigest()) == (entry["bytes"], entry["sha256"]), name
    refused = _as_a_process("report", "--lake", lake, "--month", "2026-1", "--out", str(tmp_path / "x"))
    assert (refused.returncode, error_lines(refused.stderr)) == (2, ["error: month must be YYYY-MM, got '2026-1'"])


def test_bad_input_is_exit_2(lake: str, capsys) -> None:
    assert main(["report", "--lake", lake, "--month", "2026-1", "--out", "/tmp/x"]) == 2
    assert error_lines(capsys.readouterr().err) == ["error: month must be YYYY-MM, got '2026-1'"]


def test_slack_refusing_an_alert_never_changes_the_verdict(tmp_path: Path, slack_webhook, capsys) -> None:  # noqa: F811
    hosts = make_fleet(100, 3, REFERENCE)
    today = hosts
    today[0].team = None  # a warning: the verdict passes, an alert is due
    uri = str(tmp_path / "lake")
    write_snapshot(uri, DAY, today, REFERENCE)
    write_inventory(uri, DAY, today)
    slack_webhook.status = 500
    assert main(["validate", "--lake", uri, "--date", DAY.isoformat(), "--slack-conn-id", "slack_webhook"]) == 0
    captured = capsys.readouterr()
    assert "PASSED" in captured.out
    [line] = error_lines(captured.err)
    assert "alert was not delivered through slack_webhook" in line and "verdict above stands (exit 0)" in line
    assert len(slack_webhook.wait_for(1)) == 1


@pytestmark_moto
def test_cli_plan_apply_and_bad_input(aws_env, capsys):
    from patch_compliance.cli import main

    assert main(["policy", "apply", "--account", PROD]) == 0
    out = capsys.readouterr().out
    assert f"Apply complete: {len(expected_creates())} change(s) applied." in out
    assert main(["policy", "plan", "--account", PROD]) == 0
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.lstrip().startswith(("+ ", "~ ", "- "))]
    assert "No changes. SSM matches the declared policy." in out
    assert main(["policy", "plan", "--account", "999999999999"]) == 2
    assert "not in the config's accounts" in capsys.readouterr().err
    assert main(["policy", "record", "--date", "2026-02-30", "--lake", "/tmp/x"]) == 2
