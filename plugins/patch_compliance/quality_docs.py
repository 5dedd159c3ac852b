"""Data Docs views whose Jinja templates compile once per machine, not once per validation.

GX's ``DefaultJinjaView`` builds a new Jinja ``Environment`` per view, and the site builder a new
view per build, so every validation recompiled GX's ~50 page templates (≈0.3-0.9 s, most of the
Data Docs build). These subclasses only give that environment a bytecode cache: compiled templates
are kept in memory and in Jinja's own per-user cache directory (checksummed against the template
source, so an upgraded GX recompiles). What is rendered is GX's own templates, unchanged. The
site configuration in :mod:`patch_compliance.quality` names these classes as each section's view.

This module imports Great Expectations: only the validation imports it (never DAG parsing).
"""

from __future__ import annotations

import contextlib
from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache, FileSystemBytecodeCache
from jinja2.bccache import Bucket


class _TemplateCache(BytecodeCache):
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


TEMPLATE_CACHE = _TemplateCache()


class CachedJinjaPageView(DefaultJinjaPageView):
    """GX's page view (suite and validation pages) with compiled templates cached."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = TEMPLATE_CACHE


class CachedJinjaIndexPageView(DefaultJinjaIndexPageView):
    """GX's index page view with compiled templates cached."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = TEMPLATE_CACHE
