"""The SSM calls the policy makes, one method per documented API call, with botocore's pagination.

Clients come from a ``ClientFactory`` (account, Region -> SSM client); ``client_factory(aws)``
makes one from an ``aws.Aws``, so the same code runs from the CLI (``Aws.from_session``: boto3's
credential chain) and from Airflow (``Aws.from_settings``: the amazon provider's connection). Role
assumption, the endpoint (a VPC or FIPS endpoint, or any service speaking the SSM API) and the
retry policy are ``aws``'s; every error propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from patch_compliance.aws import Aws, Target, paginate
from patch_compliance.config import Account, Settings
from patch_compliance.policy.spec import (
    BaselineSpec,
    DataSyncSpec,
    PolicyError,
    WindowSpec,
    managed_tags,
    with_marker,
)

ClientFactory = Callable[[Account, str], Any]

PATCH_BASELINE = "PatchBaseline"  # ResourceType of the tagging API
MAINTENANCE_WINDOW = "MaintenanceWindow"
OWN_BASELINES = [{"Key": "OWNER", "Values": ["Self"]}]


def client_factory(aws: Aws) -> ClientFactory:
    """SSM clients per account/Region from ``aws``: the account's ``role_arn`` assumed (if set)."""
    def factory(account: Account, region: str) -> Any:
        return aws.client("ssm", Target.of_account(account, region))

    return factory


def targets_of(
    settings: Settings, accounts: Iterable[str] | None = None, role_name: str = ""
) -> list[tuple[Account, str]]:
    """Account x Region pairs, optionally limited; ``role_name`` swaps in the applier role per account
    (least privilege: the daily scanner role cannot change baselines)."""
    chosen = set(accounts or [])
    unknown = chosen - {a.id for a in settings.accounts}
    if unknown:
        raise PolicyError(f"accounts {sorted(unknown)} are not in the config's accounts")
    accounts_ = [
        replace(a, role_arn=f"arn:aws:iam::{a.id}:role/{role_name}") if role_name else a
        for a in settings.accounts
        if not chosen or a.id in chosen
    ]
    return [(a, r) for a in accounts_ for r in a.regions]


def _answer(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


class SsmGateway:
    """One account/Region's SSM, as the policy uses it."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def tags(self, resource_type: str, resource_id: str) -> dict[str, str]:
        tags = self.client.list_tags_for_resource(ResourceType=resource_type, ResourceId=resource_id)["TagList"]
        return {t["Key"]: t["Value"] for t in tags}

    # -- baselines
    def own_baselines(self) -> list[dict[str, Any]]:
        """Identities of the account's custom baselines (not the AWS-managed ones)."""
        return paginate(self.client, "describe_patch_baselines", "BaselineIdentities", Filters=OWN_BASELINES)

    def baseline(self, baseline_id: str) -> dict[str, Any]:
        """Full contents and patch groups (GetPatchBaseline)."""
        return _answer(self.client.get_patch_baseline(BaselineId=baseline_id))

    def create_baseline(self, spec: BaselineSpec) -> str:
        return self.client.create_patch_baseline(
            Name=spec.name, Description=spec.ssm_description, Tags=managed_tags(), **spec.content()
        )["BaselineId"]

    def update_baseline(self, baseline_id: str, spec: BaselineSpec) -> None:
        content = {k: v for k, v in spec.content().items() if k != "OperatingSystem"}
        self.client.update_patch_baseline(
            BaselineId=baseline_id, Name=spec.name, Description=spec.ssm_description, **content
        )

    def delete_baseline(self, baseline_id: str) -> None:
        """Deregister the patch groups it still holds (SSM refuses to delete a registered baseline), then delete."""
        for group in self.baseline(baseline_id).get("PatchGroups") or []:
            self.client.deregister_patch_baseline_for_patch_group(BaselineId=baseline_id, PatchGroup=group)
        self.client.delete_patch_baseline(BaselineId=baseline_id)

    def bound_baseline(self, patch_group: str, operating_system: str) -> str:
        return self.client.get_patch_baseline_for_patch_group(
            PatchGroup=patch_group, OperatingSystem=operating_system
        )["BaselineId"]

    def bind(self, baseline_id: str, patch_group: str, current_id: str) -> None:
        """Register ``baseline_id`` for the group; ``current_id``: the custom baseline holding its OS slot."""
        if current_id:
            self.client.deregister_patch_baseline_for_patch_group(BaselineId=current_id, PatchGroup=patch_group)
        self.client.register_patch_baseline_for_patch_group(BaselineId=baseline_id, PatchGroup=patch_group)

    # -- maintenance windows
    def windows(self) -> list[dict[str, Any]]:
        return paginate(self.client, "describe_maintenance_windows", "WindowIdentities")

    def window_targets(self, window_id: str) -> list[dict[str, Any]]:
        return paginate(self.client, "describe_maintenance_window_targets", "Targets", WindowId=window_id)

    def window_tasks(self, window_id: str) -> list[dict[str, Any]]:
        """Tasks with their invocation parameters (GetMaintenanceWindowTask: describe does not return them)."""
        tasks = paginate(self.client, "describe_maintenance_window_tasks", "Tasks", WindowId=window_id)
        return [{**task, "TaskInvocationParameters": self.client.get_maintenance_window_task(
            WindowId=window_id, WindowTaskId=task["WindowTaskId"]).get("TaskInvocationParameters")}
            for task in tasks]

    def create_window(self, spec: WindowSpec) -> str:
        return self.client.create_maintenance_window(
            Name=spec.name, Description=spec.ssm_description, AllowUnassociatedTargets=False, Tags=managed_tags(),
            **spec.window_fields(),
        )["WindowId"]

    def update_window(self, window_id: str, spec: WindowSpec) -> None:
        self.client.update_maintenance_window(
            WindowId=window_id, Name=spec.name, Description=spec.ssm_description, Enabled=True,
            **spec.window_fields(),
        )

    def delete_window(self, window_id: str) -> None:
        self.client.delete_maintenance_window(WindowId=window_id)

    def register_target(self, window_id: str, spec: WindowSpec) -> str:
        return self.client.register_target_with_maintenance_window(
            WindowId=window_id, Name=spec.target_name, Description=with_marker("", spec.target_fingerprint),
            **spec.target_fields(),
        )["WindowTargetId"]

    def deregister_target(self, window_id: str, target_id: str) -> None:
        self.client.deregister_target_from_maintenance_window(WindowId=window_id, WindowTargetId=target_id,
                                                              Safe=False)

    def register_task(self, window_id: str, target_id: str, spec: WindowSpec) -> str:
        return self.client.register_task_with_maintenance_window(
            WindowId=window_id, Name=spec.task_name, Description=with_marker("", spec.task_fingerprint),
            Targets=[{"Key": "WindowTargetIds", "Values": [target_id]}], **spec.task_fields(),
        )["WindowTaskId"]

    def deregister_task(self, window_id: str, task_id: str) -> None:
        self.client.deregister_task_from_maintenance_window(WindowId=window_id, WindowTaskId=task_id)

    # -- resource data sync
    def syncs(self) -> list[dict[str, Any]]:
        return paginate(self.client, "list_resource_data_sync", "ResourceDataSyncItems")

    def create_sync(self, spec: DataSyncSpec) -> None:
        self.client.create_resource_data_sync(SyncName=spec.name, S3Destination=spec.s3_destination())

    def delete_sync(self, name: str) -> None:
        self.client.delete_resource_data_sync(SyncName=name)
