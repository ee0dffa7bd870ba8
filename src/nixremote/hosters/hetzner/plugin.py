"""Hook implementations of the Hetzner hoster.

Detection looks at the DMI vendor only. Once this hoster is chosen, :func:`collect_runtime_info`
asks the metadata service *from the target* (over the same SSH transport, one more exec), then
applies :func:`~nixremote.hosters.hetzner.refine.refine`. The metadata URL is the setting
``hetzner.metadata_url`` (``--set`` or the config file) or ``$NIXREMOTE_HETZNER_METADATA_URL``
(tests point it at a loopback fake); a host that does not answer is treated as a dedicated
server. Before the kexec (:func:`before_kexec`) it tells where the server's console is: if the
host does not come back, that is where to look.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING

from ...core.errors import NixremoteError
from ...core.facts import Facts
from ...core.hookspecs import hookimpl
from ...core.models import BootMode, HosterGuess, RuntimeInfo
from ...core.progress import Reporter, report
from ...core.settings import Setting
from .metadata import METADATA_URL, HetznerMetadata, metadata_url, parse_metadata

if TYPE_CHECKING:
    from ...core.layout import DiskLayout, LayoutOptions
    from ...core.plan import Plan
    from ...core.transport import Transport

log = logging.getLogger(__name__)

HOSTER = "hetzner"
METADATA_URL_ENV = "NIXREMOTE_HETZNER_METADATA_URL"
_SEPARATOR = "----nixremote-private-networks----"
CLOUD_CONSOLE = "https://console.hetzner.cloud"
ROBOT_CONSOLE = "https://robot.hetzner.com/server"

METADATA_URL_SETTING = Setting(
    key="hetzner.metadata_url",
    type=str,
    help=f"Base URL of the metadata service, asked from the host (default {METADATA_URL}).",
)

# Fetch the metadata document and the private networks in one exec, with whichever HTTP client
# the host has (a rescue system has curl; busybox has wget).
_FETCH = r"""
fetch() {
  if command -v curl >/dev/null 2>&1; then curl -fsS --max-time 5 "$1"
  elif command -v wget >/dev/null 2>&1; then wget -q -T 5 -O - "$1"
  else echo "nixremote: neither curl nor wget" >&2; return 127; fi
}
fetch "$1" || exit $?
printf '\n%s\n' "$2"
fetch "$1/private-networks" || true
"""


@hookimpl
def plugin_settings() -> list[Setting[str]]:
    return [METADATA_URL_SETTING]


@hookimpl
def detect_hoster(facts: Facts) -> HosterGuess | None:
    vendor = (facts.get("dmi-sys-vendor") or "").strip()
    if vendor.lower().startswith("hetzner"):
        return HosterGuess(name=HOSTER, confidence=50, reason=f"DMI vendor {vendor!r}")
    return None


def metadata_base(settings: Mapping[str, str]) -> str:
    """The metadata service's base URL: the setting, the environment, or Hetzner's."""
    return METADATA_URL_SETTING.get(settings) or os.environ.get(METADATA_URL_ENV) or METADATA_URL


def fetch_metadata(transport: Transport, url: str) -> HetznerMetadata | None:
    """The metadata as the target sees it, or ``None`` when the service does not answer."""
    result = transport.run(["sh", "-c", _FETCH, "sh", url, _SEPARATOR], check=False, timeout=30)
    if not result.ok:
        log.warning("Hetzner metadata service %s did not answer: %s", url, result.tail(2))
        return None
    text = result.text
    document, _, private = text.partition(f"\n{_SEPARATOR}\n")
    try:
        return parse_metadata(document, private_networks=private if private.strip() else None)
    except NixremoteError as exc:
        log.warning("Hetzner metadata from %s is unreadable: %s", url, exc)
        return None


@hookimpl(wrapper=True)
def collect_runtime_info(
    facts: Facts, hoster: str, transport: Transport | None, settings: Mapping[str, str]
) -> Generator[None, RuntimeInfo | None, RuntimeInfo | None]:
    info = yield
    if info is None or hoster != HOSTER:
        return info
    from .refine import refine

    if transport is None:
        return refine(info, None)
    return refine(info, fetch_metadata(transport, metadata_url(metadata_base(settings))))


@hookimpl
def boot_mode(info: RuntimeInfo, facts: Facts) -> BootMode | None:
    """Arm (CAX) servers boot UEFI only; x86 servers are read from /sys/firmware/efi."""
    if info.hoster == HOSTER and info.arch == "aarch64":
        return BootMode.UEFI
    return None


@hookimpl
def disk_layout(info: RuntimeInfo, options: LayoutOptions) -> DiskLayout | None:
    """Dedicated servers with exactly two disks of equal size get a mirror of both.

    Cloud servers have one local disk (volumes are not boot disks), so the generic default
    applies; so does any explicit ``--layout`` (``--layout default`` included).
    """
    if info.hoster != HOSTER or options.variant is not None or options.disks:
        return None
    if info.detail("network") != "dedicated":
        return None
    main = info.disk(info.disk_to_format)
    if main is None or not main.size_bytes:
        return None
    same = [
        d
        for d in info.disks
        if d is not main and not d.removable and d.size_bytes == main.size_bytes
    ]
    if len(same) != 1:
        return None
    import attrs

    from ...core.layout import default_layout

    return attrs.evolve(
        default_layout(info, attrs.evolve(options, variant="mirror", disks=(same[0].stable_path,))),
        name="hetzner-dedicated-mirror",
    )


@hookimpl
def host_flake_modules(info: RuntimeInfo) -> list[str] | None:
    if info.hoster != HOSTER:
        return None
    return ["nixremote.nixosModules.hetzner"]


@hookimpl
def before_kexec(plan: Plan, reporter: Reporter) -> None:
    """Say where the server's console is, right before the host is taken over: if the kexec or
    the installed system does not come back on the network, the console shows why."""
    info = plan.runtime_info
    if info.hoster != HOSTER:
        return
    if info.detail("network") == "cloud":
        name = info.detail("serverName") or info.host_name
        server = f"server {name}" + (
            f" (id {info.detail('serverId')})" if info.detail("serverId") else ""
        )
        where = f"{CLOUD_CONSOLE}: {server}, Console"
    else:
        where = f"{ROBOT_CONSOLE} (KVM console or rescue system for {info.host_name})"
    report(
        reporter,
        "step",
        f"if {info.host_name} does not come back, its console is at {where}",
        phase="kexec",
        data={"console": CLOUD_CONSOLE if info.detail("network") == "cloud" else ROBOT_CONSOLE},
    )
