"""The shared Jinja bytecode cache: compiled once, then loaded from memory or from the file cache."""

from __future__ import annotations

import jinja2
import pytest

import patch_compliance.template_cache as template_cache

PAGE = {"page.j2": "{{ 1 + 1 }}"}


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """Jinja's per-user file cache, in a directory of this test's own."""
    monkeypatch.setattr(template_cache, "FileSystemBytecodeCache",
                        lambda: jinja2.FileSystemBytecodeCache(str(tmp_path)))
    return tmp_path


def render_in_new_environments(cache: jinja2.BytecodeCache, times: int) -> list[str]:
    """Render one template in a new environment each time, as GX's views and each new process do."""
    return [jinja2.Environment(loader=jinja2.DictLoader(PAGE), bytecode_cache=cache, autoescape=True)
            .get_template("page.j2").render() for _ in range(times)]


def test_a_template_compiles_once_then_comes_from_memory(cache_dir, compiled_templates):
    cache = template_cache.TemplateCache()
    assert render_in_new_environments(cache, 3) == ["2", "2", "2"]
    assert compiled_templates == ["page.j2"]
    assert len(list(cache_dir.glob("__jinja2_*.cache"))) == 1


def test_the_next_process_loads_the_compiled_template_from_the_file_cache(cache_dir, compiled_templates):
    render_in_new_environments(template_cache.TemplateCache(), 1)
    later = template_cache.TemplateCache()  # a new process: an empty memory, the same directory
    assert render_in_new_environments(later, 1) == ["2"]
    assert compiled_templates == ["page.j2"]


def test_a_changed_template_is_compiled_again(cache_dir, compiled_templates):
    cache = template_cache.TemplateCache()
    render_in_new_environments(cache, 1)
    changed = jinja2.Environment(loader=jinja2.DictLoader({"page.j2": "{{ 2 + 2 }}"}), bytecode_cache=cache,
                                 autoescape=True)
    assert changed.get_template("page.j2").render() == "4"
    assert compiled_templates == ["page.j2", "page.j2"]


def test_without_a_safe_cache_directory_templates_are_cached_in_memory(monkeypatch, compiled_templates):
    def unsafe() -> None:
        raise RuntimeError("Cannot determine safe temp directory.")

    monkeypatch.setattr(template_cache, "FileSystemBytecodeCache", unsafe)
    cache = template_cache.TemplateCache()
    assert render_in_new_environments(cache, 2) == ["2", "2"]
    assert compiled_templates == ["page.j2"]
