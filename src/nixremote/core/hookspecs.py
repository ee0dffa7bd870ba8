"""The hooks of nixremote: every place where a plugin can take part in an install.

A plugin is a module or object with functions named like these specs and marked with
``nixremote.hookimpl``. nixremote registers its built-in plugins first
(``nixremote.hosters.generic``, ``nixremote.hosters.hetzner``), then every plugin advertised under
the entry-point group ``nixremote``. Implementing a hook that is not specified here is an error, so
a misspelt hook name cannot silently do nothing.

Arguments are passed by keyword; an implementation may accept any subset of them, and new
arguments may be added to a spec without breaking existing plugins (pluggy's rule).

How results combine is part of each spec: a ``firstresult`` hook stops at the first
implementation that returns something other than ``None`` (later-registered and ``tryfirst``
implementations are asked first; the built-in generic plugin answers last with ``trylast``), so a
hoster plugin overrides by answering and declines by returning ``None``. Other hooks collect a
list of every non-``None`` result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from .facts import Facts
    from .layout import DiskLayout, LayoutOptions
    from .models import BootMode, HosterGuess, RuntimeInfo
    from .transport import Transport

PROJECT = "nixremote"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


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
    """Build the :class:`~nixremote.core.models.RuntimeInfo` of a host from its ``facts``.

    Combination: first result. The generic plugin implements it ``trylast`` and builds the
    base from the facts alone (interfaces, routes, disks, boot mode via :func:`boot_mode`), so
    a plugin returning a value replaces the generic result entirely; that is rarely wanted.

    A hoster plugin refines the generic result instead, with a new-style wrapper
    (``@hookimpl(wrapper=True)``): ``info = yield`` receives the result, and the wrapper returns
    an evolved copy when ``hoster`` is its own and ``info`` unchanged otherwise. ``transport``
    (``None`` when collecting offline from saved facts) lets it ask the host for more, e.g. a
    metadata service reachable only from inside. ``settings`` holds user options such as
    ``disk`` (the disk to format) and plugin settings named ``<plugin>.<key>``
    (``hetzner.metadata_url``).
    """


@hookspec(firstresult=True)
def boot_mode(info: RuntimeInfo, facts: Facts) -> BootMode | None:
    """Decide how the installed system will boot: BIOS (GRUB on the BIOS-boot partition) or UEFI.

    ``info`` is the runtime info collected so far (its ``hoster`` and ``arch`` are set);
    ``facts`` are the host's raw facts (the ``efi`` section tells whether it booted by UEFI).

    Combination: first result, so a hoster plugin that knows better (Arm servers boot UEFI
    only) answers before the generic plugin, which answers last from ``/sys/firmware/efi``.
    Return ``None`` to leave the decision to others.
    """


@hookspec(firstresult=True)
def disk_layout(info: RuntimeInfo, options: LayoutOptions) -> DiskLayout | None:
    """Choose the :class:`~nixremote.core.layout.DiskLayout` to create on the host.

    Combination: first result. The generic plugin answers last with the original installer's
    layout (one disk, encrypted ZFS pool ``rpool``) adapted to ``info.boot_mode`` and to
    ``options`` (a named variant, mirroring, encryption). A hoster plugin answers for its own
    hosts (``info.hoster``) when it knows a better default, e.g. a mirror on dedicated
    servers with two equal disks, and returns ``None`` for anything else.
    """


@hookspec
def host_flake_modules(info: RuntimeInfo) -> list[str] | None:
    """Extra NixOS modules for the host flake generated for ``info``.

    Combination: list; every plugin's modules are added, in plugin order. Each item is a Nix
    expression evaluated inside the host flake's ``modules = [ ... ]`` list with ``nixremote``
    (this project's flake) in scope, e.g. ``"nixremote.nixosModules.hetzner"``. Return ``None``
    or an empty list when the host is not yours.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands or command groups to the ``nixremote`` command line.

    ``cli`` is a :class:`click.Group`; add to it with ``@cli.command()`` or ``@cli.group()``.

    Combination: every plugin is called once with the root group. Import heavy libraries inside
    the commands, not at module level, so that ``nixremote --version`` stays fast.
    """
