"""``nixremote install`` as a library function: :func:`install`.

The controller's phases:

``kexec``
    connect to the running system, collect its runtime info, load the bundle, build the
    installer zipapp and the handoff archive (with a freshly generated installer host key),
    preflight, install kexec-tools if needed, upload (skipping what is there, resuming what broke
    off; the handoff archive, which holds the installer's private key, into
    :data:`SECRET_DIRS` on tmpfs), ``kexec -l`` (then the archive is removed) + ``kexec -e``, then
    reconnect to the installer, strictly checking the generated key. The installer's key is
    recorded in the user's known_hosts for the host and port it will answer on *before*
    ``kexec -e``, so the pin holds even when the connection drops with the old system, and a
    later run with ``--phases format,install`` connects to the installer verified too.
``format``, ``install``, ``reboot``
    upload the zipapp when the installer does not have it, send the disk key on stdin into
    ``/run/nixremote/disk.key`` (tmpfs, 0600) and run ``nixremote installer run --json`` there
    (``install`` is the installer's ``keys,flake,install``), streaming its events to the
    reporter. The final event carries the installed system's host keys (and its initrd's, port
    2222), which are recorded in the user's known_hosts.

``dry_run`` collects, plans and checks, reports every step it would take (including the disk
plan's commands) and changes nothing on the host.
"""

from __future__ import annotations

import json
import logging
import shlex
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
from attrs import field, frozen

from ..core.converter import dumps_plan, loads_plan
from ..core.errors import CommandFailedError, InvalidInputError, SafetyError, TransportError
from ..core.facts import Facts
from ..core.hostkeys import INITRD_SSH_PORT, HostKey, host_keys_from_data
from ..core.layout import KEY_FILE
from ..core.models import RuntimeInfo
from ..core.phases import CONTROLLER_PHASES, INSTALLER_PHASES_OF, parse_phases
from ..core.plan import Plan
from ..core.plugins import PluginManager
from ..core.progress import Event, Reporter, event_from_json, report
from ..core.settings import as_pairs
from ..core.sshkeys import parse_key_line, unique_keys
from ..core.transport import Transport
from . import handoff, lifecycle, preflight, upload
from .bundle import Bundle, load_bundle
from .keypair import KeyPair, generate_host_key
from .known_hosts import record_known_host

log = logging.getLogger(__name__)

PHASES = CONTROLLER_PHASES

REMOTE_DIR = "/root/nixremote-kexec"
"""Where the bundle's kernel and initrd go on the old system (public files, kept for a rerun)."""

SECRET_DIRS = ("/run/nixremote-kexec", "/dev/shm/nixremote-kexec")
"""Where the handoff archive and the combined initrd go on the old system: the first of these
on tmpfs (with room; the preflight checks), mode 0700, files 0600; both hold the installer's
private host key and are removed after ``kexec -l``. Debian's rescue and live systems (and
the test VM's rescue system) mount both ``/run`` and ``/dev/shm`` as tmpfs."""

REMOTE_ZIPAPP = "/root/nixremote.pyz"
"""Where the zipapp lives in the installer."""

PLAN_FILE = "/run/nixremote/plan.json"
"""Where the controller puts the plan in the installer (tmpfs) before each run."""


@frozen(kw_only=True)
class Target:
    """How to reach the host: ``[user@]host``, port, key, the known_hosts file to check/record
    in, and the host key policy for the running (rescue) system (``strict``/``accept-new``)."""

    host: str
    user: str = "root"
    port: int = 22
    identity_file: Path | None = None
    known_hosts: Path | None = None
    host_key_policy: str = "strict"
    connect_timeout: float = 15.0

    @property
    def known_hosts_path(self) -> Path:
        return self.known_hosts or Path("~/.ssh/known_hosts").expanduser()


@frozen(kw_only=True)
class InstallOptions:
    """What to install and how.

    ``plan`` is an approved plan to run exactly as it is: the host is collected again and
    refused if it drifted (:func:`~.planning.check_drift`); without one, the plan is made from
    ``layout`` and ``disks`` (the disks to format, first the disk to format: see
    :class:`~.planning.PlanOptions`). ``confirm`` is asked with the plan before anything
    changes on the host (unless ``yes``); it returns whether to go on. ``disk_key`` is the
    encryption passphrase (never logged). ``authorized_keys`` are keys the installed system
    trusts beyond the old root's and the identity's ``.pub`` (with
    ``replace_authorized_keys``: instead of both, as ``--authorized-keys-file`` asks).
    """

    bundle: Path | None = None
    plan: Plan | None = None
    flake: str | None = None
    disk_key: bytes | None = field(default=None, repr=False)
    layout: str | None = None
    disks: tuple[str, ...] = ()
    phases: tuple[str, ...] = PHASES
    dry_run: bool = False
    yes: bool = False
    confirm: Callable[[Plan], bool] | None = field(default=None, eq=False, repr=False)
    installer_port: int | None = None
    unlock_port: int = INITRD_SSH_PORT
    verify_deadline: float = 600.0
    kexec_deadline: float = 600.0
    remote_dir: str = REMOTE_DIR
    secret_dirs: tuple[str, ...] = SECRET_DIRS
    installer_zipapp: str = REMOTE_ZIPAPP
    key_file: str = KEY_FILE
    plan_file: str = PLAN_FILE
    work_dir: Path | None = None
    authorized_keys: tuple[str, ...] = ()
    replace_authorized_keys: bool = False
    allow_kexec_install: bool = True
    hoster: str | None = None
    settings: tuple[tuple[str, str], ...] = field(default=(), converter=as_pairs)
    plugins: PluginManager | None = field(default=None, eq=False, repr=False)


@frozen(kw_only=True)
class InstallResult:
    """What :func:`install` did."""

    host: str
    phases: tuple[str, ...]
    dry_run: bool = False
    runtime_info: RuntimeInfo | None = None
    cmdline_bytes: int | None = None
    uploaded_bytes: int = 0
    installer_fingerprint: str | None = None
    host_keys: tuple[HostKey, ...] = ()
    steps: tuple[str, ...] = ()
    known_hosts: Path | None = None
    verified: tuple[tuple[str, str], ...] = ()


Connector = Callable[..., Transport]
"""``connect(target, known_hosts=..., policy=..., port=..., reporter=...) -> Transport``, opened;
``known_hosts`` ``None`` means the user's and the system's files."""


def ssh_connector(
    target: Target,
    *,
    known_hosts: Path | None,
    policy: str,
    port: int,
    reporter: Reporter | None = None,
) -> Transport:
    """Open an :class:`~nixremote.controller.ssh.SshTransport` (imported here: controller only)."""
    from .ssh import connect

    return connect(
        target.host,
        user=target.user,
        port=port,
        identity_file=target.identity_file,
        known_hosts=known_hosts,
        host_key_policy=policy,
        connect_timeout=target.connect_timeout,
        reporter=reporter,
    )


def _json_list(text: str | None) -> str:
    """``ip --json`` output as collected, or ``[]`` when the probe got none (or ip's text)."""
    try:
        return text if text is not None and isinstance(json.loads(text), list) else "[]"
    except ValueError:
        return "[]"


class _Run:
    """One run of the pipeline (state shared between the phases)."""

    def __init__(
        self,
        target: Target,
        options: InstallOptions,
        reporter: Reporter | None,
        connector: Connector,
    ) -> None:
        self.target = target
        self.options = options
        self.reporter = reporter
        self.connector = connector
        self.steps: list[str] = []
        self.info: RuntimeInfo | None = None
        self.plan: Plan | None = options.plan
        self.facts: Facts | None = None
        self.bundle: Bundle | None = None
        self.cmdline: str | None = None
        self.uploaded = 0
        self.installer_key: KeyPair | None = None
        self.host_keys: tuple[HostKey, ...] = ()
        self.verified: dict[str, str] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="nixremote-install-")
        self.work = options.work_dir or Path(self._tmp.name)

    # -- helpers --

    def step(self, message: str, phase: str, **data: str) -> None:
        self.steps.append(f"[{phase}] {message}")
        report(
            self.reporter,
            "step",
            ("would " if self.options.dry_run else "") + message,
            phase=phase,
            data=data,
        )

    @property
    def installer_port(self) -> int:
        return self.options.installer_port or self.target.port

    def connect_running(self) -> Transport:
        return self.connector(
            self.target,
            known_hosts=self.target.known_hosts,
            policy=self.target.host_key_policy,
            port=self.target.port,
            reporter=self.reporter,
        )

    def connect_installer(self, known_hosts: Path | None = None) -> Transport:
        # the installer lets root in (with the keys of the archive), whoever ran the old system
        root = attrs.evolve(self.target, user="root")
        return self.connector(
            root,
            known_hosts=known_hosts or self.target.known_hosts,
            policy="strict",
            port=self.installer_port,
            reporter=self.reporter,
        )

    # -- kexec --

    def kexec(self) -> Transport | None:
        opts = self.options
        if opts.bundle is None:
            raise InvalidInputError(
                "the kexec phase needs a bundle",
                hint="pass --bundle DIR or a nixos-images kexec tarball",
            )
        report(self.reporter, "start", f"taking over {self.target.host}", phase="kexec")
        transport = self.connect_running()
        try:
            return self._kexec(transport)
        except BaseException:
            transport.close()
            raise

    def _collect(self, transport: Transport) -> RuntimeInfo:
        from .collect import collect

        pm, opts = lifecycle.plugins(self), self.options
        info, self.facts = collect(
            transport, pm, opts.hoster, opts.settings, reporter=self.reporter
        )
        self.info = info
        return info

    def plan_for(self, info: RuntimeInfo, facts: Facts) -> Plan:
        """The plan to run: the approved one (refused if the host drifted), else a new one;
        shown, and confirmed unless ``yes`` or a dry run."""
        from .planning import check_drift

        if self.options.plan is not None:
            check_drift(self.options.plan, info)
            plan = self.options.plan
            report(self.reporter, "step", f"{info.host_name} matches the plan", phase="plan")
        else:
            plan = self.make_plan(info, facts)
        self.plan = plan
        self.approve(plan)
        return plan

    def approve(self, plan: Plan) -> None:
        """Show the plan (every line an event), then ask for the go-ahead."""
        from ..core.summary import plan_lines

        for line in plan_lines(plan):
            report(self.reporter, "step", line, phase="plan")
        if self.options.dry_run or self.options.yes:
            return
        if self.options.confirm is None or not self.options.confirm(plan):
            disks = ", ".join(d.path for d in plan.identity.disks)
            raise SafetyError(
                f"not confirmed: {plan.identity.host_name} keeps its system and {disks}",
                hint="confirm by typing the host name, or pass --yes",
            )

    def _kexec(self, transport: Transport) -> Transport | None:
        from . import zipapp

        opts = self.options
        info = self._collect(transport)
        facts = self.facts
        assert opts.bundle is not None and facts is not None
        bundle = self.bundle = load_bundle(opts.bundle)
        report(
            self.reporter,
            "step",
            f"bundle {bundle.source} ({bundle.kind}, {bundle.arch})",
            phase="kexec",
        )
        self.installer_key = generate_host_key("nixremote-installer")
        pyz = zipapp.build_bytes()
        (self.work / "nixremote.pyz").write_bytes(pyz)
        plan = self.plan_for(info, facts)
        info = plan.runtime_info  # what was approved travels (the disks the plan chose)
        # the installer lets in what the installed system will trust, and this controller
        keys = unique_keys((*plan.authorized_keys, *self.identity_keys()))
        dump = handoff.NetworkDump(
            addrs=_json_list(facts.get("ip-addr")),
            routes_v4=_json_list(facts.get("ip-route4")),
            routes_v6=_json_list(facts.get("ip-route6")),
        )
        archive = handoff.build_archive(
            handoff.archive_entries(
                host_key=self.installer_key,
                authorized_keys=keys,
                info=info,
                plan=plan,
                network=dump,
                zipapp=pyz,
            )
        )
        archive_path = self.work / "nixremote-handoff.cpio.gz"
        archive_path.write_bytes(archive)
        state, self.cmdline = preflight.run_preflight(
            transport,
            info,
            bundle,
            archive_bytes=len(archive),
            allow_kexec_install=opts.allow_kexec_install,
            upload_dir=opts.remote_dir,
            secret_dirs=opts.secret_dirs,
            network=dump,
            reporter=self.reporter,
        )
        remote = opts.remote_dir.rstrip("/")
        need = preflight.secret_bytes(bundle, len(archive))
        secret = preflight.secret_dir(state, need, host=transport.host).rstrip("/")
        kernel = f"{remote}/{bundle.kernel.name}"
        initrd = f"{remote}/{bundle.initrd.name}"
        archive_remote = f"{secret}/nixremote-handoff.cpio.gz"
        items = [
            upload.UploadItem(local=bundle.kernel, remote=kernel),
            upload.UploadItem(local=bundle.initrd, remote=initrd),
            upload.UploadItem(local=archive_path, remote=archive_remote, mode=0o600),
        ]
        kexec = state.kexec or "kexec"
        lifecycle.before_kexec(self, transport)
        if opts.dry_run:
            if not state.kexec:
                self.step(f"install kexec-tools with {state.package_manager}", "kexec")
            for it, there in upload.pending(transport, items):
                if there:
                    report(
                        self.reporter,
                        "skip",
                        f"{it.remote} is already on the target",
                        phase="kexec",
                    )
                else:
                    self.step(
                        f"upload {it.local} ({it.local.stat().st_size} bytes) to {it.remote}",
                        "kexec",
                    )
            self.step(
                f"run {shlex.join([kexec, '-l', kernel, f'--initrd={initrd}+archive'])} "
                f"--append=<{len(self.cmdline)} bytes: {bundle.kernel_params} "
                "nixremote.info=...>",
                "kexec",
            )
            self.step(
                f"run {kexec} -e (detached), then reconnect to {self.target.host} port "
                f"{self.installer_port} checking the generated host key "
                f"{self.installer_key.fingerprint}",
                "kexec",
            )
            transport.close()
            return None
        if not state.kexec:
            kexec = handoff.ensure_kexec(transport, self.reporter)
        transport.run(
            ["sh", "-c", 'umask 077; mkdir -p -- "$1" && chmod 0700 -- "$1"', "secret", secret]
        )
        result = upload.upload(transport, items, reporter=self.reporter, phase="upload")
        self.uploaded += result.transferred_bytes
        installer_key = self.installer_key

        def pin() -> None:
            # before kexec -e: if the connection drops with the old system, the pin is there
            record_known_host(
                self.target.known_hosts_path,
                self.target.host,
                self.installer_port,
                [installer_key.public_openssh],
            )
            report(
                self.reporter,
                "step",
                f"recorded the installer's host key {installer_key.fingerprint} for "
                f"{self.target.host} port {self.installer_port} in "
                f"{self.target.known_hosts_path}",
                phase="kexec",
            )

        handoff.load_and_exec(
            transport,
            kexec=kexec,
            kernel=kernel,
            initrd=initrd,
            archive=archive_remote,
            combined=f"{secret}/initrd.combined",
            cmdline=self.cmdline,
            reporter=self.reporter,
            before_exec=pin,
        )
        kexec_at = time.monotonic()
        transport.close()
        pinned = self.work / "installer_known_hosts"  # the generated key and nothing else
        record_known_host(
            pinned, self.target.host, self.installer_port, [self.installer_key.public_openssh]
        )
        installer = handoff.wait_for_installer(
            lambda: self.connect_installer(pinned),
            deadline=kexec_at + opts.kexec_deadline,
            host=self.target.host,
            reporter=self.reporter,
        )
        report(
            self.reporter,
            "done",
            f"installer verified ({self.installer_key.fingerprint})",
            phase="kexec",
            data={"fingerprint": self.installer_key.fingerprint},
        )
        return installer

    def identity_keys(self) -> tuple[str, ...]:
        """The public key of the identity file (its ``.pub``), when there is one."""
        if self.target.identity_file is None:
            return ()
        pub = Path(f"{self.target.identity_file}.pub")
        if not pub.is_file():
            return ()
        try:
            text = pub.read_text(encoding="utf-8").strip()
            return (parse_key_line(text, what=f"the key in {pub}").line,)
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read {pub}: {exc}", hint="check the file") from None

    def make_plan(self, info: RuntimeInfo, facts: Facts) -> Plan:
        """The plan for the collected host: every hook asked here, once."""
        from .parsers import parse_machine_id
        from .planning import PlanOptions, make_plan

        opts = self.options
        target = f"{self.target.user}@{self.target.host}:{self.target.port}"
        extra = opts.authorized_keys
        if not opts.replace_authorized_keys:
            extra = (*extra, *self.identity_keys())
        return make_plan(
            info,
            PlanOptions(
                layout=opts.layout,
                disks=opts.disks,
                nixremote_flake=opts.flake,
                authorized_keys=extra,
                replace_authorized_keys=opts.replace_authorized_keys,
                phases=opts.phases,
                flake_sources=self.bundle.flake_sources if self.bundle else (),
                settings=opts.settings,
            ),
            target=target,
            machine_id=parse_machine_id(facts.get("machine-id")),
            pm=lifecycle.plugins(self),
        )

    def plan_disk(self) -> None:
        """Report the disk plan (every command) in a dry run."""
        if self.plan is None and self.options.plan is not None:
            self.plan = self.options.plan
            self.approve(self.plan)
        if self.plan is None:
            self.step("use the plan the installer holds (made by the kexec phase)", "format")
            return
        for s in self.plan.steps:
            self.step(
                f"{s.description}: {s.command}" + (" (key on stdin)" if s.stdin_secret else ""),
                "format",
            )

    # -- installer phases --

    def installer_phases(self, installer: Transport | None, phases: Sequence[str]) -> None:
        wanted = [
            p for name in phases if name in INSTALLER_PHASES_OF for p in INSTALLER_PHASES_OF[name]
        ]
        if not wanted:
            return
        argv_tail = [
            "installer",
            "run",
            "--yes",
            "--json",
            "--phases",
            ",".join(wanted),
            "--plan",
            self.options.plan_file,
        ]
        if self.options.dry_run:
            if "format" in wanted:
                self.plan_disk()
            key_file = self.options.key_file
            self.step(f"send the disk key on stdin into {key_file} (tmpfs, 0600)", "install")
            self.step(
                "run python3 "
                + shlex.join(
                    [
                        self.options.installer_zipapp,
                        *argv_tail[:2],
                        "--key-file",
                        key_file,
                        *argv_tail[2:],
                    ]
                ),
                "install",
            )
            return
        if installer is None:
            installer = self.connect_installer()
        try:
            if self.plan is None:  # a resume: no kexec (and no plan made) in this run
                self.plan = self.options.plan or self.held_plan(installer)
                self.info = self.plan.runtime_info
                if "format" in wanted:
                    self.approve(self.plan)
            lifecycle.drive(self, installer, wanted, argv_tail)
        finally:
            installer.close()

    def _drive(self, installer: Transport, wanted: list[str], argv_tail: list[str]) -> None:
        python = handoff.find_python(installer, self.bundle.python if self.bundle else None)
        pyz = self.work / "nixremote.pyz"
        if not pyz.is_file():
            from . import zipapp

            pyz.write_bytes(zipapp.build_bytes())
        remote_pyz = self.options.installer_zipapp
        result = upload.upload(
            installer,
            [upload.UploadItem(local=pyz, remote=remote_pyz)],
            reporter=self.reporter,
            phase="install",
        )
        self.uploaded += result.transferred_bytes
        self.send_plan(installer)
        argv = [python, remote_pyz, *argv_tail[:2]]
        if self.options.disk_key is not None:
            key_file = self.options.key_file
            installer.run(
                [
                    "sh",
                    "-c",
                    'umask 077; mkdir -p "$(dirname "$1")" && cat > "$1"',
                    "key",
                    key_file,
                ],
                stdin=self.options.disk_key,
                timeout=60,
            )
            argv += ["--key-file", key_file]
        argv += argv_tail[2:]
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
            if self.reporter is not None:
                self.reporter(event)

        try:
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
                    hint=dict(last.data).get("hint")
                    or "rerun with the failed phase in --phases (finished phases are skipped)",
                ) from None
            else:
                raise
        if final:
            self.record_host_keys(dict(final[-1].data), rebooting="reboot" in wanted)

    def held_plan(self, installer: Transport) -> Plan:
        """The plan the installer holds (the kexec phase handed it over): a resume's plan."""
        result = installer.run(["cat", handoff.PLAN_PATH], check=False)
        if not result.ok:
            raise InvalidInputError(
                f"the installer on {self.target.host} holds no plan ({handoff.PLAN_PATH})",
                hint="run the kexec phase first (add kexec to --phases), or pass --plan",
            )
        return loads_plan(result.stdout, source=f"{self.target.host}:{handoff.PLAN_PATH}")

    def send_plan(self, installer: Transport) -> None:
        """Put the plan into the installer's tmpfs, over the verified connection. On a resume
        (no kexec in this run) the plan is the one the kexec phase handed over."""
        assert self.plan is not None
        installer.run(
            [
                "sh",
                "-c",
                'umask 077; mkdir -p "$(dirname "$1")" && cat > "$1"',
                "plan",
                self.options.plan_file,
            ],
            stdin=dumps_plan(self.plan).encode(),
            timeout=60,
        )

    # -- verify --

    def verify(self) -> None:
        """After the reboot: unlock the pool through the initrd (an encrypted layout), reach
        the installed system with its pinned key, check what it runs (one event with each
        figure)."""
        from ..core.diskkey import DiskKey
        from .unlock import unlock
        from .verify import check_system
        from .wait import wait_for_ssh

        plan = self.plan or self.options.plan
        pool = plan.layout.pool.name if plan else "rpool"
        encrypted = plan.layout.pool.encrypted if plan else True
        host_name = plan.identity.host_name if plan else None
        report(self.reporter, "start", f"verifying {self.target.host}", phase="verify")
        if self.options.dry_run:
            what = "unlock the pool through the initrd's SSH, then " if encrypted else ""
            self.step(f"{what}check the installed system over its pinned key", "verify")
            return
        root = attrs.evolve(self.target, user="root")

        def connect_initrd() -> Transport:
            return self.connector(
                root,
                known_hosts=self.target.known_hosts,
                policy="strict",
                port=self.options.unlock_port,
                reporter=None,
            )

        def connect_system() -> Transport:
            return self.connector(
                root,
                known_hosts=self.target.known_hosts,
                policy="strict",
                port=self.target.port,
                reporter=None,
            )

        figures: dict[str, str] = {}
        if encrypted:
            if self.options.disk_key is None:
                raise InvalidInputError(
                    "the verify phase unlocks the pool: it needs the disk key",
                    hint="pass --disk-key-file FILE",
                )
            result = unlock(
                connect_initrd,
                connect_system,
                DiskKey.from_bytes(self.options.disk_key),
                host=self.target.host,
                pool=pool,
                wait=self.options.verify_deadline,
                reporter=self.reporter,
            )
            figures = {
                "initrdSeconds": f"{result.initrd_seconds:.0f}",
                "unlockSeconds": f"{result.unlock_seconds:.0f}",
                "systemSeconds": f"{result.system_seconds:.0f}",
                "initrd": result.flavor,
            }
        system = wait_for_ssh(
            connect_system,
            deadline=time.monotonic() + self.options.verify_deadline,
            what=f"the system of {self.target.host}",
            phase="verify",
            hint="look at the host's console",
            reporter=self.reporter,
            wrong_key_is_final=True,
        )
        try:
            found = check_system(system, host_name=host_name, pool=pool)
        finally:
            system.close()
        data = {**found.data(), **figures}
        self.verified = data
        report(
            self.reporter,
            "done",
            f"{found.host_name} runs {found.nixos_version}: / is {found.root_source} (reset "
            f"to @blank), {found.persist_keys} host keys in /persist, pool {pool}: "
            f"{found.pool_health}",
            phase="verify",
            data=data,
        )

    def record_host_keys(self, data: dict[str, str], *, rebooting: bool) -> None:
        """Record the installed system's host keys in the user's known_hosts.

        The initrd's keys (their own port) are recorded at once. The system's keys share the
        installer's host and port, so they replace the installer's key only when the reboot
        phase runs: until then a rerun must still reach the installer, verified.
        """
        keys = host_keys_from_data(data)
        if not keys:
            return
        path = self.target.known_hosts_path
        host_lines = [k.public for k in keys if k.role == "host"]
        if host_lines and rebooting:
            record_known_host(path, self.target.host, self.target.port, host_lines)
        initrd_lines = [k.public for k in keys if k.role == "initrd"]
        if initrd_lines:  # where the controller reaches the initrd's SSH (2222, or forwarded)
            record_known_host(path, self.target.host, self.options.unlock_port, initrd_lines)
        for k in keys:
            port = self.target.port if k.role == "host" else self.options.unlock_port
            if k.role == "host" and not rebooting:
                report(
                    self.reporter,
                    "step",
                    f"installed system's {k.type} key {k.fingerprint} (port {port}) will be "
                    "recorded when the reboot phase runs",
                    phase="verify",
                )
                continue
            report(
                self.reporter,
                "step",
                f"recorded {k.role} key {k.type} {k.fingerprint} (port {port}) in {path}",
                phase="verify",
            )
        self.host_keys = keys


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
    run = _Run(target, options, reporter, connector)
    try:
        if options.bundle is not None:
            run.bundle = load_bundle(options.bundle)
        transport = run.connect_running()
        try:
            info = run._collect(transport)
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
        run._tmp.cleanup()


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
    run = _Run(target, options, reporter, connector)
    try:
        installer: Transport | None = None
        if "kexec" in phases:
            installer = run.kexec()
        elif options.dry_run:
            run.step(
                f"connect to the installer on {target.host} port {run.installer_port} "
                "(host key recorded by the kexec phase)",
                "kexec",
            )
        rest = [p for p in phases if p not in ("kexec", "verify")]
        if rest:
            run.installer_phases(installer, rest)
        elif installer is not None:
            installer.close()
        if "verify" in phases:
            run.verify()
        lifecycle.after_verify(run, phases)
        return InstallResult(
            host=target.host,
            phases=phases,
            dry_run=options.dry_run,
            runtime_info=run.info,
            cmdline_bytes=len(run.cmdline) if run.cmdline else None,
            uploaded_bytes=run.uploaded,
            installer_fingerprint=run.installer_key.fingerprint if run.installer_key else None,
            host_keys=run.host_keys,
            steps=tuple(run.steps),
            known_hosts=target.known_hosts_path,
            verified=tuple(sorted(run.verified.items())),
        )
    finally:
        run._tmp.cleanup()


__all__ = [
    "PHASES",
    "InstallOptions",
    "InstallResult",
    "Target",
    "install",
    "parse_phases",
    "plan",
    "ssh_connector",
]
