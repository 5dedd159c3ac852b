"""The daily DAG's two waits, deferrable: the scan command's completion and Resource Data Sync's freshness.

Why hand-written: the amazon provider's SSM sensor and trigger iterate per-instance invocations,
which tag targets do not list, and fail on any single node regardless of ``MaxErrors``; here the
command's aggregate status from ``ListCommands`` decides, and RDS (which gives no completion signal)
is measured by object freshness. Each wait is one check function, run by a trigger in the
triggerer every poke interval (no worker slot is held, and no reschedule race can fail it); the
operator checks once, defers only if still waiting, and turns the verdict into the task's result or
its failure message. The trigger waits one interval before its first check: a trigger that fired
within moments of the deferral could resume the task before the scheduler has processed the
deferring process's exit, which Airflow 3.3 misreads as an external kill (apache/airflow#71172).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout
from airflow.triggers.base import BaseTrigger, TriggerEvent

from patch_compliance.config import Settings, load_settings

WAITING, DONE, FAILED, TIMED_OUT = "waiting", "done", "failed", "timed_out"
COMMAND, RDS_OUTPUT = "command", "rds_output"
# Past its own timeout (the command's, the sync wait's) and this margin a wait is stuck.
DEADLINE_MARGIN_MINUTES = 5


@dataclass(frozen=True)
class Verdict:
    """One check of a wait: still waiting, done (with the task's result), failed or past its deadline."""

    state: str
    message: str
    result: dict[str, Any] | None = None


def check_command(settings: Settings, scan_facts: dict[str, Any], now: datetime | None = None) -> Verdict:
    """Done when the command's aggregate status is final and Success; a failed command fails the wait."""
    from patch_compliance import scan

    progress = scan.command_progress(settings, scan_facts)
    label = scan.scan_target_of(scan_facts).label
    message = f"command {scan_facts['command_id']} in {label}: {progress.describe()}"
    if progress.finished and progress.succeeded:
        return Verdict(DONE, message, {**scan_facts, "completed_count": progress.completed_count,
                                       "error_count": progress.error_count})
    if progress.finished:
        return Verdict(FAILED, f"scan {message}; see Systems Manager > Run Command for per-node output")
    minutes = settings.scan.command_timeout_minutes + DEADLINE_MARGIN_MINUTES
    if scan.wait_deadline_passed(scan_facts, minutes, now):
        return Verdict(TIMED_OUT, f"scan {message} after {minutes:g} min; the command did not finish")
    return Verdict(WAITING, message)


def check_rds_output(settings: Settings, scan_facts: dict[str, Any], now: datetime | None = None) -> Verdict:
    """Done when enough scanned nodes have RDS output newer than the scan; timed out after sync_wait_minutes."""
    from patch_compliance import scan

    progress = scan.sync_progress(settings, scan_facts)
    label = scan.scan_target_of(scan_facts).label
    message = f"{label}: {progress.describe()}"
    if progress.synced:
        return Verdict(DONE, message, {**scan_facts, "fresh_nodes": progress.fresh_nodes})
    if scan.wait_deadline_passed(scan_facts, settings.scan.sync_wait_minutes, now):
        return Verdict(TIMED_OUT, (
            f"Resource Data Sync output is not fresh for {label} after {settings.scan.sync_wait_minutes:g} min: "
            f"{progress.describe()}. Check the account's resource data sync (ListResourceDataSync LastStatus) "
            f"and the sync bucket {settings.storage.sync_uri}; the day's snapshot was not taken."))
    return Verdict(WAITING, message)


CHECKS = {COMMAND: check_command, RDS_OUTPUT: check_rds_output}


class ScanWaitTrigger(BaseTrigger):
    """Runs one wait's check in the triggerer every ``poke_seconds`` until it is no longer waiting.

    The check is blocking boto3 I/O, so it runs in a worker thread and never stalls the triggerer's
    event loop. The config is read in the triggerer the same way tasks read it.
    """

    def __init__(self, wait: str, scan_facts: dict[str, Any], poke_seconds: float) -> None:
        super().__init__()
        if wait not in CHECKS:
            raise ValueError(f"unknown wait {wait!r}; expected one of {sorted(CHECKS)}")
        self.wait, self.scan_facts, self.poke_seconds = wait, scan_facts, poke_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"wait": self.wait, "scan_facts": self.scan_facts, "poke_seconds": self.poke_seconds})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        settings = await asyncio.to_thread(load_settings)
        while True:  # the operator checked just before deferring: wait one interval first
            await asyncio.sleep(self.poke_seconds)
            verdict = await asyncio.to_thread(CHECKS[self.wait], settings, self.scan_facts)
            self.log.info("%s", verdict.message)
            if verdict.state != WAITING:
                yield TriggerEvent(asdict(verdict))
                return


class ScanWaitOperator(BaseOperator):
    """Defers to :class:`ScanWaitTrigger`; its verdict becomes the XCom result or a non-retried failure.

    ``deadline_minutes`` bounds the deferral as a safety net beyond the check's own deadline, so a
    lost trigger still ends the task.
    """

    template_fields = ("scan_facts",)
    ui_color = "#e8f4fd"

    def __init__(self, *, wait: str, scan_facts: dict[str, Any], poke_seconds: float, deadline_minutes: float,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wait, self.scan_facts = wait, scan_facts
        self.poke_seconds, self.deadline_minutes = poke_seconds, deadline_minutes

    def execute(self, context: Any) -> dict[str, Any]:
        """Check once here; defer only when still waiting (a wait already over never defers)."""
        verdict = CHECKS[self.wait](load_settings(), self.scan_facts)
        if verdict.state != WAITING:
            return self._finish(verdict)
        self.log.info("%s; deferring to the triggerer (check every %g s)", verdict.message, self.poke_seconds)
        self.defer(trigger=ScanWaitTrigger(self.wait, self.scan_facts, self.poke_seconds),
                   method_name="execute_complete",
                   timeout=timedelta(minutes=self.deadline_minutes + DEADLINE_MARGIN_MINUTES))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        return self._finish(Verdict(**event))

    def _finish(self, verdict: Verdict) -> dict[str, Any]:
        self.log.info("%s (%s)", verdict.message, verdict.state)
        if verdict.state == DONE and verdict.result is not None:
            return verdict.result
        if verdict.state == TIMED_OUT:
            raise AirflowSensorTimeout(verdict.message)  # a timeout is final: no retry
        raise AirflowFailException(verdict.message)
