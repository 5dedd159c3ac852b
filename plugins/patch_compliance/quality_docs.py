"""Data Docs views whose Jinja templates compile once per machine, not once per validation.

GX's ``DefaultJinjaView`` builds a new Jinja ``Environment`` per view, and the site builder a new
view per build, so every validation recompiled GX's ~50 page templates (≈0.3-0.9 s, most of the
Data Docs build). These subclasses only give that environment the shared bytecode cache of
:mod:`patch_compliance.template_cache`. What is rendered is GX's own templates, unchanged. The
site configuration in :mod:`patch_compliance.quality` names these classes as each section's view.

This module imports Great Expectations: only the validation imports it (never DAG parsing).
"""

from __future__ import annotations

from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

from patch_compliance.template_cache import TEMPLATE_CACHE


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
