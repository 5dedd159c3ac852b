"""One AWS access module: targets, role assumption, endpoints, retries and storage credentials.

Role assumption runs over HTTP against the moto server, where every account has its own state and
an assumed role's credentials act in the role's account: what a client or pyarrow sees tells whose
credentials it was given.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import os
import re
from datetime import date
from pathlib import Path
from typing import ClassVar

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials, RefreshableCredentials
from pyarrow import fs as pafs

from patch_compliance.aws import (
    RETRY_POLICY,
    Aws,
    StorageAccess,
    Target,
    client_config,
    endpoint_url,
    paginate,
    resolve_targets,
    storage_access,
)
from patch_compliance.config import load_settings, parse_settings
from patch_compliance.inputs import InputError
from patch_compliance.storage import open_location, read_bytes, write_bytes
from sim.fleet import account_session
from tests.fixtures.rds_fixtures import item, tags, write_node

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "plugins" / "patch_compliance"
REGION = "eu-west-1"
CENTRAL_ACCOUNT = "123456789012"  # the account of moto's default credentials
RETRIES = dict(RETRY_POLICY)


def aws_connection(monkeypatch, endpoint: str, **extra) -> None:
    """The central ``aws_default`` connection: keys in login/password, the endpoint in its extra."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": endpoint, "region_name": REGION, **extra}}))


def without_aws_variables(monkeypatch) -> None:
    """No credential, Region or endpoint in the environment: whatever works was handed over explicitly."""
    for key in [key for key in os.environ if key.startswith("AWS_")]:
        monkeypatch.delenv(key)


def target_named(name: str) -> Target:
    return Target.of(next(t for t in resolve_targets(load_settings()) if t["account_name"] == name))


def wrapper_fields(wrapper) -> dict:
    """Every field of a connection wrapper, by value (a botocore Config: its identity and settings)."""
    def frozen(value):
        return ("Config", id(value), copy.deepcopy(vars(value))) if isinstance(value, Config) else copy.deepcopy(value)

    return {f.name: frozen(getattr(wrapper, f.name)) for f in dataclasses.fields(wrapper)}


# --- targets ----------------------------------------------------------------------------------------


def test_targets_are_every_account_times_region_with_its_role() -> None:
    settings = parse_settings({
        "accounts": [{"id": "111111111111", "name": "dev", "regions": ["eu-west-1", "us-east-1"],
                      "role_arn": "arn:aws:iam::111111111111:role/Scanner"},
                     {"id": "222222222222", "name": "prod", "regions": ["eu-west-1"]}],
        "scan": {"target_tag_values": ["dev-linux"]}})
    targets = resolve_targets(settings)
    assert [(t["account_id"], t["region"], t["role_arn"]) for t in targets] == [
        ("111111111111", "eu-west-1", "arn:aws:iam::111111111111:role/Scanner"),
        ("111111111111", "us-east-1", "arn:aws:iam::111111111111:role/Scanner"),
        ("222222222222", "eu-west-1", "")]
    assert Target.of(targets[0]).label == "dev (111111111111) eu-west-1"
    assert Target.of({**targets[2], "command_id": "c-1"}) == Target("222222222222", "prod", "eu-west-1")


@pytest.mark.parametrize(("raw", "message"), [
    ({"scan": {"target_tag_values": ["x"]}}, "no accounts"),
    ({"accounts": [{"id": "111111111111", "name": "dev", "regions": ["eu-west-1"]}]}, "target_tag_values"),
])
def test_targets_refuse_a_config_that_would_scan_nothing(raw, message) -> None:
    with pytest.raises(InputError, match=message):
        resolve_targets(parse_settings(raw))


def test_a_target_refuses_a_bad_account_id() -> None:
    with pytest.raises(InputError):
        Target.of({"account_id": "1234", "account_name": "x", "region": REGION})


# --- endpoints --------------------------------------------------------------------------------------


def test_endpoint_precedence_explicit_then_connection_then_service_variable_then_global() -> None:
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

    connection = AwsConnectionWrapper.from_connection_metadata(conn_id="c", extra={
        "endpoint_url": "http://connection", "service_config": {"s3": {"endpoint_url": "http://connection-s3"}}})
    environ = {"AWS_ENDPOINT_URL_SSM": "http://env-ssm", "AWS_ENDPOINT_URL_EC2": "http://env-ec2",
               "AWS_ENDPOINT_URL": "http://env"}
    assert endpoint_url("s3", "http://explicit", connection, environ) == "http://explicit"
    assert endpoint_url("s3", None, connection, environ) == "http://connection-s3"
    assert endpoint_url("ssm", None, connection, environ) == "http://connection"
    assert endpoint_url("ssm", None, None, environ) == "http://env-ssm"
    assert endpoint_url("ec2", None, AwsConnectionWrapper.from_connection_metadata(conn_id="c"),
                        environ) == "http://env-ec2"
    assert endpoint_url("sts", None, None, environ) == "http://env"
    assert endpoint_url("sts", None, None, {}) is None


def test_clients_and_storage_take_their_endpoint_from_the_resolver(monkeypatch) -> None:
    without_aws_variables(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:1")
    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name=REGION)
    aws = Aws.from_session(session)
    assert aws.client("ssm").meta.endpoint_url == "http://127.0.0.1:1"
    assert aws.client("ec2").meta.endpoint_url == f"https://ec2.{REGION}.amazonaws.com"
    assert (aws.storage().s3_endpoint, aws.storage().glue_endpoint) == (None, None)
    explicit = Aws.from_session(session, endpoint_url="http://127.0.0.1:2")
    assert {explicit.client(s).meta.endpoint_url for s in ("ssm", "ec2", "sts")} == {"http://127.0.0.1:2"}
    assert (explicit.storage().s3_endpoint, explicit.storage().glue_endpoint) == ("http://127.0.0.1:2",) * 2


def test_the_account_connection_sends_assume_role_to_the_resolved_sts_endpoint(monkeypatch) -> None:
    aws_connection(monkeypatch, "http://127.0.0.1:3", assume_role_kwargs={"ExternalId": "central-only"})
    aws = Aws.from_settings(load_settings())
    staging = target_named("staging")
    wrapper = aws.account_connection(staging)
    assert wrapper.get_service_endpoint_url("sts", sts_connection_assume=True) == "http://127.0.0.1:3"
    assert (wrapper.role_arn, wrapper.assume_role_method) == (staging.role_arn, "assume_role")
    assert wrapper.assume_role_kwargs == {"RoleSessionName": f"patch-compliance-{staging.account_id}"}
    assert (wrapper.aws_access_key_id, wrapper.endpoint_url) == ("testing", "http://127.0.0.1:3")
    assert aws.connection.role_arn is None and "sts" not in aws.connection.service_config


# --- role assumption ------------------------------------------------------------------------------


def test_the_provider_assumes_each_accounts_role_and_leaves_the_hooks_connection_alone(aws_env, monkeypatch):
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    aws_connection(monkeypatch, aws_env.endpoint_url)
    staging, dev = target_named("staging"), target_named("dev")
    made = account_session(aws_env.endpoint_url, staging.account_id, REGION).client(
        "ec2", endpoint_url=aws_env.endpoint_url).run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2)
    without_aws_variables(monkeypatch)
    hook = AwsBaseHook(aws_conn_id="aws_default", client_type="sts", region_name=REGION, config=client_config())
    before = wrapper_fields(hook.conn_config)
    aws = Aws.from_hook(hook)

    identity = aws.client("sts", staging).get_caller_identity()
    role_name = staging.role_arn.rsplit("/", 1)[1]
    assert identity["Account"] == staging.account_id
    assert identity["Arn"] == f"arn:aws:sts::{staging.account_id}:assumed-role/{role_name}/{staging.session_name}"
    assert aws.client("sts").get_caller_identity()["Account"] == CENTRAL_ACCOUNT
    credentials = aws.session(staging).get_credentials()
    assert isinstance(credentials, RefreshableCredentials) and credentials.method == "sts-assume-role"

    def instance_ids(target: Target) -> set[str]:
        return {i["InstanceId"] for r in paginate(aws.client("ec2", target), "describe_instances", "Reservations")
                for i in r["Instances"]}

    assert instance_ids(staging) == {i["InstanceId"] for i in made["Instances"]}
    assert instance_ids(dev) == set()
    assert wrapper_fields(hook.conn_config) == before
    assert hook.conn_config.role_arn is None


def test_the_command_line_assumes_roles_from_a_plain_boto3_session(aws_env):
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    aws = Aws.from_session(base, endpoint_url=aws_env.endpoint_url)
    prod = target_named("prod")
    identity = aws.client("sts", prod).get_caller_identity()
    assert identity["Arn"].startswith(f"arn:aws:sts::{prod.account_id}:assumed-role/")
    assert identity["Arn"].endswith(f"/{prod.session_name}")
    credentials = aws.session(prod).get_credentials()
    assert isinstance(credentials, DeferredRefreshableCredentials) and credentials.method == "assume-role"
    assert aws.session(prod) is aws.session(prod.as_dict())  # one AssumeRole per account
    assert aws.client("sts").get_caller_identity()["Account"] == CENTRAL_ACCOUNT


# --- retries --------------------------------------------------------------------------------------


def test_every_client_has_the_one_retry_policy(monkeypatch) -> None:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from patch_compliance.query import AthenaEngine

    aws_connection(monkeypatch, "http://127.0.0.1:1")
    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name=REGION)
    identities = [Aws.from_session(session, endpoint_url="http://127.0.0.1:1"),
                  Aws.from_hook(AwsBaseHook(aws_conn_id="aws_default", client_type="sts", region_name=REGION))]
    for aws in identities:
        for service in ("ssm", "ec2", "s3", "sts", "glue", "athena"):
            assert aws.client(service).meta.config.retries == RETRIES, (type(aws).__name__, service)
    athena = AthenaEngine("db", "s3://results/", aws_conn_id="aws_default", region_name=REGION)
    assert athena._hook.get_conn().meta.config.retries == RETRIES
    assert StorageAccess(REGION).glue_client(REGION).meta.config.retries == RETRIES


def test_pyarrows_s3_retries_take_the_policys_attempts(monkeypatch) -> None:
    """pyarrow's AWS SDK has no adaptive mode: its standard strategy gets the policy's attempt count."""
    from patch_compliance import storage

    made: list[int] = []
    standard = pafs.AwsStandardS3RetryStrategy

    def strategy(max_attempts: int) -> pafs.S3RetryStrategy:
        made.append(max_attempts)
        return standard(max_attempts=max_attempts)

    monkeypatch.setattr(storage.pafs, "AwsStandardS3RetryStrategy", strategy)
    open_location("s3://bucket/key", StorageAccess(REGION, s3_endpoint="http://127.0.0.1:1"))
    assert made == [RETRIES["total_max_attempts"]]


def test_no_module_builds_its_own_botocore_retry_config() -> None:
    pattern = re.compile(r"Config\(\s*retries|total_max_attempts|\"mode\":\s*\"adaptive\"")
    hits = [f"{path.relative_to(REPO)}:{n}" for path in sorted(PACKAGE.rglob("*.py"))
            for n, text in enumerate(path.read_text().splitlines(), 1)
            if pattern.search(text) and path.name != "aws.py"]
    assert hits == []


# --- storage ----------------------------------------------------------------------------------------


def test_pyarrow_reaches_s3_with_exactly_the_credentials_it_is_handed(aws_env, monkeypatch):
    staging = target_named("staging")
    session = account_session(aws_env.endpoint_url, staging.account_id, REGION)
    s3 = session.client("s3", endpoint_url=aws_env.endpoint_url)
    s3.create_bucket(Bucket="staging-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="staging-bucket", Key="dir/object.txt", Body=b"from staging")
    boto3.client("s3", endpoint_url=aws_env.endpoint_url).create_bucket(
        Bucket="central-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    without_aws_variables(monkeypatch)

    access = Aws.from_session(session, endpoint_url=aws_env.endpoint_url).storage()
    assert access.session_token and access.access_key != "testing"
    assert access.secret_key not in repr(access) and access.session_token not in repr(access)
    location, fs = open_location("s3://staging-bucket/dir", access)
    assert read_bytes(fs, location.join("object.txt")) == b"from staging"
    write_bytes(fs, location.join("back.txt"), b"written")
    assert s3.get_object(Bucket="staging-bucket", Key="dir/back.txt")["Body"].read() == b"written"
    # S3 lists the buckets of the caller's account: these bytes went over staging's credentials.
    assert [i.path for i in fs.get_file_info(pafs.FileSelector(""))] == ["staging-bucket"]


def test_storage_access_feeds_pyiceberg_explicitly() -> None:
    access = StorageAccess("eu-central-1", "AKIA", "secret", "token", "http://s3.local", "http://glue.local")
    assert access.iceberg_io_properties() == {
        "py-io-impl": "patch_compliance.lake_io.LakeFileIO",
        "s3.region": "eu-central-1", "s3.access-key-id": "AKIA", "s3.secret-access-key": "secret",
        "s3.session-token": "token", "s3.endpoint": "http://s3.local"}
    back = StorageAccess.from_iceberg_io_properties(access.iceberg_io_properties())
    assert back == StorageAccess("eu-central-1", "AKIA", "secret", "token", "http://s3.local")
    glue = access.glue_client(REGION)
    credentials = glue._request_signer._credentials
    assert (glue.meta.region_name, glue.meta.endpoint_url) == (REGION, "http://glue.local")
    assert (credentials.access_key, credentials.secret_key, credentials.token) == ("AKIA", "secret", "token")
    assert access.glue_client(REGION) is not glue  # a client per catalog; only the service model is shared
    assert StorageAccess(REGION).iceberg_io_properties() == {"py-io-impl": "patch_compliance.lake_io.LakeFileIO",
                                                             "s3.region": REGION}
    assert StorageAccess.from_iceberg_io_properties({"py-io-impl": "x"}) == StorageAccess()


def test_a_lake_refuses_an_endpoint_string_for_its_access() -> None:
    from patch_compliance.lake import Lake

    with pytest.raises(TypeError, match="StorageAccess"):
        Lake("s3://bucket/lake", "http://127.0.0.1:1")  # type: ignore[arg-type]


# --- nothing goes through os.environ ---------------------------------------------------------------


class RecordingEnviron(type(os.environ)):
    """``os.environ`` that records every write (its class is swapped in for the duration of a test)."""

    writes: ClassVar[list[str]] = []

    def __setitem__(self, key, value):
        RecordingEnviron.writes.append(f"set {key}")
        super().__setitem__(key, value)

    def __delitem__(self, key):
        RecordingEnviron.writes.append(f"delete {key}")
        super().__delitem__(key)


def _rds_tree(root: Path) -> None:
    for node, state, status in (("i-0a00000000000000a", "Installed", "COMPLIANT"),
                                ("i-0b00000000000000b", "Missing", "NON_COMPLIANT")):
        write_node(root, node, items=[item("openssl-libs.x86_64", state, status)],
                   node_tags=tags(Team="web", Environment="prod"), account="333333333333")


def test_an_ingest_and_report_run_leave_os_environ_as_it_was(aws_env, monkeypatch, tmp_path) -> None:
    from patch_compliance.tasks import daily, monthly_report
    from sim.fleet import create_buckets

    settings = load_settings()
    create_buckets(aws_env.endpoint_url, settings)
    _rds_tree(tmp_path / "rds")
    aws_connection(monkeypatch, aws_env.endpoint_url)
    without_aws_variables(monkeypatch)  # S3 and Glue can only be reached with what aws hands over
    before = dict(os.environ)
    RecordingEnviron.writes = []
    monkeypatch.setattr(os.environ, "__class__", RecordingEnviron)

    day = date(2026, 11, 2)
    ingested = daily.ingest_day(day, str(tmp_path / "rds"), settings)
    report = monthly_report.monthly_report("2026-11", settings)

    after, writes = dict(os.environ), list(RecordingEnviron.writes)
    monkeypatch.undo()
    assert writes == [] and after == before
    assert ingested["snapshot_date"] == day.isoformat() and report["report_snapshot_date"] == day.isoformat()
    assert sum(int(c["instances"]) for c in report["cells"]) == 2


def test_no_plugin_module_writes_os_environ() -> None:
    write = re.compile(r"os\.environ\[[^\]]+\]\s*=|os\.environ\.(update|setdefault|pop|clear|popitem)\(|"
                       r"os\.(putenv|unsetenv)\(|del\s+os\.environ\[")
    hits = [f"{path.relative_to(REPO)}:{n}: {text.strip()}" for path in sorted(PACKAGE.rglob("*.py"))
            for n, text in enumerate(path.read_text().splitlines(), 1) if write.search(text)]
    assert hits == []


# --- who imports what ----------------------------------------------------------------------------


def _imports(module: str) -> set[str]:
    """The ``patch_compliance`` modules ``module`` imports (anywhere in it, lazily too)."""
    path = PACKAGE.joinpath(*module.split(".")[1:])
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("patch_compliance"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names
                      if PACKAGE.joinpath(*node.module.split(".")[1:], f"{a.name}.py").exists()}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("patch_compliance")}
    return found


def _closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += sorted(_imports(current))
    return seen


@pytest.mark.parametrize("module", ["ingest", "report", "evidence", "inventory", "patch_catalog", "lake",
                                    "storage", "query", "policy"])
def test_the_data_modules_never_import_the_scan(module: str) -> None:
    reached = _closure(f"patch_compliance.{module}")
    assert "patch_compliance.scan" not in reached, sorted(reached)


def test_only_aws_talks_to_the_provider_hooks_for_sessions() -> None:
    pattern = re.compile(r"assume_role|conn_config|SessionFactory|get_credentials\(")
    hits = [f"{path.relative_to(REPO)}:{n}" for path in sorted(PACKAGE.rglob("*.py"))
            for n, text in enumerate(path.read_text().splitlines(), 1)
            if pattern.search(text) and path.name != "aws.py"]
    assert hits == []


def test_the_default_access_reads_boto3s_chain(monkeypatch) -> None:
    without_aws_variables(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-chain")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4")
    access = storage_access(region="ap-south-1")
    assert (access.access_key, access.region, access.s3_endpoint) == ("from-chain", "ap-south-1",
                                                                      "http://127.0.0.1:4")
