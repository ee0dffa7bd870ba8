"""What a person reads before approving: runtime info and plans as lines of text.

Pure functions; the CLI prints them (escaped: the values came from the target) and the installer
prints them on its console.
"""

from __future__ import annotations

from .flakelock import NIXREMOTE_DEFAULT_REF, lockable
from .models import RuntimeInfo
from .plan import Plan, trusted_keys


def summary_lines(info: RuntimeInfo) -> list[str]:
    """What the user confirms before the disk is wiped: host, disk, network, boot mode."""
    lines = [f"host name:   {info.host_name} (host id {info.host_id}, hoster {info.hoster})"]
    disk = info.disk(info.disk_to_format)
    detail = ""
    if disk is not None:
        bits = []
        if disk.size_bytes:
            bits.append(f"{disk.size_bytes / 1024**3:.1f} GiB")
        if disk.model:
            bits.append(disk.model)
        if disk.path != info.disk_to_format:
            bits.append(disk.path)
        detail = f" ({', '.join(bits)})" if bits else ""
    lines.append(f"disk:        {info.disk_to_format}{detail}  <- will be WIPED")
    for iface in info.interfaces:
        addrs = [f"{a.address}/{a.prefix_length}" for a in (*iface.ipv4, *iface.global_ipv6)]
        mac = f" {iface.mac}" if iface.mac else ""
        lines.append(f"interface:   {iface.stable_name}{mac} {' '.join(addrs)}".rstrip())
    for family in (4, 6):
        gateway = info.default_gateway(family)
        if gateway:
            lines.append(f"gateway v{family}:  {gateway}")
    if info.nameservers:
        lines.append(f"nameservers: {' '.join(info.nameservers)}")
    lines.append(f"boot mode:   {info.boot_mode.value}")
    lines.append(f"ssh keys:    {len(info.root_authorized_keys)} authorized for root")
    return lines


def runtime_info_lines(info: RuntimeInfo) -> list[str]:
    """Every fact of a runtime info, one a line (``nixremote runtime-info check``)."""
    lines = [
        f"host      {info.host_name} (host id {info.host_id}, hoster {info.hoster})",
        f"system    {info.arch or 'unknown arch'}, "
        f"{_gib(info.memory_bytes)} memory, boot {info.boot_mode.value}",
        f"disk      {info.disk_to_format}",
    ]
    for disk in info.disks:
        size = _gib(disk.size_bytes)
        lines.append(f"  disk    {disk.stable_path} ({disk.path}, {size}, {disk.model or '?'})")
    for iface in info.interfaces:
        mark = " (primary)" if iface is info.primary else ""
        names = iface.name + (
            f" -> {iface.predictable_name}"
            if iface.predictable_name and iface.predictable_name != iface.name
            else ""
        )
        lines.append(f"nic       {names} {iface.mac or '?'} {iface.driver or '?'}{mark}")
        for addr in (*iface.ipv4, *iface.ipv6):
            lines.append(
                f"  addr    {addr.address}/{addr.prefix_length}"
                f"{' (dynamic)' if addr.dynamic else ''}"
            )
    for route in info.routes:
        via = f" via {route.gateway}" if route.gateway else ""
        dev = f" dev {route.device}" if route.device else ""
        lines.append(f"route     {route.destination}{via}{dev}{' onlink' if route.on_link else ''}")
    if info.nameservers:
        lines.append(f"dns       {', '.join(info.nameservers)}")
    lines.append(f"keys      {len(info.root_authorized_keys)} authorized key(s) for root")
    return lines


def _gib(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**30:.1f} GiB"


def _size(value: int | None) -> str:
    return "size unknown" if value is None else f"{value / 2**30:.1f} GiB"


MAX_TREE_LINES = 40
"""The most entries of a copied tree the summary names one by one."""


def extra_files_lines(plan: Plan) -> list[str]:
    """The ``--extra-files`` tree: where it goes, then each entry with its mode and owner."""
    tree = plan.extra_files
    if tree is None:
        return []
    lines = [
        f"extra:     {len(tree.entries)} entries ({tree.total_bytes} bytes) from {tree.source} "
        f"into {tree.destination}"
    ]
    for e in tree.entries[:MAX_TREE_LINES]:
        what = {"dir": "/", "file": f" ({e.size} bytes)", "symlink": f" -> {e.target}"}[e.kind]
        lines.append(f"  {e.mode:04o} {e.uid}:{e.gid} {tree.destination}/{e.path}{what}")
    if len(tree.entries) > MAX_TREE_LINES:
        lines.append(f"  ... and {len(tree.entries) - MAX_TREE_LINES} more")
    return lines


def user_flake_lines(plan: Plan) -> list[str]:
    """The user's flake (``--flake REF#NAME``): what is built and how it reaches the installer."""
    flake = plan.user_flake
    if flake is None:
        return []
    if flake.tree is None:
        return [f"flake:     {flake.ref}#{flake.name} (fetched by the installer; not copied)"]
    tree = flake.tree
    where = (
        f"runtime info written to {flake.runtime_info_path}"
        if flake.runtime_info_path
        else "no runtime-info.json written"
    )
    return [
        f"flake:     {flake.ref}#{flake.name} (copied: {len(tree.entries)} entries, "
        f"{tree.total_bytes} bytes, into {tree.destination}; {where})"
    ]


def bundle_lines(plan: Plan) -> list[str]:
    """Which way the kexec bundle travels: uploaded from here, or fetched by the target."""
    travel = plan.bundle
    if travel is None:
        return []
    if travel.how == "url":
        lines = [f"bundle:    fetched by the target itself (from {travel.source}'s URLs)"]
        lines += [
            f"  {f.name} ({f.size} bytes) from {f.url}, sha256 {f.sha256}" for f in travel.files
        ]
        return lines
    sizes = ", ".join(f"{f.name} ({f.size} bytes)" for f in travel.files)
    return [f"bundle:    uploaded from this machine: {travel.source}: {sizes}"]


def plan_lines(plan: Plan) -> list[str]:
    """A plan as a person approves it at a glance: the host, each disk that will be wiped, the
    pool and datasets, the boot mode, the keys the installed system will trust, the plugins."""
    info = plan.runtime_info
    ident = plan.identity
    lines = [f"host:      {ident.host_name} ({plan.target}, hoster {info.hoster})"]
    for iface in info.interfaces:
        addrs = [f"{a.address}/{a.prefix_length}" for a in (*iface.ipv4, *iface.global_ipv6)]
        mac = iface.mac or "no MAC"
        lines.append(f"nic:       {iface.stable_name} {mac} {' '.join(addrs)}".rstrip())
    for disk in ident.disks:
        facts = [
            _size(disk.size_bytes),
            disk.model or "model unknown",
            f"serial {disk.serial}" if disk.serial else "no serial",
        ]
        lines.append(f"WIPE:      {disk.path} ({disk.device}, {', '.join(facts)})")
    layout = plan.layout
    pool = layout.pool
    kind = f"{pool.vdev} of {len(layout.disks)}" if pool.vdev else "single disk"
    enc = "encrypted, passphrase asked at boot" if pool.encrypted else "NOT encrypted"
    lines.append(f"pool:      {pool.name} ({kind}, {enc}); layout {layout.name}")
    for ds in layout.datasets:
        snaps = "".join(f" @{s}" for s in ds.snapshots)
        lines.append(f"  dataset  {pool.name}/{ds.name} -> {ds.mountpoint or '-'}{snaps}")
    lines.append(f"boot:      {layout.boot_mode.value} (the host booted {info.boot_mode.value})")
    for key in trusted_keys(plan):
        comment = f" {key.comment}" if key.comment else ""
        lines.append(f"trust:     {key.type} {key.fingerprint}{comment} ({key.origin})")
    if not plan.authorized_keys:
        lines.append("trust:     NO SSH KEY: nobody could log in to the installed system")
    flake = plan.host_flake
    for mod in flake.extra_modules:
        lines.append(f"module:    {mod}")
    for file in flake.files:
        lines.append(f"file:      {file.path}{' (module)' if file.module else ''}")
    locked = flake.nixremote_flake in (None, NIXREMOTE_DEFAULT_REF)
    carried = {s.name for s in flake.sources} if locked else set()
    for item in flake.inputs:
        pinned = item.name in carried and lockable(item.url)
        how = "pinned to the installer's copy" if pinned else "fetched while installing"
        lines.append(f"input:     {item.name} = {item.url} ({how})")
    for name, value in plan.settings:
        lines.append(f"setting:   {name} = {value}")
    lines.extend(extra_files_lines(plan))
    lines.extend(user_flake_lines(plan))
    lines.extend(bundle_lines(plan))
    plugins = ", ".join(f"{p.name} {p.version}" if p.version else p.name for p in plan.plugins)
    lines.append(f"decided:   {plugins or 'built-in defaults only'} ({plan.created})")
    return lines
