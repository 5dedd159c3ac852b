"""The package's layout: no import cycle between its modules, and the README's module table is the tree.

The import graph is read statically (``ast``), so it sees every ``import patch_compliance…`` and
``from patch_compliance… import …``, at module level, inside functions and under ``TYPE_CHECKING``
alike: a lazy import that closes a cycle is still a cycle in the design. The package a module sits
in is not counted as imported by it (``policy/apply.py`` importing ``policy.spec`` initialises
``policy/__init__.py`` first; that is Python's doing, not a dependency the module declares).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "plugins" / "patch_compliance"
ROOT = "patch_compliance"


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (``__init__`` names its package)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = [ROOT, *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (resolving ``from . import x`` and ``from ..a import b``)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                # ``import a.b.c`` imports a.b.c (and binds a): the named module is the dependency.
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, path, node)
            found.add(target)
            # ``from a import b`` where b is a module imports the module b too.
            found.update(f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known)
    # A name that is not a module (``from patch_compliance.x import y``): y lives in x; keep x.
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {module: imports_of(module, path, known) for module, path in files.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component that has one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)

    cycles = []
    for component in components:
        start = min(component)
        paths = {start: [start]}  # breadth first inside the component: the shortest way back to start
        frontier = [start]
        cycle = None
        while frontier and cycle is None:
            following = []
            for node in frontier:
                for target in sorted(graph[node] & component):
                    if target == start:
                        cycle = [*paths[node], start]
                        break
                    if target not in paths:
                        paths[target] = [*paths[node], target]
                        following.append(target)
                if cycle:
                    break
            frontier = following
        cycles.append(cycle)
    return sorted(cycles)


def test_the_cycle_finder_finds_cycles_and_only_cycles() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"a"}}) == [["a", "a"]]
    assert find_cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [["a", "b", "a"], ["c", "d", "c"]]


def test_the_graph_sees_module_level_function_level_and_submodule_imports() -> None:
    graph = import_graph()
    assert "patch_compliance.report_model" in graph["patch_compliance.report_html"]  # module level
    assert "patch_compliance.vendor_feeds" in graph["patch_compliance.patch_catalog"]  # inside a function
    assert "patch_compliance.policy" in graph["patch_compliance.tasks.daily"]  # from a package's __init__
    assert "patch_compliance.policy.apply" in graph["patch_compliance.policy"]
    assert "patch_compliance.quality" in graph["patch_compliance.messages"]  # annotations only, still counted
    assert graph["patch_compliance.report_model"] <= {"patch_compliance.lake"}


def test_no_module_imports_one_that_imports_it_back() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles in plugins/patch_compliance:\n" + "\n".join(" -> ".join(c) for c in cycles)


def readme_module_rows() -> list[str]:
    lines = (REPO / "README.md").read_text().splitlines()
    header = [n for n, line in enumerate(lines) if re.fullmatch(r"\|\s*Module\s*\|\s*Owns\s*\|", line.strip())]
    assert len(header) == 1, "README.md needs exactly one '| Module | Owns |' table"
    rows = []
    for line in lines[header[0] + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 2 and cells[1], f"README module row without an owner: {line}"
        rows.append(cells[0].strip("`"))
    return rows


def test_the_readme_module_table_lists_exactly_the_modules_in_the_tree() -> None:
    rows = readme_module_rows()
    tree = sorted(path.relative_to(PACKAGE).as_posix() for path in module_files().values())
    duplicates = sorted({r for r in rows if rows.count(r) > 1})
    assert not duplicates, f"README lists these modules twice: {duplicates}"
    missing, stale = sorted(set(tree) - set(rows)), sorted(set(rows) - set(tree))
    assert not missing and not stale, (f"README.md '| Module | Owns |' table: add a row for {missing}; "
                                       f"remove the rows of {stale} (no such module)")


def mirror_test(path: Path) -> Path:
    """The test module of a production module: ``policy/apply.py`` -> ``tests/policy/test_apply.py``."""
    relative = path.relative_to(PACKAGE)
    return REPO / "tests" / relative.parent / f"test_{relative.name}"


def test_the_mirror_of_a_module_is_its_path_below_tests() -> None:
    assert mirror_test(PACKAGE / "policy" / "apply.py") == REPO / "tests" / "policy" / "test_apply.py"
    assert mirror_test(PACKAGE / "lake.py") == REPO / "tests" / "test_lake.py"


def test_every_module_has_its_mirror_test_module() -> None:
    """Tests mirror the package: one test module per production module, shared helpers in tests/fixtures/."""
    modules = [p for p in module_files().values() if p.name not in ("__init__.py", "__main__.py")]
    assert len(modules) > 40  # the walk found the package
    missing = sorted(mirror_test(p).relative_to(REPO).as_posix() for p in modules if not mirror_test(p).is_file())
    assert not missing, f"production modules without their test module: add {missing}"
    for package in {p.parent for p in modules} - {PACKAGE}:
        init = mirror_test(package / "x.py").parent / "__init__.py"
        assert init.is_file(), f"{init.relative_to(REPO)} is missing: test packages mirror the package's"
