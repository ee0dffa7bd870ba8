"""The install phases inside the kexec'd installer, with a state file so a failed run resumes.

The phases, in order (:data:`PHASES`):

``format``
    The disk plan of :mod:`.diskplan` (safety checks, wipe, GPT, ESP, encrypted pool, datasets,
    mounts under the layout's ``mount_root``, ``/mnt``), run through a
    :class:`~nixremote.core.transport.LocalTransport` with the disk key on stdin.
``keys``
    First the plan's ``--extra-files`` tree into ``/persist`` (:mod:`.filetree_apply`; a host
    key pair among them is kept). Then the installed system's SSH host keys (ed25519 and
    rsa 4096, the two NixOS generates by default) in ``/persist/etc/ssh/`` and the initrd's
    host key for the remote unlock on port 2222 in
    ``/persist/etc/secrets/initrd/ssh_host_ed25519_key`` (private keys 0600, public 0644,
    directories of secrets 0700), made with ``ssh-keygen``. A complete, matching pair from an
    earlier attempt is kept, so a resumed run reports the same fingerprints.
``flake``
    The host flake (:mod:`.hostflake`) in ``/persist/etc/nixos`` (it survives the root rollback),
    with the modules, files and inputs the plugins added, as the plan carries them; its
    ``runtime-info.json`` lists the plan's keys as ``rootAuthorizedKeys``, the keys root (and
    the initrd's unlock SSH) of the installed system trusts.
``install``
    ``nixos-install --no-root-passwd --root /mnt --flake /mnt/persist/etc/nixos#installed``; the
    command is looked up on ``PATH``, its output streamed as ``step`` events.
``reboot``
    Unmount ``/mnt`` recursively, ``zpool export``, then (after the final event) ``reboot``
    unless disabled.

Every finished phase is recorded in a state file on tmpfs (:data:`STATE_FILE`), with the public
host keys once ``keys`` made them; a rerun skips what is finished and resumes with the first
unfinished phase. Before ``keys``, ``flake`` and
``install`` the pool is imported (``zpool import -d /dev/disk/by-id -N -R /mnt rpool``), its key
loaded (``zfs load-key`` with the passphrase on stdin) and the datasets and boot partitions
mounted, each only when needed. Before a repeated ``format`` whatever an earlier attempt left
mounted or imported is released.

The disk key: read from the key file into memory (the file lives on tmpfs; a key file on a disk
is refused), fed on stdin only, never in argv, a log, an event or the state file, and the key file
shredded (``shred -u``) at the end of every run, whatever failed (``nixremote installer run``
does it in a ``finally``; the controller writes the key again for each run). The disk plan
itself shreds its own copy (:data:`~.layout.KEY_FILE`, the same path the controller writes to)
right after creating the pool, so a rerun in a new process that must import and unlock the pool
needs the key file written again.

The final event is ``kind="done"`` with no phase and the host keys in ``data`` (see
:func:`host_keys_data` and :func:`host_keys_from_data`), so the controller can write
``known_hosts`` entries for the installed system (port 22) and its initrd (port 2222).

This module runs inside the installer: it imports neither fabric, paramiko, hcloud nor rich.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

from ..core.diskkey import DiskKey
from ..core.diskplan import layout_mounts, partition_path
from ..core.errors import (
    CommandFailedError,
    InvalidInputError,
    NixremoteError,
    PlanError,
    SafetyError,
    TransportError,
)
from ..core.filetree import EXTRA_FILES_ARCHIVE, USER_FLAKE_ARCHIVE
from ..core.hostflake import (
    HOST_FLAKE_DIR,
    HOST_SSH_KEY_DIR,
    INITRD_SSH_HOST_KEY,
    INSTALL_MARKER,
)
from ..core.hostkeys import (
    INITRD_SSH_PORT,
    HostKey,
    host_key,
    host_keys_data,
    host_keys_from_data,
    public_key_text,
)
from ..core.layout import DiskLayout, PartitionRole
from ..core.models import RuntimeInfo
from ..core.mounts import filesystem_type, mounts_under
from ..core.phases import INSTALLER_PHASES as PHASES
from ..core.phases import parse_phases
from ..core.plan import Plan
from ..core.progress import Reporter, report
from ..core.transport import CommandResult, LocalTransport, Transport, check_result
from .execute import nuke_disks
from .safety import check_identity
from .state import STATE_FILE, InstallState, load_state, save_state

log = logging.getLogger(__name__)

SSH_DIR = HOST_SSH_KEY_DIR
"""The installed system's SSH host keys (a path of the installed system, as the Nix modules use)."""
INITRD_KEY = INITRD_SSH_HOST_KEY
"""The initrd's SSH host key for the remote unlock (a path of the installed system)."""
FLAKE_DIR = HOST_FLAKE_DIR
"""Where the host flake is written (a path of the installed system)."""
FLAKE_ATTR = "installed"

HOST_KEY_TYPES: tuple[tuple[str, int | None], ...] = (("ed25519", None), ("rsa", 4096))
"""(type, bits) of the installed system's host keys; NixOS's defaults."""

TMPFS_TYPES = frozenset({"tmpfs", "ramfs"})

KeyProvider = Callable[[str], DiskKey]
"""Returns the disk key; its argument says what the key is needed for (for a prompt)."""


def whole_disk(device: str, sys_block: Path = Path("/sys/class/block")) -> str:
    """The disk a partition ``device`` lies on (its real path), or the device itself."""
    real = os.path.realpath(device)
    node = sys_block / Path(real).name
    if (node / "partition").exists():
        return str(Path("/dev") / node.resolve().parent.name)
    return real


# --- the disk key ------------------------------------------------------------------------------


def read_key_file(path: Path, *, mountinfo: Path = Path("/proc/self/mountinfo")) -> DiskKey:
    """Read the disk key from ``path``, which must be on tmpfs (never a disk)."""
    fstype = filesystem_type(path, mountinfo.read_text(encoding="utf-8"))
    if fstype not in TMPFS_TYPES:
        raise SafetyError(
            f"the disk key file {path} is on {fstype or 'an unknown filesystem'}, not on tmpfs",
            hint="write it under /run (tmpfs in the installer) or /dev/shm",
        )
    return DiskKey.from_file(path)


def shred_key_file(path: Path, transport: Transport, reporter: Reporter | None) -> bool:
    """``shred -u`` the key file when it still exists; ``True`` when it did. Never raises: when
    ``shred`` fails or is missing, the file is overwritten with zeros and removed here; a file
    that cannot be removed at all is reported as a warning."""
    if not path.exists():
        return False
    try:
        transport.run(["shred", "-u", "--", str(path)], check=False)
    except NixremoteError as exc:
        log.warning("shred %s failed: %s", path, exc.message)
    if path.exists():
        try:
            size = path.stat().st_size
            with path.open("r+b") as f:
                f.write(b"\0" * size)
                f.flush()
                os.fsync(f.fileno())
            path.unlink()
        except OSError as exc:
            report(
                reporter,
                "warning",
                f"could not remove the disk key file {path}: {exc.strerror}",
                phase="cleanup",
            )
            return False
    report(reporter, "step", f"shredded the disk key file {path}", phase="cleanup")
    return True


# --- host keys ---------------------------------------------------------------------------------


def host_key_paths(root: str) -> tuple[tuple[str, str, Path, int], ...]:
    """(role, type, private key path, port) of every host key, under the install ``root``."""
    base = Path(root.rstrip("/") or "/")
    out = [
        ("host", kind, base / SSH_DIR.lstrip("/") / f"ssh_host_{kind}_key", 22)
        for kind, _bits in HOST_KEY_TYPES
    ]
    out.append(("initrd", "ed25519", base / INITRD_KEY.lstrip("/"), INITRD_SSH_PORT))
    return tuple(out)


def read_host_keys(root: str) -> tuple[HostKey, ...]:
    """The host keys present under ``root`` with their fingerprints (missing ones left out)."""
    keys = []
    for role, _kind, private, port in host_key_paths(root):
        pub = Path(f"{private}.pub")
        if pub.is_file():
            keys.append(host_key(role, pub.read_text(encoding="utf-8"), port))
    return tuple(keys)


# --- the run -----------------------------------------------------------------------------------


@frozen(kw_only=True)
class InstallerConfig:
    """How the installer runs.

    ``key_file``: the disk key (tmpfs); ``state_file``: the phase record; ``reboot``: run
    ``reboot`` at the end of the ``reboot`` phase; ``import_dir``: where ``zpool import`` looks
    for the devices of disks named by id (a disk named by kernel path is given directly);
    ``nixos_install``/``reboot_command``: the commands (looked up on ``PATH``);
    ``mountinfo``: the mount table to read (tests); ``check_identity``: before formatting, check
    that this is the host the plan names (:func:`.safety.check_identity`; a plan from the
    controller), with the kexec's marker at ``identity_marker`` when given;
    ``extra_files_archive``: where the controller put the plan's ``--extra-files`` archive;
    ``user_flake_archive``: the local ``--flake`` source tree.
    """

    key_file: Path | None = None
    state_file: Path = STATE_FILE
    reboot: bool = True
    import_dir: str = "/dev/disk/by-id"
    nixos_install: str = "nixos-install"
    reboot_command: tuple[str, ...] = ("reboot",)
    flake_attr: str = FLAKE_ATTR
    system_paths: tuple[str, ...] = ("/",)
    mountinfo: Path = Path("/proc/self/mountinfo")
    identity_marker: Path | None = None
    check_identity: bool = False
    extra_files_archive: Path = Path(EXTRA_FILES_ARCHIVE)
    user_flake_archive: Path = Path(USER_FLAKE_ARCHIVE)


@frozen(kw_only=True)
class RunResult:
    """What a run of the installer did: the phases it ran now, all finished phases, and the
    host keys."""

    ran: tuple[str, ...]
    finished: tuple[str, ...]
    host_keys: tuple[HostKey, ...] = ()
    rebooting: bool = False


class Installer:
    """Runs the phases for one host (see the module documentation).

    ``key`` is asked for only when needed (formatting an encrypted pool, or unlocking it on a
    resume) and then kept in memory for the rest of the run.
    """

    def __init__(
        self,
        plan: Plan,
        *,
        config: InstallerConfig,
        key_provider: KeyProvider | None = None,
        reporter: Reporter | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.plan = plan
        self.info: RuntimeInfo = plan.runtime_info
        self.layout: DiskLayout = plan.layout
        self.config = config
        self.reporter = reporter
        self.transport: Transport = transport or LocalTransport()
        self._key_provider = key_provider
        self._key: DiskKey | None = None
        self._keys: tuple[HostKey, ...] | None = None

    # -- helpers --

    @property
    def root(self) -> str:
        return self.layout.mount_root

    @property
    def pool(self) -> str:
        return self.layout.pool.name

    def path(self, installed: str) -> Path:
        """Where a path of the installed system is during the install (``/persist`` ->
        ``/mnt/persist``)."""
        return Path(self.layout.mount_path(installed))

    def _report(self, kind: str, message: str, phase: str | None = None, **kw: Any) -> None:
        report(self.reporter, kind, message, phase=phase, **kw)

    def _run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        what: str | None = None,
        check: bool = True,
    ) -> CommandResult:
        log.debug("run %s%s", " ".join(argv), " (secret on stdin)" if stdin else "")
        result = self.transport.run(list(argv), stdin=stdin, check=False)
        log.debug("exit code %d", result.returncode)
        return check_result(result, what) if check else result

    def key(self, why: str) -> DiskKey:
        """The disk key (asked for once)."""
        if self._key is None:
            if self._key_provider is None:
                raise PlanError(
                    f"the disk key is needed to {why} but none was given",
                    hint="pass --key-file (the controller writes it to /run/nixremote/disk.key)",
                )
            self._key = self._key_provider(why)
        return self._key

    def _mountinfo(self) -> str:
        return self.config.mountinfo.read_text(encoding="utf-8")

    # -- state --

    def _new_state(self) -> InstallState:
        return InstallState(
            host_name=self.info.host_name,
            disk=self.info.disk_to_format,
            pool=self.pool,
            root=self.root,
        )

    def load_state(self) -> InstallState:
        """The state for this host, fresh when there is none; another host's state is refused."""
        state = load_state(self.config.state_file)
        if state is None:
            return self._new_state()
        mine = (self.info.host_name, self.info.disk_to_format, self.pool, self.root)
        theirs = (state.host_name, state.disk, state.pool, state.root)
        if mine != theirs:
            raise SafetyError(
                f"{self.config.state_file} records an install of host {state.host_name} on "
                f"{state.disk} (pool {state.pool} at {state.root}); this run is for "
                f"{self.info.host_name} on {self.info.disk_to_format}",
                hint="remove the state file, or pass --restart, to start over",
            )
        return state

    # -- pool and mounts --

    def pool_imported(self) -> bool:
        return bool(self._run(["zpool", "list", "-H", "-o", "name", self.pool], check=False).ok)

    def key_loaded(self) -> bool:
        out = self._run(["zfs", "get", "-H", "-o", "value", "keystatus", self.pool], check=False)
        return bool(out.ok) and out.text.strip() == "available"

    def ensure_mounted(self, phase: str) -> None:
        """Import the pool, load its key and mount what the layout mounts, where not done."""
        wanted = layout_mounts(self.layout)
        present = {m.target for m in mounts_under(self.root, self._mountinfo())}
        missing = [(target, argv) for target, argv in wanted if target not in present]
        if not missing:
            return
        if not self.pool_imported():
            self._report("step", f"import the pool {self.pool} (resume)", phase)
            self._run(
                ["zpool", "import", *self.import_search(), "-N", "-R", self.root, self.pool],
                what=f"zpool import {self.pool}",
            )
        if self.layout.pool.encrypted and not self.key_loaded():
            self._report("step", f"load the key of {self.pool} (resume)", phase)
            key = self.key(f"unlock the pool {self.pool}").value
            self._run(
                ["zfs", "load-key", "-L", "prompt", self.pool],
                stdin=key,
                what=f"zfs load-key {self.pool}",
            )
        for target, argv in missing:
            self._report("step", f"mount {argv[-2]} at {target} (resume)", phase)
            Path(target).mkdir(parents=True, exist_ok=True)
            self._run(argv, what=f"mount {target}")

    def import_search(self) -> list[str]:
        """``-d`` arguments of ``zpool import``: the by-id directory for disks named by id
        (stable names in the pool's labels), the ZFS partition itself for a disk that has none."""
        args: list[str] = []
        for disk in self.layout.disks:
            zfs = disk.partition(PartitionRole.ZFS)
            if disk.path.startswith(self.config.import_dir.rstrip("/") + "/") or zfs is None:
                where = self.config.import_dir
            else:
                where = partition_path(disk.path, zfs.number)
            if where not in args:
                args += ["-d", where]
        return args

    def pool_devices(self) -> list[str] | None:
        """The device paths of the imported pool of the planned name (``None``: none imported)."""
        out = self._run(["zpool", "list", "-v", "-H", "-P", self.pool], check=False)
        if not out.ok:
            return None
        fields = (line.strip().split("\t") for line in out.text.splitlines()[1:])
        return [f[0] for f in fields if f and f[0].startswith("/")]

    def check_pool_disks(self) -> None:
        """A pool of the planned name that an earlier attempt left imported is released only
        when it lies on the planned disks: another machine's pool of the same name is not ours
        to export."""
        devices = self.pool_devices()
        if not devices:
            return
        planned = {os.path.realpath(d.path) for d in self.layout.disks}
        named = tuple(d.path for d in self.layout.disks)

        def ours(device: str) -> bool:
            # the disk it lies on; or, its link gone, a partition name of a planned disk
            return whole_disk(device) in planned or any(
                device.startswith((f"{n}-part", f"{n}p")) for n in named
            )

        foreign = [d for d in devices if not ours(d)]
        if foreign:
            raise SafetyError(
                f"a pool named {self.pool} is imported on {foreign[0]}, which is not a disk "
                "of the plan",
                hint=f"export it by hand (zpool export {self.pool}) if it is safe, then run again",
            )

    def release(self, phase: str) -> None:
        """Unmount everything under the root (recursively) and export the pool, where needed."""
        if mounts_under(self.root, self._mountinfo()):
            self._report("step", f"unmount {self.root} recursively", phase)
            self._run(["umount", "-R", self.root], what=f"umount {self.root}")
        if self.pool_imported():
            self._report("step", f"export the pool {self.pool}", phase)
            self._run(["zpool", "export", self.pool], what=f"zpool export {self.pool}")

    # -- the phases --

    def phase_format(self) -> None:
        if self.config.check_identity:
            check_identity(
                self.plan,
                self.transport,
                marker=self.config.identity_marker,
                reporter=self.reporter,
            )
        self.check_pool_disks()
        self.release("format")
        key = self.key("create the encrypted pool") if self.layout.pool.encrypted else None
        nuke_disks(
            self.info,
            self.layout,
            self.transport,
            key,
            self.reporter,
            system_paths=self.config.system_paths,
            steps=self.plan.steps,
        )

    def extra_files(self) -> None:
        """Copy the plan's ``--extra-files`` tree into place (before the host keys: a key pair
        it brings is kept by :meth:`_make_key`, and reported), then remove the archive."""
        from .filetree_apply import apply_tree

        tree = self.plan.extra_files
        if tree is None:
            return
        archive = self.config.extra_files_archive
        if not archive.is_file():
            raise PlanError(
                f"the plan lists {len(tree.entries)} extra files, but {archive} is missing",
                hint="run the install phase from the controller (it sends the archive)",
            )
        target = self.path(tree.destination)
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        count = apply_tree(tree, archive, target)
        archive.unlink()
        self._report("step", f"copied {count} extra files into {target}", "keys")

    def phase_keys(self) -> None:
        self.extra_files()
        host = self.info.host_name
        ssh_dir = self.path(SSH_DIR)
        ssh_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(ssh_dir, 0o755)
        for kind, bits in HOST_KEY_TYPES:
            self._make_key(ssh_dir / f"ssh_host_{kind}_key", kind, bits, f"root@{host}")
        initrd = self.path(INITRD_KEY)
        for directory in (initrd.parent.parent, initrd.parent):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory, 0o700)
        self._make_key(initrd, "ed25519", None, f"initrd@{host}")
        keys = self._keys = read_host_keys(self.root)
        self._report(
            "step",
            f"host keys of {host}: "
            + ", ".join(f"{k.role} {k.type} {k.fingerprint}" for k in keys),
            "keys",
            data=host_keys_data(keys),
        )

    def _make_key(self, private: Path, kind: str, bits: int | None, comment: str) -> None:
        public = Path(f"{private}.pub")
        if self._pair_matches(private, public):
            self._report("step", f"keep the existing {kind} key {private}", "keys")
        else:
            for stale in (private, public):
                stale.unlink(missing_ok=True)
            argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(private)]
            if bits:
                argv[4:4] = ["-b", str(bits)]
            self._report("step", f"generate the {kind} key {private}", "keys")
            self._run(argv, what=f"ssh-keygen {kind}")
        os.chmod(private, 0o600)
        os.chmod(public, 0o644)

    def _pair_matches(self, private: Path, public: Path) -> bool:
        if not (private.is_file() and public.is_file()):
            return False
        out = self._run(["ssh-keygen", "-y", "-P", "", "-f", str(private)], check=False)
        if not out.ok:
            return False
        try:
            return bool(out.text.split()[:2] == public_key_text(public.read_text()).split())
        except InvalidInputError:
            return False

    def user_flake(self) -> None:
        """The user's flake instead of nixremote's host flake: a local one copied from its
        archive (then removed), with the host's ``runtime-info.json`` written where the plan
        says (the plan's keys as ``rootAuthorizedKeys``); a remote one needs nothing here."""
        from ..core.converter import dumps_runtime_info
        from .filetree_apply import apply_tree

        flake = self.plan.user_flake
        assert flake is not None
        if flake.tree is None:
            self._report("step", f"{flake.ref}#{flake.name}: fetched by nixos-install", "flake")
            return
        archive = self.config.user_flake_archive
        if not archive.is_file():
            raise PlanError(
                f"the plan installs the flake {flake.ref}, but {archive} is missing",
                hint="run the install phase from the controller (it sends the flake)",
            )
        target = self.path(flake.tree.destination)
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        count = apply_tree(flake.tree, archive, target)
        archive.unlink()
        self._report("step", f"copied the flake {flake.ref} ({count} entries) to {target}", "flake")
        if flake.runtime_info_path:
            info = attrs.evolve(self.info, root_authorized_keys=self.plan.authorized_keys)
            path = target / flake.runtime_info_path
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.parent.is_symlink() or path.is_symlink():
                raise SafetyError(f"{path} is a symlink", hint="the flake's host dir must be real")
            path.write_text(dumps_runtime_info(info), encoding="utf-8")
            self._report("step", f"wrote {path}", "flake")

    def flake_ref(self) -> str:
        """What ``nixos-install --flake`` builds: the user's flake (its copy, for a local one)
        or nixremote's host flake."""
        flake = self.plan.user_flake
        if flake is None:
            return f"{self.path(FLAKE_DIR)}#{self.config.flake_attr}"
        if flake.tree is None:
            return f"{flake.ref}#{flake.name}"
        return f"{self.path(flake.tree.destination)}#{flake.name}"

    def phase_flake(self) -> None:
        from ..core import hostflake

        if self.plan.user_flake is not None:
            self.user_flake()
            return
        inputs = self.plan.host_flake
        # the installed system trusts the plan's keys (rootAuthorizedKeys of its runtime info)
        info = attrs.evolve(self.info, root_authorized_keys=self.plan.authorized_keys)
        hostflake.write_host_flake(
            info,
            self.path(FLAKE_DIR),
            reporter=self.reporter,
            nixremote_url=inputs.nixremote_flake or hostflake.DEFAULT_NIXREMOTE_URL,
            extra_modules=inputs.modules,
            sources=inputs.sources,
            files=inputs.files,
            inputs=inputs.inputs,
        )

    def phase_install(self) -> None:
        flake = self.flake_ref()
        argv = [
            self.config.nixos_install,
            "--no-root-passwd",
            "--root",
            self.root,
            "--flake",
            flake,
        ]
        self._report("step", "run " + " ".join(argv), "install", data={"argv": " ".join(argv)})
        returncode, tail = self._stream(argv, "install")
        if returncode != 0:
            raise CommandFailedError(
                f"nixos-install failed with exit code {returncode}: " + " | ".join(tail[-5:]),
                argv=tuple(argv),
                returncode=returncode,
                output="\n".join(tail),
                hint="read the output above; run `nixremote installer run` again to resume",
            )
        # A file in the root dataset that the first boot's rollback to @blank removes: the
        # verify phase checks that it is gone (the root was reset, as on every boot).
        marker = Path(self.root) / INSTALL_MARKER.lstrip("/")
        marker.write_text(f"installed by nixremote for {self.info.host_name}\n", encoding="utf-8")

    def _stream(self, argv: Sequence[str], phase: str) -> tuple[int, list[str]]:
        """Run ``argv`` with stdout and stderr merged, each line a ``step`` event."""
        tail: list[str] = []
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except FileNotFoundError:
            raise TransportError(
                f"{argv[0]}: command not found",
                hint="the installer image must provide nixos-install (nixos-install-tools)",
            ) from None
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            tail = [*tail[-19:], line]
            self._report("step", line, phase, data={"output": argv[0]})
        return proc.wait(), tail

    def phase_reboot(self) -> None:
        self.release("reboot")

    # -- the driver --

    def run(self, phases: Sequence[str] | None = None, *, restart: bool = False) -> RunResult:
        """Run ``phases`` (all by default) that are not finished yet, in order."""
        wanted = parse_phases(phases, PHASES)
        state = self._new_state() if restart else self.load_state()
        if restart and self.config.state_file.exists():
            self.config.state_file.unlink()
        ran: list[str] = []
        actions: dict[str, Callable[[], None]] = {
            "format": self.phase_format,
            "keys": self.phase_keys,
            "flake": self.phase_flake,
            "install": self.phase_install,
            "reboot": self.phase_reboot,
        }
        for phase in wanted:
            if phase in state.finished:
                self._report("skip", f"{phase}: finished in an earlier run", phase)
                continue
            missing = [p for p in PHASES[: PHASES.index(phase)] if p not in state.finished]
            if missing:
                raise PlanError(
                    f"phase {phase} needs {', '.join(missing)} first, which did not finish",
                    hint="add " + ",".join(missing) + " to --phases",
                )
            self._report("start", f"{phase}", phase)
            try:
                if phase in ("keys", "flake", "install"):
                    self.ensure_mounted(phase)
                actions[phase]()
            except NixremoteError as exc:
                state = save_state(
                    self.config.state_file,
                    attrs.evolve(state, failed_phase=phase, failed_message=exc.message),
                )
                self._report(
                    "error",
                    f"{phase} failed: {exc.message}",
                    phase,
                    data={"hint": exc.hint} if exc.hint else {},
                )
                raise
            except Exception as exc:  # a bug: still recorded, and told to the controller
                message = f"{type(exc).__name__}: {exc}"
                state = save_state(
                    self.config.state_file,
                    attrs.evolve(state, failed_phase=phase, failed_message=message),
                )
                self._report(
                    "error",
                    f"{phase} failed unexpectedly: {message}",
                    phase,
                    data={"hint": "this is a bug in nixremote; please report it"},
                )
                raise
            if phase == "keys" and self._keys is not None:
                state = attrs.evolve(
                    state, host_keys=tuple(sorted(host_keys_data(self._keys).items()))
                )
            state = save_state(
                self.config.state_file,
                attrs.evolve(
                    state,
                    finished=tuple(p for p in PHASES if p in {*state.finished, phase}),
                    failed_phase=None,
                    failed_message=None,
                ),
            )
            ran.append(phase)
            self._report("done", f"{phase} finished", phase)
        if "install" in state.finished and self.config.key_file is not None:
            shred_key_file(self.config.key_file, self.transport, self.reporter)
        keys = self._final_keys(state)
        rebooting = "reboot" in ran and self.config.reboot
        data = host_keys_data(keys)
        data["host"] = self.info.host_name
        data["finished"] = ",".join(state.finished)
        data["ran"] = ",".join(ran)
        if state.next_phase:
            data["next"] = state.next_phase
        message = (
            f"installed {self.info.host_name}"
            if "install" in state.finished
            else f"{self.info.host_name}: finished {', '.join(state.finished) or 'nothing'}"
        )
        self._report("done", message + ("; rebooting" if rebooting else ""), data=data)
        if rebooting:
            self._run(self.config.reboot_command, what="reboot")
        return RunResult(
            ran=tuple(ran), finished=state.finished, host_keys=keys, rebooting=rebooting
        )

    def _final_keys(self, state: InstallState) -> tuple[HostKey, ...]:
        """The host keys: made in this run, else recorded in the state file by an earlier one."""
        if self._keys is not None:
            return self._keys
        return host_keys_from_data(state.host_keys)
