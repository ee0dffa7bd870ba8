"""The typed facade for calling the hooks: :class:`Hooks` (``pm.hooks``).

``pm.hook.<name>(...)`` is pluggy's untyped call: its result is ``Any`` and a plugin that
answers with the wrong type is noticed, if at all, far away. ``Hooks`` calls the same hooks with
the same keyword arguments and returns typed results, checked: an answer of the wrong type, or
an exception other than a :class:`~nixremote.core.errors.NixremoteError`, becomes a
:class:`~nixremote.core.errors.PluginError` that names the plugin and the hook. nixremote calls
every hook through it (collect, planning, the pipeline), and so can a plugin's tests::

    pm = nixremote_pm(my_plugin)
    layout = pm.hooks.disk_layout(info=info, options=LayoutOptions())   # DiskLayout | None

The hooks listed in :data:`~.hookspecs.PER_PLUGIN_HOOKS` are called plugin by plugin (in
pluggy's order: last registered and ``tryfirst`` first, ``trylast`` last), so every answer is
known with the plugin that gave it.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy
from attrs import frozen

from .errors import NixremoteError, PluginError
from .facts import Facts
from .flakeparts import FlakeFile, FlakeInput
from .layout import DiskLayout, LayoutOptions
from .models import BootMode, HosterGuess, RuntimeInfo
from .settings import Setting

if TYPE_CHECKING:
    import click

    from .hostkeys import HostKey
    from .plan import Plan
    from .progress import Reporter
    from .transport import Transport

T = TypeVar("T")

log = logging.getLogger(__name__)

NO_SETTINGS: Mapping[str, str] = MappingProxyType({})


@frozen(kw_only=True)
class HostFlakeContribution:
    """One plugin's answer to ``host_flake_modules``: its expressions, files and inputs."""

    plugin: str
    modules: tuple[str, ...] = ()
    files: tuple[FlakeFile, ...] = ()
    inputs: tuple[FlakeInput, ...] = ()


def _plugin_modules(pm: pluggy.PluginManager) -> dict[str, str]:
    out = {}
    for name, plugin in pm.list_name_plugin():
        if plugin is not None:
            module = plugin.__name__ if isinstance(plugin, types.ModuleType) else None
            out[module or type(plugin).__module__] = name
    return out


def culprit(pm: pluggy.PluginManager, exc: BaseException) -> str | None:
    """The plugin whose code raised ``exc`` (its innermost frame in a plugin's module)."""
    modules = _plugin_modules(pm)
    found = None
    tb = exc.__traceback__
    while tb is not None:
        name = str(tb.tb_frame.f_globals.get("__name__", ""))
        for module, plugin in modules.items():
            if name == module or name.startswith(module + "."):
                found = plugin
        tb = tb.tb_next
    return found


class Hooks:
    """Typed calls of the hooks of a plugin manager (see the module documentation)."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    # -- plumbing --

    def _failed(self, hook: str, exc: Exception, plugin: str | None = None) -> PluginError:
        plugin = plugin or culprit(self.pm, exc)
        who = f"plugin {plugin!r}" if plugin else "a plugin"
        return PluginError(
            f"{who} failed in {hook}: {type(exc).__name__}: {exc}",
            hint="a bug in the plugin; run with -vv for the traceback, or disable it with "
            f"NIXREMOTE_DISABLE_PLUGINS={plugin or 'NAME'}",
        )

    def _first(self, hook: str, kind: type[T], **kwargs: Any) -> T | None:
        try:
            result = getattr(self.pm.hook, hook)(**kwargs)
        except NixremoteError:
            raise
        except Exception as exc:
            raise self._failed(hook, exc) from exc
        if result is not None and not isinstance(result, kind):
            raise PluginError(
                f"a {hook} hook returned {type(result).__name__}, not a {kind.__name__}",
                hint=f"fix the plugin's {hook} hook",
            )
        return result

    def each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """``(plugin name, answer)`` of every implementation of ``hook`` that answered (not
        ``None``), in pluggy's calling order; a plugin's failure names it."""
        out = []
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            call: Callable[..., Any] = impl.function
            try:
                result = call(**{a: kwargs[a] for a in impl.argnames})
            except NixremoteError:
                raise
            except Exception as exc:
                raise self._failed(hook, exc, impl.plugin_name) from exc
            if result is not None:
                out.append((impl.plugin_name, result))
        return out

    # -- the hooks --

    def plugin_settings(self) -> dict[str, tuple[Setting[Any], ...]]:
        """Every registered plugin's declared settings (plugins declaring none included, with
        none), checked: each key must be the plugin's own."""
        out: dict[str, tuple[Setting[Any], ...]] = {
            name: () for name, plugin in self.pm.list_name_plugin() if plugin is not None
        }
        for plugin, answer in self.each("plugin_settings"):
            items = _sequence(answer, "plugin_settings", plugin, "Setting")
            for item in items:
                if not isinstance(item, Setting):
                    raise _bad_item("plugin_settings", plugin, item, "Setting")
                if item.plugin != plugin:
                    raise PluginError(
                        f"plugin {plugin!r} declares the setting {item.key!r}, which is not its "
                        f"own (keys start with {plugin}.)",
                        hint=f"name it {plugin}.{item.name}",
                    )
            out[plugin] = out[plugin] + tuple(items)
        return out

    def detect_hoster(self, *, facts: Facts) -> list[HosterGuess]:
        """Every claim (``None`` left out)."""
        try:
            results = self.pm.hook.detect_hoster(facts=facts)
        except NixremoteError:
            raise
        except Exception as exc:
            raise self._failed("detect_hoster", exc) from exc
        for item in results:
            if not isinstance(item, HosterGuess):
                raise _bad_item("detect_hoster", "a plugin", item, "HosterGuess")
        return [g for g in results if g is not None]

    def collect_runtime_info(
        self,
        *,
        facts: Facts,
        hoster: str,
        transport: Transport | None = None,
        settings: Mapping[str, str] = NO_SETTINGS,
    ) -> RuntimeInfo | None:
        return self._first(
            "collect_runtime_info",
            RuntimeInfo,
            facts=facts,
            hoster=hoster,
            transport=transport,
            settings=settings,
        )

    def boot_mode(
        self, *, info: RuntimeInfo, facts: Facts, settings: Mapping[str, str] = NO_SETTINGS
    ) -> BootMode | None:
        return self._first("boot_mode", BootMode, info=info, facts=facts, settings=settings)

    def disk_layout(
        self,
        *,
        info: RuntimeInfo,
        options: LayoutOptions | None = None,
        settings: Mapping[str, str] = NO_SETTINGS,
    ) -> DiskLayout | None:
        return self._first(
            "disk_layout",
            DiskLayout,
            info=info,
            options=options or LayoutOptions(),
            settings=settings,
        )

    def host_flake_modules(
        self, *, info: RuntimeInfo, layout: DiskLayout, settings: Mapping[str, str] = NO_SETTINGS
    ) -> list[HostFlakeContribution]:
        """Each plugin's answer, sorted into expressions, files and inputs."""
        out = []
        for plugin, answer in self.each(
            "host_flake_modules", info=info, layout=layout, settings=settings
        ):
            kinds = "Nix expressions, FlakeFile or FlakeInput items"
            items = _sequence(answer, "host_flake_modules", plugin, kinds)
            for item in items:
                if not isinstance(item, str | FlakeFile | FlakeInput):
                    raise _bad_item("host_flake_modules", plugin, item, kinds)
            out.append(
                HostFlakeContribution(
                    plugin=plugin,
                    modules=tuple(i for i in items if isinstance(i, str) and i.strip()),
                    files=tuple(i for i in items if isinstance(i, FlakeFile)),
                    inputs=tuple(i for i in items if isinstance(i, FlakeInput)),
                )
            )
        return out

    def before_kexec(
        self, *, plan: Plan, transport: Transport, settings: Mapping[str, str], reporter: Reporter
    ) -> list[str]:
        """Call every ``before_kexec``; the names of the plugins that implement it."""
        return self._lifecycle(
            "before_kexec", plan=plan, transport=transport, settings=settings, reporter=reporter
        )

    def after_install(
        self, *, plan: Plan, transport: Transport, settings: Mapping[str, str], reporter: Reporter
    ) -> list[str]:
        return self._lifecycle(
            "after_install", plan=plan, transport=transport, settings=settings, reporter=reporter
        )

    def after_verify(
        self,
        *,
        plan: Plan,
        host_keys: Sequence[HostKey],
        settings: Mapping[str, str],
        reporter: Reporter,
    ) -> list[str]:
        return self._lifecycle(
            "after_verify",
            plan=plan,
            host_keys=tuple(host_keys),
            settings=settings,
            reporter=reporter,
        )

    def implementers(self, hook: str) -> list[str]:
        """The plugins implementing ``hook``, in calling order."""
        return [i.plugin_name for i in reversed(getattr(self.pm.hook, hook).get_hookimpls())]

    def _lifecycle(self, hook: str, **kwargs: Any) -> list[str]:
        for plugin, _answer in self.each(hook, **kwargs):
            log.warning("plugin %r returned a value from %s; it is ignored", plugin, hook)
        return self.implementers(hook)

    def register_commands(self, *, cli: click.Group) -> None:
        try:
            self.pm.hook.register_commands(cli=cli)
        except NixremoteError:
            raise
        except Exception as exc:
            raise self._failed("register_commands", exc) from exc


def _sequence(answer: object, hook: str, plugin: str, kinds: str) -> list[Any]:
    if isinstance(answer, str | bytes) or not isinstance(answer, Sequence):
        raise PluginError(
            f"plugin {plugin!r}: {hook} returned {type(answer).__name__}, not a list",
            hint=f"return a list of {kinds}",
        )
    return list(answer)


def _bad_item(hook: str, plugin: str, item: object, kinds: str) -> PluginError:
    who = plugin if plugin == "a plugin" else f"plugin {plugin!r}"
    return PluginError(
        f"{who}: {hook} returned a {type(item).__name__} ({item!r:.60})",
        hint=f"return {kinds}",
    )
