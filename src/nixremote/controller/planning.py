"""Making the plan: every decision of an install, taken once, on the controller, by the hooks.

:func:`make_plan` asks the plugins (the ``disk_layout`` hook, then ``host_flake_modules`` with
the chosen layout; both with the user's settings) for a host's runtime info and returns the
:class:`~nixremote.core.plan.Plan` that the user approves and the installer executes.
:func:`choose_layout` is the one place where a disk layout is chosen; :func:`host_flake_parts`
gathers what plugins add to the host flake (expressions, files under ``plugins/<plugin>/``,
flake inputs), each Nix text parsed now (:func:`~nixremote.controller.nixcheck.check_nix`).
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from attrs import field, frozen

from ..core.errors import PlanError
from ..core.filetree import FileTree
from ..core.flakeparts import FlakeFile, FlakeInput
from ..core.hookcalls import Hooks
from ..core.layout import DiskLayout, LayoutOptions
from ..core.models import Disk, RuntimeInfo
from ..core.phases import CONTROLLER_PHASES
from ..core.plan import FlakeSource, Plan, PluginRecord, build_plan
from ..core.settings import as_pairs, redacted

log = logging.getLogger(__name__)

DECIDING_HOOKS = frozenset(
    {"collect_runtime_info", "boot_mode", "disk_layout", "host_flake_modules"}
)
"""The hooks whose answers shape a plan (a plugin implementing one is named in the plan)."""


@frozen(kw_only=True)
class PlanOptions:
    """What the user asked for: a layout variant (``None``: none asked for, the plugins
    choose; ``"default"``: the generic default); the disks to format (``--disk``, repeatable
    for a mirror: the first is the disk to format, any further one joins the layout; none: the
    collected disk to format and the plugins' choice); the nixremote flake reference for the
    host flake, keys the installed system trusts beyond the host's own
    (``replace_authorized_keys``: instead of them, ``--authorized-keys-file``; a plan without
    any is refused unless ``require_authorized_keys`` is off: ``nixremote disk``, which installs
    no system), the phases the plan is for, the flake sources the bundle's installer carries
    (``flakeInputs``), the settings the hooks get (checked ones: ``<plugin>.<key>`` ->
    text; a mapping or pairs), and the ``--extra-files`` tree as listed."""

    layout: str | None = None
    disks: tuple[str, ...] = ()
    encrypted: bool | None = None
    nixremote_flake: str | None = None
    authorized_keys: tuple[str, ...] = ()
    replace_authorized_keys: bool = False
    require_authorized_keys: bool = True
    phases: tuple[str, ...] = CONTROLLER_PHASES
    flake_sources: tuple[FlakeSource, ...] = ()
    settings: tuple[tuple[str, str], ...] = field(default=(), converter=as_pairs)
    extra_files: FileTree | None = None


def resolve_disks(info: RuntimeInfo, names: Sequence[str]) -> tuple[str, ...]:
    """The disks ``names`` mean, each by its stable path (by-id when it has one).

    A name may be a by-id path, a kernel path (``/dev/sda``), a kernel name (``sda``) or a
    by-id name; aliases of one device are one disk, so naming it twice (``/dev/sda`` and its
    by-id path) is an error, as is a name that is not one of the collected disks.
    """
    out: list[str] = []
    given: dict[str, str] = {}
    for name in names:
        wanted = name.strip()
        forms = {wanted, f"/dev/{wanted}", f"/dev/disk/by-id/{wanted}"}
        disk = next((d for d in info.disks if forms & {d.path, d.by_id}), None)
        if disk is None and not info.disks:  # no disk facts (the original's shape): as named
            disk = Disk(path=wanted)
        if disk is None:
            choices = ", ".join(d.stable_path for d in info.disks) or "none collected"
            raise PlanError(
                f"--disk {name}: not a disk of {info.host_name}",
                hint=f"choose among: {choices}",
            )
        if disk.stable_path in given:
            first = given[disk.stable_path]
            same = "twice" if first == name else f"twice ({first} and {name} are one disk)"
            raise PlanError(
                f"--disk names {disk.stable_path} {same}: a disk cannot mirror itself",
                hint="name distinct disks",
            )
        given[disk.stable_path] = name
        out.append(disk.stable_path)
    return tuple(out)


def check_drift(plan: Plan, info: RuntimeInfo) -> None:
    """Refuse, with one line, a host that no longer matches ``plan`` (collected again as
    ``info``): another name, a planned disk gone or changed (size, serial), a planned MAC
    missing, another machine-id."""
    from ..core.errors import SafetyError

    ident = plan.identity
    hint = "the host changed since the plan was made: make a new plan and review it"

    def refuse(what: str) -> SafetyError:
        return SafetyError(f"{info.host_name} does not match the plan: {what}", hint=hint)

    if info.host_name != ident.host_name:
        raise refuse(f"its name is {info.host_name}, the plan's {ident.host_name}")
    for planned in ident.disks:
        disk = info.disk(planned.path)
        if disk is None:
            raise refuse(f"disk {planned.path} is gone")
        if planned.size_bytes is not None and disk.size_bytes != planned.size_bytes:
            raise refuse(
                f"disk {planned.path} has {disk.size_bytes} bytes, the plan {planned.size_bytes}"
            )
        if planned.serial is not None and disk.serial != planned.serial:
            raise refuse(f"disk {planned.path} has serial {disk.serial}, the plan {planned.serial}")
    macs = {i.mac for i in info.interfaces if i.mac}
    missing = [m for m in ident.macs if m not in macs]
    if missing:
        raise refuse(f"no NIC with MAC {missing[0]}")


def choose_layout(
    info: RuntimeInfo,
    options: LayoutOptions | None = None,
    *,
    pm: Any = None,
    settings: Mapping[str, str] | None = None,
) -> DiskLayout:
    """The layout the plugins choose for ``info``: the first answer to the ``disk_layout`` hook
    (a hoster plugin's, else the generic plugin's :func:`~nixremote.core.layout.default_layout`).
    ``pm`` is a plugin manager (default: :func:`nixremote.core.plugins.get_plugin_manager`)."""
    pm = pm if pm is not None else _default_pm()
    layout = Hooks(pm).disk_layout(
        info=info, options=options or LayoutOptions(), settings=dict(settings or {})
    )
    if layout is None:
        raise PlanError(
            f"no plugin chose a disk layout for {info.host_name}",
            hint="check the installed plugins with `nixremote plugins`",
        )
    return layout


@frozen(kw_only=True)
class HostFlakeParts:
    """What the plugins add to the host flake: module expressions, files (their paths in the
    flake), flake inputs; ``checker`` says what parsed the Nix text (``nix-instantiate`` or
    ``python``; ``None``: there was none)."""

    modules: tuple[str, ...] = ()
    files: tuple[FlakeFile, ...] = ()
    inputs: tuple[FlakeInput, ...] = ()
    checker: str | None = None


def plugin_dir(plugin: str) -> str:
    """The directory of a plugin's files in the host flake: ``plugins/<plugin>``."""
    return "plugins/" + (re.sub(r"[^A-Za-z0-9_+-]", "-", plugin).strip("-") or "plugin")


def host_flake_parts(
    info: RuntimeInfo,
    layout: DiskLayout,
    *,
    pm: Any = None,
    settings: Mapping[str, str] | None = None,
    nix: str | None = None,
) -> HostFlakeParts:
    """Ask the ``host_flake_modules`` hook for the host flake of ``info`` with ``layout``;
    every expression and ``.nix`` file is parsed (``nix``: the ``nix-instantiate`` to use, see
    :func:`~nixremote.controller.nixcheck.check_nix`). Two plugins declaring one input name
    differently is an error."""
    from .nixcheck import check_nix

    pm = pm if pm is not None else _default_pm()
    modules: list[str] = []
    files: list[FlakeFile] = []
    inputs: dict[str, tuple[str, FlakeInput]] = {}
    checker = None
    for part in Hooks(pm).host_flake_modules(
        info=info, layout=layout, settings=dict(settings or {})
    ):
        who = f"plugin {part.plugin!r}"
        for expr in part.modules:
            what = f"{who}: module {expr.strip()[:40]!r}"
            checker = check_nix(expr, what=what, nix=nix, expression=True)
            modules.append(expr)
        for file in part.files:
            if file.module or file.path.endswith(".nix"):
                checker = check_nix(file.text, what=f"{who}: file {file.path}", nix=nix)
            files.append(attrs.evolve(file, path=f"{plugin_dir(part.plugin)}/{file.path}"))
        for item in part.inputs:
            first = inputs.setdefault(item.name, (part.plugin, item))
            if first[1] != item:
                raise PlanError(
                    f"plugins {first[0]!r} and {part.plugin!r} both declare the flake input "
                    f"{item.name!r}, differently",
                    hint="disable one of them with NIXREMOTE_DISABLE_PLUGINS",
                )
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise PlanError("a plugin returned two files with one path", hint="rename one")
    if checker == "python":
        log.info("Nix is not installed here: plugins' Nix text had a syntax check only")
    return HostFlakeParts(
        modules=tuple(modules),
        files=tuple(files),
        inputs=tuple(i for _, i in inputs.values()),
        checker=checker,
    )


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


def recorded_settings(pm: Any, settings: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The plugin settings (``<plugin>.<key>``) as a plan records them: declared secrets and
    secret-looking keys redacted."""
    declared = Hooks(pm).plugin_settings()
    secret = {s.key for items in declared.values() for s in items if s.is_secret}
    return redacted({k: v for k, v in settings.items() if "." in k}, secret)


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
    settings = dict(options.settings)
    disks = resolve_disks(info, options.disks)
    if disks:
        info = attrs.evolve(info, disk_to_format=disks[0])
    layout = choose_layout(
        info,
        LayoutOptions(variant=options.layout, disks=disks[1:], encrypted=options.encrypted),
        pm=pm,
        settings=settings,
    )
    if not info.disk_to_format:  # a plugin chose the disks (none was collected or named)
        info = attrs.evolve(info, disk_to_format=layout.disks[0].path)
    parts = host_flake_parts(info, layout, pm=pm, settings=settings)
    return build_plan(
        info,
        layout,
        target=target,
        machine_id=machine_id,
        nixremote_flake=options.nixremote_flake,
        extra_modules=parts.modules,
        authorized_keys=options.authorized_keys,
        replace_authorized_keys=options.replace_authorized_keys,
        require_authorized_keys=options.require_authorized_keys,
        phases=options.phases,
        plugins=plugin_records(pm),
        flake_sources=options.flake_sources,
        files=parts.files,
        flake_inputs=parts.inputs,
        settings=recorded_settings(pm, settings),
        extra_files=options.extra_files,
        now=now,
    )
