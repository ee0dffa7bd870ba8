"""The lifecycle hooks in the install pipeline (:mod:`.pipeline`): when each one runs.

All on the controller, in ``nixremote install``, never in a dry run (which reports them as
steps it would take):

``before_kexec``
    in the kexec phase, once the plan is approved and the preflight passed, before anything is
    uploaded or loaded; the hooks get the connection to the running (rescue) system.
``after_install``
    once the installer's ``install`` phase finished (the system is installed, the pool still
    imported): when a plugin implements it and the run also reboots, the controller runs the
    installer in two steps, up to ``install`` and then ``reboot``, with the hooks between them,
    so a hook can switch the hoster's boot device before the host reboots. The hooks get the
    connection to the installer.
``after_verify``
    at the end of a run whose verify phase ran, with the host keys recorded for the installed
    system.

This module also holds the one plugin manager of a run (:func:`plugins`): the options' or,
without one, :func:`~nixremote.core.plugins.get_plugin_manager`'s.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..core.hookcalls import Hooks
from ..core.plugins import PluginManager, get_plugin_manager
from ..core.progress import null_reporter, report

if TYPE_CHECKING:
    from ..core.transport import Transport
    from .pipeline import _Run

_MANAGERS: weakref.WeakKeyDictionary[_Run, PluginManager] = weakref.WeakKeyDictionary()


def plugins(run: _Run) -> PluginManager:
    """The plugin manager of ``run`` (made once per run when the options give none)."""
    if run.options.plugins is not None:
        return run.options.plugins
    pm = _MANAGERS.get(run)
    if pm is None:
        pm = _MANAGERS[run] = get_plugin_manager()
    return pm


def _call(run: _Run, hook: str, phase: str, **kwargs: object) -> None:
    hooks = Hooks(plugins(run))
    names = hooks.implementers(hook)
    if not names:
        return
    if run.options.dry_run:
        run.step(f"run the {hook} hooks of {', '.join(names)}", phase)
        return
    assert run.plan is not None
    report(run.reporter, "step", f"{hook}: {', '.join(names)}", phase=phase)
    call = getattr(hooks, hook)
    call(
        plan=run.plan,
        settings=dict(run.options.settings),
        reporter=run.reporter or null_reporter,
        **kwargs,
    )


def before_kexec(run: _Run, transport: Transport) -> None:
    """The ``before_kexec`` hooks, with the connection to the running system."""
    _call(run, "before_kexec", "kexec", transport=transport)


def _with_phases(argv_tail: Sequence[str], phases: Sequence[str]) -> list[str]:
    out = list(argv_tail)
    out[out.index("--phases") + 1] = ",".join(phases)
    return out


def drive(run: _Run, installer: Transport, wanted: list[str], argv_tail: list[str]) -> None:
    """Run the installer's phases ``wanted``; with ``after_install`` hooks, stop after the
    ``install`` phase for them, then run ``reboot`` (see the module documentation)."""
    if "install" not in wanted or not Hooks(plugins(run)).implementers("after_install"):
        run._drive(installer, wanted, argv_tail)
        return
    first = [p for p in wanted if p != "reboot"]
    run._drive(installer, first, _with_phases(argv_tail, first))
    _call(run, "after_install", "install", transport=installer)
    if "reboot" in wanted:
        run._drive(installer, ["reboot"], _with_phases(argv_tail, ["reboot"]))


def after_verify(run: _Run, phases: Sequence[str]) -> None:
    """The ``after_verify`` hooks, when the run's phases include ``verify``."""
    if "verify" in phases:
        _call(run, "after_verify", "verify", host_keys=run.host_keys)
