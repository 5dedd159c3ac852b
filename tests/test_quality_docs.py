"""Data Docs views with a Jinja bytecode cache: GX's own pages, templates compiled once per process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from patch_compliance.quality import validate_snapshot
from patch_compliance.quality_docs import CachedJinjaIndexPageView, CachedJinjaPageView
from patch_compliance.template_cache import TEMPLATE_CACHE
from tests.fixtures.quality_lake import DAY, PREVIOUS_DAY, REFERENCE, make_fleet, write_inventory, write_snapshot

pytestmark = pytest.mark.xdist_group("quality")


def _lake(tmp_path: Path) -> str:
    hosts = make_fleet(9, 2, REFERENCE)
    uri = str(tmp_path / "lake")
    write_snapshot(uri, PREVIOUS_DAY, hosts, REFERENCE - timedelta(days=1))
    write_snapshot(uri, DAY, hosts, REFERENCE)
    write_inventory(uri, DAY, hosts, 0)
    return uri


def test_the_views_are_gx_views_with_the_shared_cache():
    for view in (CachedJinjaPageView(), CachedJinjaIndexPageView()):
        assert view.env.bytecode_cache is TEMPLATE_CACHE
        assert view.env.loader is not None and "jinja2.ext.ExprStmtExtension" in view.env.extensions


def test_data_docs_templates_compile_once_per_process(tmp_path, request):
    """Data Docs render through GX's page views with a bytecode cache: a second build compiles nothing."""
    uri = _lake(tmp_path)
    validate_snapshot(uri, DAY)
    compiled = request.getfixturevalue("compiled_templates")
    result = validate_snapshot(uri, DAY)
    assert compiled == []
    index = Path(result.data_docs_index or "")
    assert "patch_compliance" in index.read_text()
    pages = list((tmp_path / "lake/validation/data_docs/validations").rglob("*.html"))
    assert pages and all("<html" in p.read_text() for p in pages)
