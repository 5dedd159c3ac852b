"""Least-privilege IAM shipped as JSON: structure, no needless wildcards, and agreement with the config."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
IAM = REPO / "iam"
CONFIG = yaml.safe_load((REPO / "config" / "fleet.yaml").read_text())
JUSTIFIED = {k: v for k, v in json.loads((IAM / "wildcard-justifications.json").read_text()).items()
             if not k.startswith("_")}
POLICY_FILES = sorted(p for p in IAM.glob("*.json") if p.name != "wildcard-justifications.json")
ROLE_FILES = ["scanner.json", "policy-applier.json", "rds-bucket-reader.json", "lake-reports-writer.json",
              "athena-user.json"]
# IAM action names that differ from botocore operation names, or have no operation (S3's are checked by list).
S3_ACTIONS = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketAcl",
              "s3:GetBucketLocation", "s3:*"}
SERVICE_MODELS = {"ssm": "ssm", "ec2": "ec2", "athena": "athena", "glue": "glue", "kms": "kms", "sts": "sts"}


def load(name: str) -> dict:
    return json.loads((IAM / name).read_text())


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def statements(name: str) -> list[dict]:
    return load(name)["Statement"]


@pytest.fixture(scope="module")
def operations() -> dict[str, set[str]]:
    session = botocore.session.get_session()
    return {prefix: set(session.get_service_model(service).operation_names)
            for prefix, service in SERVICE_MODELS.items()}


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_policy_structure(path: Path, operations) -> None:
    document = json.loads(path.read_text())
    assert set(document) == {"Version", "Statement"} and document["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids)), "statement ids must be unique"
    for statement in document["Statement"]:
        assert statement["Effect"] in {"Allow", "Deny"}
        assert set(statement) <= {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}
        assert "Action" in statement
        assert ("Resource" in statement) != path.name.endswith("-trust.json"), "trust policies name no Resource"
        for action in as_list(statement["Action"]):
            prefix, _, name = action.partition(":")
            if prefix == "s3":
                assert action in S3_ACTIONS, action
            else:
                assert name in operations[prefix], f"{action} is not an {prefix} API action"


@pytest.mark.parametrize("name", ROLE_FILES)
def test_role_policies_grant_no_wildcard_actions_and_justify_every_star_resource(name: str) -> None:
    for statement in statements(name):
        assert statement["Effect"] == "Allow" and "Principal" not in statement
        actions = as_list(statement["Action"])
        assert not [a for a in actions if "*" in a], f"{name} {statement['Sid']}: wildcard action"
        resources = as_list(statement["Resource"])
        if "*" in resources:
            assert resources == ["*"]
            unjustified = [a for a in actions if a not in JUSTIFIED]
            assert not unjustified, f"{name} {statement['Sid']}: {unjustified} on '*' without a justification"
        else:
            assert all(r.startswith("arn:aws:") for r in resources)
            assert not [a for a in actions if a in JUSTIFIED], "a justified action must not be mixed in"


def test_every_justification_is_used() -> None:
    used = {a for name in ROLE_FILES for s in statements(name) if as_list(s["Resource"]) == ["*"]
            for a in as_list(s["Action"])}
    assert used == set(JUSTIFIED)


def test_scanner_sends_only_run_patch_baseline_to_patch_group_tagged_nodes() -> None:
    send = [s for s in statements("scanner.json") if "ssm:SendCommand" in as_list(s["Action"])]
    documents = [r for s in send for r in as_list(s["Resource"]) if ":document/" in r]
    assert documents == ["arn:aws:ssm:*::document/AWS-RunPatchBaseline"]
    node_statements = [s for s in send if any(":instance/" in r for r in as_list(s["Resource"]))]
    assert len(node_statements) == 1
    condition = node_statements[0]["Condition"]["StringEquals"]
    assert sorted(condition[f"ssm:resourceTag/{CONFIG['scan']['target_tag_key']}"]) == sorted(
        CONFIG["scan"]["target_tag_values"])
    allowed = {a for s in statements("scanner.json") for a in as_list(s["Action"])}
    assert {"ssm:ListCommands", "ssm:GetCommandInvocation", "ssm:DescribePatchBaselines", "ssm:GetPatchBaseline",
            "ec2:DescribeInstances"} <= allowed
    assert not {a for a in allowed if not a.startswith(("ssm:Describe", "ssm:Get", "ssm:List", "ec2:Describe"))
                and a != "ssm:SendCommand"}, "the scanner only reads, besides sending the scan"


def test_applier_changes_only_objects_tagged_as_managed() -> None:
    from patch_compliance.policy import MANAGED_TAG_KEY, MANAGED_TAG_VALUE

    for statement in statements("policy-applier.json"):
        actions = as_list(statement["Action"])
        mutating = [a for a in actions if a.split(":")[1].startswith(("Update", "Delete", "Deregister"))]
        baseline_or_window = any(r.endswith((":patchbaseline/*", ":maintenancewindow/*"))
                                 for r in as_list(statement["Resource"]))
        if mutating and baseline_or_window:
            assert statement["Condition"]["StringEquals"][f"aws:ResourceTag/{MANAGED_TAG_KEY}"] == MANAGED_TAG_VALUE
        if any(a.split(":")[1].startswith("Create") and a != "ssm:CreateResourceDataSync" for a in actions):
            assert statement["Condition"]["StringEquals"][f"aws:RequestTag/{MANAGED_TAG_KEY}"] == MANAGED_TAG_VALUE
    sync = [s for s in statements("policy-applier.json") if "ssm:CreateResourceDataSync" in s["Action"]]
    assert as_list(sync[0]["Resource"]) == [
        f"arn:aws:ssm:*:${{aws:PrincipalAccount}}:resource-data-sync/{CONFIG['resource_data_sync']['name']}"]


def _bucket_and_prefix(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


def test_bucket_scoped_policies_match_the_configured_locations() -> None:
    sync_bucket, sync_prefix = _bucket_and_prefix(CONFIG["storage"]["sync_uri"])
    reader = statements("rds-bucket-reader.json")
    assert {r for s in reader for r in as_list(s["Resource"]) if r.startswith("arn:aws:s3")} == {
        f"arn:aws:s3:::{sync_bucket}", f"arn:aws:s3:::{sync_bucket}/{sync_prefix}/*"}
    writer = {r for s in statements("lake-reports-writer.json") for r in as_list(s["Resource"])
              if r.startswith("arn:aws:s3") and r.endswith("/*")}
    expected = {"arn:aws:s3:::{}/{}/*".format(*_bucket_and_prefix(CONFIG["storage"][key]))
                for key in ("lake_uri", "reports_uri")}
    assert writer == expected


def test_rds_bucket_policy_org_acl_tls_and_sse_kms() -> None:
    sync_bucket, sync_prefix = _bucket_and_prefix(CONFIG["storage"]["sync_uri"])
    by_sid = {s["Sid"]: s for s in statements("rds-bucket-policy.json")}
    put = [s for s in by_sid.values() if s["Effect"] == "Allow" and s["Action"] == "s3:PutObject"]
    assert len(put) == 1 and put[0]["Principal"] == {"Service": "ssm.amazonaws.com"}
    assert put[0]["Resource"] == f"arn:aws:s3:::{sync_bucket}/{sync_prefix}/*/accountid=*/*"
    condition = put[0]["Condition"]["StringEquals"]
    assert condition["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert condition["aws:SourceOrgID"].startswith("o-")
    assert condition["s3:x-amz-server-side-encryption"] == "aws:kms"
    tls = [s for s in by_sid.values() if s["Effect"] == "Deny"
           and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert tls and tls[0]["Action"] == "s3:*" and tls[0]["Principal"] == "*"
    assert set(as_list(tls[0]["Resource"])) == {f"arn:aws:s3:::{sync_bucket}", f"arn:aws:s3:::{sync_bucket}/*"}
    denies = {json.dumps(s["Condition"], sort_keys=True) for s in by_sid.values() if s["Effect"] == "Deny"}
    assert json.dumps({"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}, sort_keys=True) in denies
    assert json.dumps({"StringNotEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}, sort_keys=True) in denies
    acl_check = [s for s in by_sid.values() if s["Action"] == "s3:GetBucketAcl"]
    assert acl_check[0]["Resource"] == f"arn:aws:s3:::{sync_bucket}"


@pytest.mark.parametrize("name", ["scanner-trust.json", "policy-applier-trust.json"])
def test_cross_account_roles_trust_only_the_central_role_in_the_organization(name: str) -> None:
    (statement,) = statements(name)
    assert statement["Action"] == "sts:AssumeRole" and statement["Principal"]["AWS"].startswith("arn:aws:iam::")
    assert statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"].startswith("o-")
