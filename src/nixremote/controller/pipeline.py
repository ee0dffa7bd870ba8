"""``nixremote install`` and ``nixremote plan`` as library functions: :func:`install`,
:func:`plan`.

The controller's phases, each in its module:

``kexec`` (:mod:`.kexec_phase`)
    collect the running system, plan and ask for the go-ahead, preflight, upload, ``kexec``
    into the installer and reconnect to it, strictly checking the key generated for it.
``format``, ``install``, ``reboot`` (:mod:`.drive`)
    run the installer's phases there, streaming its events; record the installed system's
    host keys in the user's known_hosts.
``verify`` (:mod:`.verify_phase`)
    after the reboot, unlock the pool through the initrd's SSH and check the running system.

First of all the run finds out where the host is (:mod:`.resume`, :mod:`.whereis`): the old
system, the nixremote installer (the run goes on with the first unfinished phase) or the
installed system (nothing to do but verify), so that rerunning an interrupted command finishes
it. The lifecycle hooks run between them (:mod:`.lifecycle`). ``dry_run`` collects, plans and
checks, reports every step it would take (including the disk plan's commands) and changes
nothing on the host.
"""

from __future__ import annotations

from ..core.errors import InvalidInputError
from ..core.phases import parse_phases
from ..core.plan import Plan
from ..core.progress import Reporter, report
from . import drive, lifecycle, resume, verify_phase
from .bundle import load_bundle
from .run import (
    PHASES,
    PLAN_FILE,
    REMOTE_DIR,
    REMOTE_ZIPAPP,
    SECRET_DIRS,
    InstallOptions,
    InstallResult,
    Run,
)
from .target import Connector, Target, ssh_connector


def plan(
    target: Target,
    options: InstallOptions,
    reporter: Reporter | None = None,
    *,
    connector: Connector = ssh_connector,
) -> Plan:
    """Collect ``target`` (one SSH round trip) and make its plan, changing nothing: what
    ``nixremote plan`` writes and ``install(..., InstallOptions(plan=...))`` runs. The bundle, when
    given, is read for the flake sources its installer carries."""
    run = Run(target, options, reporter, connector)
    try:
        if options.bundle is not None:
            run.bundle = load_bundle(options.bundle)
        transport = run.connect_running()
        try:
            info = run.collect(transport)
        finally:
            transport.close()
        assert run.facts is not None
        made = run.make_plan(info, run.facts)
        report(
            reporter,
            "done",
            f"plan for {made.identity.host_name}: wipes "
            + ", ".join(d.path for d in made.identity.disks),
            phase="plan",
        )
        return made
    finally:
        run.close()


def install(
    target: Target,
    options: InstallOptions,
    reporter: Reporter | None = None,
    *,
    connector: Connector = ssh_connector,
) -> InstallResult:
    """Install NixOS onto ``target``: the phases of ``options.phases`` (see the module doc).

    Nothing destructive runs unless ``options.yes`` (the caller confirmed) and not
    ``options.dry_run``. Raises :class:`~nixremote.core.errors.NixremoteError` kinds.
    """
    phases = parse_phases(options.phases)
    destructive = any(p in phases for p in ("kexec", "format", "install"))
    if destructive and not options.dry_run and not options.yes and options.confirm is None:
        raise InvalidInputError(
            f"installing onto {target.host} replaces its system and wipes its disk",
            hint="confirm with yes=True (--yes) or a confirm callback, or look first with "
            "--dry-run",
        )
    if (
        any(p in phases for p in ("format", "install", "verify"))
        and options.disk_key is None
        and not options.dry_run
    ):
        raise InvalidInputError(
            "the disk key is needed for the format, install and verify phases",
            hint="pass --disk-key-file FILE or type it at the prompt",
        )
    run = Run(target, options, reporter, connector)
    try:
        installer, phases = resume.start(run, phases)
        if "kexec" not in phases and options.dry_run:
            run.step(
                f"connect to the installer on {target.host} port {run.installer_port} "
                "(host key recorded by the kexec phase)",
                "kexec",
            )
        drive.installer_phases(run, installer, phases)
        if "verify" in phases:
            verify_phase.verify(run)
        lifecycle.after_verify(run, phases)
        return run.result(phases)
    finally:
        run.close()


__all__ = [
    "PHASES",
    "PLAN_FILE",
    "REMOTE_DIR",
    "REMOTE_ZIPAPP",
    "SECRET_DIRS",
    "Connector",
    "InstallOptions",
    "InstallResult",
    "Target",
    "install",
    "parse_phases",
    "plan",
    "ssh_connector",
]
