"""The Python examples in the docs are valid Python, and every nixremote name they import
exists in this version."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PY_BLOCK = re.compile(r"^```python\s*\n(.*?)^```", re.M | re.S)


def blocks() -> list[tuple[str, str]]:
    out = []
    for page in sorted(DOCS.rglob("*.md")):
        for i, code in enumerate(PY_BLOCK.findall(page.read_text(encoding="utf-8"))):
            if "--8<--" in code:
                continue  # an included source file, checked by its own tests
            out.append((f"{page.name}[{i}]", code))
    return out


BLOCKS = blocks()


def test_the_docs_have_python_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_example_compiles_and_imports_exist(where: str, code: str) -> None:
    tree = ast.parse(code, filename=where)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nixremote"):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                assert hasattr(module, alias.name), f"{where}: {node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nixremote"):
                    importlib.import_module(alias.name)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "nixremote"
        ):
            import nixremote

            assert hasattr(nixremote, node.attr), f"{where}: nixremote.{node.attr}"
