"""One way to reach local directories and S3 for every module: pyarrow filesystems.

DuckDB's httpfs extension cannot be installed offline, so object I/O goes through ``pyarrow.fs``
(and, for the many small GETs of an RDS day, a botocore client: ``BulkReader``); DuckDB only ever
sees Arrow data. S3 is reached with an ``aws.StorageAccess``:
the credentials, Region and endpoint are handed to ``pyarrow.fs.S3FileSystem`` explicitly, so every
byte goes through the identity ``aws`` resolved (the Airflow connection, or boto3's default chain
when none is given), never through credentials pyarrow would look up on its own.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

from pyarrow import fs as pafs

from patch_compliance.aws import StorageAccess, storage_access
from patch_compliance.inputs import Location, parse_location


def s3_access(access: StorageAccess | None = None) -> StorageAccess:
    """``access``, or boto3's default chain (with the standard endpoint variables) when None."""
    if access is None:
        return storage_access()
    if not isinstance(access, StorageAccess):
        raise TypeError(f"S3 needs an aws.StorageAccess (aws.storage_access(endpoint_url) for an endpoint URL), "
                        f"got {type(access).__name__}")
    return access


def filesystem(location: Location, access: StorageAccess | None = None) -> pafs.FileSystem:
    return pafs.LocalFileSystem() if location.scheme == "file" else s3_filesystem(s3_access(access))


def s3_filesystem(access: StorageAccess) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem for ``access`` (also the lake's Iceberg FileIO's: ``lake_io``)."""
    kwargs: dict[str, object] = {
        "region": access.region,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=access.s3_max_attempts),
        "connect_timeout": 5,
        "request_timeout": 30,
        "allow_delayed_open": True,  # a small object is one PutObject at close, not a three-request multipart upload
    }
    if access.access_key and access.secret_key:
        kwargs |= {"access_key": access.access_key, "secret_key": access.secret_key,
                   "session_token": access.session_token}
    else:  # no credentials resolved: read public objects, never credentials pyarrow would find itself
        kwargs["anonymous"] = True
    if access.s3_endpoint:
        parsed = urlparse(access.s3_endpoint)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
    return pafs.S3FileSystem(**kwargs)


def open_location(uri: str, access: StorageAccess | None = None, what: str = "location"):
    """Validate a URI and return ``(Location, FileSystem)``."""
    location = parse_location(uri, what)
    return location, filesystem(location, access)


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as stream:
        return stream.read()


class BulkReader:
    """Reads many small objects concurrently, in input order (an RDS day is thousands of them).

    Each worker reads a contiguous slice, so thousands of objects cost a handful of task hand-offs,
    not one per object (which dominates on a fast local disk). On S3 each object is one
    ``GetObject`` through a botocore client whose connection pool is sized to the workers: pyarrow's
    input streams send a ``HeadObject`` before every GET, doubling the round trips for objects the
    listing has already found.
    """

    def __init__(self, fs: pafs.FileSystem, threads: int = 16, access: StorageAccess | None = None) -> None:
        self.fs = fs
        self.local = isinstance(fs, pafs.LocalFileSystem)
        self.threads = max(1, min(threads, 4) if self.local else threads)
        self._s3 = None if self.local else s3_access(access).s3_client(self.threads)

    def read(self, paths: list[str]) -> list[bytes]:
        if not paths:
            return []
        workers = min(self.threads, len(paths))
        size = -(-len(paths) // workers)
        slices = [paths[i:i + size] for i in range(0, len(paths), size)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return [data for chunk in pool.map(lambda part: [self._read(p) for p in part], slices)
                    for data in chunk]

    def _read(self, path: str) -> bytes:
        if self._s3 is None:
            return read_bytes(self.fs, path)
        bucket, _, key = path.partition("/")
        return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def write_bytes(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write an object so readers see the old content or the new, never a torn file.

    S3 PUTs are atomic (and need no directory: creating one would only add marker objects); on a local
    disk the bytes go to a sibling temp file that is renamed.
    """
    if isinstance(fs, pafs.LocalFileSystem):
        parent = path.rsplit("/", 1)[0]
        fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        with fs.open_output_stream(tmp) as out:
            out.write(data)
        os.replace(tmp, path)
    else:
        with fs.open_output_stream(path) as out:
            out.write(data)


def publish_files(fs: pafs.FileSystem, base: str, files: dict[str, bytes], access: StorageAccess | None = None,
                  threads: int = 8) -> int:
    """Write ``files`` (relative path -> bytes) below ``base``; returns how many were written.

    On S3 one listing gives each stored object's ETag, and a file whose ETag already is its content's
    MD5 is not sent again (a re-rendered site is mostly unchanged static assets); the rest are PUT
    concurrently. An ETag that is not an MD5 (multipart or SSE-KMS objects) never matches, so such a
    file is written again: skipping is only ever on proof that the bytes are the same.
    """
    if isinstance(fs, pafs.LocalFileSystem):
        for relative, data in files.items():
            write_bytes(fs, f"{base}/{relative}", data)
        return len(files)
    client = s3_access(access).s3_client(threads)
    bucket, _, prefix = base.partition("/")
    stored: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        stored.update({item["Key"]: item["ETag"].strip('"') for item in page.get("Contents", [])})
    changed = [(f"{prefix}/{relative}", data) for relative, data in files.items()
               if stored.get(f"{prefix}/{relative}") != hashlib.md5(data, usedforsecurity=False).hexdigest()]
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(changed)))) as pool:
        list(pool.map(lambda item: client.put_object(Bucket=bucket, Key=item[0], Body=item[1]), changed))
    return len(changed)


def list_files(fs: pafs.FileSystem, base: str) -> list[pafs.FileInfo]:
    """Every file below ``base`` (recursive); an absent base is an empty list."""
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    return [info for info in fs.get_file_info(selector) if info.type == pafs.FileType.File]


def list_names(fs: pafs.FileSystem, base: str, kind: pafs.FileType = pafs.FileType.File) -> list[str]:
    """Names of the files (or directories) directly below ``base``, sorted; an absent base is an empty list.

    One listing, not a walk: on S3 the directories are the common prefixes of the keys below ``base``.
    """
    selector = pafs.FileSelector(base, recursive=False, allow_not_found=True)
    return sorted(info.base_name for info in fs.get_file_info(selector) if info.type == kind)


def delete_files(fs: pafs.FileSystem, paths: Iterable[str]) -> int:
    count = 0
    for path in paths:
        fs.delete_file(path)
        count += 1
    return count
