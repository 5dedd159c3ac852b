"""Every Slack message the product sends, built in one place: Block Kit blocks and fallback text.

Text from the fleet (tags, names, titles, errors, check descriptions) is untrusted: it goes through
``slack_escape`` before it reaches mrkdwn, so it can neither mention nor link. Nothing here sends
anything (``patch_compliance.notify`` posts, the notifiers of ``patch_compliance.notifiers`` alert on
failures) or imports Airflow.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patch_compliance.quality import QualityResult


def slack_escape(text: object) -> str:
    """Text from the fleet (tags, names, titles, errors) made inert in Slack mrkdwn.

    Slack reads ``<!channel>``, ``<@U123>`` and ``<https://x|label>`` as mentions and links, so the
    three control characters are escaped as Slack documents (``&amp;``, ``&lt;``, ``&gt;``).
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- task failures ---------------------------------------------------------------------------------


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


def run_failure_message(dag_id: str, run_id: str, reason: str) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and blocks for a run's failure that no task reported (a timeout, a deadlock)."""
    text = f"Airflow run failed: {dag_id} (run {run_id}): {reason}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f":x: Run failed: {dag_id}"[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*Run*\n`{slack_escape(run_id)}`"},
                                       {"type": "mrkdwn", "text": f"*Reason*\n{slack_escape(reason)}"}]},
    ]
    return text, blocks


# --- data quality -----------------------------------------------------------------------------------


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunked_sections(title: str, lines: list[str]) -> list[dict[str, Any]]:
    """Sections of at most ~2,900 characters (Slack's limit is 3,000 per text)."""
    chunks = [title]
    for line in lines:
        if len(chunks[-1]) + len(line) + 1 > 2900:
            chunks.append(line)
        else:
            chunks[-1] += "\n" + line
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks]


def quality_alert_blocks(result: QualityResult, run_url: str | None = None,
                         data_docs_url: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """A Slack Block Kit message: failed checks (observed vs expected), offending instances, links.

    ``limit`` caps the instances listed (default: ``quality.top_offenders``); all of them are in the
    stored results.
    """
    failed = result.critical_failures + result.warnings
    verdict = "FAILED" if not result.success else ("warnings" if failed else "passed")
    icon = ":red_circle:" if not result.success else (":warning:" if failed else ":white_check_mark:")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _truncate(
            f"Patch compliance data quality {verdict}: snapshot {result.snapshot_date}", 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            f"{icon} *{len(result.critical_failures)} critical* and *{len(result.warnings)} warning* "
            f"check(s) failed of {len(result.checks)}; reference time "
            f"{result.reference_time.isoformat(timespec='minutes').replace('+00:00', 'Z')}."
            + ("\nCritical failures block this snapshot from the report." if not result.success else ""))}},
    ]
    for check in failed[:12]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _truncate(
            f"*{check.severity.upper()}* · `{check.suite}` · {slack_escape(check.description)}\n"
            f"observed: {slack_escape(check.observed)}\nexpected: {slack_escape(check.expected)}", 2900)}})
    top = result.offenders[: limit or result.top_offenders]
    if top:
        lines = []
        for o in top:  # every value here comes from the fleet's tags and names: escaped
            team = f"*{slack_escape(o['team'])}*" + (f" ({slack_escape(o['team_source'])})"
                                                    if o["team_source"] != "Team tag" else "") \
                if o["team"] else f"_{slack_escape(o['team_source'])}_"
            account = f"account {o['account_name']} ({o['account_id']})" if o["account_name"] else \
                f"account {o['account_id']}"
            where = " · ".join(slack_escape(v) for v in filter(None, [
                o["name"], o["environment"] or "no Environment", account, o["region"]]))
            detail = f" ({slack_escape(o['detail'])})" if o["detail"] else ""
            lines.append(_truncate(f"• `{slack_escape(o['instance_id'])}` team {team} — {where}: "
                                   f"{slack_escape('; '.join(o['problems']))}{detail}", 700))
        blocks += _chunked_sections(f"*Top offending instances* ({len(top)} of {len(result.offenders)}):", lines)
    if result.skipped:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _truncate(
            "Skipped: " + slack_escape("; ".join(f"{k}: {v}" for k, v in result.skipped.items())), 2900)}]})
    buttons = [{"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
               for label, url in (("Airflow run", run_url), ("Data Docs", data_docs_url)) if url]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def quality_alert_text(result: QualityResult) -> str:
    """The plain-text fallback shown in notifications."""
    return (f"Patch compliance data quality {'FAILED' if not result.success else 'warnings'} for "
            f"{result.snapshot_date}: {len(result.critical_failures)} critical, {len(result.warnings)} warning")


def quality_run_text(result: QualityResult, status: str, snapshot_date: date) -> str:
    """The daily DAG's fallback text: the verdict (``failed`` or ``warnings``) and the failed counts."""
    return (f"Patch compliance data quality {status} for snapshot {snapshot_date}: "
            f"{len(result.critical_failures)} critical, {len(result.warnings)} warning check(s)")


# --- monthly report ----------------------------------------------------------------------------------


def _top_causes(causes: list[tuple[str, int]], limit: int = 3) -> str:
    return ", ".join(f"{cause} {count}" for cause, count in causes[:limit]) or "none"


def _team_line(team: dict[str, Any], missing_critical_age_days: int) -> str:
    """One team's headline in one line: compliance, missing critical, top causes, its page."""
    head = team["head"]
    judged = head["instances"] - head["stopped"]
    return _truncate(f"• *{slack_escape(team['team'])}*: {head['compliance_pct']}% of {judged} compliant, "
                     f"{head['instances_missing_critical_14d']} missing critical ≥ {missing_critical_age_days} d; "
                     f"causes: {_top_causes(team['causes'])}", 600) + f" · <{team['link']}|team page>"


TEAM_LINES_MAX = 40  # teams listed in the summary message (Slack allows 50 blocks); the report lists them all


def report_summary_message(report: dict[str, Any], head: dict[str, Any], link: str,
                           missing_critical_age_days: int,
                           other_teams: list[dict[str, Any]] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and blocks: headline figures, the worst Team x Environment cells and the report link.

    ``head`` is ``tasks.monthly_report.report_headline`` of the report's summary cells. ``other_teams``
    (``{team, head, causes, link}``) are the teams without a channel of their own: their headlines
    are in this message, so the default channel gets one message for all of them.
    """
    judged = head["instances"] - head["stopped"]
    stopped = f" ({head['stopped']} stopped, counted neither way)" if head["stopped"] else ""
    text = (f"Patch compliance {report['month']}: {head['compliance_pct']}% of {judged} instances "
            f"compliant{stopped}; {head['instances_missing_critical_14d']} with critical patches missing > "
            f"{missing_critical_age_days} days. Report: {link}")
    worst = "\n".join(
        f"• *{slack_escape(c['team'])} / {slack_escape(c['environment'])}*: {c['compliance_pct']}% compliant of "
        f"{c['instances']}, "
        f"{c['instances_missing_critical_14d']} missing critical, {c['stale']} stale, {c['unmanaged']} unmanaged"
        for c in head["worst"]) or "none"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Patch compliance report {report['month']}"}},
        _headline_fields(head, judged, f"> {missing_critical_age_days}", report["report_snapshot_date"]),
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Worst Team x Environment cells*\n{worst}"}},
    ]
    if other_teams:
        lines = [_team_line(t, missing_critical_age_days) for t in other_teams[:TEAM_LINES_MAX]]
        if len(other_teams) > TEAM_LINES_MAX:
            lines.append(f"… and {len(other_teams) - TEAM_LINES_MAX} more teams: see the report")
        blocks += _chunked_sections(f"*Teams* ({len(other_teams)}; each has its page in the report)", lines)
    blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                               "text": f"<{link}|Open the report> · `{report['uri']}/`"}})
    return text, blocks


def _headline_fields(head: dict[str, Any], judged: int, age: str, snapshot: str) -> dict[str, Any]:
    """The headline figures of the fleet summary and of a team's message (``age``: "> 14", "≥ 14")."""
    return {"type": "section", "fields": [
        {"type": "mrkdwn", "text": f"*Compliant*\n{head['compliance_pct']}% ({head['compliant']}/{judged})"},
        {"type": "mrkdwn", "text": f"*Non-compliant*\n{head['non_compliant']}"},
        {"type": "mrkdwn", "text": f"*Stale / no data*\n{head['stale']} / {head['no_data']}"},
        {"type": "mrkdwn", "text": f"*Unmanaged / stopped*\n{head['unmanaged']} / {head['stopped']}"},
        {"type": "mrkdwn", "text": f"*Missing critical {age} d*\n{head['instances_missing_critical_14d']} instances"},
        {"type": "mrkdwn", "text": f"*Snapshot*\n{snapshot}"},
    ]}


def team_headline_message(report: dict[str, Any], team: dict[str, Any],
                          missing_critical_age_days: int) -> tuple[str, list[dict[str, Any]]]:
    """One team's headline for its own channel: its figures, environments, top causes and its page."""
    head = team["head"]
    name = slack_escape(team["team"])
    judged = head["instances"] - head["stopped"]
    text = (f"Patch compliance {report['month']}, team {name}: {head['compliance_pct']}% of {judged} "
            f"instances compliant; {head['instances_missing_critical_14d']} with critical patches missing "
            f">= {missing_critical_age_days} days. Team report: {team['link']}")
    environments = "\n".join(
        f"• *{slack_escape(c['environment'])}*: {c['compliance_pct']}% compliant of {c['instances']}, "
        f"{c['instances_missing_critical_14d']} missing critical, {c['stale']} stale, {c['unmanaged']} unmanaged"
        for c in team["cells"]) or "none"
    header = _truncate(f"Patch compliance {report['month']}: team {team['team']}", 150)  # plain text: inert
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        _headline_fields(head, judged, f"≥ {missing_critical_age_days}", report["report_snapshot_date"]),
        {"type": "section", "text": {"type": "mrkdwn", "text": _truncate(
            f"*Why*: {_top_causes(team['causes'], 5)}\n*Environments of {name}*\n{environments}", 2900)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"<{team['link']}|Open the team report>"}},
    ]
    return text, blocks
