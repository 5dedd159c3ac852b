"""Airflow's plugin folder entry: the report view (``patch_compliance.ui_plugin``)."""

from patch_compliance.ui_plugin import PatchComplianceUiPlugin

__all__ = ["PatchComplianceUiPlugin"]
