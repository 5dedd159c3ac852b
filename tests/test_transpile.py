"""The Trino → DuckDB translation: strict, placeholders kept, and cached per machine by text and sqlglot version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from patch_compliance import transpile
from patch_compliance.config import sql_dir
from patch_compliance.transpile import to_duckdb
from tests.fixtures.athena_stand_in import ALL_SQL

QUERY_SQL = [p for p in ALL_SQL if not p.startswith("athena/")]
TRINO = "SELECT COUNT_IF(x > 1) AS n FROM t WHERE d <= CAST(? AS DATE)"


@pytest.fixture
def cache_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty on-disk cache, and no answer kept in this process's memory."""
    monkeypatch.setattr(transpile, "_cache_folder", lambda: tmp_path)
    to_duckdb.cache_clear()
    yield tmp_path
    to_duckdb.cache_clear()


def translations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every call that reaches sqlglot."""
    calls: list[str] = []
    real = transpile._transpile

    def counting(text: str) -> str:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(transpile, "_transpile", counting)
    return calls


@pytest.mark.parametrize("relative", QUERY_SQL)
def test_queries_transpile_to_duckdb_and_bind_parameters_only_as_placeholders(relative):
    text = (sql_dir() / relative).read_text()
    tree = sqlglot.parse_one(text, read="trino")
    placeholders = list(tree.find_all(exp.Placeholder))
    params = tree.find(exp.CTE)
    assert params is not None and params.alias == "params"
    assert placeholders and all(p.find_ancestor(exp.CTE) is params for p in placeholders)
    assert to_duckdb(text).count("?") == len(placeholders)


def test_a_construct_duckdb_cannot_express_is_refused_not_passed_through() -> None:
    """Strict transpilation: Trino's ``array_sort`` with a comparator has no DuckDB form: refused, not run."""
    from sqlglot.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="comparator"):
        to_duckdb("SELECT array_sort(patch_ids, (a, b) -> IF(a < b, 1, -1)) FROM instances")


def test_a_later_process_reads_the_translation_from_disk_without_sqlglot(cache_in, monkeypatch):
    calls = translations(monkeypatch)
    first = to_duckdb(TRINO)
    assert calls == [TRINO] and "COUNT_IF" in first.upper()
    (stored,) = cache_in.glob(f"{transpile.CACHE_PREFIX}*.sql")
    assert stored.read_text() == first and not list(cache_in.glob("*.tmp"))
    to_duckdb.cache_clear()  # as a new process starts
    assert to_duckdb(TRINO) == first
    assert calls == [TRINO]


def test_another_sqlglot_version_or_text_translates_again(cache_in, monkeypatch):
    calls = translations(monkeypatch)
    to_duckdb(TRINO)
    to_duckdb.cache_clear()
    monkeypatch.setattr(transpile, "version", lambda name: "0.0.1")
    to_duckdb(TRINO)
    to_duckdb(TRINO + " AND x < 9")
    assert calls == [TRINO, TRINO, TRINO + " AND x < 9"]
    assert len(list(cache_in.glob(f"{transpile.CACHE_PREFIX}*.sql"))) == 3


def test_an_unwritable_or_missing_cache_only_means_translating_again(tmp_path, monkeypatch):
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    os.chmod(read_only, 0o500)
    for folder in (read_only, None):
        monkeypatch.setattr(transpile, "_cache_folder", lambda folder=folder: folder)
        to_duckdb.cache_clear()
        calls = translations(monkeypatch)
        assert "COUNT_IF" in to_duckdb(TRINO).upper() and calls == [TRINO]
    to_duckdb.cache_clear()
    if os.geteuid() != 0:  # root writes anyway; the point is only that nothing fails
        assert list(read_only.iterdir()) == []


def test_the_default_cache_folder_is_private_to_the_user():
    folder = transpile._cache_folder()
    assert folder is not None and folder.is_dir()
    assert folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o077 == 0
