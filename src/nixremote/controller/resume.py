"""The start of every ``nixremote install``: find out where the host is (:mod:`.whereis`) and
decide which of the asked phases are left, so that rerunning the same command after an
interruption finishes the install.

- The old system: the phases run as asked, from the kexec.
- The nixremote installer: the kexec is done; the run goes on with the first unfinished phase of
  the installer's phase record (said in one progress line); the installer skips what finished.
- The installed system: nothing to do but ``verify`` (which then only checks: the pool is
  unlocked already), unless ``--force-format`` asks for a new install from the kexec.

A disk whose install finished is never formatted again by a rerun: ``format`` among phases that
include the kexec is skipped; an explicit ``format`` (without the kexec) on an installer whose
install finished asks again, naming the disks, even with ``--yes``; ``--force-format`` goes on
without asking.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..core.converter import plan_digest
from ..core.errors import InvalidInputError, NixremoteError, SafetyError
from ..core.progress import report
from ..core.transport import Transport
from . import kexec_phase, whereis
from .run import Run

PHASE = "kexec"

INSTALLER_SIDE = ("format", "install", "reboot")

SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


def _probe(run: Run, transport: Transport) -> whereis.Where:
    opts = run.options
    return whereis.probe(
        transport,
        host=run.target.host,
        marker=opts.installer_marker,
        state_file=opts.state_file,
        host_flake=opts.host_flake,
    )


def start(run: Run, phases: Sequence[str]) -> tuple[Transport | None, tuple[str, ...]]:
    """Find where the host is; return the connection to the installer (``None`` when this run
    does not reach it yet, or in a dry run) and the phases left to run."""
    opts, target = run.options, run.target
    phases = tuple(phases)
    if "kexec" in phases:
        files = [target.known_hosts_path]
        if target.known_hosts is None:  # the user's file and the system's, as SSH reads them
            files.append(SYSTEM_KNOWN_HOSTS)
        pinned = whereis.had_pinned_key(files, target.host, target.port)
        transport = run.connect_running()
        try:
            where = _probe(run, transport)
            whereis.check_pinned(
                where,
                pinned_before=pinned,
                policy=target.host_key_policy,
                host=target.host,
                port=target.port,
            )
        except BaseException:
            transport.close()
            raise
        if where.kind == whereis.OLD or (where.kind == whereis.INSTALLED and opts.force_format):
            return kexec_phase.kexec(run, transport), phases
        transport.close()
        installer = None
    elif any(p in phases for p in INSTALLER_SIDE) and not opts.dry_run:
        installer = run.connect_installer()
        try:
            where = _probe(run, installer)
        except BaseException:
            installer.close()
            raise
        if where.kind == whereis.OLD:
            # no kexec marker: an installer booted otherwise (or by hand); it is driven as
            # asked, and refuses itself what it cannot do
            return installer, phases
    else:
        return None, phases
    report(run.reporter, "step", whereis.resume_line(where, target.host, phases), phase=PHASE)
    try:
        return _go_on(run, where, installer, phases)
    except BaseException:
        if installer is not None:
            installer.close()
        raise


def _go_on(
    run: Run, where: whereis.Where, installer: Transport | None, phases: tuple[str, ...]
) -> tuple[Transport | None, tuple[str, ...]]:
    opts, host = run.options, run.target.host
    if where.kind == whereis.INSTALLED:
        if installer is not None:
            installer.close()
        if "format" in phases and "kexec" not in phases:
            raise SafetyError(
                f"{host} runs its installed system: formatting it needs the kexec first",
                hint="to install it again, run with kexec in --phases and --force-format",
            )
        run.system_running = True
        return None, tuple(p for p in phases if p == "verify")
    left = tuple(p for p in phases if p != "kexec")
    run.format_done = "format" in where.finished
    if where.install_finished and "format" in left and "kexec" in phases and not opts.force_format:
        # a rerun of the whole command: the finished install's disks are not formatted again
        report(
            run.reporter,
            "skip",
            f"format: the install on {host} finished; its disks are not formatted again "
            "(--force-format to do so)",
            phase="format",
        )
        left = tuple(p for p in left if p != "format")
    if opts.dry_run:
        return None, left
    if installer is None:
        installer = run.connect_installer()
    if opts.plan is not None and where.plan_sha256 not in (None, plan_digest(opts.plan)):
        raise InvalidInputError(
            f"the installer on {host} was handed another plan than --plan",
            hint="run without --plan (the installer's own plan goes on), or reboot the host "
            "into its rescue system and start over",
        )
    if where.install_finished and "format" in left:
        _format_again(run, installer)
    return installer, left


def _format_again(run: Run, installer: Transport) -> None:
    """The install finished and ``format`` is asked for explicitly (or forced): ask again,
    naming the disks, even with ``yes``; ``force_format`` goes on without asking."""
    from .drive import held_plan

    opts, host = run.options, run.target.host
    plan = run.plan = run.plan or opts.plan or held_plan(run, installer)
    run.info = plan.runtime_info
    disks = ", ".join(d.path for d in plan.identity.disks)
    if not opts.force_format:
        asked = False
        if opts.confirm is not None:
            try:
                asked = opts.confirm(plan)
            except NixremoteError:
                asked = False
        if not asked:
            raise SafetyError(
                f"the install on {host} finished: formatting again WIPES {disks}",
                hint="pass --force-format to format anyway",
            )
    report(
        run.reporter,
        "step",
        f"formatting {disks} again although the install on {host} finished",
        phase="format",
    )
    run.restart = True
    run.format_done = False


__all__ = ["start"]
