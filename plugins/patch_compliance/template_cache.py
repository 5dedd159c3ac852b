"""Compiled Jinja templates kept across processes: each DAG task is a new process.

Jinja compiles a template's source to Python on first use in every process (≈0.1 s for the
report's pages, ≈0.3-0.9 s for GX's ~50 Data Docs templates). This cache keeps the compiled code in
memory for the process and in Jinja's own per-user cache directory for the next one; Jinja checks
each entry against the template's source, so a changed template (or an upgraded GX) recompiles.
What is rendered is unchanged. Jinja only: importing it never imports Great Expectations.
"""

from __future__ import annotations

import contextlib

from jinja2 import BytecodeCache, FileSystemBytecodeCache
from jinja2.bccache import Bucket


class TemplateCache(BytecodeCache):
    """Compiled templates in this process, backed by Jinja's per-user file cache for the next process."""

    def __init__(self) -> None:
        self._memory: dict[str, bytes] = {}
        self._files: FileSystemBytecodeCache | None
        try:
            self._files = FileSystemBytecodeCache()
        except (OSError, RuntimeError):  # no safe per-user temporary directory (Jinja's check): memory only
            self._files = None

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._memory.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)
            return
        if self._files is not None:
            self._files.load_bytecode(bucket)
            if bucket.code is not None:
                self._memory[bucket.key] = bucket.bytecode_to_string()

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._memory[bucket.key] = bucket.bytecode_to_string()
        if self._files is not None:
            with contextlib.suppress(OSError):  # the in-memory copy still serves this process
                self._files.dump_bytecode(bucket)

    def clear(self) -> None:
        self._memory.clear()


TEMPLATE_CACHE = TemplateCache()
