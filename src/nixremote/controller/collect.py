"""Collect: run the probe on a host in one exec and build its :class:`RuntimeInfo`.

:func:`collect` is the pipeline's first stage: one exec channel runs the probe
(:mod:`nixremote.controller.probe`), the plugins detect the hoster and build the runtime info
(``detect_hoster``, ``collect_runtime_info``, then ``boot_mode``). :func:`collect_from_facts`
does the same for saved facts, with no host (``nixremote info --from-facts``).
:func:`runtime_info_from_facts` is the generic plugin's builder, pure.

Rules the builder follows:

- **interfaces**: every link of ``ip -j addr`` except loopback, with MAC, driver (from
  ``/sys/class/net/*/device/driver``, else the link kind such as ``veth``), udev's predictable
  name and all addresses except host-scope ones.
- **primary interface**: the device of the IPv4 default route with the lowest metric, else of
  the IPv6 default route, else the first interface with a global address.
- **routes**: the main table's unicast routes of both families, without the prefix routes the
  kernel derives from addresses (``proto kernel``, or, where ip prints no protocol, a route
  without gateway to exactly an address's prefix on its device, and ``fe80::/64``); a gateway
  outside every prefix of its device is marked on-link.
- **nameservers**: ``/etc/resolv.conf``; when that names only a local stub (127.0.0.53),
  systemd-resolved's upstream servers.
- **disk to format**: ``settings["disk"]`` when given (a kernel name, ``/dev`` path or by-id
  path of a disk of the host; it is reported by its by-id path); otherwise the disk holding
  ``/`` (as the original installer did); otherwise the only disk when there is exactly one;
  otherwise ``""`` (unknown: the install refuses to go on and asks for ``--disk``; collect warns
  about it when no plugin chose a disk either). A disk is named by its by-id path when it has
  one, else its kernel path.
- **host id** (ZFS ``networking.hostId``): ``settings["host_id"]`` when given; otherwise the
  first 8 hex digits of the SHA-256 of the primary interface's MAC (lowercase,
  colon-separated, e.g. ``sha256("96:00:00:12:34:56")``), so that collecting again from a
  rescue system or the installed system gives the same id; without a MAC, of
  ``/etc/machine-id``; without either, of the host name.
- **host name**: the short name (first label) of the kernel host name.
- **root's keys**: the keys of root's ``authorized_keys``, without their options (a forced
  ``command=`` from a cloud image would lock root out of the installed system): each removal is
  logged as a warning naming the options; lines that are not keys are left out, with a warning.
- Every value is validated by the models (:mod:`nixremote.core.validate`): the facts come from a
  machine that may be compromised. A by-id link that is not a device path nixremote accepts is
  left out (the disk keeps its kernel path); any other refused value fails the collect with
  one line naming it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from ..core.blockdev import BlockDevice, parse_lsblk
from ..core.errors import InvalidInputError, InvalidValueError, PluginError, TransportError
from ..core.facts import Facts
from ..core.models import BootMode, Disk, Interface, Route, RuntimeInfo
from ..core.mounts import root_mount
from ..core.progress import Reporter, report
from ..core.sshkeys import parse_key_line, strip_options
from ..core.validate import disk_path
from . import parsers
from .probe import missing_sections, new_nonce, probe_argv, split_probe_output

if TYPE_CHECKING:
    import pluggy

    from ..core.transport import Transport

log = logging.getLogger(__name__)

DEFAULT_PROBE_TIMEOUT = 60.0
"""Seconds the probe may run on the host before the collect fails."""

_NO_DISK_NAMES = ("zram", "ram", "loop", "nbd", "sr", "fd")


# --- interfaces and routes ------------------------------------------------------------------


def _interfaces(facts: Facts) -> tuple[tuple[Interface, ...], tuple[parsers.Link, ...]]:
    links = parsers.parse_ip_addr(facts.get("ip-addr"))
    nics = parsers.parse_nics(facts.get("nics"))
    out: list[Interface] = []
    if links:
        for link in links:
            if link.is_loopback:
                continue
            nic = nics.get(link.name)
            out.append(
                Interface(
                    name=link.name,
                    mac=link.mac or (nic.mac if nic else None),
                    driver=(nic.driver if nic else None) or link.kind,
                    predictable_name=nic.predictable_name if nic else None,
                    ipv4=link.ipv4,
                    ipv6=link.ipv6,
                )
            )
    else:
        for nic in nics.values():
            if nic.name == "lo" or nic.arp_type == 772:
                continue
            out.append(
                Interface(
                    name=nic.name,
                    mac=nic.mac,
                    driver=nic.driver,
                    predictable_name=nic.predictable_name,
                )
            )
    return tuple(out), links


def _routes(facts: Facts, links: tuple[parsers.Link, ...]) -> tuple[Route, ...]:
    routes = parsers.parse_routes(facts.get("ip-route4"), 4) + parsers.parse_routes(
        facts.get("ip-route6"), 6
    )
    return parsers.mark_on_link(parsers.drop_connected(routes, links), links)


def _primary(interfaces: tuple[Interface, ...], routes: tuple[Route, ...]) -> str | None:
    names = {i.name for i in interfaces}
    for family in (4, 6):
        defaults = [r for r in routes if r.family == family and r.is_default and r.device in names]
        if defaults:
            best = min(defaults, key=lambda r: r.metric if r.metric is not None else 0)
            return best.device
    for iface in interfaces:
        if iface.ipv4 or iface.global_ipv6:
            return iface.name
    return interfaces[0].name if interfaces else None


def _nameservers(facts: Facts) -> tuple[str, ...]:
    servers = parsers.parse_resolv_conf(facts.get("resolv-conf"))
    if all(parsers.is_stub_resolver(s) for s in servers):
        upstream = parsers.parse_resolv_conf(facts.get("resolv-conf-upstream"))
        if upstream:
            return upstream
    return tuple(s for s in servers if not parsers.is_stub_resolver(s))


# --- disks ----------------------------------------------------------------------------------


def _block_devices(facts: Facts) -> tuple[BlockDevice, ...]:
    return parse_lsblk(facts.get("lsblk")) or parsers.parse_sys_block(facts.get("sys-block"))


def _is_candidate(dev: BlockDevice) -> bool:
    return dev.type == "disk" and not dev.name.startswith(_NO_DISK_NAMES) and (dev.size or 0) > 0


def _disks(
    devices: tuple[BlockDevice, ...], by_id: Mapping[str, tuple[str, ...]]
) -> tuple[Disk, ...]:
    out = []
    for dev in devices:
        if not _is_candidate(dev):
            continue
        links = tuple(
            link
            for link in by_id.get(dev.path, ()) or by_id.get(f"/dev/{dev.name}", ())
            if _acceptable_path(link)
        )
        out.append(
            Disk(
                path=dev.path,
                by_id=parsers.best_by_id(links),
                size_bytes=dev.size,
                model=dev.model,
                serial=dev.serial,
                rotational=dev.rotational,
                removable=dev.removable,
            )
        )
    return tuple(out)


def _acceptable_path(link: str) -> bool:
    try:
        disk_path(link)
    except InvalidValueError:
        log.warning("leaving out the by-id link %r: not a device path nixremote accepts", link)
        return False
    return True


def _root_keys(facts: Facts) -> tuple[str, ...]:
    """root's keys without options (each removal, and each line that is no key, logged)."""
    lines = parsers.parse_authorized_keys(facts.get("authorized-keys"))
    clean, stripped = strip_options(lines)
    for item in stripped:
        log.warning(
            "%s: %s", facts.source, item.message(f"key {item.index + 1} of root's authorized_keys")
        )
    keys: list[str] = []
    for line in clean:
        assert isinstance(line, str)
        try:
            parse_key_line(line, options=False)
        except InvalidValueError as exc:
            log.warning("%s: leaving out a line of root's authorized_keys: %s", facts.source, exc)
            continue
        keys.append(line)
    return tuple(keys)


def root_disk(facts: Facts) -> str | None:
    """The kernel path of the whole disk that holds ``/`` (``None`` for tmpfs, overlay, NFS,
    or when the facts do not tell)."""
    root = root_mount(facts.get("root-mount"))
    if root is None:
        return None
    devices = _block_devices(facts)
    by_name = {d.name: d for d in devices}
    node = None
    for dev in devices:
        if root.devno and dev.devno == root.devno:
            node = dev
            break
    if node is None and root.source:
        for dev in devices:
            if root.source in (dev.path, f"/dev/{dev.name}"):
                node = dev
                break
    seen = 0
    while node is not None and node.type != "disk" and seen < 16:
        node = by_name.get(node.parent) if node.parent else None
        seen += 1
    return node.path if node is not None and node.type == "disk" else None


def _resolve_disk(
    wanted: str, disks: tuple[Disk, ...], by_id: Mapping[str, tuple[str, ...]]
) -> str:
    wanted = wanted.strip()
    forms = {wanted, f"/dev/{wanted}", f"/dev/disk/by-id/{wanted}"}
    for disk in disks:
        names = {disk.path, disk.by_id, *by_id.get(disk.path, ())}
        if forms & names:
            return disk.stable_path
    if not disks:
        return wanted  # no disk facts: trust the user
    choices = ", ".join(d.stable_path for d in disks)
    raise InvalidInputError(
        f"disk {wanted!r} is not a disk of this host",
        hint=f"choose one of: {choices}",
    )


def _disk_to_format(
    facts: Facts,
    disks: tuple[Disk, ...],
    by_id: Mapping[str, tuple[str, ...]],
    settings: Mapping[str, str],
) -> str:
    wanted = settings.get("disk")
    if wanted:
        return _resolve_disk(wanted, disks, by_id)
    root = root_disk(facts)
    if root:
        for disk in disks:
            if disk.path == root:
                return disk.stable_path
        return root
    fixed = [d for d in disks if not d.removable]
    if len(fixed) == 1:
        return fixed[0].stable_path
    return ""  # unknown: collect warns, unless a plugin chose one


# --- host id --------------------------------------------------------------------------------


def derive_host_id(*, mac: str | None, machine_id: str | None, host_name: str) -> str:
    """The host id rule (see the module docstring): 8 hex digits of a SHA-256."""
    basis = mac or machine_id or host_name
    return hashlib.sha256(basis.encode()).hexdigest()[:8]


def _host_id(settings: Mapping[str, str], mac: str | None, facts: Facts, name: str) -> str:
    given = settings.get("host_id")
    if given:
        value = given.strip().lower()
        if len(value) != 8 or any(c not in "0123456789abcdef" for c in value):
            raise InvalidInputError(
                f"host id {given!r} is not 8 hex digits", hint="use e.g. 8425e349"
            )
        return value
    return derive_host_id(
        mac=mac, machine_id=parsers.parse_machine_id(facts.get("machine-id")), host_name=name
    )


# --- the builder ----------------------------------------------------------------------------


def runtime_info_from_facts(
    facts: Facts, *, hoster: str = "generic", settings: Mapping[str, str] | None = None
) -> RuntimeInfo:
    """Build the base :class:`RuntimeInfo` from raw facts (pure; the generic plugin's builder).

    ``settings``: ``disk`` (the disk to format), ``host_id``, ``host_name``.
    Raises only :class:`~nixremote.core.errors.NixremoteError` subclasses.
    """
    settings = settings or {}
    interfaces, links = _interfaces(facts)
    routes = _routes(facts, links)
    primary = _primary(interfaces, routes)
    primary_mac = next((i.mac for i in interfaces if i.name == primary), None)
    host_name = (
        settings.get("host_name")
        or parsers.parse_hostname(facts.get("hostname"))
        or parsers.parse_hostname(facts.get("hostname-f"))
        or "nixos"
    )
    by_id = parsers.parse_disk_by_id(facts.get("disk-by-id"))
    disks = _disks(_block_devices(facts), by_id)
    efi = parsers.parse_efi(facts.get("efi"))
    boot = BootMode.UNKNOWN if efi is None else BootMode.UEFI if efi else BootMode.BIOS
    try:
        return RuntimeInfo(
            host_name=host_name,
            host_id=_host_id(settings, primary_mac, facts, host_name),
            disk_to_format=_disk_to_format(facts, disks, by_id, settings),
            root_authorized_keys=_root_keys(facts),
            interfaces=interfaces,
            primary_interface=primary,
            routes=routes,
            nameservers=_nameservers(facts),
            disks=disks,
            arch=parsers.parse_arch(facts.get("uname-m")),
            memory_bytes=parsers.parse_meminfo(facts.get("meminfo")),
            boot_mode=boot,
            hoster=hoster,
        )
    except InvalidValueError as exc:  # a value the installed system must not get
        raise InvalidInputError(
            f"the facts of {facts.source} do not make valid runtime info: {exc.message}",
            hint=exc.hint,
        ) from None
    except (ValueError, TypeError) as exc:  # a validator refused a value: a bug or odd facts
        raise InvalidInputError(
            f"the facts of {facts.source} do not make valid runtime info: {exc}",
            hint="save the facts with --save-facts and report them",
        ) from None


# --- over a transport -----------------------------------------------------------------------


def collect_facts(
    transport: Transport,
    *,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    reporter: Reporter | None = None,
) -> Facts:
    """Run the probe on the host in one exec and split its output into :class:`Facts`."""
    report(reporter, "step", f"probing {transport.host}", phase="collect")
    started = time.monotonic()
    try:
        result = transport.run(probe_argv(new_nonce()), timeout=timeout, check=False)
    except TransportError as exc:
        if "did not finish" not in exc.message:
            raise
        raise TransportError(
            f"the probe on {transport.host} did not finish within {timeout:g} s",
            hint="the host is slow or a command hangs there; raise --timeout",
        ) from None
    text = result.stdout.decode("utf-8", "replace")
    try:
        facts = split_probe_output(text, source=transport.host)
    except InvalidInputError:
        tail = result.tail(3).replace("\n", " | ")
        raise TransportError(
            f"the probe failed on {transport.host} (exit code {result.returncode}): {tail}",
            hint="the host needs a POSIX sh; run with -v to see the probe output",
        ) from None
    uid = parsers.parse_uid(facts.get("uid"))
    if uid not in (0, None):
        report(
            reporter,
            "warning",
            f"the probe ran as uid {uid}, not root: some facts may be missing (use --sudo)",
            phase="collect",
        )
    missing = missing_sections(facts)
    report(
        reporter,
        "done",
        f"probed {transport.host} in {time.monotonic() - started:.2f} s",
        phase="collect",
        data={"missing": ",".join(missing)} if missing else {},
    )
    return facts


def collect(
    transport: Transport,
    pm: pluggy.PluginManager | None = None,
    hoster: str | None = None,
    settings: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    *,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    reporter: Reporter | None = None,
) -> tuple[RuntimeInfo, Facts]:
    """Collect a host's runtime info: the probe in one exec, then the plugins
    (:func:`runtime_info_from_plugins`).

    ``hoster`` names the hoster (else it is detected from the facts); ``settings`` (a mapping or
    pairs) are passed to the hooks (``disk``, ``host_id``, ``<plugin>.<key>``).
    """
    facts = collect_facts(transport, timeout=timeout, reporter=reporter)
    info = runtime_info_from_plugins(
        facts, pm, hoster, settings, transport=transport, reporter=reporter
    )
    return info, facts


def collect_from_facts(
    facts: Facts,
    pm: pluggy.PluginManager | None = None,
    hoster: str | None = None,
    settings: Mapping[str, str] | None = None,
    *,
    reporter: Reporter | None = None,
) -> RuntimeInfo:
    """The runtime info of the host whose facts were saved (``nixremote info --save-facts``,
    read with :func:`~nixremote.controller.captures.load_facts`): exactly what :func:`collect`
    does after the probe, with no host to ask (the hooks get ``transport=None``)."""
    return runtime_info_from_plugins(facts, pm, hoster, settings, reporter=reporter)


def runtime_info_from_plugins(
    facts: Facts,
    pm: pluggy.PluginManager | None = None,
    hoster: str | None = None,
    settings: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    *,
    transport: Transport | None = None,
    reporter: Reporter | None = None,
) -> RuntimeInfo:
    """The hooks in their order: ``detect_hoster`` (or the hoster named), ``collect_runtime_info``
    (the generic plugin builds, wrappers refine), then ``boot_mode`` on the refined result."""
    from ..core.hookcalls import Hooks
    from ..core.plugins import detect_hoster, get_plugin_manager

    settings = dict(settings or {})
    pm = pm if pm is not None else get_plugin_manager()
    guess = detect_hoster(pm, facts, hoster)
    report(
        reporter,
        "step",
        f"hoster: {guess.name} ({guess.reason})",
        phase="collect",
        data={"hoster": guess.name},
    )
    hooks = Hooks(pm)
    info = hooks.collect_runtime_info(
        facts=facts, hoster=guess.name, transport=transport, settings=settings
    )
    if info is None:
        raise PluginError(
            "no plugin built the runtime info", hint="do not disable the generic plugin"
        )
    mode = hooks.boot_mode(info=info, facts=facts, settings=settings)
    if mode is not None and mode != info.boot_mode:
        info = attrs.evolve(info, boot_mode=mode)
    if not info.disk_to_format:
        fixed = [d for d in info.disks if not d.removable]
        report(
            reporter,
            "warning",
            f"cannot tell which disk of {info.host_name} to format: / is not on a disk and "
            f"there are {len(fixed)} disks (name it with --disk)",
            phase="collect",
        )
    return info


def kexec_available(facts: Facts) -> bool | None:
    """Whether the host has a usable ``kexec`` (``None`` when the facts do not tell)."""
    if not facts.has("kexec"):
        return None
    if parsers.parse_kexec(facts.get("kexec")) is None:
        return False
    disabled = (facts.get("kexec-load-disabled") or "").strip()
    return disabled != "1"
