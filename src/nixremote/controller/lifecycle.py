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
    from .run import Run

_MANAGERS: weakref.WeakKeyDictionary[Run, PluginManager] = weakref.WeakKeyDictionary()


def plugins(run: Run) -> PluginManager:
    """The plugin manager of ``run`` (made once per run when the options give none)."""
    if run.options.plugins is not None:
        return run.options.plugins
    pm = _MANAGERS.get(run)
    if pm is None:
        pm = _MANAGERS[run] = get_plugin_manager()
    return pm


def _call(run: Run, hook: str, phase: str, **kwargs: object) -> None:
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


def before_kexec(run: Run, transport: Transport) -> None:
    """The ``before_kexec`` hooks, with the connection to the running system."""
    _call(run, "before_kexec", "kexec", transport=transport)


def has_after_install(run: Run) -> bool:
    """Whether a plugin implements ``after_install`` (then :mod:`.drive` stops the installer
    after its ``install`` phase for the hooks, and runs ``reboot`` after them)."""
    return bool(Hooks(plugins(run)).implementers("after_install"))


def after_install(run: Run, installer: Transport) -> None:
    """The ``after_install`` hooks, with the connection to the installer."""
    _call(run, "after_install", "install", transport=installer)


def after_verify(run: Run, phases: Sequence[str]) -> None:
    """The ``after_verify`` hooks, when the run's phases include ``verify``."""
    if "verify" in phases:
        _call(run, "after_verify", "verify", host_keys=run.host_keys)
