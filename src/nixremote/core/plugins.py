"""The plugin manager: built-in plugins first, then third-party ones from entry points.

Environment:

``NIXREMOTE_DISABLE_PLUGINS``
    Comma-separated plugin names (built-in or entry-point names) not to register.
``NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD=1``
    Do not load third-party plugins from the ``nixremote`` entry-point group at all.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .entrypoints import ENTRY_POINT_GROUP, may_have_entry_points
from .errors import NixremoteError, PluginError
from .facts import Facts
from .models import HosterGuess

log = logging.getLogger(__name__)

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("generic", "nixremote.hosters.generic"),
    ("hetzner", "nixremote.hosters.hetzner"),
)
"""(name, module path) of the plugins that ship with nixremote, in registration order."""


@attrs.frozen(kw_only=True)
class PluginInfo:
    """What ``nixremote plugins`` shows of a registered plugin."""

    name: str
    module: str
    hooks: tuple[str, ...]
    builtin: bool
    version: str | None = None


def _disabled_from_env() -> frozenset[str]:
    raw = os.environ.get("NIXREMOTE_DISABLE_PLUGINS", "")
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


def _autoload_from_env() -> bool:
    return os.environ.get("NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("1", "true")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering the distribution version of each entry-point plugin."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.versions: dict[str, str | None] = {}


def get_plugin_manager(
    *,
    autoload: bool | None = None,
    disabled: Iterable[str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
) -> PluginManager:
    """A plugin manager with the hook specs, the built-in plugins and (unless disabled) the
    entry-point plugins registered; ``extra`` registers more plugins (name, object) last.

    Raises :class:`PluginError` when a plugin cannot be imported or implements a hook that
    nixremote does not specify.
    """
    pm = PluginManager()
    skip = _disabled_from_env() if disabled is None else frozenset(disabled)
    for name in skip:
        pm.set_blocked(name)
    for name, path in BUILTIN_PLUGINS:
        if name not in skip:
            _register(pm, importlib.import_module(path), name)
    if (_autoload_from_env() if autoload is None else autoload) and may_have_entry_points():
        from importlib.metadata import entry_points

        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in skip or pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a third-party import can fail in any way
                raise PluginError(
                    f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}",
                    hint=f"fix or uninstall it, or set NIXREMOTE_DISABLE_PLUGINS={ep.name}",
                ) from exc
            dist = getattr(ep, "dist", None)
            _register(pm, plugin, ep.name, version=getattr(dist, "version", None))
    for name, plugin in extra:
        _register(pm, plugin, name)
    return pm


def _register(pm: PluginManager, plugin: Any, name: str, *, version: str | None = None) -> None:
    try:
        pm.register(plugin, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        raise PluginError(
            f"plugin {name!r} is invalid: {exc}",
            hint=f"fix the plugin, or set NIXREMOTE_DISABLE_PLUGINS={name}",
        ) from None
    except ValueError as exc:
        raise PluginError(f"plugin {name!r}: {exc}", hint="rename one of the plugins") from None
    pm.versions[name] = version


def list_plugins(pm: PluginManager) -> list[PluginInfo]:
    """Every registered plugin with the hooks it implements, in registration order."""
    builtin = {name for name, _ in BUILTIN_PLUGINS}
    out = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        out.append(
            PluginInfo(
                name=name,
                module=module,
                hooks=tuple(hooks),
                builtin=name in builtin,
                version=pm.versions.get(name),
            )
        )
    return out


def detect_hoster(pm: pluggy.PluginManager, facts: Facts, name: str | None = None) -> HosterGuess:
    """The hoster of the host described by ``facts``: the one named, or the best claim.

    A named hoster must be known to some plugin. Two hosters tied at the top confidence are an
    error, never settled by plugin order.
    """
    guesses: list[HosterGuess] = [g for g in pm.hook.detect_hoster(facts=facts) if g is not None]
    if name is not None:
        known = {g.name for g in guesses} | set(known_hosters(pm))
        if name not in known:
            raise NixremoteError(
                f"unknown hoster {name!r}",
                hint=f"choose one of: {', '.join(sorted(known))}",
            )
        return HosterGuess(name=name, confidence=1000, reason="chosen by the user")
    if not guesses:
        raise PluginError(
            "no plugin claimed this host, not even the generic one",
            hint="do not disable the generic plugin",
        )
    top = max(g.confidence for g in guesses)
    best = sorted({g.name for g in guesses if g.confidence == top})
    if len(best) > 1:
        raise NixremoteError(
            f"hosters {', '.join(best)} all claim this host with confidence {top}",
            hint="name the hoster with --hoster",
        )
    return next(g for g in guesses if g.name == best[0] and g.confidence == top)


def known_hosters(pm: pluggy.PluginManager) -> list[str]:
    """Names of the hosters the registered plugins declare (module attribute ``HOSTER``)."""
    names = []
    for _name, plugin in pm.list_name_plugin():
        hoster = getattr(plugin, "HOSTER", None)
        if isinstance(hoster, str):
            names.append(hoster)
    return names
