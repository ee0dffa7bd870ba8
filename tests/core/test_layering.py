"""The package's layout by side, read from the imports of every module (relative ones too).

The core is what both sides share: it imports no other part of nixremote. The installer side runs
from a zipapp of ``core`` and ``installers``: it imports nothing else of nixremote. And no module
imports, at import time, a module that imports it back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers.paths import REPO

PACKAGE = REPO / "src" / "nixremote"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The nixremote modules ``path`` imports (resolved; ``from pkg import mod`` counts as
    ``pkg.mod`` when that is a module). With ``top_level_only``, imports inside functions and
    ``if TYPE_CHECKING:`` blocks are left out (they do not run at import time)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes: list[ast.AST] = []
    if top_level_only:
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            nodes.extend(
                ast.walk(node)
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                else []
            )
            if isinstance(node, ast.ClassDef):
                nodes.extend(
                    n
                    for n in ast.walk(node)
                    if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                )
    else:
        nodes = list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").is_file() or (
                    PACKAGE.parent / sub.replace(".", "/") / "__init__.py"
                ).is_file():
                    found.add(sub)
    return {m for m in found if m == "nixremote" or m.startswith("nixremote.")}


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def side(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("module", sorted(m for m in MODULES if side(m) == "core"))
def test_the_core_imports_only_the_core(module: str) -> None:
    outside = sorted(m for m in imports(MODULES[module], top_level_only=False) if side(m) != "core")
    assert outside == [], f"{module} imports {outside}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if side(m) == "installers"))
def test_the_installer_side_imports_only_itself_and_the_core(module: str) -> None:
    outside = sorted(
        m
        for m in imports(MODULES[module], top_level_only=False)
        if side(m) not in ("core", "installers", "")
    )
    assert outside == [], f"{module} imports {outside}"


def test_no_import_cycle_at_import_time() -> None:
    # An edge to one's own parent package is no cycle: the parent is already being imported.
    graph = {
        m: {
            i
            for i in imports(p, top_level_only=True)
            if i in MODULES and i != m and not m.startswith(i + ".")
        }
        for m, p in MODULES.items()
    }
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend([*stack[stack.index(nxt) :], nxt])
                return True
            if nxt not in state and visit(nxt, [*stack, nxt]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if start not in state and visit(start, [start]):
            break
    assert cycle == [], " -> ".join(cycle)


def test_the_reader_sees_relative_imports() -> None:
    """The check would pass vacuously if it missed relative imports: it does not."""
    found = imports(PACKAGE / "installers" / "phases.py", top_level_only=True)
    assert {"nixremote.core.plan", "nixremote.installers.state"} <= found


MAX_LINES = 750


def test_no_module_is_over_750_lines() -> None:
    """Small modules whose names say what they hold: a module that grows past this is split."""
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
