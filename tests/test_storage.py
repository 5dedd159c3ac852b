"""Local directories and S3 through one pyarrow filesystem API: ordered concurrent reads, whole writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from patch_compliance.aws import storage_access
from patch_compliance.inputs import InputError
from patch_compliance.storage import BulkReader, delete_files, list_files, open_location, write_bytes


def _paths(fs_path: str, count: int) -> list[str]:
    return [f"{fs_path}/d{n % 3}/f{n:03d}" for n in range(count)]


def test_local_reads_keep_order_and_writes_leave_no_temporary_file(tmp_path: Path) -> None:
    location, fs = open_location(str(tmp_path / "root"))
    paths = _paths(location.fs_path, 50)
    for n, path in enumerate(paths):
        write_bytes(fs, path, f"object {n}".encode())
    write_bytes(fs, paths[0], b"replaced")  # an overwrite is a rename: readers see old or new
    assert BulkReader(fs, threads=8).read(paths) == [b"replaced", *(f"object {n}".encode() for n in range(1, 50))]
    listed = sorted(info.path for info in list_files(fs, location.fs_path))
    assert listed == sorted(paths)  # no .tmp- leftovers
    assert list_files(fs, location.fs_path + "/absent") == []
    assert delete_files(fs, paths[:5]) == 5 and len(list_files(fs, location.fs_path)) == 45


def test_s3_through_the_endpoint(aws_env) -> None:
    import boto3

    boto3.client("s3", endpoint_url=aws_env.endpoint_url).create_bucket(
        Bucket="storage-test", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    location, fs = open_location("s3://storage-test/prefix", storage_access(aws_env.endpoint_url))
    paths = _paths(location.fs_path, 20)
    for n, path in enumerate(paths):
        write_bytes(fs, path, bytes([n]) * n)
    reader = BulkReader(fs, 4, storage_access(aws_env.endpoint_url))
    calls: list[str] = []
    reader._s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    assert reader.read(paths) == [bytes([n]) * n for n in range(20)]
    assert calls == ["GetObject"] * 20  # one request per object: the listing found them, no HeadObject
    assert sorted(i.path for i in list_files(fs, location.fs_path)) == sorted(paths)


@pytest.mark.parametrize("uri", ["s3://", "ftp://host/x", "s3://bucket/../etc", "relative\x00path"])
def test_bad_locations_are_refused(uri: str) -> None:
    with pytest.raises(InputError):
        open_location(uri)
