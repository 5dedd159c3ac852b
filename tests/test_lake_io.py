"""The lake's Iceberg FileIO: pyiceberg writes and reads an S3 lake through the filesystem ``storage`` makes."""

from __future__ import annotations

import boto3
import pyarrow as pa
from pyarrow import fs as pafs

from patch_compliance.aws import storage_access
from patch_compliance.lake import Lake
from patch_compliance.lake_io import LakeFileIO


def options(fs: pafs.FileSystem) -> dict[str, object]:
    """An S3 filesystem's construction options (pyarrow pickles them)."""
    return fs.__reduce__()[1][0]


def test_pyiceberg_uses_the_lake_filesystem_for_an_s3_lake(aws_env) -> None:
    boto3.client("s3", endpoint_url=aws_env.endpoint_url).create_bucket(
        Bucket="io-lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    lake = Lake("s3://io-lake/lake", storage_access(aws_env.endpoint_url))
    table = lake.table("baselines")
    assert isinstance(table.io, LakeFileIO)
    iceberg_fs = table.io.fs_by_scheme("s3", "io-lake")
    assert options(iceberg_fs) == options(lake.fs)  # the same settings as every other lake read and write
    assert options(iceberg_fs)["allow_delayed_open"] is True  # one PutObject per small file
    assert options(iceberg_fs)["endpoint_override"] == aws_env.endpoint_url.split("://", 1)[1]

    schema = table.schema().as_arrow()
    table.append(pa.Table.from_pylist([], schema=schema))  # a commit: metadata written through it
    reloaded = lake.table("baselines", refresh=True)
    assert reloaded.metadata_location.startswith("s3://io-lake/lake/baselines/metadata/")
    assert reloaded.scan().to_arrow().num_rows == 0


def test_a_local_lake_keeps_pyicebergs_own_io(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    assert type(lake.table("baselines").io).__name__ == "PyArrowFileIO"
