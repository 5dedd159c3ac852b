"""The DAGs' failure alerts as Airflow notifiers over the Slack provider's webhook notifier.

One alert per failure: tasks carry :class:`TaskFailureNotifier` (through ``default_args``), which
runs in the task's own process and so has the exception, the try and the log URL. DAGs carry
:class:`RunFailureNotifier`, which runs in the dag-processor with no exception and stays silent when
the run failed because a task failed (that task already alerted); it speaks only for failures no
task reported, such as a run timeout. An exception may bring its own message (``slack_message``, e.g.
a quality verdict with its Data Docs link); otherwise the message names the DAG, task, run, try and
error, with the log link.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
from airflow.sdk.exceptions import AirflowFailException

from patch_compliance.messages import run_failure_message, task_failure_blocks

log = logging.getLogger(__name__)
TASK_FAILURE = "task_failure"  # the DAG callback's reason when a task's failure failed the run


class AlertingFailure(AirflowFailException):
    """A failure that retrying cannot fix and that brings its own Slack message (fallback text, blocks)."""

    def __init__(self, reason: str, slack_message: tuple[str, list[dict[str, Any]]]) -> None:
        super().__init__(reason)
        self.slack_message = slack_message


class _FailureNotifier(SlackWebhookNotifier):
    """Posts the message a subclass builds; a delivery problem is logged, never raised over the failure."""

    def __init__(self, slack_webhook_conn_id: str) -> None:
        super().__init__(slack_webhook_conn_id=slack_webhook_conn_id, text="")

    def _post(self, context: Any, message: tuple[str, list[dict[str, Any]]], what: str) -> None:
        self.text, self.blocks = message
        try:
            super().notify(context)
        except Exception:
            log.exception("could not post the %s to Slack (%s)", what, self.slack_webhook_conn_id)


class TaskFailureNotifier(_FailureNotifier):
    """One Slack post per failed task: the exception's own message, or the task's DAG, run, error and log."""

    def notify(self, context: Any) -> None:
        own = getattr(context.get("exception"), "slack_message", None)
        self._post(context, own or task_failure_blocks(context), "task failure")


class RunFailureNotifier(_FailureNotifier):
    """A run's failure that no task reported (a timeout, a deadlock); silent when a task failed."""

    def notify(self, context: Any) -> None:
        reason = context.get("reason") or "unknown"
        if reason == TASK_FAILURE:
            log.info("run failed by a task failure: the task's own alert reported it")
            return
        dag = context.get("dag")
        dag_id = getattr(dag, "dag_id", None) or "?"
        run_id = context.get("run_id") or "?"
        self._post(context, run_failure_message(dag_id, run_id, reason), "run failure")
