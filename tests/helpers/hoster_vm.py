"""Helpers of the hoster-mode VM tests: comparing networks across systems, bundle variants."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from nixremote.core.models import RuntimeInfo


def network_by_mac(info: RuntimeInfo) -> dict[str, Any]:
    """What must survive a change of system: per MAC its addresses, the gateway routes by the
    MAC of their device, and which MAC is primary. Interface names are left out on purpose."""
    mac = {i.name: i.mac for i in info.interfaces}
    return {
        "addresses": {
            i.mac: sorted((a.address, a.prefix_length, a.dynamic) for a in (*i.ipv4, *i.ipv6))
            for i in info.interfaces
        },
        "routes": sorted(
            (
                r.family,
                r.destination,
                r.gateway or "",
                mac.get(r.device or "") or "",
                r.on_link,
                r.metric or 0,
            )
            for r in info.routes
            if r.gateway
        ),
        "primary": mac.get(info.primary_interface or ""),
    }


def bundle_with_params(bundle_dir: Path, dest: Path, *params: str) -> Path:
    """A copy of the bundle directory ``bundle_dir`` whose kernel command line has ``params``
    appended. Kernel and initrd are hard links where the file system allows (a bundle refuses
    symlinks out of its directory), copies elsewhere."""
    dest.mkdir(parents=True)
    meta = json.loads((bundle_dir / "bundle.json").read_text())
    for key in ("kernel", "initrd"):
        source = (bundle_dir / meta[key]).resolve()
        try:
            os.link(source, dest / meta[key])
        except OSError:
            shutil.copyfile(source, dest / meta[key])
    meta["kernelParams"] = " ".join((meta["kernelParams"], *params))
    (dest / "bundle.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return dest
