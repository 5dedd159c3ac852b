"""One production path: nothing in plugins/ or dags/ knows that a local stand-in exists.

The product talks to whatever endpoint it is given through the documented APIs; the stand-in
(``sim/``) answers those APIs. This is ``grep -rniE "moto|stand.?in" plugins dags`` over the source
files (compiled caches aside), which must find nothing: no branch, flag, parameter or comment.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATTERN = re.compile(r"moto|stand.?in", re.IGNORECASE)


def source_files() -> list[Path]:
    return sorted(path for root in ("plugins", "dags") for path in (REPO / root).rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts)


def test_the_scan_covers_the_package_and_the_dags() -> None:
    names = {path.relative_to(REPO).as_posix() for path in source_files()}
    assert {"plugins/patch_compliance/policy/gateway.py", "dags/patch_policy_apply.py",
            "plugins/patch_compliance/templates/report.html.j2"} <= names


def test_production_code_never_mentions_the_stand_in() -> None:
    hits = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
            for path in source_files()
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
            if PATTERN.search(line)]
    assert hits == []
