"""The Hetzner hoster plugin: Hetzner Cloud (and dedicated servers), loaded like any plugin.

Detection from the DMI vendor, runtime info refined with Hetzner's network guarantees and its
metadata service, the boot mode of Arm servers, a mirrored pool on dedicated servers with two
disks, and provisioning through the official ``hcloud`` library (``nixremote hetzner ...``, a
built-in command of :mod:`nixremote.cli.main`, loaded on use).
"""

from __future__ import annotations

from .plugin import (
    HOSTER,
    before_kexec,
    boot_mode,
    collect_runtime_info,
    detect_hoster,
    disk_layout,
    host_flake_modules,
    plugin_settings,
)

__all__ = [
    "HOSTER",
    "before_kexec",
    "boot_mode",
    "collect_runtime_info",
    "detect_hoster",
    "disk_layout",
    "host_flake_modules",
    "plugin_settings",
]
