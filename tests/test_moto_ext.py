"""The stand-in's DescribeAvailablePatches (sim/moto_ext), over HTTP through plain boto3.

The catalog posted here is written by hand, so every expected answer below is read off it, not
computed by the extension's own code.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError

ROUTE = "/moto-api/sim/patch-catalog"
T0 = 1_790_000_000  # 2026-09-21T14:13:20Z


def windows(kb: str, product: str = "WindowsServer2019", classification: str = "SecurityUpdates",
            msrc: str = "Critical", family: str = "Windows") -> dict:
    return {"Id": f"id-{kb}", "KbNumber": kb, "Title": f"Update ({kb})", "ReleaseDate": T0, "Product": product,
            "ProductFamily": family, "Classification": classification, "MsrcSeverity": msrc}


def linux(name: str, arch: str, version: str, release: str, product: str = "AmazonLinux2", epoch: int = 0,
          severity: str | None = "Important", cves: tuple[str, ...] = (), advisory: str = "ALAS2-2026-001",
          released: int = T0) -> dict:
    patch = {"Name": name, "Arch": arch, "Epoch": epoch, "Version": version, "Release": release,
             "Title": f"{name}.{arch}:{epoch}:{version}-{release}", "ReleaseDate": released, "Product": product,
             "Classification": "Security", "CVEIds": list(cves), "AdvisoryIds": [advisory], "Repository": "Core"}
    return {**patch, "Severity": severity} if severity else patch


CATALOG = [
    windows("KB5000001"),
    windows("KB5000002", "WindowsServer2022", "Updates", "Unspecified"),
    windows("KB5000003", "Microsoft SQL Server 2019", "Updates", "Unspecified", family="SQL Server"),
    linux("openssl-libs", "x86_64", "1.0.2k", "24.amzn2.0.6", cves=("CVE-2026-1001",), released=T0 - 86400),
    linux("openssl-libs", "x86_64", "1.0.2k", "25.amzn2.0.1", epoch=1, cves=("CVE-2026-1002", "CVE-2026-1003"),
          advisory="ALAS2-2026-002"),
    linux("curl", "aarch64", "8.3.0", "1.amzn2.0.1", severity="Critical"),
    linux("kernel", "x86_64", "4.14.355", "275.amzn1", product="AmazonLinux2018.03", severity=None),
    linux("openssl-libs", "x86_64", "3.0.8", "1.amzn2023.0.14", product="AmazonLinux2023"),
    linux("libssl3", "amd64", "3.0.2", "0ubuntu1.18", product="Ubuntu22.04"),
]


def post(endpoint: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(f"{endpoint}{ROUTE}", data=json.dumps(body).encode(),  # noqa: S310
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310 - the local stand-in
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def status(endpoint: str) -> dict:
    with urllib.request.urlopen(f"{endpoint}{ROUTE}") as response:  # noqa: S310 - the local stand-in
        return json.loads(response.read())


@pytest.fixture
def ssm(aws_env):
    assert post(aws_env.endpoint_url, {"patches": CATALOG}) == (200, {"patches": len(CATALOG)})
    return boto3.client("ssm", endpoint_url=aws_env.endpoint_url, region_name="eu-west-1")


def titles(ssm, **kwargs) -> list[str]:
    return [p["Title"] for p in ssm.describe_available_patches(**kwargs)["Patches"]]


def f(key: str, *values: str) -> dict:
    return {"Key": key, "Values": list(values)}


def test_without_filters_only_windows_patches_are_listed(ssm) -> None:
    assert titles(ssm) == ["Update (KB5000003)", "Update (KB5000001)", "Update (KB5000002)"]  # by product


def test_windows_filters(ssm) -> None:
    assert titles(ssm, Filters=[f("PATCH_ID", "KB5000002", "KB9999999")]) == ["Update (KB5000002)"]
    assert titles(ssm, Filters=[f("PATCH_SET", "APPLICATION")]) == ["Update (KB5000003)"]
    assert titles(ssm, Filters=[f("PATCH_SET", "OS"), f("MSRC_SEVERITY", "Critical")]) == ["Update (KB5000001)"]
    assert titles(ssm, Filters=[f("CLASSIFICATION", "Updates"), f("PRODUCT_FAMILY", "Windows")]) == [
        "Update (KB5000002)"]
    assert titles(ssm, Filters=[f("PRODUCT", "WindowsServer2022", "WindowsServer2019")]) == [
        "Update (KB5000001)", "Update (KB5000002)"]


def test_linux_filters_need_product_and_match_exactly(ssm) -> None:
    al2 = f("PRODUCT", "AmazonLinux2")
    assert titles(ssm, Filters=[al2, f("NAME", "openssl-libs")]) == [
        "openssl-libs.x86_64:0:1.0.2k-24.amzn2.0.6", "openssl-libs.x86_64:1:1.0.2k-25.amzn2.0.1"]
    assert titles(ssm, Filters=[al2, f("CVE_ID", "CVE-2026-1003")]) == ["openssl-libs.x86_64:1:1.0.2k-25.amzn2.0.1"]
    assert titles(ssm, Filters=[al2, f("ADVISORY_ID", "ALAS2-2026-001"), f("ARCH", "aarch64")]) == [
        "curl.aarch64:0:8.3.0-1.amzn2.0.1"]
    assert titles(ssm, Filters=[al2, f("SEVERITY", "Critical")]) == ["curl.aarch64:0:8.3.0-1.amzn2.0.1"]
    assert titles(ssm, Filters=[al2, f("EPOCH", "1")]) == ["openssl-libs.x86_64:1:1.0.2k-25.amzn2.0.1"]
    assert titles(ssm, Filters=[al2, f("NAME", "OPENSSL-LIBS")]) == []  # case-sensitive, no wildcards
    assert titles(ssm, Filters=[f("PRODUCT", "AmazonLinux2018.03")]) == ["kernel.x86_64:0:4.14.355-275.amzn1"]
    (patch,) = ssm.describe_available_patches(Filters=[al2, f("VERSION", "8.3.0")])["Patches"]
    assert patch["ReleaseDate"] == datetime.fromtimestamp(T0, UTC) and patch["Severity"] == "Critical"
    assert {k: patch[k] for k in ("Name", "Arch", "Epoch", "Version", "Release", "Product")} == {
        "Name": "curl", "Arch": "aarch64", "Epoch": 0, "Version": "8.3.0", "Release": "1.amzn2.0.1",
        "Product": "AmazonLinux2"}


def test_amazon_linux_2023_and_ubuntu_are_not_covered(ssm) -> None:
    assert titles(ssm, Filters=[f("PRODUCT", "AmazonLinux2023")]) == []
    assert titles(ssm, Filters=[f("PRODUCT", "AmazonLinux2023"), f("NAME", "openssl-libs")]) == []
    assert titles(ssm, Filters=[f("PRODUCT", "Ubuntu22.04")]) == []
    assert titles(ssm, Filters=[f("PRODUCT", "AmazonLinux2", "AmazonLinux2023"), f("ARCH", "x86_64")]) == [
        "openssl-libs.x86_64:0:1.0.2k-24.amzn2.0.6", "openssl-libs.x86_64:1:1.0.2k-25.amzn2.0.1"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"Filters": [f("NAME", "openssl-libs")]}, "must specify a key-pair for PRODUCT"),
    ({"Filters": [f("OS_FAMILY", "x")]}, "Filter key OS_FAMILY is not supported"),
    ({"Filters": [f("PRODUCT", "AmazonLinux2"), f("PATCH_ID", "KB1")]}, "not supported for product AmazonLinux2"),
    ({"Filters": [f("PRODUCT", "WindowsServer2019"), f("SEVERITY", "Critical")]}, "not supported for product"),
    ({"Filters": [f("PRODUCT", "AmazonLinux2"), f("NAME")]}, "non-empty list"),
    ({"Filters": [f("PRODUCT", "x" * 257)]}, "1 to 256 characters"),
    ({"Filters": [f("PATCH_ID", f"KB{n}") for n in range(6)]}, "at most 5 filters"),
    ({"MaxResults": 101}, "MaxResults must be between 1 and 100"),
    ({"NextToken": "not-a-token"}, "NextToken is not valid"),
])
def test_refused_requests_raise_validation_exception(ssm, kwargs, message) -> None:
    with pytest.raises(ClientError) as raised:
        ssm.describe_available_patches(**kwargs)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert message in raised.value.response["Error"]["Message"]


def test_paging_through_the_paginator_and_tokens_bound_to_their_query(aws_env) -> None:
    kbs = [f"KB{5_100_000 + n}" for n in range(250)]
    assert post(aws_env.endpoint_url, {"patches": [windows(kb) for kb in reversed(kbs)]})[0] == 200
    ssm = boto3.client("ssm", endpoint_url=aws_env.endpoint_url, region_name="eu-west-1")
    pages = list(ssm.get_paginator("describe_available_patches").paginate(PaginationConfig={"PageSize": 100}))
    assert [len(p["Patches"]) for p in pages] == [100, 100, 50]
    assert [p["KbNumber"] for page in pages for p in page["Patches"]] == kbs  # stable order, none twice
    first = ssm.describe_available_patches()
    assert len(first["Patches"]) == 50 and first["NextToken"]
    with pytest.raises(ClientError, match="not valid for this request"):
        ssm.describe_available_patches(Filters=[f("PATCH_SET", "OS")], NextToken=first["NextToken"])
    last = ssm.describe_available_patches(MaxResults=100, Filters=[f("PATCH_ID", *kbs[:20])])
    assert len(last["Patches"]) == 20 and "NextToken" not in last


def test_request_log_reset_and_malformed_posts(ssm, aws_env) -> None:
    ssm.describe_available_patches(Filters=[f("PATCH_ID", "KB5000001")])
    ssm.describe_available_patches(MaxResults=10)
    log = status(aws_env.endpoint_url)
    assert log["patches"] == len(CATALOG)
    assert log["requests"] == [{"Filters": [f("PATCH_ID", "KB5000001")]}, {"MaxResults": 10}]
    assert post(aws_env.endpoint_url, {"patches": [{"Product": "AmazonLinux2", "Title": "x"}]})[0] == 400
    assert post(aws_env.endpoint_url, [1, 2])[0] == 400
    aws_env.reset()
    assert status(aws_env.endpoint_url) == {"patches": 0, "requests": []}
    assert titles(ssm) == []
