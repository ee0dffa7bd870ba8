"""pytest fixtures for nixremote plugin authors (and for nixremote's own tests).

Installed with nixremote and activated automatically through pytest's ``pytest11`` entry point;
nothing to configure. The fixtures:

``nixremote_pm``
    A factory: ``nixremote_pm(my_plugin)`` returns a plugin manager with nixremote's hook specs,
    the built-in plugins and ``my_plugin`` registered, and third-party autoloading off, so the
    test sees exactly the plugins it names.
``captured_facts``
    A factory: ``captured_facts("hetzner-cx22")`` loads :class:`~nixremote.core.facts.Facts`
    from a capture (see :func:`load_captured_facts`), looked up in ``data/captures/`` beside
    the test file or above it, unless given as a path.
``loopback_sshd``
    A running OpenSSH ``sshd`` on ``127.0.0.1`` for the current user, with a fresh host key, a
    client key and a ``known_hosts`` that pins the host key
    (:class:`~nixremote.testing.sshd.LoopbackSshd`); stopped after the test.

Imports of nixremote happen inside the fixtures so that merely having nixremote installed costs
other projects' test runs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..core.facts import Facts
    from ..core.plugins import PluginManager
    from .sshd import LoopbackSshd

__all__ = [
    "captured_facts",
    "load_captured_facts",
    "loopback_sshd",
    "nixremote_pm",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "nixremote_captures",
        "directories searched for captured_facts names (relative to the rootdir); "
        "the test file's data/captures/ is always searched first",
        type="paths",
        default=[],
    )


# -- plugin manager --------------------------------------------------------------------------


def _plugin_name(plugin: object) -> str:
    name = getattr(plugin, "__name__", None)
    if isinstance(name, str):
        return name
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}"


@pytest.fixture
def nixremote_pm() -> Callable[..., PluginManager]:
    """Factory for a plugin manager with your plugins registered and autoload off.

    ``nixremote_pm(plugin, ...)`` takes plugin modules or objects, or ``(name, plugin)`` pairs
    (the name defaults to the module's ``__name__``). ``builtins=False`` leaves out nixremote's
    built-in plugins except ``generic`` (which answers last and is the base every hoster
    refines); ``disabled=("hetzner",)`` leaves out named ones. A plugin implementing an unknown
    hook raises :class:`~nixremote.core.errors.PluginError`, exactly as in production.
    """
    from ..core.plugins import BUILTIN_PLUGINS, get_plugin_manager

    def make(
        *plugins: object,
        builtins: bool = True,
        disabled: tuple[str, ...] | list[str] = (),
    ) -> PluginManager:
        extra: list[tuple[str, object]] = []
        for item in plugins:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                extra.append((item[0], item[1]))
            else:
                extra.append((_plugin_name(item), item))
        skip = set(disabled)
        if not builtins:
            skip |= {name for name, _ in BUILTIN_PLUGINS if name != "generic"}
        return get_plugin_manager(autoload=False, disabled=skip, extra=extra)

    return make


# -- captured facts --------------------------------------------------------------------------


def _split_probe_output(text: str, source: str) -> Facts:
    """Raw probe output (what ``nixremote.controller.probe`` prints) split into sections."""
    from ..controller.probe import split_probe_output

    return split_probe_output(text, source=source)


def load_captured_facts(path: str | Path) -> Facts:
    """Load :class:`~nixremote.core.facts.Facts` from a capture.

    A capture is one of:

    * a directory with one file per probe section (the file name is the section name,
      the content its raw text);
    * a ``.json`` file ``{"source": "...", "sections": {"uname-m": "x86_64\\n", ...}}``;
    * any other file: the raw output of nixremote's probe script, split into sections by
      :mod:`nixremote.controller.probe`.
    """
    from ..core.facts import Facts

    p = Path(path)
    if p.is_dir():
        sections = {
            f.name: f.read_text(encoding="utf-8")
            for f in sorted(p.iterdir())
            if f.is_file() and not f.name.startswith(".")
        }
        return Facts(sections=sections, source=f"capture:{p.name}")
    if p.suffix == ".json":
        data: Any = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("sections"), dict):
            raise ValueError(f"{p}: expected an object with a 'sections' object")
        return Facts(
            sections={str(k): str(v) for k, v in data["sections"].items()},
            source=str(data.get("source", f"capture:{p.stem}")),
        )
    return _split_probe_output(p.read_text(encoding="utf-8"), source=f"capture:{p.name}")


@pytest.fixture
def captured_facts(request: pytest.FixtureRequest) -> Callable[[str | Path], Facts]:
    """Factory: ``captured_facts(name_or_path)`` -> :class:`~nixremote.core.facts.Facts`.

    A relative name is looked up in ``captures/`` and ``data/captures/`` beside the test file,
    then in ``data/captures/`` of each parent directory up to the rootdir (so
    ``tests/data/captures`` serves every test under ``tests/``), then in the directories of the
    ``nixremote_captures`` ini option; the name may leave out a ``.json`` or ``.txt`` suffix.
    """
    test_dir = Path(str(request.path)).parent
    root = Path(str(request.config.rootpath))
    search = [test_dir / "captures"]
    for directory in (test_dir, *test_dir.parents):
        search.append(directory / "data" / "captures")
        if directory == root or directory == directory.parent:
            break
    search += [Path(d) for d in request.config.getini("nixremote_captures")]

    def load(name: str | Path) -> Facts:
        p = Path(name)
        if p.is_absolute() or p.exists():
            return load_captured_facts(p)
        for directory in search:
            for candidate in (directory / p, directory / f"{p}.json", directory / f"{p}.txt"):
                if candidate.exists():
                    return load_captured_facts(candidate)
        raise FileNotFoundError(f"no capture {str(name)!r} in " + ", ".join(str(d) for d in search))

    return load


# -- loopback sshd ---------------------------------------------------------------------------


@pytest.fixture
def loopback_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSshd]:
    """A running OpenSSH sshd on 127.0.0.1 for the current user (needs openssh-server)."""
    from .sshd import LoopbackSshd

    server = LoopbackSshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
