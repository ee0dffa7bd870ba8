"""pytest fixtures for nixremote plugin authors (and for nixremote's own tests).

Installed with nixremote and activated automatically through pytest's ``pytest11`` entry point;
nothing to configure. The fixtures:

``nixremote_pm``
    A factory: ``nixremote_pm(my_plugin)`` returns a plugin manager with nixremote's hook specs,
    the built-in plugins and ``my_plugin`` registered under the name users see (its entry
    point's name when it is installed), and third-party autoloading off, so the test sees
    exactly the plugins it names; ``nixremote_pm("ovh-like")`` loads the installed entry point
    of that name. Call the hooks typed through ``pm.hooks``.
``captured_facts``
    A factory: ``captured_facts("hetzner-cx22")`` loads :class:`~nixremote.core.facts.Facts`
    from a capture (:func:`nixremote.plugin.load_facts`, which needs no pytest), looked up in
    ``data/captures/`` beside the test file or above it, unless given as a path.
``loopback_sshd``
    A running OpenSSH ``sshd`` on ``127.0.0.1`` for the current user, with a fresh host key, a
    client key and a ``known_hosts`` that pins the host key
    (:class:`~nixremote.testing.sshd.LoopbackSshd`); stopped after the test.

Imports of nixremote happen inside the fixtures so that merely having nixremote installed costs
other projects' test runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
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
    "plugin_name",
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


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    from ..core.entrypoints import ENTRY_POINT_GROUP

    return list(entry_points(group=ENTRY_POINT_GROUP))


def plugin_name(plugin: object) -> str:
    """The name users see for ``plugin``: the name of the installed entry point that names its
    module (or object), else the module's ``__name__`` (an object's ``module.Class``)."""
    module = getattr(plugin, "__name__", None)
    if not isinstance(module, str):
        module = f"{type(plugin).__module__}.{type(plugin).__qualname__}"
    owner = module if isinstance(plugin, ModuleType) else type(plugin).__module__
    for ep in _entry_points():
        ep_module, _, attr = str(ep.value).partition(":")
        if not attr and ep_module == module:
            return str(ep.name)
        if attr and ep_module == owner:  # "pkg.mod:obj": the object itself
            try:
                if ep.load() is plugin:
                    return str(ep.name)
            except Exception:  # another distribution's broken plugin is not ours to judge
                continue
    return module


@pytest.fixture
def nixremote_pm() -> Callable[..., PluginManager]:
    """Factory for a plugin manager with your plugins registered and autoload off.

    ``nixremote_pm(plugin, ...)`` takes plugin modules or objects (registered under the name
    users see: :func:`plugin_name`), ``(name, plugin)`` pairs, or entry-point names (the
    installed plugin of that name is loaded). ``builtins=False`` leaves out nixremote's built-in
    plugins except ``generic`` (which answers last and is the base every hoster refines);
    ``disabled=("hetzner", "ovh-like")`` leaves out plugins by name, and a name that is none of
    them is an error (with the closest name), never a silent no-op. A plugin implementing an
    unknown hook raises :class:`~nixremote.core.errors.PluginError`, exactly as in production.
    """
    from ..core.plugins import BUILTIN_PLUGINS, get_plugin_manager
    from ..core.suggest import did_you_mean

    def make(
        *plugins: object,
        builtins: bool = True,
        disabled: tuple[str, ...] | list[str] = (),
    ) -> PluginManager:
        extra: list[tuple[str, object]] = []
        for item in plugins:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                extra.append((item[0], item[1]))
            elif isinstance(item, str):
                found = [ep for ep in _entry_points() if ep.name == item]
                if not found:
                    names = [ep.name for ep in _entry_points()]
                    raise ValueError(f"no installed plugin {item!r}" + did_you_mean(item, names))
                extra.append((item, found[0].load()))
            else:
                extra.append((plugin_name(item), item))
        known = {name for name, _ in BUILTIN_PLUGINS} | {name for name, _ in extra}
        unknown = [name for name in disabled if name not in known]
        if unknown:
            raise ValueError(
                f"disabled={tuple(disabled)!r}: {unknown[0]!r} is none of the plugins "
                f"{sorted(known)}" + did_you_mean(unknown[0], known)
            )
        skip = set(disabled)
        if not builtins:
            skip |= {name for name, _ in BUILTIN_PLUGINS if name != "generic"}
        return get_plugin_manager(autoload=False, disabled=skip, extra=extra)

    return make


# -- captured facts --------------------------------------------------------------------------


def load_captured_facts(path: str | Path) -> Facts:
    """Load :class:`~nixremote.core.facts.Facts` from a capture: a file of raw probe output
    (what ``nixremote info --save-facts`` writes), a ``.json`` file ``{"source": ...,
    "sections": {...}}`` or a directory of one file per section. The same as
    :func:`nixremote.plugin.load_facts`, which needs no pytest."""
    from ..controller.captures import load_facts

    return load_facts(path)


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
