"""The hooks of nixremote: every place where a plugin can take part in an install.

A plugin is a module or object with functions named like these specs and marked with
``nixremote.plugin.hookimpl``. nixremote registers its built-in plugins first
(``nixremote.hosters.generic``, ``nixremote.hosters.hetzner``), then every plugin advertised under
the entry-point group ``nixremote`` (the entry point's name is the plugin's name: what
``nixremote plugins`` shows, what ``NIXREMOTE_DISABLE_PLUGINS`` and the settings' keys use).
Implementing a hook that is not specified here is an error that names the closest hook, so a
misspelt hook name cannot silently do nothing.

Arguments are passed by keyword; an implementation may accept any subset of them, and new
arguments may be added to a spec without breaking existing plugins (pluggy's rule).

How results combine is part of each spec: a ``firstresult`` hook stops at the first
implementation that returns something other than ``None`` (later-registered and ``tryfirst``
implementations are asked first; the built-in generic plugin answers last with ``trylast``), so a
hoster plugin overrides by answering and declines by returning ``None``. The other hooks are
called plugin by plugin, in the same order, and every answer counts; they take no wrappers.

When the hooks run, all on the controller (the machine running ``nixremote``):

1. collect (``nixremote info``, ``plan``, ``install``): :func:`detect_hoster` (every plugin),
   then :func:`collect_runtime_info` (the generic plugin builds, wrappers refine), then
   :func:`boot_mode` with the refined runtime info;
2. plan (``nixremote plan``, ``install``, ``disk plan``): :func:`disk_layout`, then
   :func:`host_flake_modules` with the chosen layout;
3. install (``nixremote install``, never in a dry run): :func:`before_kexec` once the plan is
   approved, :func:`after_install` when the installer has installed the system (before it
   reboots), :func:`after_verify` at the end of a run whose verify phase ran.

:func:`plugin_settings` is asked whenever settings are checked or listed, and
:func:`register_commands` when the command line starts. No hook runs inside the installer: what
the hooks decide travels in the plan, as data.

A hoster plugin names the hosters it knows in a module (or object) attribute ``HOSTER``: a
string, or a tuple of strings. ``--hoster NAME`` accepts the names of every ``HOSTER`` (and of
every claim :func:`detect_hoster` made), and ``nixremote plugins`` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from .facts import Facts
    from .flakeparts import HostFlakeItem
    from .hostkeys import HostKey
    from .layout import DiskLayout, LayoutOptions
    from .models import BootMode, HosterGuess, RuntimeInfo
    from .plan import Plan
    from .progress import Reporter
    from .settings import Setting
    from .transport import Transport

PROJECT = "nixremote"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

PER_PLUGIN_HOOKS = frozenset(
    {
        "plugin_settings",
        "host_flake_modules",
        "before_kexec",
        "after_install",
        "after_verify",
    }
)
"""Hooks called plugin by plugin (each answer is the plugin's own): they take no wrappers."""


@hookspec
def plugin_settings() -> Sequence[Setting[Any]] | None:
    """Declare the settings this plugin reads: a list of :class:`~nixremote.plugin.Setting`.

    Each key is ``<plugin>.<name>``, where ``<plugin>`` is the plugin's name (its entry point's).
    The user sets them with ``--set <plugin>.<name>=VALUE`` or in the config file; a key that no
    plugin declares is an error naming the closest one, and a value of the wrong type too. Every
    hook that decides gets the values as text in ``settings``; read them with
    ``Setting.get(settings)``, typed. ``nixremote plugins --settings`` lists the declarations.

    Combination: called plugin by plugin; a key outside the plugin's own name is an error.
    """


@hookspec
def detect_hoster(facts: Facts) -> HosterGuess | None:
    """Claim the host described by ``facts`` for a hoster, or return ``None``.

    Combination: every plugin is asked and the claim with the highest ``confidence`` wins;
    two different hosters claiming the same top confidence is an error that asks the user to
    name the hoster (``--hoster``), because the choice must never depend on the order in which
    plugins happened to load. The generic plugin always claims ``generic`` with confidence 0.

    Detection must only look at ``facts`` (DMI vendor, product name, os-release); a plugin
    that wants to confirm through a hoster service (a metadata URL) does so later, in
    :func:`collect_runtime_info`, once its hoster has been chosen.
    """


@hookspec(firstresult=True)
def collect_runtime_info(
    facts: Facts,
    hoster: str,
    transport: Transport | None,
    settings: Mapping[str, str],
) -> RuntimeInfo | None:
    """Build the :class:`~nixremote.plugin.RuntimeInfo` of a host from its ``facts``.

    Combination: first result. The generic plugin implements it ``trylast`` and builds the
    base from the facts alone (interfaces, routes, disks, the disk to format, and the boot mode
    the firmware flag shows), so a plugin returning a value replaces the generic result
    entirely; that is rarely wanted.

    A hoster plugin refines the generic result instead, with a new-style wrapper
    (``@hookimpl(wrapper=True)``): ``info = yield`` receives the result, and the wrapper returns
    an evolved copy when ``hoster`` is its own and ``info`` unchanged otherwise. ``transport``
    (``None`` when collecting offline from saved facts, ``nixremote info --from-facts``) lets
    it ask the host for more, e.g. a metadata service reachable only from inside. ``settings``
    holds user options such as ``disk`` (the disk to format) and the plugin settings
    ``<plugin>.<key>`` (see :func:`plugin_settings`). :func:`boot_mode` runs after this hook,
    on its final (refined) result.
    """


@hookspec(firstresult=True)
def boot_mode(info: RuntimeInfo, facts: Facts, settings: Mapping[str, str]) -> BootMode | None:
    """Decide how the installed system will boot: BIOS (GRUB on the BIOS-boot partition) or UEFI.

    ``info`` is the runtime info :func:`collect_runtime_info` returned, refined by every wrapper
    (its ``hoster``, ``arch`` and ``hoster_details`` are set); ``facts`` are the host's raw
    facts (the ``efi`` section tells whether it booted by UEFI); ``settings`` the user's.

    Combination: first result, so a hoster plugin that knows better (Arm servers boot UEFI
    only) answers before the generic plugin, which answers last from ``/sys/firmware/efi``.
    Return ``None`` to leave the decision to others.
    """


@hookspec(firstresult=True)
def disk_layout(
    info: RuntimeInfo, options: LayoutOptions, settings: Mapping[str, str]
) -> DiskLayout | None:
    """Choose the :class:`~nixremote.plugin.DiskLayout` to create on the host.

    ``options`` is what the user asked for: ``options.variant`` is ``None`` when no ``--layout``
    was given (a hoster plugin may choose its own then) and a layout name otherwise (``default``
    included: the generic default, even on a hoster with a layout of its own); ``options.disks``
    the further disks named with ``--disk``. ``settings`` are the user's.

    Combination: first result. The generic plugin answers last with the original installer's
    layout (one disk, encrypted ZFS pool ``rpool``) adapted to ``info.boot_mode`` and to
    ``options`` (:func:`~nixremote.plugin.default_layout`). A hoster plugin answers for its own
    hosts (``info.hoster``) when it knows a better default, e.g. a mirror on dedicated servers
    with two equal disks, and returns ``None`` for anything else.
    """


@hookspec
def host_flake_modules(
    info: RuntimeInfo, layout: DiskLayout, settings: Mapping[str, str]
) -> Sequence[HostFlakeItem] | None:
    """What the host flake generated for ``info`` gets from this plugin, for the chosen
    ``layout`` (the plan's) and the user's ``settings``.

    The list may hold Nix expressions (``str``: one element of the flake's ``modules`` list,
    with ``nixremote`` and ``inputs`` in scope, e.g. ``"nixremote.nixosModules.hetzner"``),
    :class:`~nixremote.plugin.FlakeFile` items (files the plugin ships, copied into the flake
    under ``plugins/<plugin>/`` and imported as modules) and :class:`~nixremote.plugin.FlakeInput`
    items (inputs the host flake declares, locked like nixremote's when the installer carries
    them). Everything is parsed with Nix's parser while planning (``nix-instantiate --parse``
    when Nix is installed on the controller, else a syntax check of brackets, strings and
    comments), and travels in the plan as text.

    Combination: called plugin by plugin, every answer is added in plugin order. Return
    ``None`` or an empty list when the host is not yours.
    """


@hookspec
def before_kexec(
    plan: Plan, transport: Transport, settings: Mapping[str, str], reporter: Reporter
) -> None:
    """Act before the host is taken over: the ``plan`` is approved, the kexec is next.

    Runs on the controller in ``nixremote install`` (the kexec phase), after the preflight and
    before anything is uploaded or loaded; ``transport`` is the connection to the running
    (rescue) system, ``settings`` the user's, ``reporter`` takes progress events
    (:func:`~nixremote.plugin.report`) the command shows. Raising a ``NixremoteError`` stops the
    install with nothing changed on the host. Not called in a dry run.

    Combination: called plugin by plugin; return nothing.
    """


@hookspec
def after_install(
    plan: Plan, transport: Transport, settings: Mapping[str, str], reporter: Reporter
) -> None:
    """Act once the installer has installed the system, before it reboots.

    Runs on the controller in ``nixremote install`` when the installer's ``install`` phase has
    finished (the host flake is written, ``nixos-install`` done, the pool still imported);
    ``transport`` is the verified connection to the installer. When the run also reboots, the
    reboot waits for this hook (switch the hoster's boot device here). ``plan`` is the plan that
    ran, ``settings`` the user's, ``reporter`` takes progress events. Not called in a dry run.

    Combination: called plugin by plugin; return nothing.
    """


@hookspec
def after_verify(
    plan: Plan, host_keys: Sequence[HostKey], settings: Mapping[str, str], reporter: Reporter
) -> None:
    """Act once the installed system has been verified: the last hook of an install.

    Runs on the controller at the end of ``nixremote install`` when its verify phase ran;
    ``host_keys`` are the installed system's (and its initrd's) host keys as recorded in
    ``known_hosts``, ``plan`` the plan that ran, ``settings`` the user's, ``reporter`` takes
    progress events. A place to register the new host in an inventory. Not called in a dry run.

    Combination: called plugin by plugin; return nothing.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands or command groups to the ``nixremote`` command line.

    ``cli`` is a :class:`click.Group`; add to it with ``@cli.command()`` or ``@cli.group()``.

    Combination: every plugin is called once with the root group. Import heavy libraries inside
    the commands, not at module level, so that ``nixremote --version`` stays fast.
    """
