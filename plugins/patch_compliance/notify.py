"""Slack notifications through the Slack provider's webhook hook and an Airflow connection: the
transport only (every message is built in ``patch_compliance.messages``; the DAGs' failure alerts
are the notifiers of ``patch_compliance.notifiers``).

The webhook URL lives only in the Airflow connection (``slack_webhook`` by default): a connection
of type ``slackwebhook`` whose password is the webhook token (``T000/B000/XXXX``) or the full URL,
and whose host is the endpoint (``hooks.slack.com/services`` in production). Airflow is imported
inside the functions, so importing this module costs nothing at DAG parse time.
"""

from __future__ import annotations

from typing import Any

DEFAULT_CONN_ID = "slack_webhook"


def send_slack(text: str, blocks: list[dict[str, Any]] | None = None, conn_id: str = DEFAULT_CONN_ID) -> None:
    """Post a message (``text`` is the notification fallback, ``blocks`` the Block Kit body).

    Raises when Slack (or whatever the connection points at) does not answer 200.
    """
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    SlackWebhookHook(slack_webhook_conn_id=conn_id).send(text=text, blocks=blocks)
