"""nixremote plugin for a fictional hoster, "OVH-like" (a test distribution of nixremote's).

Written from nixremote's plugin guide and its public API alone: everything comes from
``nixremote`` and ``nixremote.plugin``. It takes part everywhere a plugin can:

- detection from the DMI vendor, and the hoster name ``ovh-like`` (``HOSTER``);
- settings (``plugin_settings``): ``ovh-like.rack``, ``ovh-like.mirror``, ``ovh-like.uefi``,
  ``ovh-like.api_token`` (a secret), ``ovh-like.inventory``;
- the runtime info refined (a wrapper): resolvers, the rack, the disk to format when the rescue
  system's ``/`` is on no disk, the server id read over the transport when there is one;
- the boot mode (``ovh-like.uefi``), a mirror of two equal disks (unless ``--layout`` names one);
- the host flake: an expression using the settings, a ``.nix`` file shipped as package data, a
  flake input (``ovhtools``);
- lifecycle hooks that record the install in an inventory (a JSON-lines file);
- a command, ``nixremote ovh-like racks``.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path

import attrs
import click

from nixremote.plugin import (
    BootMode,
    DiskLayout,
    Facts,
    FlakeFile,
    FlakeInput,
    HosterGuess,
    HostFlakeItem,
    HostKey,
    LayoutOptions,
    Plan,
    Reporter,
    RuntimeInfo,
    Setting,
    Transport,
    default_layout,
    hookimpl,
    nix_string,
    report,
)

HOSTER = "ovh-like"
"""The hoster this plugin claims (``--hoster ovh-like``, ``info.hoster``)."""

VENDOR = "OVH-like SAS"
NAMESERVERS = ("192.0.2.53", "2001:db8:53::53")
SERVER_ID_FILE = "/etc/ovh-like/server-id"
RACKS = ("A12", "B07", "C03")

RACK = Setting(key="ovh-like.rack", type=str, help="The rack the server stands in.")
MIRROR = Setting(
    key="ovh-like.mirror", type=bool, default=True, help="Mirror two equal disks by default."
)
UEFI = Setting(
    key="ovh-like.uefi", type=bool, help="Boot by UEFI (true) or BIOS (false); default: firmware."
)
API_TOKEN = Setting(key="ovh-like.api_token", type=str, help="Token of the hoster's API.")
INVENTORY = Setting(
    key="ovh-like.inventory", type=str, help="JSON-lines file the install is recorded in."
)


@hookimpl
def plugin_settings() -> list[Setting[str] | Setting[bool]]:
    return [RACK, MIRROR, UEFI, API_TOKEN, INVENTORY]


@hookimpl
def detect_hoster(facts: Facts) -> HosterGuess | None:
    vendor = (facts.get("dmi-sys-vendor") or "").strip()
    if vendor == VENDOR:
        return HosterGuess(name=HOSTER, confidence=50, reason=f"DMI vendor {vendor!r}")
    return None


@hookimpl(wrapper=True)
def collect_runtime_info(
    facts: Facts, hoster: str, transport: Transport | None, settings: Mapping[str, str]
) -> Generator[None, RuntimeInfo | None, RuntimeInfo | None]:
    info = yield
    if info is None or hoster != HOSTER:
        return info
    details = dict(info.hoster_details)
    rack = RACK.get(settings)
    if rack:
        details["rack"] = rack
    if transport is not None:
        result = transport.run(["cat", SERVER_ID_FILE], check=False, timeout=10)
        if result.ok and result.text.strip():
            details["serverId"] = result.text.strip()
    disk = info.disk_to_format
    if not disk:  # the rescue system runs from memory: the first fixed disk is the one
        fixed = sorted(d.stable_path for d in info.disks if not d.removable)
        disk = fixed[0] if fixed else ""
    return attrs.evolve(
        info,
        nameservers=NAMESERVERS,
        disk_to_format=disk,
        hoster_details=tuple(sorted(details.items())),
    )


@hookimpl
def boot_mode(info: RuntimeInfo, settings: Mapping[str, str]) -> BootMode | None:
    if info.hoster != HOSTER:
        return None
    uefi = UEFI.get(settings)
    if uefi is None:
        return None  # the firmware flag decides (the generic plugin)
    return BootMode.UEFI if uefi else BootMode.BIOS


@hookimpl
def disk_layout(
    info: RuntimeInfo, options: LayoutOptions, settings: Mapping[str, str]
) -> DiskLayout | None:
    """Without ``--layout``: a mirror of two equal disks (``ovh-like.mirror``), else the default
    layout named as ours. An explicit ``--layout`` (``default`` too) is left to the others."""
    if info.hoster != HOSTER or options.variant is not None or not info.disk_to_format:
        return None
    main = info.disk(info.disk_to_format)
    same = [
        d
        for d in info.disks
        if main is not None
        and d is not main
        and not d.removable
        and d.size_bytes == main.size_bytes
    ]
    if MIRROR.get(settings, True) and len(same) == 1 and not options.disks:
        mirror = attrs.evolve(options, variant="mirror", disks=(same[0].stable_path,))
        return attrs.evolve(default_layout(info, mirror), name="ovh-like-mirror")
    return attrs.evolve(default_layout(info, options), name="ovh-like-single")


@hookimpl
def host_flake_modules(
    info: RuntimeInfo, layout: DiskLayout, settings: Mapping[str, str]
) -> list[HostFlakeItem] | None:
    if info.hoster != HOSTER:
        return None
    rack = RACK.get(settings, "unknown")
    return [
        FlakeFile.from_package(__name__, "nix/ovh-like.nix"),
        f"{{ ovhLike.rack = {nix_string(rack)}; }}",
        f'{{ environment.etc."ovh-like/layout".text = {nix_string(layout.name)}; }}',
        FlakeInput(name="ovhtools", url="github:example/ovh-tools", follows_nixpkgs=True),
        "inputs.ovhtools.nixosModules.default",
    ]


def _record(settings: Mapping[str, str], event: str, **data: object) -> None:
    path = INVENTORY.get(settings)
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(json.dumps({"event": event, **data}, sort_keys=True) + "\n")


@hookimpl
def before_kexec(
    plan: Plan, transport: Transport, settings: Mapping[str, str], reporter: Reporter
) -> None:
    if plan.runtime_info.hoster != HOSTER:
        return
    _record(settings, "before_kexec", host=plan.identity.host_name, target=transport.host)
    report(
        reporter, "step", f"ovh-like: {plan.identity.host_name} is about to kexec", phase="kexec"
    )


@hookimpl
def after_install(
    plan: Plan, transport: Transport, settings: Mapping[str, str], reporter: Reporter
) -> None:
    if plan.runtime_info.hoster != HOSTER:
        return
    _record(settings, "after_install", host=plan.identity.host_name, target=transport.host)
    report(reporter, "step", "ovh-like: boot from disk from now on", phase="install")


@hookimpl
def after_verify(
    plan: Plan, host_keys: Sequence[HostKey], settings: Mapping[str, str], reporter: Reporter
) -> None:
    if plan.runtime_info.hoster != HOSTER:
        return
    _record(
        settings,
        "after_verify",
        host=plan.identity.host_name,
        keys=sorted(k.fingerprint for k in host_keys),
    )
    report(reporter, "step", f"ovh-like: {plan.identity.host_name} registered", phase="verify")


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.group(HOSTER)
    def group() -> None:
        """OVH-like helpers (from the nixremote-ovhlike plugin)."""

    @group.command("racks")
    def racks() -> None:
        """List the racks."""
        for rack in RACKS:
            click.echo(rack)
