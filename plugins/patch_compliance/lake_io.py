"""The lake's Iceberg FileIO: pyiceberg's PyArrow FileIO over the S3 filesystem ``storage`` makes.

pyiceberg builds its own S3 filesystem from its string properties with pyarrow's defaults: every
metadata file it writes (manifests, manifest lists, table metadata, small data files) is then a
three-request multipart upload, and its retries are not ``aws.RETRY_POLICY``. This FileIO gives
pyiceberg the filesystem every other lake read and write uses (one ``PutObject`` per small file, the
one retry policy), made from the same ``s3.*`` properties ``StorageAccess.iceberg_io_properties``
sets, which also name this class (``py-io-impl``). Local paths are pyiceberg's own.

``_initialize_s3_fs`` is pyiceberg's hook for that filesystem (pinned pyiceberg; a test checks the
filesystem pyiceberg ends up with is this one).
"""

from __future__ import annotations

from pyarrow.fs import FileSystem
from pyiceberg.io.pyarrow import PyArrowFileIO

from patch_compliance.aws import StorageAccess
from patch_compliance.storage import s3_filesystem


class LakeFileIO(PyArrowFileIO):
    """pyiceberg's PyArrow FileIO whose S3 filesystem is ``storage.s3_filesystem``'s."""

    def _initialize_s3_fs(self, netloc: str | None) -> FileSystem:
        return s3_filesystem(StorageAccess.from_iceberg_io_properties(self.properties))
