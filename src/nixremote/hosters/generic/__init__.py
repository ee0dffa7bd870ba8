"""The generic hoster: any Linux host that lets root in over SSH.

It answers every hook last (``trylast``), so that hoster plugins can refine or replace its
answers; see :mod:`nixremote.core.hookspecs`.
"""

from __future__ import annotations

from .plugin import HOSTER, boot_mode, collect_runtime_info, detect_hoster, disk_layout

__all__ = ["HOSTER", "boot_mode", "collect_runtime_info", "detect_hoster", "disk_layout"]
