"""Slack notifications through the Slack provider's webhook hook and an Airflow connection.

The webhook URL lives only in the Airflow connection (``slack_webhook`` by default): a connection
of type ``slackwebhook`` whose password is the webhook token (``T000/B000/XXXX``) or the full URL,
and whose host is the endpoint (``hooks.slack.com/services`` in production). Airflow is imported
inside the functions, so importing this module costs nothing at DAG parse time.
"""

from __future__ import annotations

from typing import Any

DEFAULT_CONN_ID = "slack_webhook"


def slack_escape(text: object) -> str:
    """Text from the fleet (tags, names, titles, errors) made inert in Slack mrkdwn.

    Slack reads ``<!channel>``, ``<@U123>`` and ``<https://x|label>`` as mentions and links, so the
    three control characters are escaped as Slack documents (``&amp;``, ``&lt;``, ``&gt;``).
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_slack(text: str, blocks: list[dict[str, Any]] | None = None, conn_id: str = DEFAULT_CONN_ID) -> None:
    """Post a message (``text`` is the notification fallback, ``blocks`` the Block Kit body).

    Raises when Slack (or whatever the connection points at) does not answer 200.
    """
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    SlackWebhookHook(slack_webhook_conn_id=conn_id).send(text=text, blocks=blocks)


def _context_value(context: dict[str, Any], key: str) -> Any:
    try:
        return context[key]
    except KeyError:
        return None


def task_failure_blocks(context: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and Block Kit blocks naming the DAG, task and run of a failed task, with its log."""
    ti = _context_value(context, "ti") or _context_value(context, "task_instance")
    dag_run = _context_value(context, "dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None) or "?"
    task_id = getattr(ti, "task_id", None) or "?"
    run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None) or "?"
    try_number = getattr(ti, "try_number", None)
    log_url = getattr(ti, "log_url", None)
    exception = _context_value(context, "exception")
    text = f"Airflow task failed: {dag_id}.{task_id} (run {run_id})"
    fields = [f"*DAG*\n`{dag_id}`", f"*Task*\n`{task_id}`", f"*Run*\n`{run_id}`"]
    if try_number is not None:
        fields.append(f"*Try*\n{try_number}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f":x: Task failed: {task_id}"[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if exception is not None:
        message = slack_escape(f"{type(exception).__name__}: {exception}")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{message[:2800]}```"}})
    if log_url:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Task log"}, "url": log_url}]})
    return text, blocks
