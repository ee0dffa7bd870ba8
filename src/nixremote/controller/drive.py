"""The installer's phases, driven from the controller: ``format``, ``install``, ``reboot``.

Over the verified connection to the installer: upload the zipapp when the installer does not
have it, put the plan into its tmpfs, send the disk key on stdin into
``/run/nixremote/disk.key`` (tmpfs, 0600) and run ``nixremote installer run --json`` there
(``install`` is the installer's ``keys,flake,install``), detached from the SSH session
(:mod:`nixremote.installers.follow`: under ``setsid``, its output into a log on tmpfs), following
its events to the reporter. A run an earlier controller started that still runs is followed to
its end first (:func:`attach_running`), never started twice.
The final event carries the installed system's host keys (and its initrd's, port 2222), which
are recorded in the user's known_hosts (:func:`record_host_keys`).

A run without the kexec phase (a resume) runs the plan the installer holds, or the approved
one given.
"""

from __future__ import annotations

import logging
import posixpath
import shlex
from collections.abc import Sequence

import attrs

from ..core.converter import dumps_plan, loads_plan
from ..core.errors import CommandFailedError, InvalidInputError, TransportError
from ..core.filetree import EXTRA_FILES_ARCHIVE, USER_FLAKE_ARCHIVE
from ..core.hostkeys import host_keys_from_data
from ..core.phases import INSTALLER_PHASES_OF
from ..core.plan import Plan
from ..core.progress import Event, event_from_json, report
from ..core.transport import Transport
from ..installers import follow
from . import handoff, lifecycle, upload
from .known_hosts import record_known_host
from .run import Run

log = logging.getLogger(__name__)

_WRITE_STDIN = 'umask 077; mkdir -p "$(dirname "$1")" && cat > "$1.new" && mv -f "$1.new" "$1"'
"""``sh -c`` text writing stdin to ``$1`` (0600, its directory made): nothing on argv. A new
file each time: an earlier installer run that ends late shreds only the key file it was given
(:func:`nixremote.installers.lock.file_id`)."""


def installer_phases(run: Run, installer: Transport | None, phases: Sequence[str]) -> None:
    """Run the installer's part of the controller's ``phases`` (``format``, ``install``,
    ``reboot``) over ``installer`` (connected here when ``None``; closed afterwards)."""
    wanted = [
        p for name in phases if name in INSTALLER_PHASES_OF for p in INSTALLER_PHASES_OF[name]
    ]
    if not wanted:
        if installer is not None:
            installer.close()
        return
    if run.options.dry_run:
        if "format" in wanted:
            plan_disk(run)
        tree = run.plan.extra_files if run.plan is not None else None
        if tree is not None and "keys" in wanted:
            run.step(
                f"send {len(tree.entries)} extra files ({tree.total_bytes} bytes) from "
                f"{tree.source} into {EXTRA_FILES_ARCHIVE} (tmpfs, 0600), for {tree.destination}",
                "install",
            )
        flake = run.plan.user_flake if run.plan is not None else None
        if flake is not None and flake.tree is not None and "flake" in wanted:
            run.step(
                f"send the flake {flake.ref} ({len(flake.tree.entries)} entries) into "
                f"{USER_FLAKE_ARCHIVE}, for {flake.tree.destination}",
                "install",
            )
        key_file = run.options.key_file
        run.step(f"send the disk key on stdin into {key_file} (tmpfs, 0600)", "install")
        run.step(
            "run python3 " + shlex.join([run.options.installer_zipapp, *_argv(run, wanted)]),
            "install",
        )
        return
    if installer is None:
        installer = run.connect_installer()
    try:
        if run.plan is None:  # a resume: no kexec (and no plan made) in this run
            run.plan = run.options.plan or held_plan(run, installer)
            run.info = run.plan.runtime_info
            if "format" in wanted and not run.format_done:
                run.approve(run.plan)
        # detached, the phases up to the install; the after_install hooks run between the
        # install and the reboot; the reboot in the session (its final event must arrive
        # before the host goes down)
        before = [p for p in wanted if p != "reboot"]
        if before:
            _run_installer(run, installer, before)
        if "install" in wanted and lifecycle.has_after_install(run):
            lifecycle.after_install(run, installer)
        if "reboot" in wanted:
            _run_installer(run, installer, ["reboot"], detached=False)
    finally:
        installer.close()


def plan_disk(run: Run) -> None:
    """Report the disk plan (every command) in a dry run."""
    if run.plan is None and run.options.plan is not None:
        run.plan = run.options.plan
        run.approve(run.plan)
    if run.plan is None:
        run.step("use the plan the installer holds (made by the kexec phase)", "format")
        return
    for s in run.plan.steps:
        run.step(
            f"{s.description}: {s.command}" + (" (key on stdin)" if s.stdin_secret else ""),
            "format",
        )


def _argv(run: Run, wanted: Sequence[str]) -> list[str]:
    """The zipapp's arguments for the installer's phases ``wanted``."""
    sent = run.options.disk_key is not None or run.options.dry_run
    key = ["--key-file", run.options.key_file] if sent else []
    return [
        "installer",
        "run",
        *key,
        "--yes",
        "--json",
        "--phases",
        ",".join(wanted),
        "--plan",
        run.options.plan_file,
        *(["--restart"] if run.restart and "format" in wanted else []),
    ]


_ATTACH = (
    'if [ -f "$2" ] && [ -s "$3/phase.pid" ] && [ ! -e "$3/phase.rc" ]; then '
    'exec "$1" "$2" installer follow --dir "$3" --running-only; fi'
)
"""``sh -c _ATTACH attach PYTHON PYZ DIR``: follow a detached run that still runs, if any."""


def run_dir(run: Run) -> str:
    """Where the detached installer runs keep their log, PID and exit status (tmpfs)."""
    return posixpath.dirname(run.options.plan_file) or "/"


def attach_running(run: Run, installer: Transport, python: str) -> None:
    """Follow an installer run an earlier controller started and that still runs (its phases
    go on without a controller), to its end, relaying its progress; its failure is the next
    run's to report (it goes on with the unfinished phase)."""

    def relay(line: str) -> None:
        event = event_from_json(line)
        if event is None or run.reporter is None:
            return
        if event.kind == "error":
            event = attrs.evolve(event, kind="warning", message=f"earlier run: {event.message}")
        elif event.kind == "done" and event.phase is None:
            event = attrs.evolve(event, kind="step", data=())
        elif event.kind == "skip" and event.message == "no installer run is running":
            return
        run.reporter(event)

    installer.run(
        ["sh", "-c", _ATTACH, "attach", python, run.options.installer_zipapp, run_dir(run)],
        on_line=relay,
        check=False,
        timeout=None,
    )


def _run_installer(
    run: Run, installer: Transport, wanted: list[str], *, detached: bool = True
) -> None:
    python = handoff.find_python(installer, run.bundle.python if run.bundle else None)
    attach_running(run, installer, python)
    pyz = run.work / "nixremote.pyz"
    if not pyz.is_file():
        from . import zipapp

        pyz.write_bytes(zipapp.build_bytes())
    remote_pyz = run.options.installer_zipapp
    result = upload.upload(
        installer,
        [upload.UploadItem(local=pyz, remote=remote_pyz)],
        reporter=run.reporter,
        phase="install",
    )
    run.uploaded += result.transferred_bytes
    send_plan(run, installer)
    if "keys" in wanted:
        send_extra_files(run, installer)
    if "flake" in wanted:
        send_user_flake(run, installer)
    if run.options.disk_key is not None:
        installer.run(
            ["sh", "-c", _WRITE_STDIN, "key", run.options.key_file],
            stdin=run.options.disk_key,
            timeout=60,
        )
    final: list[Event] = []
    errors: list[Event] = []

    def on_line(line: str) -> None:
        event = event_from_json(line)
        if event is None:
            if line.strip():
                log.info("installer: %s", line)
            return
        if event.kind == "done" and event.phase is None:
            final.append(event)
        if event.kind == "error":
            errors.append(event)
        if run.reporter is not None:
            run.reporter(event)

    where = run_dir(run)
    try:
        argv = [python, remote_pyz, *_argv(run, wanted)]
        if detached:
            # the phases go on when this controller goes away; this session follows them
            installer.run(["sh", "-c", follow.START, "start", where, *argv], timeout=60)
            argv = [python, remote_pyz, "installer", "follow", "--dir", where]
        installer.run(argv, on_line=on_line, timeout=None)
    except TransportError as exc:  # CommandFailedError included
        if final and not errors and "reboot" in wanted:
            # the reboot took the connection (or the command) down after the last event
            log.info("the installer is rebooting the host: %s", exc.message)
        elif errors and isinstance(exc, CommandFailedError):
            last = errors[-1]
            raise CommandFailedError(
                f"the installer failed: {last.message}",
                argv=exc.argv,
                returncode=exc.returncode,
                output=exc.output,
                hint=str(dict(last.data).get("hint") or "")
                or "run the same command again: it goes on with the unfinished phase",
            ) from None
        else:
            raise
    if final:
        keys = {k: str(v) for k, v in final[-1].data if v is not None}
        record_host_keys(run, keys, rebooting="reboot" in wanted)


def held_plan(run: Run, installer: Transport) -> Plan:
    """The plan the installer holds (the kexec phase handed it over): a resume's plan."""
    result = installer.run(["cat", handoff.PLAN_PATH], check=False)
    if not result.ok:
        raise InvalidInputError(
            f"the installer on {run.target.host} holds no plan ({handoff.PLAN_PATH})",
            hint="run the kexec phase first (add kexec to --phases), or pass --plan",
        )
    return loads_plan(result.stdout, source=f"{run.target.host}:{handoff.PLAN_PATH}")


def _send_archive(run: Run, installer: Transport, data: bytes, remote: str, said: str) -> None:
    """Write ``data`` to ``remote`` on the installer's tmpfs (0600, over stdin), count it as
    uploaded and say ``said``."""
    installer.run(["sh", "-c", _WRITE_STDIN, "archive", remote], stdin=data, timeout=600)
    run.uploaded += len(data)
    report(run.reporter, "step", said, phase="install")


def send_extra_files(run: Run, installer: Transport) -> None:
    """Put the plan's ``--extra-files`` tree, read again and checked against the plan, as a
    tar archive into the installer's tmpfs (0600: it may hold keys); the installer's ``keys``
    phase copies it into place and removes it."""
    from .filetree_scan import pack_tree

    assert run.plan is not None
    tree = run.plan.extra_files
    if tree is None:
        return
    data = pack_tree(tree)
    _send_archive(
        run,
        installer,
        data,
        EXTRA_FILES_ARCHIVE,
        f"sent {len(tree.entries)} extra files ({len(data)} bytes) for {tree.destination}",
    )


def send_user_flake(run: Run, installer: Transport) -> None:
    """Put a local user flake's source tree (``--flake DIR#NAME``), read again and checked
    against the plan, as a tar archive into the installer's tmpfs; its ``flake`` phase copies it
    to /persist/etc/nixos."""
    from .filetree_scan import pack_tree
    from .userflake_plan import SKIPPED

    assert run.plan is not None
    flake = run.plan.user_flake
    if flake is None or flake.tree is None:
        return
    data = pack_tree(flake.tree, what="--flake", keep_owner=False, skip=SKIPPED)
    _send_archive(
        run,
        installer,
        data,
        USER_FLAKE_ARCHIVE,
        f"sent the flake {flake.ref} ({len(flake.tree.entries)} entries, {len(data)} bytes)",
    )


def send_plan(run: Run, installer: Transport) -> None:
    """Put the plan into the installer's tmpfs, over the verified connection. On a resume
    (no kexec in this run) the plan is the one the kexec phase handed over."""
    assert run.plan is not None
    installer.run(
        ["sh", "-c", _WRITE_STDIN, "plan", run.options.plan_file],
        stdin=dumps_plan(run.plan).encode(),
        timeout=60,
    )


def record_host_keys(run: Run, data: dict[str, str], *, rebooting: bool) -> None:
    """Record the installed system's host keys in the user's known_hosts.

    The initrd's keys (their own port) are recorded at once. The system's keys share the
    installer's host and port, so they replace the installer's key only when the reboot
    phase runs: until then a rerun must still reach the installer, verified.
    """
    keys = host_keys_from_data(data)
    if not keys:
        return
    target, unlock_port = run.target, run.options.unlock_port
    path = target.known_hosts_path
    host_lines = [k.public for k in keys if k.role == "host"]
    if host_lines and rebooting:
        record_known_host(path, target.host, target.port, host_lines)
    initrd_lines = [k.public for k in keys if k.role == "initrd"]
    if initrd_lines:  # where the controller reaches the initrd's SSH (2222, or forwarded)
        record_known_host(path, target.host, unlock_port, initrd_lines)
    for k in keys:
        port = target.port if k.role == "host" else unlock_port
        if k.role == "host" and not rebooting:
            report(
                run.reporter,
                "step",
                f"installed system's {k.type} key {k.fingerprint} (port {port}) will be "
                "recorded when the reboot phase runs",
                phase="verify",
            )
            continue
        report(
            run.reporter,
            "step",
            f"recorded {k.role} key {k.type} {k.fingerprint} (port {port}) in {path}",
            phase="verify",
        )
    run.host_keys = keys
