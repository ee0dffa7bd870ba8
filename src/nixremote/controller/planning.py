"""Making the plan: every decision of an install, taken once, on the controller, by the hooks.

:func:`make_plan` asks the plugins (the ``disk_layout`` and ``host_flake_modules`` hooks) for a
host's runtime info and returns the :class:`~nixremote.core.plan.Plan` that the user approves and
the installer executes. :func:`choose_layout` is the one place where a disk layout is chosen.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from attrs import frozen

from ..core.errors import PlanError
from ..core.layout import DiskLayout, LayoutOptions
from ..core.models import RuntimeInfo
from ..core.phases import CONTROLLER_PHASES
from ..core.plan import FlakeSource, Plan, PluginRecord, build_plan

DECIDING_HOOKS = frozenset(
    {"collect_runtime_info", "boot_mode", "disk_layout", "host_flake_modules"}
)
"""The hooks whose answers shape a plan (a plugin implementing one is named in the plan)."""


@frozen(kw_only=True)
class PlanOptions:
    """What the user asked for: a layout variant and further disks (:class:`LayoutOptions`),
    the nixremote flake reference for the host flake, keys the installed system trusts beyond
    the host's own (``replace_authorized_keys``: instead of them, ``--authorized-keys-file``),
    the phases the plan is for, and the flake sources the bundle's installer carries
    (``flakeInputs``)."""

    layout: str = "default"
    disks: tuple[str, ...] = ()
    encrypted: bool | None = None
    nixremote_flake: str | None = None
    authorized_keys: tuple[str, ...] = ()
    replace_authorized_keys: bool = False
    phases: tuple[str, ...] = CONTROLLER_PHASES
    flake_sources: tuple[FlakeSource, ...] = ()


def choose_layout(
    info: RuntimeInfo, options: LayoutOptions | None = None, *, pm: Any = None
) -> DiskLayout:
    """The layout the plugins choose for ``info``: the first answer to the ``disk_layout`` hook
    (a hoster plugin's, else the generic plugin's :func:`~nixremote.core.layout.default_layout`).
    ``pm`` is a plugin manager (default: :func:`nixremote.core.plugins.get_plugin_manager`)."""
    pm = pm if pm is not None else _default_pm()
    layout = pm.hook.disk_layout(info=info, options=options or LayoutOptions())
    if layout is None:
        raise PlanError(
            f"no plugin chose a disk layout for {info.host_name}",
            hint="check the installed plugins with `nixremote plugins`",
        )
    if not isinstance(layout, DiskLayout):
        raise PlanError(
            f"a disk_layout hook returned {type(layout).__name__}, not a DiskLayout",
            hint="fix the plugin's disk_layout hook",
        )
    return layout


def host_flake_modules(info: RuntimeInfo, *, pm: Any = None) -> tuple[str, ...]:
    """The NixOS modules the plugins add to the host flake (the ``host_flake_modules`` hook)."""
    pm = pm if pm is not None else _default_pm()
    modules: list[str] = []
    for result in pm.hook.host_flake_modules(info=info):
        if isinstance(result, str) or not isinstance(result, Sequence):
            raise PlanError(
                f"a host_flake_modules hook returned {type(result).__name__}, not a list",
                hint="return a list of Nix expressions",
            )
        modules.extend(m for m in result if m)
    return tuple(modules)


def _default_pm() -> Any:
    from ..core.plugins import get_plugin_manager

    return get_plugin_manager()


def plugin_records(pm: Any) -> tuple[PluginRecord, ...]:
    """The plugins that implement a deciding hook, with their versions."""
    from ..core.plugins import list_plugins

    return tuple(
        PluginRecord(name=p.name, version=p.version)
        for p in list_plugins(pm)
        if DECIDING_HOOKS & set(p.hooks)
    )


def make_plan(
    info: RuntimeInfo,
    options: PlanOptions | None = None,
    *,
    target: str = "",
    machine_id: str | None = None,
    pm: Any = None,
    now: datetime.datetime | None = None,
) -> Plan:
    """The plan for the host of ``info`` (see the module documentation)."""
    options = options or PlanOptions()
    pm = pm if pm is not None else _default_pm()
    layout = choose_layout(
        info,
        LayoutOptions(variant=options.layout, disks=options.disks, encrypted=options.encrypted),
        pm=pm,
    )
    return build_plan(
        info,
        layout,
        target=target,
        machine_id=machine_id,
        nixremote_flake=options.nixremote_flake,
        extra_modules=host_flake_modules(info, pm=pm),
        authorized_keys=options.authorized_keys,
        replace_authorized_keys=options.replace_authorized_keys,
        phases=options.phases,
        plugins=plugin_records(pm),
        flake_sources=options.flake_sources,
        now=now,
    )
