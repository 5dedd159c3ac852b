"""The failure notifiers posting to a real local Slack receiver: from a real task failure, and per run reason."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from patch_compliance.notifiers import RunFailureNotifier, TaskFailureNotifier
from tests.fixtures.slack_receiver import SlackReceiver, slack_webhook  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]


DAG_SCRIPT = textwrap.dedent("""
    from datetime import datetime

    from airflow.sdk import DAG, task

    from patch_compliance.notifiers import TaskFailureNotifier

    with DAG("notify_probe", schedule=None, start_date=datetime(2026, 11, 1), catchup=False) as dag:
        @task(on_failure_callback=TaskFailureNotifier("slack_webhook"), retries=0)
        def explode():
            raise ValueError("lake unreachable: boom")

        explode()

    if __name__ == "__main__":
        dag.test()
""")


@pytest.mark.e2e
def test_task_failure_notifier_posts_dag_task_run_error_and_log_link_from_a_real_run(tmp_path):
    home = tmp_path / "airflow"
    home.mkdir()
    (tmp_path / "probe_dag.py").write_text(DAG_SCRIPT)
    with SlackReceiver() as receiver:
        env = {**os.environ, "AIRFLOW_HOME": str(home), "PYTHONPATH": str(REPO / "plugins"),
               "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path),
               "AIRFLOW__API__BASE_URL": "http://airflow.example:8080",
               "AIRFLOW_CONN_SLACK_WEBHOOK": receiver.connection_json()}
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=180)
        run = subprocess.run([sys.executable, str(tmp_path / "probe_dag.py")], env=env, capture_output=True,
                             text=True, timeout=180)
        [request] = receiver.wait_for(1, timeout=30)
    assert "lake unreachable: boom" in run.stdout + run.stderr  # the task really failed
    body = request.body
    assert body["text"].startswith("Airflow task failed: notify_probe.explode (run ")
    text = request.text_content()
    assert "`notify_probe`" in text and "`explode`" in text and "ValueError: lake unreachable: boom" in text
    [log_button] = [e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert log_button["url"].startswith("http://airflow.example:8080/")
    assert "notify_probe" in log_button["url"] and "explode" in log_button["url"]


def test_run_notifier_is_silent_when_a_task_failure_failed_the_run(slack_webhook):  # noqa: F811
    RunFailureNotifier("slack_webhook").notify({"reason": "task_failure", "run_id": "manual__1"})
    time.sleep(0.5)
    assert slack_webhook.requests == []


def test_run_notifier_reports_a_timeout_no_task_reported(slack_webhook):  # noqa: F811
    class Dag:
        dag_id = "patch_compliance_daily"

    context = {"reason": "timed_out", "run_id": "scheduled__<!here>", "dag": Dag()}
    RunFailureNotifier("slack_webhook").notify(context)
    [request] = slack_webhook.wait_for(1)
    assert request.body["text"].startswith("Airflow run failed: patch_compliance_daily")
    assert "timed_out" in request.text_content() and "<!here>" not in str(request.body["blocks"])


def test_an_exception_with_its_own_message_is_posted_as_is(slack_webhook):  # noqa: F811
    class QualityVerdict(Exception):
        slack_message = ("quality failed", [{"type": "section", "text": {"type": "mrkdwn", "text": "Data Docs"}}])

    TaskFailureNotifier("slack_webhook").notify({"exception": QualityVerdict("x")})
    [request] = slack_webhook.wait_for(1)
    assert request.body == {"text": "quality failed", "blocks": list(QualityVerdict.slack_message[1])}


def test_an_unreachable_webhook_never_masks_the_task_error(slack_webhook):  # noqa: F811
    slack_webhook.status = 500
    TaskFailureNotifier("slack_webhook").notify({"exception": ValueError("the real error")})  # does not raise
    assert len(slack_webhook.wait_for(1)) == 1
