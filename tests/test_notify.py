"""Slack notifications: the provider's webhook hook posting to a real HTTP receiver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from patch_compliance.notify import send_slack
from tests.fixtures.slack_receiver import WEBHOOK_TOKEN, SlackReceiver, slack_webhook  # noqa: F401  (fixture)

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
