"""Slack notifications: the provider's webhook hook posting to a real HTTP receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from patch_compliance.notify import send_slack
from tests.slack_receiver import WEBHOOK_TOKEN, SlackReceiver, slack_webhook  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]


def test_send_slack_posts_block_kit_through_the_connection(slack_webhook):  # noqa: F811
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello* from the lake"}}]
    send_slack("fallback text", blocks)
    [request] = slack_webhook.wait_for(1)
    assert request.path == f"/services/{WEBHOOK_TOKEN}"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.body == {"text": "fallback text", "blocks": blocks}


def test_send_slack_raises_when_the_webhook_refuses(slack_webhook):  # noqa: F811
    slack_webhook.status = 403
    with pytest.raises(Exception, match="Status Code: 403"):
        send_slack("refused", None)
    assert len(slack_webhook.wait_for(1)) == 1


def test_importing_notify_does_not_import_airflow():
    code = "import sys, patch_compliance.notify; print('airflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "plugins")}).stdout
    assert out.strip() == "False"


DAG_SCRIPT = textwrap.dedent("""
    from datetime import datetime

    from airflow.sdk import DAG, task

    from patch_compliance.notify import on_task_failure

    with DAG("notify_probe", schedule=None, start_date=datetime(2026, 11, 1), catchup=False) as dag:
        @task(on_failure_callback=on_task_failure, retries=0)
        def explode():
            raise ValueError("lake unreachable: boom")

        explode()

    if __name__ == "__main__":
        dag.test()
""")


@pytest.mark.e2e
def test_on_task_failure_posts_dag_task_run_and_log_link_from_a_real_dag_run(tmp_path):
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
