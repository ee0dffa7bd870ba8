"""The plugin manager: built-in plugins first, then third-party ones from entry points.

Environment:

``NIXREMOTE_DISABLE_PLUGINS``
    Comma-separated plugin names (built-in or entry-point names) not to register; a name that is
    no plugin's is warned about (with the closest name).
``NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD=1``
    Do not load third-party plugins from the ``nixremote`` entry-point group at all.

A plugin that cannot be imported, implements a hook nixremote does not specify (the error names
the closest hook) or declares a malformed ``HOSTER`` is *broken*: :func:`get_plugin_manager`
raises for it, unless asked not to be strict (``nixremote plugins`` and ``--help`` list it as
broken, with its error).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from . import hookspecs
from .entrypoints import ENTRY_POINT_GROUP, may_have_entry_points
from .errors import NixremoteError, PluginError
from .facts import Facts
from .models import HosterGuess
from .suggest import did_you_mean

if TYPE_CHECKING:
    from .hookcalls import Hooks

log = logging.getLogger(__name__)

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("generic", "nixremote.hosters.generic"),
    ("hetzner", "nixremote.hosters.hetzner"),
)
"""(name, module path) of the plugins that ship with nixremote, in registration order."""


@attrs.frozen(kw_only=True)
class PluginInfo:
    """What ``nixremote plugins`` shows of a plugin: its name, module, the hooks it implements,
    the hosters it names (``HOSTER``), whether it is built in, its distribution's version, and
    for a broken plugin the error that keeps it out."""

    name: str
    module: str
    hooks: tuple[str, ...]
    builtin: bool
    version: str | None = None
    hosters: tuple[str, ...] = ()
    error: str | None = None


@attrs.frozen(kw_only=True)
class BrokenPlugin:
    """A plugin that could not be registered: its name, what its entry point names, the error."""

    name: str
    value: str
    error: PluginError
    version: str | None = None


def _disabled_from_env() -> frozenset[str]:
    raw = os.environ.get("NIXREMOTE_DISABLE_PLUGINS", "")
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


def _autoload_from_env() -> bool:
    return os.environ.get("NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("1", "true")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering the distribution version of each entry-point plugin, the
    broken plugins (when not strict) and the unknown names it was asked to disable."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.versions: dict[str, str | None] = {}
        self.broken: dict[str, BrokenPlugin] = {}
        self.unknown_disabled: tuple[str, ...] = ()

    @property
    def hooks(self) -> Hooks:
        """The typed way to call the hooks (:class:`~nixremote.core.hookcalls.Hooks`)."""
        from .hookcalls import Hooks

        return Hooks(self)


def get_plugin_manager(
    *,
    autoload: bool | None = None,
    disabled: Iterable[str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
    strict: bool = True,
) -> PluginManager:
    """A plugin manager with the hook specs, the built-in plugins and (unless disabled) the
    entry-point plugins registered; ``extra`` registers more plugins (name, object) last.

    With ``strict`` (the default) a broken plugin raises :class:`PluginError` (it cannot be
    imported, implements a hook that nixremote does not specify, or names its hosters wrongly);
    otherwise it is left out and recorded in ``pm.broken``. ``disabled`` (default:
    ``NIXREMOTE_DISABLE_PLUGINS``) names plugins not to register; names that are no plugin's
    are logged as a warning and kept in ``pm.unknown_disabled``.
    """
    pm = PluginManager()
    skip = _disabled_from_env() if disabled is None else frozenset(disabled)
    for name in skip:
        pm.set_blocked(name)
    seen = {name for name, _ in BUILTIN_PLUGINS}
    for name, path in BUILTIN_PLUGINS:
        if name not in skip:
            _register(pm, importlib.import_module(path), name, strict=strict)
    autoload = _autoload_from_env() if autoload is None else autoload
    if autoload and may_have_entry_points():
        from importlib.metadata import entry_points

        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            seen.add(ep.name)
            if ep.name in skip or pm.has_plugin(ep.name):
                continue
            version = getattr(getattr(ep, "dist", None), "version", None)
            try:
                plugin = ep.load()
            except Exception as exc:  # a third-party import can fail in any way
                error = PluginError(
                    f"plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}",
                    hint=f"fix or uninstall it, or set NIXREMOTE_DISABLE_PLUGINS={ep.name}",
                )
                if strict:
                    raise error from exc
                pm.broken[ep.name] = BrokenPlugin(
                    name=ep.name, value=ep.value, error=error, version=version
                )
                continue
            _register(pm, plugin, ep.name, version=version, strict=strict)
    for name, plugin in extra:
        seen.add(name)
        _register(pm, plugin, name, strict=strict)
    _check_disabled(pm, skip, seen, autoload=autoload)
    return pm


def _check_disabled(
    pm: PluginManager, skip: frozenset[str], seen: set[str], *, autoload: bool
) -> None:
    unknown = skip - seen
    if unknown and not autoload and may_have_entry_points():
        from importlib.metadata import entry_points  # installed but not loaded: still known

        seen = seen | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
        unknown -= seen
    if not unknown:
        return
    pm.unknown_disabled = tuple(sorted(unknown))
    known = sorted(seen)
    for name in pm.unknown_disabled:
        log.warning(
            "NIXREMOTE_DISABLE_PLUGINS names %r, which is no plugin%s",
            name,
            did_you_mean(name, known),
        )


def _unknown_hooks(pm: PluginManager, plugin: object) -> list[str]:
    names = []
    for name, caller in vars(pm.hook).items():
        if (
            isinstance(caller, pluggy.HookCaller)
            and not caller.has_spec()
            and any(impl.plugin is plugin for impl in caller.get_hookimpls())
        ):
            names.append(name)
    return sorted(names)


def _validation_error(pm: PluginManager, plugin: object, name: str, exc: Exception) -> PluginError:
    hint = f"fix the plugin, or set NIXREMOTE_DISABLE_PLUGINS={name}"
    unknown = _unknown_hooks(pm, plugin)
    if unknown:
        specs = [n for n, c in vars(pm.hook).items() if isinstance(c, pluggy.HookCaller)]
        specs = [n for n in specs if getattr(pm.hook, n).has_spec()]
        hook = unknown[0]
        return PluginError(
            f"plugin {name!r} implements {hook!r}, which is not a nixremote hook"
            + did_you_mean(hook, specs),
            hint=hint,
        )
    return PluginError(f"plugin {name!r} is invalid: {exc}", hint=hint)


def _check_plugin(pm: PluginManager, plugin: object, name: str) -> None:
    hoster = getattr(plugin, "HOSTER", None)
    if hoster is not None and not _hoster_names(hoster):
        raise PluginError(
            f"plugin {name!r}: HOSTER is {hoster!r}, not a name or a tuple of names",
            hint='set HOSTER = "myhoster" (the name --hoster and info.hoster use)',
        )
    for hook in sorted(hookspecs.PER_PLUGIN_HOOKS):
        for impl in getattr(pm.hook, hook).get_hookimpls():
            if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                raise PluginError(
                    f"plugin {name!r}: {hook} is called plugin by plugin and takes no wrapper",
                    hint=f"mark {hook} with a plain @hookimpl",
                )


def _register(
    pm: PluginManager, plugin: Any, name: str, *, version: str | None = None, strict: bool = True
) -> None:
    try:
        pm.register(plugin, name=name)
        pm.check_pending()
        _check_plugin(pm, plugin, name)
    except (pluggy.PluginValidationError, PluginError) as exc:
        error = exc if isinstance(exc, PluginError) else _validation_error(pm, plugin, name, exc)
        if pm.has_plugin(name):
            pm.unregister(name=name)
        if strict:
            raise error from None
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        pm.broken[name] = BrokenPlugin(name=name, value=module, error=error, version=version)
        return
    except ValueError as exc:
        raise PluginError(f"plugin {name!r}: {exc}", hint="rename one of the plugins") from None
    pm.versions[name] = version


def _hoster_names(value: object) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, tuple | list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    return ()


def list_plugins(pm: PluginManager) -> list[PluginInfo]:
    """Every registered plugin with the hooks it implements, in registration order, then the
    broken ones (with their errors)."""
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
                hosters=_hoster_names(getattr(plugin, "HOSTER", None)),
            )
        )
    for broken in getattr(pm, "broken", {}).values():
        out.append(
            PluginInfo(
                name=broken.name,
                module=broken.value,
                hooks=(),
                builtin=broken.name in builtin,
                version=broken.version,
                error=str(broken.error),
            )
        )
    return out


def detect_hoster(pm: pluggy.PluginManager, facts: Facts, name: str | None = None) -> HosterGuess:
    """The hoster of the host described by ``facts``: the one named, or the best claim.

    A named hoster must be known to some plugin (a claim, or a plugin's ``HOSTER``). Two
    hosters tied at the top confidence are an error, never settled by plugin order.
    """
    from .hookcalls import Hooks

    guesses = Hooks(pm).detect_hoster(facts=facts)
    if name is not None:
        known = {g.name for g in guesses} | set(known_hosters(pm))
        if name not in known:
            raise NixremoteError(
                f"unknown hoster {name!r}" + did_you_mean(name, known),
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
    """Names of the hosters the registered plugins declare: the module (or object) attribute
    ``HOSTER``, a name or a tuple of names."""
    names: list[str] = []
    for _name, plugin in pm.list_name_plugin():
        names.extend(_hoster_names(getattr(plugin, "HOSTER", None)))
    return names
