"""SSM maintenance windows on the stand-in: the two actions moto 5.2 lacks, on moto's own windows.

moto stores windows, their targets and tasks, but has no ``UpdateMaintenanceWindow`` and no
``GetMaintenanceWindowTask``, and always reports ``Enabled: true``. Both actions work on moto's
stored objects (so ``POST /moto-api/reset`` forgets them with moto's state), per the API reference:

- ``UpdateMaintenanceWindow``: only the members given change; ``Replace`` requires what
  ``CreateMaintenanceWindow`` requires (``Name``, ``Schedule``, ``Duration``, ``Cutoff``,
  ``AllowUnassociatedTargets``) and resets the optional members. ``Name`` 3-128 ``[a-zA-Z0-9_.-]``,
  ``Description`` 1-128, ``Schedule`` ``cron(...)``/``rate(...)``/``at(...)`` of at most 256,
  ``ScheduleTimezone`` an IANA zone, ``ScheduleOffset`` 1-6, ``Duration`` 1-24, ``Cutoff`` 0-23 and
  below the duration, ``Enabled`` (then shown by ``DescribeMaintenanceWindows`` and
  ``GetMaintenanceWindow``). Unknown windows: ``DoesNotExistException``.
- ``GetMaintenanceWindowTask``: the stored task with its ``TaskInvocationParameters``;
  ``DoesNotExistException`` for an unknown window or task.

Malformed ids (``mw-`` + 17 hex, task UUIDs) are a ``ValidationException``.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import available_timezones

from sim.moto_ext import api

WINDOW_ID = r"^mw-[0-9a-f]{17}$"
TASK_ID = r"^[0-9a-fA-F]{8}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{12}$"
NAME = r"^[a-zA-Z0-9_\-.]{3,128}$"
SCHEDULE = re.compile(r"^(cron|rate|at)\(.+\)$")
UPDATE_MEMBERS = ("WindowId", "Name", "Description", "StartDate", "EndDate", "Schedule", "ScheduleTimezone",
                  "ScheduleOffset", "Duration", "Cutoff", "AllowUnassociatedTargets", "Enabled", "Replace")
REQUIRED_ON_REPLACE = ("Name", "Schedule", "Duration", "Cutoff", "AllowUnassociatedTargets")
_ATTRIBUTES = {  # request member -> FakeMaintenanceWindow attribute
    "Name": "name", "Description": "description", "StartDate": "start_date", "EndDate": "end_date",
    "Schedule": "schedule", "ScheduleTimezone": "schedule_timezone", "ScheduleOffset": "schedule_offset",
    "Duration": "duration", "Cutoff": "cutoff", "AllowUnassociatedTargets": "allow_unassociated_targets",
    "Enabled": "enabled",
}


def _window(response: Any, window_id: str) -> Any:
    from moto.ssm.models import ssm_backends

    window = ssm_backends[response.current_account][response.region].windows.get(window_id)
    if window is None:
        raise api.error("DoesNotExistException", f"Maintenance window {window_id} does not exist")
    return window


def _checked_update(request: dict[str, Any]) -> dict[str, Any]:
    """Members of an UpdateMaintenanceWindow request, checked, by window attribute."""
    values: dict[str, Any] = {
        "name": api.text(request, "Name", low=3, high=128, pattern=NAME),
        "description": api.text(request, "Description", high=128),
        "schedule": api.text(request, "Schedule", high=256),
        "schedule_timezone": api.text(request, "ScheduleTimezone", high=64),
        "schedule_offset": api.number(request, "ScheduleOffset", low=1, high=6),
        "duration": api.number(request, "Duration", low=1, high=24),
        "cutoff": api.number(request, "Cutoff", low=0, high=23),
        "start_date": api.text(request, "StartDate", high=64),
        "end_date": api.text(request, "EndDate", high=64),
        "allow_unassociated_targets": api.flag(request, "AllowUnassociatedTargets"),
        "enabled": api.flag(request, "Enabled"),
    }
    if values["schedule"] is not None and not SCHEDULE.match(values["schedule"]):
        raise api.invalid(f"Schedule: expected cron(...), rate(...) or at(...), got {values['schedule']!r}")
    zone = values["schedule_timezone"]
    if zone is not None and zone not in available_timezones():
        raise api.invalid(f"ScheduleTimezone: {zone!r} is not an IANA time zone")
    return values


def update_maintenance_window(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "UpdateMaintenanceWindow", UPDATE_MEMBERS)
    window_id = api.text(request, "WindowId", low=20, high=20, pattern=WINDOW_ID, required=True) or ""
    replace = bool(api.flag(request, "Replace"))
    if replace:
        missing = [m for m in REQUIRED_ON_REPLACE if request.get(m) is None]
        if missing:
            raise api.invalid(f"UpdateMaintenanceWindow with Replace needs {', '.join(missing)}")
    values = _checked_update(request)
    window = _window(self, window_id)
    given = {attribute: value for attribute, value in values.items() if value is not None}
    merged = {attribute: getattr(window, attribute, None) for attribute in _ATTRIBUTES.values()}
    if replace:
        merged = {attribute: None for attribute in merged} | {"enabled": True}
    merged.update(given)
    if merged["cutoff"] >= merged["duration"]:
        raise api.invalid(f"Cutoff ({merged['cutoff']}) must be less than Duration ({merged['duration']})")
    for attribute, value in merged.items():
        setattr(window, attribute, value)
    return ActionResult({"WindowId": window_id, **_shown(window)})


def _shown(window: Any) -> dict[str, Any]:
    shown = {member: getattr(window, attribute, None) for member, attribute in _ATTRIBUTES.items()}
    shown["Enabled"] = getattr(window, "enabled", True) is not False
    shown["AllowUnassociatedTargets"] = bool(shown["AllowUnassociatedTargets"])
    return {k: v for k, v in shown.items() if v is not None}


def get_maintenance_window_task(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "GetMaintenanceWindowTask", ("WindowId", "WindowTaskId"))
    window_id = api.text(request, "WindowId", low=20, high=20, pattern=WINDOW_ID, required=True) or ""
    task_id = api.text(request, "WindowTaskId", low=36, high=36, pattern=TASK_ID, required=True) or ""
    task = _window(self, window_id).tasks.get(task_id)
    if task is None:
        raise api.error("DoesNotExistException", f"Maintenance window task {task_id} does not exist in {window_id}")
    detail = {
        "WindowId": window_id, "WindowTaskId": task_id, "Targets": task.targets, "TaskArn": task.task_arn,
        "ServiceRoleArn": task.service_role_arn, "TaskType": task.task_type, "TaskParameters": task.task_parameters,
        "TaskInvocationParameters": task.task_invocation_parameters, "Priority": task.priority,
        "MaxConcurrency": task.max_concurrency, "MaxErrors": task.max_errors, "LoggingInfo": task.logging_info,
        "Name": task.name, "Description": task.description, "CutoffBehavior": task.cutoff_behavior,
        "AlarmConfiguration": task.alarm_configurations,
    }
    return ActionResult({k: v for k, v in detail.items() if v is not None})


def install(registry: Any) -> None:
    from moto.ssm.models import FakeMaintenanceWindow
    from moto.ssm.responses import SimpleSystemManagerResponse as Ssm

    registry.operation(Ssm, "update_maintenance_window", update_maintenance_window)
    registry.operation(Ssm, "get_maintenance_window_task", get_maintenance_window_task)

    def enabled_as_set(moto_to_json: Any) -> Any:
        def to_json(window: FakeMaintenanceWindow) -> dict[str, Any]:
            return {**moto_to_json(window), "Enabled": getattr(window, "enabled", True) is not False}

        return to_json

    registry.replace(FakeMaintenanceWindow, "to_json", enabled_as_set, "always reports Enabled: true")
