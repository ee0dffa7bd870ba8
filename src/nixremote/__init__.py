"""nixremote: install NixOS onto a remote Linux host over SSH.

The public Python API. Everything here is stable across minor versions; modules under
``nixremote.core``, ``nixremote.controller``, ``nixremote.installers`` and ``nixremote.hosters``
may change. Names load on first use (PEP 562), so ``import nixremote`` costs little.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # runtime info
    "SCHEMA_VERSION": "core.models",
    "BootMode": "core.models",
    "Disk": "core.models",
    "HosterGuess": "core.models",
    "IPAddress": "core.models",
    "Interface": "core.models",
    "Route": "core.models",
    "RuntimeInfo": "core.models",
    "Facts": "core.facts",
    "dumps_runtime_info": "core.converter",
    "load_runtime_info": "core.converter",
    "loads_runtime_info": "core.converter",
    "save_runtime_info": "core.converter",
    # disk layouts and plans
    "DiskLayout": "core.layout",
    "DiskSpec": "core.layout",
    "Partition": "core.layout",
    "PartitionRole": "core.layout",
    "Pool": "core.layout",
    "Dataset": "core.layout",
    "LayoutOptions": "core.layout",
    "build_layout": "core.layout",
    "default_layout": "core.layout",
    "Plan": "core.plan",
    "load_plan": "core.converter",
    "save_plan": "core.converter",
    # plugins and errors
    "NixremoteError": "core.errors",
    "hookimpl": "core.hookspecs",
    "get_plugin_manager": "core.plugins",
    "Transport": "core.transport",
}

__all__ = [
    "SCHEMA_VERSION",
    "BootMode",
    "Dataset",
    "Disk",
    "DiskLayout",
    "DiskSpec",
    "Facts",
    "HosterGuess",
    "IPAddress",
    "Interface",
    "LayoutOptions",
    "NixremoteError",
    "Partition",
    "PartitionRole",
    "Plan",
    "Pool",
    "Route",
    "RuntimeInfo",
    "Transport",
    "__version__",
    "build_layout",
    "default_layout",
    "dumps_runtime_info",
    "get_plugin_manager",
    "hookimpl",
    "load_plan",
    "load_runtime_info",
    "loads_runtime_info",
    "save_plan",
    "save_runtime_info",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nixremote' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .core.converter import (
        dumps_runtime_info,
        load_plan,
        load_runtime_info,
        loads_runtime_info,
        save_plan,
        save_runtime_info,
    )
    from .core.errors import NixremoteError
    from .core.facts import Facts
    from .core.hookspecs import hookimpl
    from .core.layout import (
        Dataset,
        DiskLayout,
        DiskSpec,
        LayoutOptions,
        Partition,
        PartitionRole,
        Pool,
        build_layout,
        default_layout,
    )
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
    from .core.plan import Plan
    from .core.plugins import get_plugin_manager
    from .core.transport import Transport
