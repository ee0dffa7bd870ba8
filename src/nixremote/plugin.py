"""Everything a plugin author needs, in one module: ``from nixremote.plugin import ...``.

Every type a hook takes or returns, the ``hookimpl`` marker, the typed hook calls
(:class:`Hooks`, also ``pm.hooks``), settings (:class:`Setting`), what a plugin adds to a host
flake (:class:`FlakeFile`, :class:`FlakeInput`), disk layouts and their disk plans, plans, and
the functions a plugin's tests use without a host (:func:`load_facts`,
:func:`collect_from_facts`, :func:`make_plan`, :func:`check_nix`). These names are stable API,
like those of :mod:`nixremote` (which exports them too); modules under ``nixremote.core`` and
``nixremote.controller`` may change between minor versions.

Names load on first use (PEP 562): importing this module costs almost nothing, so a plugin that
imports it at module level keeps ``nixremote --help`` fast.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False

EXPORTS: dict[str, str] = {
    # marking hook implementations
    "hookimpl": "core.hookspecs",
    # what the hooks take
    "Facts": "core.facts",
    "RuntimeInfo": "core.models",
    "Interface": "core.models",
    "IPAddress": "core.models",
    "Route": "core.models",
    "Disk": "core.models",
    "BootMode": "core.models",
    "HosterGuess": "core.models",
    "Transport": "core.transport",
    "CommandResult": "core.transport",
    "LocalTransport": "core.transport",
    "Reporter": "core.progress",
    "Event": "core.progress",
    "report": "core.progress",
    "HostKey": "core.hostkeys",
    # settings
    "Setting": "core.settings",
    "REDACTED": "core.settings",
    "looks_secret": "core.settings",
    # disk layouts and disk plans
    "LAYOUTS": "core.layout",
    "DiskLayout": "core.layout",
    "DiskSpec": "core.layout",
    "Partition": "core.layout",
    "PartitionRole": "core.layout",
    "Pool": "core.layout",
    "Dataset": "core.layout",
    "LayoutOptions": "core.layout",
    "build_layout": "core.layout",
    "default_layout": "core.layout",
    "Step": "core.diskplan",
    "disk_steps": "core.diskplan:plan",
    # host flakes
    "FlakeFile": "core.flakeparts",
    "FlakeInput": "core.flakeparts",
    "HostFlakeItem": "core.flakeparts",
    "render_host_flake": "core.hostflake",
    "nix_string": "core.nixtext",
    "write_host_flake": "core.hostflake",
    # plans
    "Plan": "core.plan",
    "PlannedDisk": "core.plan",
    "TargetIdentity": "core.plan",
    "HostFlakeInputs": "core.plan",
    "FlakeSource": "core.plan",
    "PluginRecord": "core.plan",
    "BundleFile": "core.plan",
    "BundleTravel": "core.plan",
    "FileTree": "core.filetree",
    "TreeEntry": "core.filetree",
    "UserFlake": "core.userflake",
    "PlanOptions": "controller.planning",
    "make_plan": "controller.planning",
    "choose_layout": "controller.planning",
    # errors
    "NixremoteError": "core.errors",
    "PluginError": "core.errors",
    "InvalidInputError": "core.errors",
    "PlanError": "core.errors",
    # the plugin manager and the typed hook calls
    "PluginManager": "core.plugins",
    "get_plugin_manager": "core.plugins",
    "list_plugins": "core.plugins",
    "PluginInfo": "core.plugins",
    "detect_hoster": "core.plugins",
    "known_hosters": "core.plugins",
    "Hooks": "core.hookcalls",
    "HostFlakeContribution": "core.hookcalls",
    # testing against saved facts
    "load_facts": "controller.captures",
    "save_facts": "controller.captures",
    "collect_from_facts": "controller.collect",
    "runtime_info_from_facts": "controller.collect",
    "check_nix": "controller.nixcheck",
}
"""Public name -> ``module[:attribute]`` under ``nixremote``."""

__all__ = [
    "LAYOUTS",
    "REDACTED",
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
    "build_layout",
    "check_nix",
    "choose_layout",
    "collect_from_facts",
    "default_layout",
    "detect_hoster",
    "disk_steps",
    "get_plugin_manager",
    "hookimpl",
    "known_hosters",
    "list_plugins",
    "load_facts",
    "looks_secret",
    "make_plan",
    "nix_string",
    "render_host_flake",
    "report",
    "runtime_info_from_facts",
    "save_facts",
    "write_host_flake",
]


def __getattr__(name: str) -> object:
    target = EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'nixremote.plugin' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(f"nixremote.{module}"), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .controller.captures import (
        load_facts,
        save_facts,
    )
    from .controller.collect import (
        collect_from_facts,
        runtime_info_from_facts,
    )
    from .controller.nixcheck import (
        check_nix,
    )
    from .controller.planning import (
        PlanOptions,
        choose_layout,
        make_plan,
    )
    from .core.diskplan import (
        Step,
    )
    from .core.diskplan import (
        plan as disk_steps,
    )
    from .core.errors import (
        InvalidInputError,
        NixremoteError,
        PlanError,
        PluginError,
    )
    from .core.facts import (
        Facts,
    )
    from .core.filetree import FileTree, TreeEntry
    from .core.flakeparts import (
        FlakeFile,
        FlakeInput,
        HostFlakeItem,
    )
    from .core.hookcalls import (
        Hooks,
        HostFlakeContribution,
    )
    from .core.hookspecs import (
        hookimpl,
    )
    from .core.hostflake import (
        render_host_flake,
        write_host_flake,
    )
    from .core.hostkeys import (
        HostKey,
    )
    from .core.layout import (
        LAYOUTS,
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
        BootMode,
        Disk,
        HosterGuess,
        Interface,
        IPAddress,
        Route,
        RuntimeInfo,
    )
    from .core.nixtext import (
        nix_string,
    )
    from .core.plan import (
        BundleFile,
        BundleTravel,
        FlakeSource,
        HostFlakeInputs,
        Plan,
        PlannedDisk,
        PluginRecord,
        TargetIdentity,
    )
    from .core.plugins import (
        PluginInfo,
        PluginManager,
        detect_hoster,
        get_plugin_manager,
        known_hosters,
        list_plugins,
    )
    from .core.progress import (
        Event,
        Reporter,
        report,
    )
    from .core.settings import (
        REDACTED,
        Setting,
        looks_secret,
    )
    from .core.transport import (
        CommandResult,
        LocalTransport,
        Transport,
    )
    from .core.userflake import UserFlake
