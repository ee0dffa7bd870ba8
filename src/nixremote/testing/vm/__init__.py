"""The QEMU test machine: a Debian rescue VM and a small test installer bundle.

``build()`` produces (and caches) the kernel, the rescue initramfs and the test installer bundle
from Debian bookworm packages; ``RescueVm`` boots the rescue system under QEMU (TCG) with a host
key generated on the controller side, reachable over SSH on a loopback port. See
``tests/vm/README.md`` for the layout and ``nixremote vm`` for the command line.
"""

from __future__ import annotations

from ...controller import cpio
from .builder import VmArtifacts, build, default_cache_dir, load_cached
from .console import sampled_argv
from .keys import KeyPair, generate_key, handoff_archive, known_hosts_line
from .machine import RescueVm
from .scripts import INSTALLER_READY_MARKER, NIXOS_INSTALL_RECORD, RESCUE_READY_MARKER

__all__ = [
    "INSTALLER_READY_MARKER",
    "NIXOS_INSTALL_RECORD",
    "RESCUE_READY_MARKER",
    "KeyPair",
    "RescueVm",
    "VmArtifacts",
    "build",
    "cpio",
    "default_cache_dir",
    "generate_key",
    "handoff_archive",
    "known_hosts_line",
    "load_cached",
    "sampled_argv",
]
