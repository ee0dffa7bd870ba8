"""nixremote: install NixOS onto a remote Linux host over SSH.

The public Python API. Everything here is stable across minor versions; modules under
``nixremote.core``, ``nixremote.controller``, ``nixremote.installers`` and ``nixremote.hosters``
may change. Names load on first use (PEP 562), so ``import nixremote`` costs little. Every name
of :mod:`nixremote.plugin` (what plugin authors use: the types hooks take and return, settings,
the typed hook calls) is exported here too.
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
    "LAYOUTS",
    "REDACTED",
    "SCHEMA_VERSION",
    "BootMode",
    "BundleFile",
    "BundleTravel",
    "CommandResult",
    "Dataset",
    "Disk",
    "DiskLayout",
    "DiskSpec",
    "Event",
    "Facts",
    "FileTree",
    "FlakeFile",
    "FlakeInput",
    "FlakeSource",
    "Hooks",
    "HostFlakeContribution",
    "HostFlakeInputs",
    "HostFlakeItem",
    "HostKey",
    "HosterGuess",
    "IPAddress",
    "Interface",
    "InvalidInputError",
    "LayoutOptions",
    "LocalTransport",
    "NixremoteError",
    "Partition",
    "PartitionRole",
    "Plan",
    "PlanError",
    "PlanOptions",
    "PlannedDisk",
    "PluginError",
    "PluginInfo",
    "PluginManager",
    "PluginRecord",
    "Pool",
    "Reporter",
    "Route",
    "RuntimeInfo",
    "Setting",
    "Step",
    "TargetIdentity",
    "Transport",
    "TreeEntry",
    "UserFlake",
    "__version__",
    "build_layout",
    "check_nix",
    "choose_layout",
    "collect_from_facts",
    "default_layout",
    "detect_hoster",
    "disk_steps",
    "dumps_runtime_info",
    "get_plugin_manager",
    "hookimpl",
    "known_hosters",
    "list_plugins",
    "load_facts",
    "load_plan",
    "load_runtime_info",
    "loads_runtime_info",
    "looks_secret",
    "make_plan",
    "nix_string",
    "render_host_flake",
    "report",
    "runtime_info_from_facts",
    "save_facts",
    "save_plan",
    "save_runtime_info",
    "write_host_flake",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        if name not in __all__:
            raise AttributeError(f"module 'nixremote' has no attribute {name!r}")
        from . import plugin  # the plugin author's names (nixremote.plugin) are ours too

        value = getattr(plugin, name)
    else:
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
    from .plugin import (
        LAYOUTS,
        REDACTED,
        BundleFile,
        BundleTravel,
        CommandResult,
        Event,
        FileTree,
        FlakeFile,
        FlakeInput,
        FlakeSource,
        Hooks,
        HostFlakeContribution,
        HostFlakeInputs,
        HostFlakeItem,
        HostKey,
        InvalidInputError,
        LocalTransport,
        PlanError,
        PlannedDisk,
        PlanOptions,
        PluginError,
        PluginInfo,
        PluginManager,
        PluginRecord,
        Reporter,
        Setting,
        Step,
        TargetIdentity,
        TreeEntry,
        UserFlake,
        check_nix,
        choose_layout,
        collect_from_facts,
        detect_hoster,
        disk_steps,
        known_hosters,
        list_plugins,
        load_facts,
        looks_secret,
        make_plan,
        nix_string,
        render_host_flake,
        report,
        runtime_info_from_facts,
        save_facts,
        write_host_flake,
    )
