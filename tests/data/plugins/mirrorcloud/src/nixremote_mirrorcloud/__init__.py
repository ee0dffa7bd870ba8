"""A third-party plugin (a test distribution): hosts with exactly two equal disks get a mirror of
both, and every host flake gets a module of this plugin's. Written against the public API."""

from __future__ import annotations

import attrs

from nixremote import DiskLayout, LayoutOptions, RuntimeInfo, default_layout, hookimpl

MODULE = '{ environment.etc."mirrorcloud".text = "installed by the mirrorcloud plugin"; }'


@hookimpl
def disk_layout(info: RuntimeInfo, options: LayoutOptions) -> DiskLayout | None:
    if options.variant is not None or options.disks:
        return None
    disks = [d for d in info.disks if not d.removable]
    if len(disks) != 2 or disks[0].size_bytes != disks[1].size_bytes:
        return None
    # the disk to format first (when one was collected or named), then the other one
    disks.sort(key=lambda d: d.stable_path != info.disk_to_format)
    first, second = (d.stable_path for d in disks)
    mirror = attrs.evolve(options, variant="mirror", disks=(second,))
    layout = default_layout(attrs.evolve(info, disk_to_format=first), mirror)
    return attrs.evolve(layout, name="mirrorcloud-mirror")


@hookimpl
def host_flake_modules(info: RuntimeInfo) -> list[str]:
    return [MODULE]
