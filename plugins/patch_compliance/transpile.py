"""The SQL files' Trino text in DuckDB's dialect, translated by sqlglot once per machine, not per process.

Translating the report's queries takes sqlglot ≈0.5 s, a quarter of a report process. The answer
depends only on the text and sqlglot's version, so it is kept in a per-user cache directory (the one
Jinja's bytecode cache uses: created 0700, refused if another user owns it) under the SHA-256 of
both; a missing, unreadable or unwritable cache only means translating again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from functools import cache
from importlib.metadata import version
from pathlib import Path

CACHE_PREFIX = "patch-compliance-duckdb-"


@cache
def to_duckdb(trino_sql: str) -> str:
    """Transpile Trino SQL to DuckDB (cached in memory and on disk).

    Strict: a construct sqlglot cannot translate raises instead of passing through untranslated.
    """
    key = hashlib.sha256(f"sqlglot {version('sqlglot')}\n{trino_sql}".encode()).hexdigest()
    folder = _cache_folder()
    path = folder / f"{CACHE_PREFIX}{key}.sql" if folder else None
    if path is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return path.read_text(encoding="utf-8")
    translated = _transpile(trino_sql)
    if path is not None:
        _store(path, translated)
    return translated


def _transpile(trino_sql: str) -> str:
    import sqlglot
    from sqlglot.errors import ErrorLevel

    return sqlglot.transpile(trino_sql, read="trino", write="duckdb", unsupported_level=ErrorLevel.RAISE)[0]


@cache
def _cache_folder() -> Path | None:
    """Jinja's safe per-user cache directory, or None where there is none (then memory only)."""
    from jinja2 import FileSystemBytecodeCache

    try:
        return Path(FileSystemBytecodeCache().directory)
    except (OSError, RuntimeError):
        return None


def _store(path: Path, text: str) -> None:
    """Write atomically (a concurrent reader sees the whole text or nothing); failures are not errors."""
    with contextlib.suppress(OSError):
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=CACHE_PREFIX, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
