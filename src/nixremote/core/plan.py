"""The plan: everything an install will do, decided once on the controller, carried as data.

:class:`Plan` holds what the hooks decided for one host (the runtime info, the disk layout and
its steps, the host flake's inputs, the keys the installed system will trust, the phases) and
what identifies the host (:class:`TargetIdentity`: its name, the MACs of its NICs, its
machine-id, every disk to wipe with by-id path, kernel path, size, model and serial). It is
written as ``plan.json`` by the one converter (:mod:`nixremote.core.converter`), shown to
the user, approved, and carried into the installer, which executes it without deciding again.

No secret is ever part of a plan: the disk key travels on its own, on stdin.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from attrs import field, frozen

from . import diskplan
from . import validate as v
from .diskplan import Step
from .errors import PlanError
from .filetree import FileTree
from .flakeparts import FlakeFile, FlakeInput
from .layout import DiskLayout
from .models import RuntimeInfo
from .nixtext import check_flake_url, layout_module
from .phases import CONTROLLER_PHASES
from .sshkeys import check_key, parse_key_line, unique_keys
from .userflake import UserFlake

PLAN_SCHEMA_VERSION = 1
"""The ``schemaVersion`` of ``plan.json`` that this version writes and the newest it reads."""

INSTALLER_MARKER = "nixremote-installer.json"
"""A file of the kexec handoff archive, ``{"planSha256": ...}``: the installer image restores it
to ``/root/network/`` (as every ``*.json`` of the archive), so the installer can tell that it was
booted by the kexec of the plan it is asked to run (see
:func:`nixremote.installers.safety.check_identity`)."""


@frozen(kw_only=True)
class PlannedDisk:
    """A disk the plan wipes, as the controller saw it: ``path`` is the path the layout names
    (by-id when the disk has one), ``device`` its kernel path at collect time."""

    path: str = field(validator=v.check(v.disk_path))
    device: str = field(validator=v.check(v.disk_path))
    size_bytes: int | None = None
    model: str | None = field(default=None, validator=v.check(v.optional(v.text)))
    serial: str | None = field(default=None, validator=v.check(v.optional(v.text)))


@frozen(kw_only=True)
class TargetIdentity:
    """What makes the target the host the plan was made for."""

    host_name: str = field(validator=v.check(v.host_name))
    macs: tuple[str, ...] = field(default=(), validator=v.each(v.mac))
    machine_id: str | None = field(default=None, validator=v.check(v.optional(v.machine_id)))
    disks: tuple[PlannedDisk, ...] = ()


@frozen(kw_only=True)
class FlakeSource:
    """A flake input whose source the installer image carries in its store (``flakeInputs`` of
    ``bundle.json``): the host flake's ``flake.lock`` pins it there, so ``nixos-install`` needs
    no network to evaluate. ``nar_hash`` is in any form :func:`~.flakelock.sri_nar_hash` reads;
    ``url`` is the reference nixremote's flake declares for the input."""

    name: str
    path: str
    nar_hash: str
    last_modified: int | None = None
    url: str | None = None


@frozen(kw_only=True)
class HostFlakeInputs:
    """What the host flake gets beyond the runtime info: the nixremote flake reference
    (``None``: the default), the NixOS modules plugins add (Nix expressions, from the
    ``host_flake_modules`` hook) and the layout's module (which disks boot, whether the pool
    asks for a key; ``None`` for the default layout); ``sources`` the flake inputs the
    installer carries, which ``flake.lock`` pins (none: the installer resolves them online);
    ``files`` the files plugins ship (their paths in the flake: ``plugins/<plugin>/...``),
    ``inputs`` the flake inputs plugins add."""

    nixremote_flake: str | None = None
    extra_modules: tuple[str, ...] = ()
    layout_module: str | None = None
    sources: tuple[FlakeSource, ...] = ()
    files: tuple[FlakeFile, ...] = ()
    inputs: tuple[FlakeInput, ...] = ()

    @property
    def modules(self) -> tuple[str, ...]:
        """Every module the host flake adds, in order: the plugins' expressions, their module
        files (``./plugins/...``), one registering each flake input the plugins added (so its
        source stays in the system's closure and the registry, like nixremote's), the layout's
        module."""
        return (
            *self.extra_modules,
            *(f"./{f.path}" for f in self.files if f.module),
            *(
                f"{{ nixremote.flake.inputs.{i.name} = inputs.{i.name}; }}"
                for i in self.inputs
                if i.flake
            ),
            *((self.layout_module,) if self.layout_module else ()),
        )


@frozen(kw_only=True)
class BundleFile:
    """A file of the kexec bundle: its name, size and, for a URL bundle, where the target
    downloads it from and its sha256."""

    name: str = field(validator=v.check(v.text))
    size: int = 0
    url: str | None = field(default=None, validator=v.check(v.optional(v.text)))
    sha256: str | None = field(default=None, validator=v.check(v.optional(v.text)))


@frozen(kw_only=True)
class BundleTravel:
    """How the kexec bundle reaches the target: ``upload`` (from the controller) or ``url``
    (the target downloads it and checks its sha256); ``source`` the bundle's directory or
    tarball on the controller."""

    source: str = field(validator=v.check(v.text))
    how: str = field(validator=v.check(lambda x: v.name(x, what="bundle travel")))
    files: tuple[BundleFile, ...] = ()


@frozen(kw_only=True)
class PluginRecord:
    """A plugin that took part in the decisions: its name and distribution version."""

    name: str
    version: str | None = None


@frozen(kw_only=True)
class Plan:
    """Everything an install does (see the module documentation).

    ``target`` says where the controller reached the host (``root@203.0.113.7:22``); ``phases``
    are the controller's phases the plan was approved for; ``authorized_keys`` the SSH keys the
    installed system will trust (key lines without options; the installed system's
    ``rootAuthorizedKeys``); ``settings`` the plugin settings the hooks decided with
    (``<plugin>.<key>`` -> value; secret values redacted); ``extra_files`` the tree
    ``--extra-files`` copies into the installed system's ``/persist`` (every entry listed);
    ``user_flake`` the user's own flake the installer builds (``--flake REF#NAME``) instead
    of the host flake nixremote writes; ``bundle`` how the kexec bundle reaches the target.
    """

    target: str = field(validator=v.check(lambda t: v.text(t, what="target")))
    identity: TargetIdentity
    runtime_info: RuntimeInfo
    layout: DiskLayout
    steps: tuple[Step, ...]
    host_flake: HostFlakeInputs = HostFlakeInputs()
    authorized_keys: tuple[str, ...] = field(default=(), validator=v.each(check_key))
    phases: tuple[str, ...] = ()
    plugins: tuple[PluginRecord, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()
    extra_files: FileTree | None = None
    user_flake: UserFlake | None = None
    bundle: BundleTravel | None = None
    created: str = ""
    schema_version: int = PLAN_SCHEMA_VERSION


@frozen(kw_only=True)
class TrustedKey:
    """One key the installed system will trust, for the plan's summary: its type, fingerprint
    and comment, and where it came from (``"old root"``: root's ``authorized_keys`` on the
    host; ``"given"``: ``--authorized-key``, the identity's ``.pub`` or a key file)."""

    type: str
    fingerprint: str
    comment: str
    origin: str


def trusted_keys(plan: Plan) -> tuple[TrustedKey, ...]:
    """The keys of ``plan`` as the summary shows them (see :class:`TrustedKey`)."""
    old = {parse_key_line(k).text for k in plan.runtime_info.root_authorized_keys}
    out = []
    for line in plan.authorized_keys:
        key = parse_key_line(line)
        out.append(
            TrustedKey(
                type=key.type,
                fingerprint=key.fingerprint,
                comment=key.comment,
                origin="old root" if key.text in old else "given",
            )
        )
    return tuple(out)


def identity_of(
    info: RuntimeInfo, layout: DiskLayout, *, machine_id: str | None = None
) -> TargetIdentity:
    """The target's identity as a plan records it: its name, MACs, machine-id and every disk
    the layout wipes (which must all be among the collected disks)."""
    disks = []
    for spec in layout.disks:
        disk = info.disk(spec.path)
        if disk is None and not info.disks:  # a runtime info without disk facts (the
            disks.append(PlannedDisk(path=spec.path, device=spec.path))  # original's shape)
            continue
        if disk is None:
            raise PlanError(
                f"the layout names {spec.path}, which is not among the disks of {info.host_name}",
                hint="pick a disk that `nixremote info` lists",
            )
        disks.append(
            PlannedDisk(
                path=spec.path,
                device=disk.path,
                size_bytes=disk.size_bytes,
                model=disk.model,
                serial=disk.serial,
            )
        )
    macs = tuple(sorted({i.mac for i in info.interfaces if i.mac}))
    return TargetIdentity(
        host_name=info.host_name, macs=macs, machine_id=machine_id, disks=tuple(disks)
    )


def build_plan(
    info: RuntimeInfo,
    layout: DiskLayout,
    *,
    target: str = "",
    machine_id: str | None = None,
    nixremote_flake: str | None = None,
    extra_modules: Iterable[str] = (),
    authorized_keys: Iterable[str] = (),
    replace_authorized_keys: bool = False,
    require_authorized_keys: bool = True,
    phases: Iterable[str] = CONTROLLER_PHASES,
    plugins: Iterable[PluginRecord] = (),
    flake_sources: Iterable[FlakeSource] = (),
    files: Iterable[FlakeFile] = (),
    flake_inputs: Iterable[FlakeInput] = (),
    settings: Iterable[tuple[str, str]] = (),
    extra_files: FileTree | None = None,
    now: datetime.datetime | None = None,
) -> Plan:
    """A plan from decisions already taken: the layout (its steps follow from it), the host
    flake's extra modules, files and inputs, the keys beyond the host's own, the settings (as
    recorded: redacted). Pure: no hook runs here (the controller's
    :func:`nixremote.controller.planning.make_plan` asks the plugins first).

    The installed system trusts :attr:`Plan.authorized_keys`: the old root's keys
    (``info.root_authorized_keys``) and ``authorized_keys``, or ``authorized_keys`` alone with
    ``replace_authorized_keys`` (``--authorized-keys-file``). No key at all is refused: NixOS
    would refuse the system at ``nixos-install`` (no way in for root, no key for the remote
    unlock), after the disk was wiped. Only a plan for the disks alone (``nixremote disk``:
    no system is installed) passes ``require_authorized_keys=False``."""
    flake_ref = check_flake_url(nixremote_flake) if nixremote_flake else None
    extra = tuple(check_key(k) for k in authorized_keys)
    keys = unique_keys(extra if replace_authorized_keys else (*info.root_authorized_keys, *extra))
    if not keys and require_authorized_keys:
        raise PlanError(
            f"the installed system of {info.host_name} would trust no SSH key"
            + ("" if replace_authorized_keys else ": root on the old system has none"),
            hint="pass --authorized-key 'ssh-ed25519 AAAA...', -i KEY (its .pub is added) or "
            "--authorized-keys-file FILE",
        )
    created = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Plan(
        target=target or info.host_name,
        identity=identity_of(info, layout, machine_id=machine_id),
        runtime_info=info,
        layout=layout,
        steps=diskplan.plan(layout),
        host_flake=HostFlakeInputs(
            nixremote_flake=flake_ref,
            extra_modules=tuple(m for m in extra_modules if m),
            layout_module=layout_module(
                boot_devices=[d.path for d in layout.disks], encrypted=layout.pool.encrypted
            ),
            sources=tuple(flake_sources),
            files=tuple(files),
            inputs=tuple(flake_inputs),
        ),
        authorized_keys=keys,
        phases=tuple(phases),
        plugins=tuple(plugins),
        settings=tuple(sorted(settings)),
        extra_files=extra_files,
        created=created,
    )
