"""Run the rescue VM under QEMU (TCG; user-mode networking on a loopback port, or a hoster's
network in a namespace).

:class:`RescueVm` boots the Debian rescue system built by :mod:`.build` with a fresh SSH host key
generated here, on the controller side, and handed in through an appended initrd archive, so the
test can pin it (strict host key checking, no trust on first use). Root's ``authorized_keys`` in
the VM holds the public half of :attr:`RescueVm.identity_file`. The VM's one disk is a sparse raw
file on ``virtio-blk`` with a fixed serial, so it shows up as
``/dev/disk/by-id/virtio-<serial>``.

Two networks: by default QEMU's user-mode network (``restrict=on``, DHCP from QEMU, SSH forwarded
from a loopback port); with ``network=HosterNetwork()`` QEMU runs inside a namespace that plays
the hoster's router (:mod:`.hoster`), the VM has two NICs with static addresses only (Hetzner's
shape) and SSH is reached on port 22 of its public address, routed through a veth.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from nixremote.core.errors import NixremoteError, PreflightError, TransportError
from nixremote.core.progress import Event, Reporter, null_reporter

from ...controller import cpio
from . import scripts, standin
from .builder import VmArtifacts, build
from .console import _find_outside_argv
from .hoster import HosterNetwork, Router
from .httpfwd import HTTP_FORWARD_ADDRESS, HTTP_RELAY
from .keys import KeyPair, generate_key, handoff_archive, known_hosts_line
from .process import _die_with_parent, free_port, pid_alive

log = logging.getLogger(__name__)

DEFAULT_DISK_SIZE = 8 * 1024**3
DEFAULT_SERIAL = "nixremote-disk0"
DEFAULT_MAC = "52:54:00:12:34:56"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS.fd")


STATIC_NETWORK_PATH = "vm/static-network"
"""Where the hoster-mode rescue system finds its static network in the appended archive (one
``ip`` argument list a line, see :meth:`HosterNetwork.rescue_commands`)."""


class RescueVm:
    """The rescue VM; use as a context manager or call :meth:`start` / :meth:`stop`.

    ``workdir`` holds the keys, the disk (unless ``disk`` is given), the combined initrd, the
    console log and QEMU's own log; a temporary one is made and removed at :meth:`stop` when not
    given. ``detach=True`` leaves QEMU running when this object goes away (``nixremote vm up``).

    ``network``: a :class:`~.hoster.HosterNetwork` to boot on a hoster-like network (QEMU in a
    namespace of its own, the :attr:`router`, made at :meth:`start` and removed at :meth:`stop`)
    instead of QEMU's user-mode network; :attr:`host` is then the VM's public address and
    :attr:`ssh_port` 22, and :attr:`mac` the public NIC's.
    """

    host = "127.0.0.1"
    nic = "eth0"
    """The rescue system's NIC (booted with ``net.ifnames=0`` like a hoster's rescue system;
    udev still records ``ID_NET_NAME_PATH=enp0s2``). Its MAC is :attr:`mac`. In hoster mode
    the private network's NIC is ``eth1``."""

    def __init__(
        self,
        artifacts: VmArtifacts | None = None,
        *,
        workdir: Path | None = None,
        disk: Path | None = None,
        disk_size: int = DEFAULT_DISK_SIZE,
        disk_serial: str = DEFAULT_SERIAL,
        extra_disks: Sequence[tuple[str, int]] = (),
        memory_mib: int = 2048,
        cpus: int = 2,
        uefi: bool = False,
        ssh_port: int | None = None,
        mac: str = DEFAULT_MAC,
        kernel_params: Sequence[str] = (),
        boot_timeout: float = 300.0,
        sample_argv: bool = False,
        no_reboot: bool = False,
        cache_dir: Path | None = None,
        reporter: Reporter | None = None,
        detach: bool = False,
        network: HosterNetwork | None = None,
        router: Router | None = None,
        http_forward: int | None = None,
    ) -> None:
        self._artifacts = artifacts
        self._cache_dir = cache_dir
        self.report = reporter or null_reporter
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="nixremote-vm-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.disk = Path(disk) if disk else self.workdir / "disk.raw"
        self.disk_size = disk_size
        self.disk_serial = disk_serial
        self.extra_disks = tuple(
            (self.workdir / f"disk{i}.raw", serial, size)
            for i, (serial, size) in enumerate(extra_disks, start=1)
        )
        self.memory_mib = memory_mib
        self.cpus = cpus
        self.uefi = uefi
        self.network = network
        self.router = router
        """The hoster network's namespace (hoster mode; made at :meth:`start` unless given)."""
        self._own_router = router is None
        if network is not None:
            self.host = network.address
            ssh_port = 22
            mac = network.public_mac
        self.ssh_port = ssh_port or 0
        self.unlock_port = 2222 if network is not None else 0
        """The host port forwarded to the guest's 2222, the installed system's initrd SSH (on the
        hoster network: 2222 itself)."""
        self.mac = mac
        self.kernel_params = tuple(kernel_params) + (
            ("nixremote.sample_argv=1",) if sample_argv else ()
        )
        self.boot_timeout = boot_timeout
        self.no_reboot = no_reboot
        self.http_forward = http_forward
        self.detach = detach
        self.console_log = self.workdir / "console.log"
        self.qemu_log = self.workdir / "qemu.log"
        self.pidfile = self.workdir / "qemu.pid"
        self.identity_file = self.workdir / "id_ed25519"
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self.host_key: KeyPair | None = None
        self.client_key: KeyPair | None = None
        self.boot_seconds: float | None = None
        self.ready_line: str | None = None

    # -- properties -------------------------------------------------------------------------
    @property
    def artifacts(self) -> VmArtifacts:
        if self._artifacts is None:
            self._artifacts = build(self._cache_dir, self.report)
        return self._artifacts

    @property
    def disk_by_id(self) -> str:
        return f"/dev/disk/by-id/virtio-{self.disk_serial}"

    @property
    def disks(self) -> tuple[tuple[Path, str], ...]:
        """(image file, by-id path) of every disk, the first one first."""
        extra = [
            (image, f"/dev/disk/by-id/virtio-{serial}") for image, serial, _ in self.extra_disks
        ]
        return ((self.disk, self.disk_by_id), *extra)

    @property
    def host_public_key(self) -> str:
        """The rescue system's host key, ``ssh-ed25519 AAAA...``."""
        if self.host_key is None:
            raise NixremoteError("the VM has not been started")
        return " ".join(self.host_key.public.split()[:2])

    @property
    def known_hosts_line(self) -> str:
        return known_hosts_line(self.ssh_port, self.host_public_key, self.host)

    @property
    def known_hosts_file(self) -> Path:
        return self.workdir / "known_hosts"

    @property
    def pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        if self._pid is None:
            # QEMU removes its pidfile when it exits: read it once, tolerate it going away
            try:
                self._pid = int(self.pidfile.read_text().strip() or 0) or None
            except (OSError, ValueError):
                return None
        return self._pid

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> RescueVm:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _qemu_argv(
        self, initrd: Path, *, kernel: Path | None = None, params: Sequence[str] = ()
    ) -> list[str]:
        append = " ".join(
            ("console=ttyS0", "panic=10", "net.ifnames=0", *self.kernel_params, *params)
        )
        argv = [
            "qemu-system-x86_64",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-machine",
            "q35",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-smp",
            str(self.cpus),
            "-m",
            str(self.memory_mib),
            "-kernel",
            str(kernel or self.artifacts.kernel),
            "-initrd",
            str(initrd),
            "-append",
            append,
            "-chardev",
            f"file,id=console,path={self.console_log}",
            "-serial",
            "chardev:console",
            "-drive",
            f"if=none,id=disk0,format=raw,file={self.disk},cache=unsafe,discard=unmap",
            "-device",
            f"virtio-blk-pci,drive=disk0,serial={self.disk_serial}",
            *(
                arg
                for i, (image, serial, _size) in enumerate(self.extra_disks, start=1)
                for arg in (
                    "-drive",
                    f"if=none,id=disk{i},format=raw,file={image},cache=unsafe,discard=unmap",
                    "-device",
                    f"virtio-blk-pci,drive=disk{i},serial={serial}",
                )
            ),
            *self._net_argv(),
            "-device",
            "virtio-rng-pci",
            "-pidfile",
            str(self.pidfile),
        ]
        if self.network is not None:
            assert self.router is not None
            argv = [*self.router.exec_prefix, *argv]
        if self.no_reboot:
            # a guest reboot ends QEMU; restart_after_reboot() boots again from cold, which is
            # much faster under TCG than SeaBIOS's warm reset (that unpacks the rescue
            # initramfs about ten times slower)
            argv.append("-no-reboot")
        if self.uefi:
            vars_copy = self.workdir / "OVMF_VARS.fd"
            if not vars_copy.exists():
                shutil.copyfile(OVMF_VARS, vars_copy)
            argv += [
                "-drive",
                f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                "-drive",
                f"if=pflash,format=raw,file={vars_copy}",
            ]
        return argv

    def _guestfwd(self) -> str:
        """``,guestfwd=...`` for :attr:`http_forward`: the guest's connections to
        :data:`HTTP_FORWARD_ADDRESS` port 80 reach 127.0.0.1:<http_forward> on this machine,
        each through a relay process (``restrict=on`` stays: nothing else leaves the VM)."""
        if self.http_forward is None:
            return ""
        relay = self.workdir / "http-relay.py"
        relay.write_text(HTTP_RELAY)
        command = f"{sys.executable} {relay} {int(self.http_forward)}"
        return f",guestfwd=tcp:{HTTP_FORWARD_ADDRESS}:80-cmd:{command.replace(',', ',,')}"

    def _net_argv(self) -> list[str]:
        if self.network is None:
            return [
                "-netdev",
                f"user,id=net0,restrict=on,hostfwd=tcp:{self.host}:{self.ssh_port}-:22,"
                f"hostfwd=tcp:{self.host}:{self.unlock_port}-:2222{self._guestfwd()}",
                "-device",
                f"virtio-net-pci,netdev=net0,mac={self.mac},romfile=",
            ]
        nics = (
            (Router.TAP_PUBLIC, self.network.public_mac),
            (Router.TAP_PRIVATE, self.network.private_mac),
        )
        return [
            arg
            for i, (tap, mac) in enumerate(nics)
            for arg in (
                "-netdev",
                f"tap,id=net{i},ifname={tap},script=no,downscript=no",
                "-device",
                f"virtio-net-pci,netdev=net{i},mac={mac},romfile=",
            )
        ]

    def _rescue_archive(self) -> bytes:
        assert self.host_key is not None and self.client_key is not None
        extra = []
        if self.network is not None:
            extra.append(
                cpio.file_entry(STATIC_NETWORK_PATH, self.network.rescue_commands().encode())
            )
        return handoff_archive(
            host_key=self.host_key, authorized_keys=(self.client_key.public,), extra=extra
        )

    def start(self) -> RescueVm:
        """Boot the VM and wait until sshd listens (the ready marker on the console)."""
        if shutil.which("qemu-system-x86_64") is None:
            raise PreflightError(
                "qemu-system-x86_64 not found", hint="apt-get install qemu-system-x86"
            )
        if self.uefi and not OVMF_CODE.is_file():
            raise PreflightError(f"{OVMF_CODE} not found", hint="apt-get install ovmf")
        art = self.artifacts
        if self.host_key is None or self.client_key is None:  # kept across a restart
            self.host_key = generate_key(
                self.workdir / "rescue_host_ed25519_key", "nixremote-test-rescue-host"
            )
            self.client_key = generate_key(self.identity_file, "nixremote-test-client")
        initrd = self.workdir / "rescue-initrd.img"
        with open(initrd, "wb") as out:
            with open(art.rescue_initrd, "rb") as base:
                shutil.copyfileobj(base, out, 1 << 20)
            out.write(self._rescue_archive())
        for image, size in (
            (self.disk, self.disk_size),
            *((image, size) for image, _serial, size in self.extra_disks),
        ):
            if not image.exists():
                with open(image, "wb") as fh:
                    fh.truncate(size)
        return self._boot(initrd, what="rescue VM", marker=scripts.RESCUE_READY_MARKER)

    def boot_installed(self) -> RescueVm:
        """Boot the stand-in of the installed system (its initrd, the unlock, its "system": see
        :mod:`nixremote.testing.vm.standin`) from this VM's disks, on the same ports; after the
        install, where a real host would boot the installed NixOS."""
        bundle = self.artifacts.bundle_dir
        return self._boot(
            bundle / "initrd.gz",
            kernel=bundle / "bzImage",
            params=(standin.KERNEL_PARAM,),
            what="installed system (stand-in)",
            marker=standin.INITRD_READY_MARKER,
        )

    def reboot_into_installed(self, timeout: float = 300.0) -> threading.Thread:
        """With ``no_reboot``: in the background, wait for the guest's reboot to end QEMU, then
        boot the installed system's stand-in (as the hoster's machine would boot the disk).
        The thread ends when that QEMU does; join it with a timeout to wait for the boot."""

        def run() -> None:
            try:
                self.wait_exit(timeout)
                self.boot_installed()
            except Exception:  # told in the log: the waiting side then times out
                log.exception("booting the installed system's stand-in failed")
                raise
            # QEMU dies with the thread that started it (PR_SET_PDEATHSIG follows the thread):
            # this thread lives as long as that QEMU does
            proc = self._proc
            if proc is not None:
                proc.wait()

        thread = threading.Thread(target=run, name="nixremote-vm-reboot", daemon=True)
        thread.start()
        return thread

    def _boot(
        self,
        initrd: Path,
        *,
        what: str,
        marker: str,
        kernel: Path | None = None,
        params: Sequence[str] = (),
    ) -> RescueVm:
        previous = self.console_log.with_name("console.before-reboot.log")
        if self.console_log.exists() and self.console_log.stat().st_size:
            with open(previous, "ab") as out:
                out.write(self.console_log.read_bytes())
        # Ports once chosen stay (a host keeps its address across reboots, and the tests and
        # the controller keep connecting there): while the QEMU before this one still holds
        # them, wait; a port never chosen is picked now, and again if it is taken meanwhile.
        if self.network is not None and self.router is None:
            self.router = Router(self.network).create()
            self._own_router = True
        own_ports = self.network is not None or bool(self.ssh_port and self.unlock_port)
        for attempt in range(10):
            if not own_ports and (not self.ssh_port or attempt):
                self.ssh_port = free_port()
            if not own_ports and (not self.unlock_port or attempt):
                self.unlock_port = free_port()
            self.known_hosts_file.write_text(self.known_hosts_line + "\n")
            self.console_log.write_bytes(b"")
            argv = self._qemu_argv(initrd, kernel=kernel, params=params)
            log.info("starting %s", shlex.join(argv))
            self.report(
                Event(
                    kind="step",
                    phase="vm",
                    message=f"booting the {what}",
                    data={"port": str(self.ssh_port)},
                )
            )
            started = time.monotonic()
            with open(self.qemu_log, "wb") as qlog:
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=qlog,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=None if self.detach else _die_with_parent,
                )
            time.sleep(0.5)
            if self.network is not None:
                break
            if self._proc.poll() is not None and "forwarding" in self.qemu_log.read_text(
                errors="replace"
            ):
                # "Could not set up host forwarding rule": a port is taken
                time.sleep(1.0 if own_ports else 0)
                continue
            break
        line, _ = self.wait_for_console(marker, start=0, timeout=self.boot_timeout)
        self.boot_seconds = time.monotonic() - started
        self.ready_line = line
        self.report(
            Event(
                kind="done",
                phase="vm",
                message=f"{what} up in {self.boot_seconds:.1f}s",
                data={"port": str(self.ssh_port)},
            )
        )
        return self

    def wait_exit(self, timeout: float = 300.0) -> None:
        """Wait until QEMU has exited (with ``no_reboot``, after the guest rebooted)."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise TransportError(
                    f"the VM did not go down within {timeout:.0f}s", hint=f"see {self.console_log}"
                )
            time.sleep(0.5)
        self._proc = None
        self._pid = None

    def restart_after_reboot(self, timeout: float = 300.0) -> RescueVm:
        """With ``no_reboot``: wait for the guest's reboot to end QEMU, then boot the rescue
        system again on the same disk, port and keys (the pinned host key stays valid). The
        console log starts afresh."""
        self.wait_exit(timeout)
        return self.start()

    def power_cycle(self, timeout: float | None = None) -> RescueVm:
        """Switch the machine off and boot the rescue system again, on the same disk, network
        and keys: what a hoster's "reset into rescue" does (the way back from an installer that
        cannot be reached). The console log of the previous boot moves to
        ``console.before-reboot.log``."""
        self._stop_qemu()
        if timeout is not None:
            self.boot_timeout = timeout
        return self.start()

    def alive(self) -> bool:
        pid = self.pid
        if self._proc is not None:
            return self._proc.poll() is None
        return pid_alive(pid)

    def stop(self, *, timeout: float = 15.0) -> None:
        """Stop QEMU (SIGTERM, then SIGKILL), remove the hoster network this object made (not
        when detached) and a temporary workdir."""
        try:
            self._stop_qemu(timeout=timeout)
        finally:
            if self.router is not None and self._own_router and not self.detach:
                self.router.destroy()
                self.router = None
        if self._own_workdir and not self.detach:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop_qemu(self, *, timeout: float = 15.0) -> None:
        pid = self.pid
        if pid is not None and self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.alive() and time.monotonic() < deadline:
                if self._proc is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._proc.wait(0.2)
                else:
                    time.sleep(0.2)
            if self.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if self._proc is not None:
                    self._proc.wait(5)
        self._proc = None
        self._pid = None
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()

    def __del__(self) -> None:
        if getattr(self, "_proc", None) is not None and not self.detach:
            with contextlib.suppress(Exception):
                self.stop()

    # -- console --------------------------------------------------------------------------------
    def console_text(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def console_offset(self) -> int:
        try:
            return self.console_log.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_for_console(
        self, marker: str, *, start: int = 0, timeout: float = 300.0
    ) -> tuple[str, int]:
        """Wait until a console line after byte ``start`` contains ``marker``; returns the line
        and the offset just after it. Raises :class:`TransportError` on timeout or QEMU exit."""
        deadline = time.monotonic() + timeout
        needle = marker.encode()
        while True:
            try:
                with open(self.console_log, "rb") as fh:
                    fh.seek(start)
                    data = fh.read()
            except FileNotFoundError:
                data = b""
            pos = _find_outside_argv(data, needle)
            failed = _find_outside_argv(data, scripts.BOOT_FAILED_MARKER.encode())
            if failed >= 0 and (pos < 0 or failed < pos):
                end = data.find(b"\n", failed)
                raise TransportError(
                    "the VM reported a failed boot: "
                    + data[failed : end if end >= 0 else None].decode(errors="replace"),
                    hint=f"see {self.console_log}",
                )
            if pos >= 0:
                end = data.find(b"\n", pos)
                end = len(data) if end < 0 else end + 1
                line_start = data.rfind(b"\n", 0, pos) + 1
                return data[line_start:end].decode(errors="replace").strip(), start + end
            if not self.alive():
                raise TransportError(
                    f"QEMU exited before {marker!r} appeared on the console: "
                    f"{self._tail(self.qemu_log)}",
                    hint=f"see {self.console_log} and {self.qemu_log}",
                )
            if time.monotonic() > deadline:
                raise TransportError(
                    f"{marker!r} did not appear on the VM console within {timeout:.0f}s; "
                    f"last console line: {self._tail(self.console_log)}",
                    hint=f"see {self.console_log}",
                )
            time.sleep(0.2)

    @staticmethod
    def _tail(path: Path) -> str:
        try:
            lines = path.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "(no log)"
        return lines[-1] if lines else "(empty)"

    # -- ssh ------------------------------------------------------------------------------------
    def known_hosts_for(self, public_key: str, name: str) -> Path:
        """Write a known_hosts file pinning ``public_key`` for this VM's port; return its path."""
        path = self.workdir / f"known_hosts.{name}"
        path.write_text(known_hosts_line(self.ssh_port, public_key, self.host) + "\n")
        return path

    def ssh_options(
        self, known_hosts: Path | None = None, identity: Path | None = None
    ) -> list[str]:
        return [
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts or self.known_hosts_file}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "ServerAliveInterval=10",
            "-o",
            "LogLevel=ERROR",
            "-i",
            str(identity or self.identity_file),
        ]

    def ssh_argv(
        self,
        remote: Sequence[str] | None = None,
        *,
        known_hosts: Path | None = None,
        identity: Path | None = None,
        host: str | None = None,
    ) -> list[str]:
        """OpenSSH argv for ``remote`` (an argv, quoted for the remote shell) as root;
        ``host``: another address of the VM than :attr:`host` (hoster mode: IPv6)."""
        argv = [
            "ssh",
            *self.ssh_options(known_hosts, identity),
            "-p",
            str(self.ssh_port),
            f"root@{host or self.host}",
        ]
        if remote:
            argv += ["--", shlex.join(remote)]
        return argv

    def ssh(
        self,
        remote: Sequence[str],
        *,
        input: bytes | str | None = None,
        timeout: float = 300.0,
        check: bool = True,
        known_hosts: Path | None = None,
        identity: Path | None = None,
        host: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``remote`` (argv) over SSH; text output; raise on failure when ``check``."""
        argv = self.ssh_argv(remote, known_hosts=known_hosts, identity=identity, host=host)
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(argv, input=data, capture_output=True, timeout=timeout)
        result = subprocess.CompletedProcess(
            argv,
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )
        if check and proc.returncode != 0:
            raise TransportError(
                f"ssh {shlex.join(remote)} exited {proc.returncode}: "
                f"{result.stderr.strip()[-400:]}",
                hint=f"see {self.console_log}",
            )
        return result

    def scp_to(
        self, local: Path, remote: str, *, known_hosts: Path | None = None, timeout: float = 600.0
    ) -> None:
        """Copy ``local`` to ``remote`` path on the VM (scp over SFTP)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        argv = [
            "scp",
            "-q",
            *self.ssh_options(known_hosts),
            "-P",
            str(self.ssh_port),
            str(local),
            f"root@{host}:{remote}",
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise TransportError(f"scp {local} failed: {proc.stderr.strip()[-400:]}")

    def wait_for_ssh(self, *, known_hosts: Path | None = None, timeout: float = 120.0) -> None:
        """Retry a trivial command until SSH answers (after the ready marker it should at once)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.ssh(["true"], check=False, timeout=60, known_hosts=known_hosts)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TransportError(f"SSH to the VM did not answer: {r.stderr.strip()[-300:]}")
            time.sleep(1)

    # -- state (for ``nixremote vm``) ---------------------------------------------------------
    def state(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "host": self.host,
            "port": self.ssh_port,
            "workdir": str(self.workdir),
            "identityFile": str(self.identity_file),
            "knownHostsFile": str(self.known_hosts_file),
            "knownHostsLine": self.known_hosts_line,
            "hostPublicKey": self.host_public_key,
            "consoleLog": str(self.console_log),
            "disk": str(self.disk),
            "diskById": self.disk_by_id,
            "disks": [{"image": str(image), "byId": by_id} for image, by_id in self.disks],
            "mac": self.mac,
            "memoryMiB": self.memory_mib,
            "uefi": self.uefi,
            "artifacts": str(self.artifacts.root),
            "network": self._network_state(),
        }

    def _network_state(self) -> dict[str, object]:
        if self.network is None:
            return {"mode": "user"}
        return {
            "mode": "hoster",
            "addresses": list(self.network.addresses),
            "ipv4": self.network.ipv4,
            "ipv6": self.network.ipv6,
            "publicMac": self.network.public_mac,
            "privateMac": self.network.private_mac,
            **(self.router.names() if self.router is not None else {}),
        }

    def write_state(self, path: Path) -> None:
        path.write_text(json.dumps(self.state(), indent=2, sort_keys=True) + "\n")
