"""Every hook spec is documented, and the generated hook reference shows every one of them.

The datasette rule: a hook without documentation, or with an argument its documentation does not
mention, fails the build.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pytest

from nixremote.core import hookspecs
from nixremote.core.converter import camel

ROOT = Path(__file__).resolve().parents[2]


def _docs_hooks():
    spec = importlib.util.spec_from_file_location("nixremote_docs_hooks", ROOT / "docs/hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SPECS = [
    (name, func)
    for name, func in vars(hookspecs).items()
    if inspect.isfunction(func) and hasattr(func, f"{hookspecs.PROJECT}_spec")
]


def test_the_design_hooks_are_specified() -> None:
    names = {name for name, _ in SPECS}
    assert {"collect_runtime_info", "disk_layout", "boot_mode", "detect_hoster"} <= names


@pytest.mark.parametrize(("name", "func"), SPECS, ids=[n for n, _ in SPECS])
def test_hook_spec_is_documented(name: str, func) -> None:
    doc = inspect.getdoc(func) or ""
    assert len(doc.split()) >= 15, f"hook {name} needs a docstring that explains it"
    assert "Combination:" in doc, f"hook {name} must say how results combine"
    for param in inspect.signature(func).parameters:
        assert re.search(rf"``{param}[`.\[]", doc), (
            f"hook {name}: argument {param!r} is not documented (mention it as ``{param}``)"
        )


def test_hook_reference_lists_every_spec() -> None:
    page = _docs_hooks().hook_reference()
    for name, func in SPECS:
        assert f"\n## {name}\n" in page
        assert f"def {name}(" in page
        first_line = (inspect.getdoc(func) or "").splitlines()[0]
        assert first_line.replace("``", "`").split(":")[0][:30] in page
    # reST roles are turned into Markdown, not left raw.
    assert ":class:`" not in page and ":func:`" not in page


def test_runtime_info_reference_describes_every_field() -> None:
    import attrs

    docs = _docs_hooks()
    page = docs.runtime_info_reference()
    for cls in docs.model_classes():
        for field in attrs.fields(cls):
            assert (cls.__name__, field.name) in docs.FIELD_NOTES, (
                f"describe {cls.__name__}.{field.name} in docs/hooks.py FIELD_NOTES"
            )
            assert f"| `{camel(field.name)}`" in page, field.name
    # The original installer's keys are marked.
    for key in ("hostName", "hostId", "rootAuthorizedKeys", "diskToFormat"):
        assert f"| `{key}` **original**" in page
    for key in ("networkInterface", "networkInterfaceModule", "ipv4", "ipv6"):
        assert f"| `{key}` |" in page


def test_runtime_info_example_is_valid() -> None:
    import json

    import nixremote

    page = _docs_hooks().runtime_info_reference()
    block = page.split("```json\n", 1)[1].split("```", 1)[0]
    info = nixremote.loads_runtime_info(block)
    assert json.loads(block)["networkInterface"] == info.primary.stable_name == "enp1s0"
