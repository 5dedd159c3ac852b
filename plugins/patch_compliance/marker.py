"""How this product marks and names its SSM objects, shared by the config's checks and the policy package.

A managed baseline, window, window target or task has a description ending in
``[managed by patch-compliance; spec <digest>]``, ``<digest>`` being ``DIGEST_LENGTH`` hex characters
of the declared spec's fingerprint, and a window's target and task are named after the window
(``<window>-targets``, ``<window>-install``). The config checks at load that a declared description
still fits SSM's limit once the marker is appended and that a window's name leaves room for these
suffixes; the policy package writes and reads them. Kept apart so the config never imports the policy.
"""

from __future__ import annotations

import re

MARKER = "managed by patch-compliance"
DIGEST_LENGTH = 12
TARGET_SUFFIX = "-targets"
_MARKED = re.compile(r"\[" + re.escape(MARKER) + rf"; spec ([0-9a-f]{{{DIGEST_LENGTH}}})\]$")


def with_marker(description: str, digest: str) -> str:
    """``description`` with the marker carrying ``digest`` appended (just the marker if it is empty)."""
    return f"{description} [{MARKER}; spec {digest}]".strip()


def marker_fingerprint(description: str | None) -> str | None:
    """The digest in the marker ending ``description``, or None if it carries no marker."""
    match = _MARKED.search(description or "")
    return match[1] if match else None


def marked_length(description: str) -> int:
    """How long ``description`` is in SSM once the marker is appended."""
    return len(with_marker(description, "0" * DIGEST_LENGTH))


def task_suffix(operation: str) -> str:
    """A window's task is named ``<window>-install`` or ``<window>-scan``."""
    return f"-{operation.lower()}"
