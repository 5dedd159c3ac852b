"""Registers this product's custom timetable with Airflow (scheduler, API server, dag-processor).

Airflow only deserializes a DAG whose timetable class is registered by a plugin, so this module is
what lets ``patch_compliance_monthly_report`` run on "the last Friday of the month, 08:00 UTC".
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from patch_compliance.timetables import LastFridayOfMonthTimetable


class PatchCompliancePlugin(AirflowPlugin):
    name = "patch_compliance"
    timetables = [LastFridayOfMonthTimetable]  # noqa: RUF012 (AirflowPlugin declares it a class list)
