"""The public API (``nixremote`` and ``nixremote.plugin``): everything a hook takes or returns is
in it, typed (the hook calls' results are not ``Any``), and importing it costs nothing."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import typing
from pathlib import Path

import attrs

import nixremote
import nixremote.plugin
from helpers.paths import REPO
from nixremote.core import hookspecs

NOT_OURS = {"Mapping", "Sequence", "Any", "str", "None", "click", "Group", "type", "T"}


def test_every_name_of_the_plugin_module_is_public_in_nixremote_too() -> None:
    assert set(nixremote.plugin.__all__) <= set(nixremote.__all__)
    for name in nixremote.plugin.__all__:
        assert getattr(nixremote, name) is getattr(nixremote.plugin, name), name


def _names(annotation: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", annotation)) - NOT_OURS


def test_every_type_a_hook_takes_or_returns_is_public() -> None:
    seen = set()
    for name, func in vars(hookspecs).items():
        if not hasattr(func, f"{hookspecs.PROJECT}_spec"):
            continue
        sig = inspect.signature(func)
        for annotation in [p.annotation for p in sig.parameters.values()] + [sig.return_annotation]:
            for used in _names(str(annotation)):
                assert used in nixremote.plugin.__all__, f"{name} uses {used}"
                seen.add(used)
    assert {"Plan", "HostFlakeItem", "Setting", "LayoutOptions", "HostKey", "Reporter"} <= seen


def test_the_public_models_are_made_of_public_types() -> None:
    """Walk the attrs models reachable from the hooks' types: each field's types are public."""
    queue = [getattr(nixremote.plugin, n) for n in ("Plan", "RuntimeInfo", "LayoutOptions")]
    done: set[type] = set()
    while queue:
        cls = queue.pop()
        if cls in done:
            continue
        done.add(cls)
        for field, hint in typing.get_type_hints(cls).items():
            for part in re.findall(r"[A-Za-z_.]+", str(hint)):
                short = part.rsplit(".", 1)[-1]
                if part.startswith("nixremote."):
                    assert short in nixremote.plugin.__all__, f"{cls.__name__}.{field}: {part}"
                    found = getattr(nixremote.plugin, short)
                    if attrs.has(found):
                        queue.append(found)
    assert len(done) >= 12


def test_importing_the_plugin_module_imports_nothing_else() -> None:
    code = "import sys, nixremote.plugin; print(sorted(m for m in sys.modules if 'nixremote' in m))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['nixremote', 'nixremote.plugin']"


TYPED = """
from nixremote.plugin import (
    Facts,
    LayoutOptions,
    RuntimeInfo,
    Setting,
    default_layout,
    get_plugin_manager,
)

pm = get_plugin_manager()
info = RuntimeInfo(host_name="h", host_id="0123abcd", disk_to_format="/dev/sda")
reveal_type(pm.hooks.disk_layout(info=info, options=LayoutOptions()))
reveal_type(pm.hooks.boot_mode(info=info, facts=Facts()))
reveal_type(pm.hooks.host_flake_modules(info=info, layout=default_layout(info)))
reveal_type(pm.hooks.plugin_settings())
MIRROR = Setting(key="x.mirror", type=bool, default=True, help="h")
reveal_type(MIRROR.get({}))
reveal_type(MIRROR.get({}, False))
"""


def test_the_hook_calls_are_typed(tmp_path: Path) -> None:
    (tmp_path / "typed.py").write_text(TYPED)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "c"), "typed.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"MYPYPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
        timeout=600,
    )
    revealed = re.findall(r'Revealed type is "(.*)"', result.stdout)
    assert revealed == [
        "nixremote.core.layout.DiskLayout | None",
        "nixremote.core.models.BootMode | None",
        "list[nixremote.core.hookcalls.HostFlakeContribution]",
        "dict[str, tuple[nixremote.core.settings.Setting[Any], ...]]",
        "bool | None",
        "bool",
    ], result.stdout
    assert "Success: no issues found" in result.stdout
