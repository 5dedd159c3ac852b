"""The stand-in's SSM patch baselines, maintenance windows and Resource Data Sync (sim/moto_ext), over
HTTP through plain boto3. Every expected answer is written out by hand from the API reference."""

from __future__ import annotations

from datetime import datetime

import boto3
import pytest
from botocore.exceptions import ClientError

REGION = "eu-west-1"
# moto's resource file of AWS-managed default baselines, eu-west-1 (what GetPatchBaselineForPatchGroup falls back to)
AL2023_DEFAULT = "arn:aws:ssm:eu-west-1:845259048710:patchbaseline/pb-00f0d0b5ec4b28f86"
WINDOWS_DEFAULT = "arn:aws:ssm:eu-west-1:845259048710:patchbaseline/pb-03814a120a12d075c"
SECURITY_RULE = {"PatchFilterGroup": {"PatchFilters": [{"Key": "CLASSIFICATION", "Values": ["Security"]},
                                                       {"Key": "SEVERITY", "Values": ["Critical", "Important"]}]},
                 "ComplianceLevel": "CRITICAL", "ApproveAfterDays": 7}
OWN = [{"Key": "OWNER", "Values": ["Self"]}]


@pytest.fixture
def ssm(aws_env):
    return boto3.client("ssm", endpoint_url=aws_env.endpoint_url, region_name=REGION)


def code(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def answer(response: dict) -> dict:
    return {k: v for k, v in response.items() if k not in {"ResponseMetadata", "CreatedDate", "ModifiedDate"}}


def linux_baseline(ssm, name: str = "prod-linux", **extra) -> str:
    return ssm.create_patch_baseline(Name=name, OperatingSystem="AMAZON_LINUX_2023",
                                     ApprovalRules={"PatchRules": [SECURITY_RULE]}, **extra)["BaselineId"]


# --- patch baselines ----------------------------------------------------------------------------------


def test_get_patch_baseline_returns_the_full_contents_with_the_api_defaults(ssm) -> None:
    baseline_id = linux_baseline(ssm, Description="Production Linux", RejectedPatches=["kernel-debug*"],
                                 RejectedPatchesAction="BLOCK",
                                 Tags=[{"Key": "ManagedBy", "Value": "patch-compliance"}])
    got = ssm.get_patch_baseline(BaselineId=baseline_id)
    assert isinstance(got["CreatedDate"], datetime) and got["ModifiedDate"] == got["CreatedDate"]
    assert answer(got) == {
        "BaselineId": baseline_id, "Name": "prod-linux", "OperatingSystem": "AMAZON_LINUX_2023",
        "Description": "Production Linux",
        "GlobalFilters": {"PatchFilters": []},
        "ApprovalRules": {"PatchRules": [{**SECURITY_RULE, "EnableNonSecurity": False}]},
        "ApprovedPatches": [], "ApprovedPatchesComplianceLevel": "UNSPECIFIED",
        "ApprovedPatchesEnableNonSecurity": False,
        "RejectedPatches": ["kernel-debug*"], "RejectedPatchesAction": "BLOCK",
        "PatchGroups": [], "Sources": [],
    }
    assert ssm.list_tags_for_resource(ResourceType="PatchBaseline", ResourceId=baseline_id)["TagList"] == [
        {"Key": "ManagedBy", "Value": "patch-compliance"}]
    windows = ssm.create_patch_baseline(Name="windows-default-os")["BaselineId"]  # OperatingSystem defaults
    assert ssm.get_patch_baseline(BaselineId=windows)["OperatingSystem"] == "WINDOWS"


def test_update_changes_only_what_it_names_and_replace_resets_the_rest(ssm) -> None:
    baseline_id = linux_baseline(ssm, Description="before", RejectedPatches=["kernel-debug*"])
    created = ssm.get_patch_baseline(BaselineId=baseline_id)["CreatedDate"]
    updated = ssm.update_patch_baseline(BaselineId=baseline_id, Description="after")
    assert updated["Description"] == "after" and updated["RejectedPatches"] == ["kernel-debug*"]
    assert updated["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] == 7
    assert updated["ModifiedDate"] >= created and updated["CreatedDate"] == created
    replaced = ssm.update_patch_baseline(BaselineId=baseline_id, Name="renamed", Replace=True)
    assert (replaced["Name"], replaced["RejectedPatches"], replaced["ApprovalRules"]) == (
        "renamed", [], {"PatchRules": []})
    assert "Description" not in replaced
    assert code(lambda: ssm.update_patch_baseline(BaselineId=baseline_id, Replace=True))[0] == "ValidationException"
    assert code(lambda: ssm.update_patch_baseline(BaselineId="pb-0123456789abcdef0", Description="x")) == (
        "DoesNotExistException", "Patch Baseline pb-0123456789abcdef0 does not exist.")


def rule(**changes) -> dict:
    return {"PatchRules": [{**SECURITY_RULE, **changes}]}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"Name": "no spaces allowed"}, "regular expression pattern"),
    ({"ApprovalRules": rule(PatchFilterGroup={"PatchFilters": [{"Key": "MSRC_SEVERITY", "Values": ["Critical"]}]})},
     "key 'MSRC_SEVERITY' is not valid for AMAZON_LINUX_2023"),
    ({"ApprovalRules": rule(PatchFilterGroup={"PatchFilters": [{"Key": "SEVERITY", "Values": ["Low"]},
                                                               {"Key": "SEVERITY", "Values": ["High"]}]})},
     "appears twice"),
    ({"ApprovalRules": rule(ApproveUntilDate="2026-11-30")}, "exactly one of ApproveAfterDays or ApproveUntilDate"),
    ({"ApprovalRules": {"PatchRules": [{"PatchFilterGroup": {"PatchFilters": []}}]}}, "exactly one of"),
    ({"ApprovalRules": rule(ApproveAfterDays=361)}, "between 0 and 360"),
    ({"ApprovalRules": {"PatchRules": [SECURITY_RULE] * 11}}, "at most 10 rules"),
    ({"OperatingSystem": "UBUNTU", "ApprovalRules": {"PatchRules": [
        {"PatchFilterGroup": {"PatchFilters": [{"Key": "PRIORITY", "Values": ["Required"]}]}, "ApproveAfterDays": 0}]}},
     "not supported for UBUNTU"),
    ({"Description": "x" * 1025}, "less than or equal to 1024"),
    ({"RejectedPatches": ["p"] * 51}, "between 0 and 50 items"),
    ({"Sources": [{"Name": "repo", "Products": ["AmazonLinux2023"], "Configuration": "[main]"}]},
     "Sources (custom patch repositories) is not emulated"),
    ({"Tags": [{"Key": "aws:owner", "Value": "x"}]}, "reserved"),
    ({"Tags": [{"Key": f"k{n}", "Value": "v"} for n in range(51)]}, "at most 50 tags"),
])
def test_create_refuses_what_the_api_refuses_or_the_stand_in_does_not_emulate(ssm, kwargs, message) -> None:
    request = {"Name": "prod-linux", "OperatingSystem": "AMAZON_LINUX_2023",
               "ApprovalRules": {"PatchRules": [SECURITY_RULE]}, **kwargs}
    error, text = code(lambda: ssm.create_patch_baseline(**request))
    assert error == "ValidationException" and message in text
    assert ssm.describe_patch_baselines(Filters=OWN)["BaselineIdentities"] == []


def test_client_token_makes_create_idempotent(ssm) -> None:
    first = linux_baseline(ssm, ClientToken="token-1")
    assert linux_baseline(ssm, ClientToken="token-1") == first
    assert code(lambda: linux_baseline(ssm, name="other", ClientToken="token-1"))[0] == "IdempotentParameterMismatch"
    assert len(ssm.describe_patch_baselines(Filters=OWN)["BaselineIdentities"]) == 1


def test_describe_filters_by_owner_name_prefix_and_os_and_pages(ssm) -> None:
    prod = linux_baseline(ssm, Description="prod")
    nonprod = linux_baseline(ssm, "nonprod-linux")
    windows = ssm.create_patch_baseline(Name="prod-windows", OperatingSystem="WINDOWS")["BaselineId"]
    assert ssm.describe_patch_baselines(Filters=OWN)["BaselineIdentities"] == [
        {"BaselineId": prod, "BaselineName": "prod-linux", "OperatingSystem": "AMAZON_LINUX_2023",
         "BaselineDescription": "prod", "DefaultBaseline": False},
        {"BaselineId": nonprod, "BaselineName": "nonprod-linux", "OperatingSystem": "AMAZON_LINUX_2023",
         "DefaultBaseline": False},
        {"BaselineId": windows, "BaselineName": "prod-windows", "OperatingSystem": "WINDOWS", "DefaultBaseline": False}]
    managed = ssm.describe_patch_baselines(Filters=[{"Key": "OWNER", "Values": ["AWS"]}])["BaselineIdentities"]
    assert len(managed) == 15 and all(b["DefaultBaseline"] and b["BaselineId"].startswith("arn:") for b in managed)
    assert {"BaselineId": AL2023_DEFAULT, "BaselineName": "AWS-AmazonLinux2023DefaultPatchBaseline",
            "OperatingSystem": "AMAZON_LINUX_2023", "DefaultBaseline": True} in managed
    assert len(ssm.describe_patch_baselines()["BaselineIdentities"]) == 18  # no OWNER filter: both
    prefixed = ssm.describe_patch_baselines(Filters=[{"Key": "NAME_PREFIX", "Values": ["prod-"]}])
    assert [b["BaselineId"] for b in prefixed["BaselineIdentities"]] == [prod, windows]
    by_os = ssm.describe_patch_baselines(Filters=[*OWN, {"Key": "OPERATING_SYSTEM", "Values": ["WINDOWS"]}])
    assert [b["BaselineId"] for b in by_os["BaselineIdentities"]] == [windows]
    first = ssm.describe_patch_baselines(Filters=OWN, MaxResults=2)
    assert len(first["BaselineIdentities"]) == 2 and first["NextToken"]
    rest = ssm.describe_patch_baselines(Filters=OWN, MaxResults=2, NextToken=first["NextToken"])
    assert [b["BaselineId"] for b in rest["BaselineIdentities"]] == [windows] and "NextToken" not in rest
    assert code(lambda: ssm.describe_patch_baselines(Filters=[{"Key": "TAG", "Values": ["x"]}]))[0] == \
        "ValidationException"
    assert code(lambda: ssm.describe_patch_baselines(Filters=[{"Key": "NAME_PREFIX", "Values": ["p"]}],
                                                     NextToken=first["NextToken"]))[0] == "ValidationException"


def test_patch_groups_take_one_baseline_per_os_and_fall_back_to_the_aws_default(ssm) -> None:
    linux = linux_baseline(ssm)
    other_linux = linux_baseline(ssm, "other-linux")
    windows = ssm.create_patch_baseline(Name="prod-windows", OperatingSystem="WINDOWS")["BaselineId"]
    assert ssm.get_patch_baseline_for_patch_group(PatchGroup="prod", OperatingSystem="AMAZON_LINUX_2023")[
        "BaselineId"] == AL2023_DEFAULT
    assert ssm.get_patch_baseline_for_patch_group(PatchGroup="prod")["OperatingSystem"] == "WINDOWS"
    ssm.register_patch_baseline_for_patch_group(BaselineId=linux, PatchGroup="prod")
    ssm.register_patch_baseline_for_patch_group(BaselineId=windows, PatchGroup="prod")  # a second OS: its own slot
    ssm.register_patch_baseline_for_patch_group(BaselineId=linux, PatchGroup="prod")  # the holder again: fine
    error, message = code(lambda: ssm.register_patch_baseline_for_patch_group(BaselineId=other_linux,
                                                                              PatchGroup="prod"))
    assert error == "AlreadyExistsException" and linux in message
    assert ssm.get_patch_baseline_for_patch_group(PatchGroup="prod", OperatingSystem="AMAZON_LINUX_2023")[
        "BaselineId"] == linux
    assert ssm.get_patch_baseline_for_patch_group(PatchGroup="prod")["BaselineId"] == windows
    assert ssm.get_patch_baseline(BaselineId=linux)["PatchGroups"] == ["prod"]
    assert code(lambda: ssm.deregister_patch_baseline_for_patch_group(BaselineId=other_linux,
                                                                      PatchGroup="prod"))[0] == "InvalidResourceId"
    assert code(lambda: ssm.register_patch_baseline_for_patch_group(BaselineId="pb-0123456789abcdef0",
                                                                    PatchGroup="prod"))[0] == "DoesNotExistException"
    assert code(lambda: ssm.delete_patch_baseline(BaselineId=linux))[0] == "ResourceInUseException"
    ssm.deregister_patch_baseline_for_patch_group(BaselineId=linux, PatchGroup="prod")
    assert ssm.get_patch_baseline_for_patch_group(PatchGroup="prod", OperatingSystem="AMAZON_LINUX_2023")[
        "BaselineId"] == AL2023_DEFAULT
    assert ssm.get_patch_baseline_for_patch_group(PatchGroup="dev")["BaselineId"] == WINDOWS_DEFAULT
    ssm.register_patch_baseline_for_patch_group(BaselineId=other_linux, PatchGroup="prod")  # the slot is free
    assert ssm.delete_patch_baseline(BaselineId=linux)["BaselineId"] == linux
    assert code(lambda: ssm.get_patch_baseline(BaselineId=linux))[0] == "DoesNotExistException"
    assert code(lambda: ssm.list_tags_for_resource(ResourceType="PatchBaseline", ResourceId=linux))[0] == \
        "InvalidResourceId"


def test_tags_on_patch_baselines_and_what_stays_moto(ssm) -> None:
    baseline_id = linux_baseline(ssm)

    def tags() -> list[dict]:
        return ssm.list_tags_for_resource(ResourceType="PatchBaseline", ResourceId=baseline_id)["TagList"]

    assert tags() == []
    ssm.add_tags_to_resource(ResourceType="PatchBaseline", ResourceId=baseline_id,
                             Tags=[{"Key": "ManagedBy", "Value": "patch-compliance"}, {"Key": "Team", "Value": "sec"}])
    ssm.add_tags_to_resource(ResourceType="PatchBaseline", ResourceId=baseline_id,
                             Tags=[{"Key": "Team", "Value": "ops"}])
    assert tags() == [{"Key": "ManagedBy", "Value": "patch-compliance"}, {"Key": "Team", "Value": "ops"}]
    ssm.remove_tags_from_resource(ResourceType="PatchBaseline", ResourceId=baseline_id, TagKeys=["ManagedBy"])
    assert tags() == [{"Key": "Team", "Value": "ops"}]
    assert code(lambda: ssm.add_tags_to_resource(ResourceType="PatchBaseline", ResourceId=baseline_id, Tags=[
        {"Key": f"k{n}", "Value": "v"} for n in range(50)]))[0] == "TooManyTagsError"
    assert code(lambda: ssm.list_tags_for_resource(ResourceType="PatchBaseline", ResourceId=AL2023_DEFAULT))[0] == \
        "InvalidResourceId"
    window = ssm.create_maintenance_window(Name="w-1", Schedule="rate(7 days)", Duration=2, Cutoff=1,
                                           AllowUnassociatedTargets=False, Tags=[{"Key": "Team", "Value": "sec"}])
    assert ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=window["WindowId"])[
        "TagList"] == [{"Key": "Team", "Value": "sec"}]


def test_aws_managed_baselines_are_listed_but_their_contents_are_not_emulated(ssm) -> None:
    error, message = code(lambda: ssm.get_patch_baseline(BaselineId=AL2023_DEFAULT))
    assert error == "ValidationException" and "is not emulated" in message
    assert code(lambda: ssm.delete_patch_baseline(BaselineId=AL2023_DEFAULT))[0] == "ValidationException"
    assert code(lambda: ssm.register_patch_baseline_for_patch_group(BaselineId=AL2023_DEFAULT,
                                                                    PatchGroup="prod"))[0] == "ValidationException"


def test_each_account_has_its_own_baselines_and_reset_forgets_them(ssm, aws_env) -> None:
    baseline_id = linux_baseline(ssm)
    ssm.register_patch_baseline_for_patch_group(BaselineId=baseline_id, PatchGroup="prod")
    creds = boto3.client("sts", endpoint_url=aws_env.endpoint_url, region_name=REGION).assume_role(
        RoleArn="arn:aws:iam::333333333333:role/any", RoleSessionName="other-account")["Credentials"]
    other = boto3.client("ssm", endpoint_url=aws_env.endpoint_url, region_name=REGION,
                         aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])
    assert other.describe_patch_baselines(Filters=OWN)["BaselineIdentities"] == []
    assert other.get_patch_baseline_for_patch_group(PatchGroup="prod", OperatingSystem="AMAZON_LINUX_2023")[
        "BaselineId"] == AL2023_DEFAULT
    ssm.create_resource_data_sync(SyncName="s", S3Destination={"BucketName": "b", "SyncFormat": "JsonSerDe",
                                                               "Region": REGION})
    aws_env.reset()
    assert ssm.describe_patch_baselines(Filters=OWN)["BaselineIdentities"] == []
    assert ssm.get_patch_baseline_for_patch_group(PatchGroup="prod", OperatingSystem="AMAZON_LINUX_2023")[
        "BaselineId"] == AL2023_DEFAULT
    assert ssm.list_resource_data_sync()["ResourceDataSyncItems"] == []


# --- maintenance windows -------------------------------------------------------------------------------


def window(ssm) -> str:
    return ssm.create_maintenance_window(Name="prod-install", Description="installs", Schedule="cron(0 2 ? * SAT *)",
                                         ScheduleTimezone="UTC", Duration=4, Cutoff=1,
                                         AllowUnassociatedTargets=False)["WindowId"]


def test_update_maintenance_window_changes_what_it_names_and_shows_enabled(ssm) -> None:
    window_id = window(ssm)
    updated = answer(ssm.update_maintenance_window(WindowId=window_id, Schedule="cron(0 4 ? * SUN *)",
                                                   Enabled=False))
    assert updated == {"WindowId": window_id, "Name": "prod-install", "Description": "installs",
                       "Schedule": "cron(0 4 ? * SUN *)", "ScheduleTimezone": "UTC", "Duration": 4, "Cutoff": 1,
                       "AllowUnassociatedTargets": False, "Enabled": False}
    [listed] = ssm.describe_maintenance_windows()["WindowIdentities"]
    assert (listed["Schedule"], listed["Enabled"]) == ("cron(0 4 ? * SUN *)", False)
    assert ssm.get_maintenance_window(WindowId=window_id)["Enabled"] is False
    replaced = answer(ssm.update_maintenance_window(WindowId=window_id, Name="renamed", Schedule="rate(1 day)",
                                                    Duration=2, Cutoff=0, AllowUnassociatedTargets=True,
                                                    Replace=True))
    assert replaced == {"WindowId": window_id, "Name": "renamed", "Schedule": "rate(1 day)", "Duration": 2,
                        "Cutoff": 0, "AllowUnassociatedTargets": True, "Enabled": True}


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"Cutoff": 4}, ("ValidationException", "Cutoff (4) must be less than Duration (4)")),
    ({"ScheduleTimezone": "Mars/Olympus"}, ("ValidationException", "not an IANA time zone")),
    ({"Schedule": "every saturday"}, ("ValidationException", "cron(...), rate(...) or at(...)")),
    ({"Description": "x" * 129}, ("ValidationException", "less than or equal to 128")),
    ({"Replace": True, "Name": "renamed"}, ("ValidationException", "Replace needs Schedule, Duration, Cutoff")),
])
def test_update_maintenance_window_refusals(ssm, kwargs, expected) -> None:
    window_id = window(ssm)
    error, message = code(lambda: ssm.update_maintenance_window(WindowId=window_id, **kwargs))
    assert error == expected[0] and expected[1] in message
    assert ssm.get_maintenance_window(WindowId=window_id)["Schedule"] == "cron(0 2 ? * SAT *)"


def test_unknown_windows_and_tasks_do_not_exist(ssm) -> None:
    assert code(lambda: ssm.update_maintenance_window(WindowId="mw-0123456789abcdef0", Enabled=True))[0] == \
        "DoesNotExistException"
    window_id = window(ssm)
    assert code(lambda: ssm.get_maintenance_window_task(
        WindowId=window_id, WindowTaskId="00000000-0000-4000-8000-000000000000"))[0] == "DoesNotExistException"


def test_get_maintenance_window_task_returns_its_invocation_parameters(ssm) -> None:
    window_id = window(ssm)
    target = ssm.register_target_with_maintenance_window(
        WindowId=window_id, ResourceType="INSTANCE", Targets=[{"Key": "tag:Environment", "Values": ["prod"]}])
    task_id = ssm.register_task_with_maintenance_window(
        WindowId=window_id, Name="prod-install-install", Description="d", TaskArn="AWS-RunPatchBaseline",
        TaskType="RUN_COMMAND", Priority=1, MaxConcurrency="10%", MaxErrors="5%",
        Targets=[{"Key": "WindowTargetIds", "Values": [target["WindowTargetId"]]}],
        TaskInvocationParameters={"RunCommand": {"Parameters": {"Operation": ["Install"],
                                                                "RebootOption": ["NoReboot"]}}})["WindowTaskId"]
    assert answer(ssm.get_maintenance_window_task(WindowId=window_id, WindowTaskId=task_id)) == {
        "WindowId": window_id, "WindowTaskId": task_id, "Name": "prod-install-install", "Description": "d",
        "TaskArn": "AWS-RunPatchBaseline", "TaskType": "RUN_COMMAND", "Priority": 1, "MaxConcurrency": "10%",
        "MaxErrors": "5%", "Targets": [{"Key": "WindowTargetIds", "Values": [target["WindowTargetId"]]}],
        "TaskInvocationParameters": {"RunCommand": {"Parameters": {"Operation": ["Install"],
                                                                   "RebootOption": ["NoReboot"]}}}}


# --- resource data sync --------------------------------------------------------------------------------


def destination(prefix: str = "rds") -> dict:
    return {"BucketName": "patch-rds-sync", "Prefix": prefix, "SyncFormat": "JsonSerDe", "Region": REGION}


def test_resource_data_sync_create_list_delete(ssm) -> None:
    ssm.create_resource_data_sync(SyncName="patch-compliance", S3Destination=destination())
    [item] = ssm.list_resource_data_sync()["ResourceDataSyncItems"]
    assert isinstance(item.pop("SyncCreatedTime"), datetime) and isinstance(item.pop("SyncLastModifiedTime"), datetime)
    assert item == {"SyncName": "patch-compliance", "SyncType": "SyncToDestination", "S3Destination": destination()}
    assert code(lambda: ssm.create_resource_data_sync(SyncName="patch-compliance", S3Destination=destination()))[
        0] == "ResourceDataSyncAlreadyExistsException"
    ssm.delete_resource_data_sync(SyncName="patch-compliance")
    assert ssm.list_resource_data_sync()["ResourceDataSyncItems"] == []
    assert code(lambda: ssm.delete_resource_data_sync(SyncName="patch-compliance"))[0] == \
        "ResourceDataSyncNotFoundException"


def test_resource_data_sync_limits_paging_and_refusals(ssm) -> None:
    for n in range(5):
        ssm.create_resource_data_sync(SyncName=f"sync-{n}", S3Destination=destination(f"p{n}"))
    assert code(lambda: ssm.create_resource_data_sync(SyncName="sync-5", S3Destination=destination()))[0] == \
        "ResourceDataSyncCountExceededException"
    pages = list(ssm.get_paginator("list_resource_data_sync").paginate(PaginationConfig={"PageSize": 2}))
    assert [[i["SyncName"] for i in p["ResourceDataSyncItems"]] for p in pages] == [
        ["sync-0", "sync-1"], ["sync-2", "sync-3"], ["sync-4"]]
    assert code(lambda: ssm.list_resource_data_sync(NextToken="bogus"))[0] == "InvalidNextToken"
    assert code(lambda: ssm.create_resource_data_sync(SyncName="x", SyncType="SyncFromSource", SyncSource={
        "SourceType": "SingleAccountMultipleRegions", "SourceRegions": [REGION]}))[0] == "ValidationException"
    assert code(lambda: ssm.create_resource_data_sync(SyncName="x"))[0] == \
        "ResourceDataSyncInvalidConfigurationException"
