"""Local directories and S3 through one pyarrow filesystem API: ordered concurrent reads, whole writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from patch_compliance.aws import StorageAccess, storage_access
from patch_compliance.inputs import InputError
from patch_compliance.storage import BulkReader, delete_files, list_files, open_location, publish_files, write_bytes


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


def test_publishing_sends_only_what_is_not_already_stored_byte_for_byte(aws_env, monkeypatch) -> None:
    """A re-rendered site: unchanged files are not sent again; changed, deleted or unprovable ones are."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env.endpoint_url)
    s3.create_bucket(Bucket="site-test", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    access = storage_access(aws_env.endpoint_url)
    location, fs = open_location("s3://site-test/lake/docs", access)
    puts: list[str] = []
    make_client = StorageAccess.s3_client

    def counting_client(self, pool):
        client = make_client(self, pool)
        client.meta.events.register("provide-client-params.s3.PutObject",
                                    lambda params, **_: puts.append(params["Key"]))
        return client

    monkeypatch.setattr(StorageAccess, "s3_client", counting_client)
    site = {"index.html": b"<html>day 1</html>", "static/app.css": b"body{}" * 1000, "static/logo.png": b"\x89PNG"}
    assert publish_files(fs, location.fs_path, site, access) == 3
    assert publish_files(fs, location.fs_path, site, access) == 0 and len(puts) == 3

    puts.clear()
    s3.delete_object(Bucket="site-test", Key="lake/docs/static/logo.png")  # removed out of band
    s3.put_object(Bucket="site-test", Key="lake/docs/static/app.css", Body=b"tampered")
    site["index.html"] = b"<html>day 2</html>"
    assert publish_files(fs, location.fs_path, site, access) == 3
    assert sorted(puts) == ["lake/docs/index.html", "lake/docs/static/app.css", "lake/docs/static/logo.png"]
    assert {k: s3.get_object(Bucket="site-test", Key=f"lake/docs/{k}")["Body"].read() for k in site} == site

    puts.clear()  # an ETag that is not the MD5 (a multipart upload) is no proof: written again
    upload = s3.create_multipart_upload(Bucket="site-test", Key="lake/docs/index.html")
    part = s3.upload_part(Bucket="site-test", Key="lake/docs/index.html", UploadId=upload["UploadId"],
                          PartNumber=1, Body=site["index.html"])
    s3.complete_multipart_upload(Bucket="site-test", Key="lake/docs/index.html", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert publish_files(fs, location.fs_path, site, access) == 1 and puts == ["lake/docs/index.html"]


def test_publishing_to_a_local_directory_writes_every_file(tmp_path: Path) -> None:
    location, fs = open_location(str(tmp_path / "docs"))
    site = {"index.html": b"one", "static/a.css": b"two"}
    assert publish_files(fs, location.fs_path, site) == 2 and publish_files(fs, location.fs_path, site) == 2
    assert {p.relative_to(tmp_path / "docs").as_posix(): p.read_bytes()
            for p in (tmp_path / "docs").rglob("*") if p.is_file()} == site


@pytest.mark.parametrize("uri", ["s3://", "ftp://host/x", "s3://bucket/../etc", "relative\x00path"])
def test_bad_locations_are_refused(uri: str) -> None:
    with pytest.raises(InputError):
        open_location(uri)
