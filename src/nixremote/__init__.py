"""nixremote: install NixOS onto a remote Linux host over SSH.

The public Python API. Everything here is stable across minor versions; modules under
``nixremote.core``, ``nixremote.installers`` and ``nixremote.hosters`` may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .core.converter import (
    dumps_runtime_info,
    load_runtime_info,
    loads_runtime_info,
    save_runtime_info,
)
from .core.errors import NixremoteError
from .core.facts import Facts
from .core.hookspecs import hookimpl
from .core.models import (
    SCHEMA_VERSION,
    BootMode,
    Disk,
    HosterGuess,
    Interface,
    IPAddress,
    Route,
    RuntimeInfo,
)
from .core.plugins import get_plugin_manager

__all__ = [
    "SCHEMA_VERSION",
    "BootMode",
    "Disk",
    "Facts",
    "HosterGuess",
    "IPAddress",
    "Interface",
    "NixremoteError",
    "Route",
    "RuntimeInfo",
    "__version__",
    "dumps_runtime_info",
    "get_plugin_manager",
    "hookimpl",
    "load_runtime_info",
    "loads_runtime_info",
    "save_runtime_info",
]
