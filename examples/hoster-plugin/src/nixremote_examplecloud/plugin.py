"""Hook implementations for ExampleCloud.

nixremote loads this module through the entry point ``examplecloud`` in the group
``nixremote`` (see ``pyproject.toml``). Every function marked ``@hookimpl`` implements the hook
of the same name from ``nixremote.core.hookspecs``; a misspelt name is refused when nixremote
loads the plugin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING

import attrs

from nixremote.plugin import (
    BootMode,
    DiskLayout,
    Facts,
    FlakeFile,
    HosterGuess,
    HostFlakeItem,
    Route,
    RuntimeInfo,
    Setting,
    Transport,
    hookimpl,
)

if TYPE_CHECKING:
    import click

log = logging.getLogger(__name__)

HOSTER = "examplecloud"
"""The hoster name this plugin claims (``--hoster examplecloud``; ``info.hoster``). nixremote
reads this module attribute: ``--hoster examplecloud`` works even where detection did not fire,
and ``nixremote plugins`` shows it."""

GATEWAY4 = "198.51.100.1"
GATEWAY6 = "fe80::1"
NAMESERVERS = ("198.51.100.53", "2001:db8:53::53")
SERVER_ID_FILE = "/run/examplecloud/server-id"
REGIONS = {"exa1": "Example City", "exb1": "Sample Town"}

SERVER_ID = Setting(
    key=f"{HOSTER}.server_id_file",
    type=str,
    default=SERVER_ID_FILE,
    help="Where the server id is on the host.",
)
"""A setting: ``--set examplecloud.server_id_file=PATH`` or ``[plugins.examplecloud]`` in
``~/.config/nixremote/config.toml``."""


@hookimpl
def plugin_settings() -> list[Setting[str]]:
    """Declare the settings this plugin reads (``nixremote plugins --settings`` lists them)."""
    return [SERVER_ID]


@hookimpl
def detect_hoster(facts: Facts) -> HosterGuess | None:
    """Claim hosts whose DMI vendor is ExampleCloud; stay silent for every other host."""
    vendor = (facts.get("dmi-sys-vendor") or "").strip()
    if vendor == "ExampleCloud":
        return HosterGuess(name=HOSTER, confidence=50, reason=f"DMI vendor {vendor!r}")
    return None


@hookimpl(wrapper=True)
def collect_runtime_info(
    facts: Facts,
    hoster: str,
    transport: Transport | None,
    settings: Mapping[str, str],
) -> Generator[None, RuntimeInfo | None, RuntimeInfo | None]:
    """Refine the generic runtime info with what ExampleCloud guarantees.

    A wrapper: ``yield`` hands over to the other implementations (in the end the generic
    plugin, which builds the base from the facts) and receives their result; this returns an
    evolved copy for ExampleCloud hosts and the result unchanged for everything else.
    """
    info = yield
    if info is None or hoster != HOSTER:
        return info
    routes = tuple(_refine_route(r) for r in info.routes)
    details = dict(info.hoster_details)
    server_id = _server_id(transport, settings)
    if server_id:
        details["serverId"] = server_id
    return attrs.evolve(
        info,
        routes=routes,
        nameservers=NAMESERVERS,
        hoster_details=tuple(sorted(details.items())),
    )


def _refine_route(route: Route) -> Route:
    # ExampleCloud's IPv4 gateway is outside the /32, reachable on the link only.
    if route.family == 4 and route.is_default and route.gateway == GATEWAY4:
        return attrs.evolve(route, on_link=True)
    return route


def _server_id(transport: Transport | None, settings: Mapping[str, str]) -> str | None:
    """The server id from the host itself (``None`` when collecting offline)."""
    if transport is None:
        return None
    path = SERVER_ID.get(settings, SERVER_ID_FILE)
    result = transport.run(["cat", path], check=False, timeout=10)
    if not result.ok:
        log.warning("%s: no ExampleCloud server id at %s", transport.host, path)
        return None
    return result.text.strip() or None


@hookimpl
def boot_mode(info: RuntimeInfo, facts: Facts) -> BootMode | None:
    """ExampleCloud boots every server with UEFI; other hosts are left to other plugins."""
    if info.hoster == HOSTER:
        return BootMode.UEFI
    return None


@hookimpl
def host_flake_modules(info: RuntimeInfo, layout: DiskLayout) -> list[HostFlakeItem] | None:
    """ExampleCloud hosts get the module this package ships (``nix/examplecloud.nix``, package
    data), copied into the host flake and imported; other hosts get nothing from us."""
    if info.hoster != HOSTER:
        return None
    return [FlakeFile.from_package("nixremote_examplecloud", "nix/examplecloud.nix")]


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``nixremote examplecloud regions``."""
    import click

    @cli.group(HOSTER)
    def group() -> None:
        """ExampleCloud helpers (from the nixremote-examplecloud plugin)."""

    @group.command("regions")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    def regions(as_json: bool) -> None:
        """List ExampleCloud's regions."""
        if as_json:
            click.echo(json.dumps(REGIONS, indent=2, sort_keys=True))
            return
        for code, city in sorted(REGIONS.items()):
            click.echo(f"{code}  {city}")
