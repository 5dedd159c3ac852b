"""Resource Data Sync lines built from AWS's own documented examples (values transcribed, not generated).

RDS writes each inventory type as JSON Lines with every value a string and an envelope on every line
(shared/reference/rds-and-patch-manager.md §1). AWS publishes no verbatim RDS line, so each fixture
takes the values of a documented API example and lays them out the way RDS does; the source of each
is named next to it. Expected results in the tests are worked out by hand from these values.
"""

from __future__ import annotations

import json

# AWS CLI reference, `aws ssm describe-instance-patch-states`, "Example 1: To get the patch state
# summary for instances": https://docs.aws.amazon.com/cli/latest/reference/ssm/describe-instance-patch-states.html
# (the offsets -07:00 are the example's own; RDS writes the same attributes as AWS:PatchSummary).
PATCH_STATE_EXAMPLE = {
    "PatchGroup": "My-Patch-Group", "BaselineId": "pb-0713accee01234567",
    "SnapshotId": "521c3536-930c-4aa9-950e-01234567abcd", "OwnerInformation": "",
    "CriticalNonCompliantCount": "2", "SecurityNonCompliantCount": "2", "OtherNonCompliantCount": "1",
    "InstalledCount": "123", "InstalledOtherCount": "334", "InstalledPendingRebootCount": "0",
    "InstalledRejectedCount": "0", "MissingCount": "1", "FailedCount": "2",
    "UnreportedNotApplicableCount": "11", "NotApplicableCount": "2063",
    "OperationStartTime": "2021-05-03T11:00:56-07:00", "OperationEndTime": "2021-05-03T11:01:09-07:00",
    "OperationType": "Scan", "LastNoRebootInstallOperationTime": "2020-06-14T12:17:41-07:00",
    "RebootOption": "RebootIfNeeded",
}
PATCH_STATE_INSTANCE = "i-1234567890abcdef0"

# AWS CLI reference, `aws ssm describe-instance-patches`, "Example 1: To get the patch state details
# for an instance": https://docs.aws.amazon.com/cli/latest/reference/ssm/describe-instance-patches.html
# (KBId -> Id, State -> PatchState; RDS adds ComplianceType, Status and the baseline fields).
INSTANCE_PATCHES_EXAMPLE = [
    {"Title": "2019-01 Security Update for Adobe Flash Player for Windows Server 2016 for x64-based Systems "
              "(KB4480979)", "KBId": "KB4480979", "Classification": "SecurityUpdates", "Severity": "Critical",
     "State": "Installed", "InstalledTime": "2019-01-09T00:00:00+00:00"},
    {"Title": "", "KBId": "KB4481031", "Classification": "", "Severity": "", "State": "InstalledOther",
     "InstalledTime": "2019-02-08T00:00:00+00:00"},
]

# AWS CLI reference, `aws ssm get-inventory`, "Example 1: To view your inventory":
# https://docs.aws.amazon.com/cli/latest/reference/ssm/get-inventory.html. The AWS:InstanceInformation
# content names its node by InstanceId only, and the capture time is spelled CaptureTime.
INVENTORY_EXAMPLE = {
    "ComputerName": "ip-172-31-44-222.us-west-2.compute.internal", "InstanceId": "i-0cb2b964d3e14fd9f",
    "IpAddress": "172.31.44.222", "AgentType": "amazon-ssm-agent", "ResourceType": "EC2Instance",
    "AgentVersion": "2.0.672.0", "PlatformVersion": "2016.09", "PlatformName": "Amazon Linux AMI",
    "PlatformType": "Linux",
}
INVENTORY_CAPTURE = "2017-02-20T18:03:58Z"


def rds_item(patch: dict[str, str]) -> dict[str, str]:
    """A DescribeInstancePatches entry as an AWS:ComplianceItem line body (reference §2 for Status)."""
    status = "COMPLIANT" if patch["State"] in ("Installed", "InstalledOther") else "NON_COMPLIANT"
    return {"ComplianceType": "Patch", "ExecutionId": "1c2d3e4f-0000-4000-8000-000000000001",
            "ExecutionType": "Command", "ExecutionTime": "2021-05-03T18:01:09Z", "Id": patch["KBId"],
            "Title": patch["Title"], "Status": status, "Severity": "CRITICAL" if patch["Severity"] else "",
            "DocumentName": "AWS-RunPatchBaseline", "DocumentVersion": "1",
            "Classification": patch["Classification"], "PatchBaselineId": "pb-0713accee01234567",
            "PatchSeverity": patch["Severity"], "PatchState": patch["State"], "PatchGroup": "My-Patch-Group",
            "InstalledTime": patch["InstalledTime"]}


def raw_line(body: dict[str, str]) -> str:
    return json.dumps(body, separators=(",", ":"))
