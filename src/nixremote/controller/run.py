"""One run of ``nixremote install`` or ``nixremote plan``: what the user asked for
(:class:`InstallOptions`), what the run did (:class:`InstallResult`) and the state the phases
share (:class:`Run`: the connections, the collected host, the plan, the keys).

The phases themselves live apart: :mod:`.kexec_phase`, :mod:`.drive` (the installer's phases),
:mod:`.verify`; :mod:`.pipeline` runs them in order.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import attrs
from attrs import field, frozen

from ..core.errors import InvalidInputError, SafetyError
from ..core.facts import Facts
from ..core.hostkeys import INITRD_SSH_PORT, HostKey
from ..core.layout import KEY_FILE
from ..core.models import RuntimeInfo
from ..core.phases import CONTROLLER_PHASES
from ..core.plan import BundleFile, BundleTravel, Plan
from ..core.plugins import PluginManager
from ..core.progress import Reporter, report
from ..core.settings import as_pairs
from ..core.sshkeys import parse_key_line
from ..core.transport import Transport
from . import lifecycle
from .bundle import Bundle
from .keypair import KeyPair
from .target import Connector, Target

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

    A rerun finds out where the host is first (:mod:`.whereis`: ``installer_marker``,
    ``state_file`` and ``host_flake`` are where it looks) and goes on from there; it never
    formats a disk whose install finished unless ``force_format`` (an explicit ``format``
    without the kexec asks ``confirm`` again, even with ``yes``).
    ``extra_files`` is a directory copied into the installed system's ``/persist`` (owners
    and modes kept), listed in the plan. ``user_flake`` (``REF#NAME``) is the user's own flake
    the installer builds; ``nixremote_flake`` the nixremote reference of nixremote's host flake.
    """

    bundle: Path | None = None
    plan: Plan | None = None
    nixremote_flake: str | None = None
    user_flake: str | None = None
    extra_files: Path | None = None
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
    force_format: bool = False
    installer_marker: str = "/root/network/nixremote-installer.json"
    state_file: str = "/run/nixremote/state.json"
    host_flake: str = "/persist/etc/nixos/flake.nix"
    work_dir: Path | None = None
    authorized_keys: tuple[str, ...] = ()
    replace_authorized_keys: bool = False
    allow_kexec_install: bool = True
    hoster: str | None = None
    settings: tuple[tuple[str, str], ...] = field(default=(), converter=as_pairs)
    plugins: PluginManager | None = field(default=None, eq=False, repr=False)


@frozen(kw_only=True)
class InstallResult:
    """What :func:`~.pipeline.install` did."""

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


def bundle_travel(bundle: Bundle) -> BundleTravel:
    """How ``bundle`` reaches the target, as the plan records it."""
    if bundle.fetched:
        files = tuple(
            BundleFile(name=f.name, size=f.size, url=f.url, sha256=f.sha256) for f in bundle.fetch
        )
        return BundleTravel(source=str(bundle.source), how="url", files=files)
    files = tuple(BundleFile(name=p.name, size=bundle.size(p)) for p in bundle.files)
    return BundleTravel(source=str(bundle.source), how="upload", files=files)


class Run:
    """One run of the pipeline: the state its phases share, and the helpers they all use
    (reporting a step, connecting, collecting, planning and asking for the go-ahead)."""

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
        self.restart = False
        """The installer forgets its finished phases (a confirmed or forced new format)."""
        self.system_running = False
        """The installed system already runs (and its pool is unlocked): verify only checks."""
        self.format_done = False
        """The installer's record says the format finished (a resume: nothing to approve)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="nixremote-install-")
        self.work = options.work_dir or Path(self._tmp.name)

    def close(self) -> None:
        """Remove the run's work directory (unless the options named one)."""
        self._tmp.cleanup()

    def result(self, phases: tuple[str, ...]) -> InstallResult:
        return InstallResult(
            host=self.target.host,
            phases=phases,
            dry_run=self.options.dry_run,
            runtime_info=self.info,
            cmdline_bytes=len(self.cmdline) if self.cmdline else None,
            uploaded_bytes=self.uploaded,
            installer_fingerprint=self.installer_key.fingerprint if self.installer_key else None,
            host_keys=self.host_keys,
            steps=tuple(self.steps),
            known_hosts=self.target.known_hosts_path,
            verified=tuple(sorted(self.verified.items())),
        )

    def step(self, message: str, phase: str, **data: str) -> None:
        """Report a step (in a dry run: one it would take) and keep it for the result."""
        self.steps.append(f"[{phase}] {message}")
        report(
            self.reporter,
            "step",
            ("would " if self.options.dry_run else "") + message,
            phase=phase,
            data=data,
        )

    # -- connections --

    @property
    def installer_port(self) -> int:
        return self.options.installer_port or self.target.port

    def connect_running(self) -> Transport:
        """The running (old) system, with the target's own host key policy."""
        return self.connector(
            self.target,
            known_hosts=self.target.known_hosts,
            policy=self.target.host_key_policy,
            port=self.target.port,
            reporter=self.reporter,
        )

    def connect_root(
        self, port: int, *, known_hosts: Path | None = None, quiet: bool = False
    ) -> Transport:
        """Root on ``port``, strictly checked (the installer, the initrd, the installed system:
        each lets root in with the handed-over keys, whoever ran the old system)."""
        root = attrs.evolve(self.target, user="root", sudo=False, sudo_prompt=None)
        return self.connector(
            root,
            known_hosts=known_hosts or self.target.known_hosts,
            policy="strict",
            port=port,
            reporter=None if quiet else self.reporter,
        )

    def connect_installer(self, known_hosts: Path | None = None) -> Transport:
        return self.connect_root(self.installer_port, known_hosts=known_hosts)

    # -- collect and plan --

    def collect(self, transport: Transport) -> RuntimeInfo:
        from .collect import collect

        pm, opts = lifecycle.plugins(self), self.options
        info, self.facts = collect(
            transport, pm, opts.hoster, opts.settings, reporter=self.reporter
        )
        self.info = info
        return info

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
        from .filetree_scan import scan_tree
        from .parsers import parse_machine_id
        from .planning import PlanOptions, make_plan

        opts = self.options
        tree = scan_tree(opts.extra_files) if opts.extra_files is not None else None
        extra = opts.authorized_keys
        if not opts.replace_authorized_keys:
            extra = (*extra, *self.identity_keys())
        made = make_plan(
            info,
            PlanOptions(
                layout=opts.layout,
                disks=opts.disks,
                nixremote_flake=opts.nixremote_flake,
                authorized_keys=extra,
                replace_authorized_keys=opts.replace_authorized_keys,
                phases=opts.phases,
                flake_sources=self.bundle.flake_sources if self.bundle else (),
                settings=opts.settings,
                extra_files=tree,
            ),
            target=self.target.address,
            machine_id=parse_machine_id(facts.get("machine-id")),
            pm=lifecycle.plugins(self),
        )
        if self.bundle is not None:
            made = attrs.evolve(made, bundle=bundle_travel(self.bundle))
        if opts.user_flake is None:
            return made
        from . import userflake_plan

        return userflake_plan.attach(made, opts.user_flake, reporter=self.reporter)

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
