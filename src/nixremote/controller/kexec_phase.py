"""The kexec phase: from the running (old) system into the nixremote installer.

Connect to the running system, collect its runtime info, load the bundle, build the installer
zipapp and the handoff archive (with a freshly generated installer host key), plan and ask for
the go-ahead, preflight, install kexec-tools if needed, upload (skipping what is there, resuming
what broke off; the handoff archive, which holds the installer's private key, into
:data:`~.run.SECRET_DIRS` on tmpfs), ``kexec -l`` (then the archive is removed) + ``kexec -e``,
then reconnect to the installer, strictly checking the generated key. The installer's key is
recorded in the user's known_hosts for the host and port it will answer on *before*
``kexec -e``, so the pin holds even when the connection drops with the old system, and a later
run with ``--phases format,install`` connects to the installer verified too.
"""

from __future__ import annotations

import json
import shlex
import time

from ..core.errors import InvalidInputError, SafetyError
from ..core.plan import Plan
from ..core.progress import report
from ..core.sshkeys import unique_keys
from ..core.transport import Transport
from . import fetch, handoff, lifecycle, preflight, upload
from .bundle import Bundle, load_bundle
from .keypair import generate_host_key
from .known_hosts import record_known_host
from .run import Run, bundle_travel

PHASE = "kexec"


def kexec(run: Run, transport: Transport | None = None) -> Transport | None:
    """Run the kexec phase over ``transport`` (the running system, connected here when
    ``None``; closed afterwards); the verified connection to the installer (``None`` in a dry
    run)."""
    if run.options.bundle is None:
        if transport is not None:
            transport.close()
        raise InvalidInputError(
            "the kexec phase needs a bundle",
            hint="pass --bundle DIR or a nixos-images kexec tarball",
        )
    report(run.reporter, "start", f"taking over {run.target.host}", phase=PHASE)
    if transport is None:
        transport = run.connect_running()
    try:
        return _take_over(run, transport)
    except BaseException:
        transport.close()
        raise


def check_bundle(plan: Plan, bundle: Bundle) -> None:
    """Refuse a bundle that travels otherwise than the approved plan says (another way, other
    URLs, hashes or sizes): what was approved is what runs. A plan without a record (made
    without ``--bundle``) accepts any."""
    if plan.bundle is None:
        return
    given = bundle_travel(bundle)
    if (given.how, given.files) != (plan.bundle.how, plan.bundle.files):
        raise SafetyError(
            f"the bundle {bundle.source} is not the one the plan was approved with "
            f"({plan.bundle.source}, {plan.bundle.how})",
            hint="pass the plan's bundle, or make a new plan with this one",
        )


def _json_list(text: str | None) -> str:
    """``ip --json`` output as collected, or ``[]`` when the probe got none (or ip's text)."""
    try:
        return text if text is not None and isinstance(json.loads(text), list) else "[]"
    except ValueError:
        return "[]"


def _take_over(run: Run, transport: Transport) -> Transport | None:
    from . import zipapp

    opts = run.options
    info = run.collect(transport)
    facts = run.facts
    assert opts.bundle is not None and facts is not None
    bundle = run.bundle = load_bundle(opts.bundle)
    report(
        run.reporter,
        "step",
        f"bundle {bundle.source} ({bundle.kind}, {bundle.arch})",
        phase=PHASE,
    )
    installer_key = run.installer_key = generate_host_key("nixremote-installer")
    pyz = zipapp.build_bytes()
    (run.work / "nixremote.pyz").write_bytes(pyz)
    plan = run.plan_for(info, facts)
    check_bundle(plan, bundle)
    info = plan.runtime_info  # what was approved travels (the disks the plan chose)
    # the installer lets in what the installed system will trust, and this controller
    keys = unique_keys((*plan.authorized_keys, *run.identity_keys()))
    dump = handoff.NetworkDump(
        addrs=_json_list(facts.get("ip-addr")),
        routes_v4=_json_list(facts.get("ip-route4")),
        routes_v6=_json_list(facts.get("ip-route6")),
    )
    archive = handoff.build_archive(
        handoff.archive_entries(
            host_key=installer_key,
            authorized_keys=keys,
            info=info,
            plan=plan,
            network=dump,
            zipapp=pyz,
        )
    )
    archive_path = run.work / "nixremote-handoff.cpio.gz"
    archive_path.write_bytes(archive)
    state, cmdline = preflight.run_preflight(
        transport,
        info,
        bundle,
        archive_bytes=len(archive),
        allow_kexec_install=opts.allow_kexec_install,
        upload_dir=opts.remote_dir,
        secret_dirs=opts.secret_dirs,
        network=dump,
        reporter=run.reporter,
    )
    run.cmdline = cmdline
    remote = opts.remote_dir.rstrip("/")
    need = preflight.secret_bytes(bundle, len(archive))
    secret = preflight.secret_dir(state, need, host=transport.host).rstrip("/")
    kernel = f"{remote}/{bundle.kernel.name}"
    initrd = f"{remote}/{bundle.initrd.name}"
    archive_remote = f"{secret}/nixremote-handoff.cpio.gz"
    items = [
        *(
            ()
            if bundle.fetched  # the host downloads them itself (a URL bundle)
            else (
                upload.UploadItem(local=bundle.kernel, remote=kernel),
                upload.UploadItem(local=bundle.initrd, remote=initrd),
            )
        ),
        upload.UploadItem(local=archive_path, remote=archive_remote, mode=0o600),
    ]
    kexec = state.kexec or "kexec"
    lifecycle.before_kexec(run, transport)
    if opts.dry_run:
        if not state.kexec:
            run.step(f"install kexec-tools with {state.package_manager}", PHASE)
        for f in bundle.fetch:
            run.step(
                f"have the host download {f.url} ({f.size} bytes) to {remote}/{f.name} and "
                f"check its sha256 {f.sha256}",
                PHASE,
            )
        for it, there in upload.pending(transport, items):
            if there:
                report(run.reporter, "skip", f"{it.remote} is already on the target", phase=PHASE)
            else:
                run.step(
                    f"upload {it.local} ({it.local.stat().st_size} bytes) to {it.remote}", PHASE
                )
        run.step(
            f"run {shlex.join([kexec, '-l', kernel, f'--initrd={initrd}+archive'])} "
            f"--append=<{len(cmdline)} bytes: {bundle.kernel_params} nixremote.info=...>",
            PHASE,
        )
        run.step(
            f"run {kexec} -e (detached), then reconnect to {run.target.host} port "
            f"{run.installer_port} checking the generated host key {installer_key.fingerprint}",
            PHASE,
        )
        transport.close()
        return None
    if not state.kexec:
        kexec = handoff.ensure_kexec(transport, run.reporter)
    transport.run(
        ["sh", "-c", 'umask 077; mkdir -p -- "$1" && chmod 0700 -- "$1"', "secret", secret]
    )
    if bundle.fetched:
        fetch.fetch_on_target(transport, bundle.fetch, remote, reporter=run.reporter)
    result = upload.upload(transport, items, reporter=run.reporter, phase="upload")
    run.uploaded += result.transferred_bytes

    def pin() -> None:
        # before kexec -e: if the connection drops with the old system, the pin is there. It
        # goes beside the old system's key, not instead of it: when the installer never comes
        # up, the way back is the old (rescue) system, still verified. The installer itself is
        # reached with its key alone (``pinned`` below); the reboot phase replaces both.
        record_known_host(
            run.target.known_hosts_path,
            run.target.host,
            run.installer_port,
            [installer_key.public_openssh],
            replace=False,
        )
        report(
            run.reporter,
            "step",
            f"recorded the installer's host key {installer_key.fingerprint} for "
            f"{run.target.host} port {run.installer_port} in {run.target.known_hosts_path} "
            "(beside the current system's)",
            phase=PHASE,
        )

    handoff.load_and_exec(
        transport,
        kexec=kexec,
        kernel=kernel,
        initrd=initrd,
        archive=archive_remote,
        combined=f"{secret}/initrd.combined",
        cmdline=cmdline,
        reporter=run.reporter,
        before_exec=pin,
    )
    kexec_at = time.monotonic()
    transport.close()
    pinned = run.work / "installer_known_hosts"  # the generated key and nothing else
    record_known_host(pinned, run.target.host, run.installer_port, [installer_key.public_openssh])
    installer = handoff.wait_for_installer(
        lambda: run.connect_installer(pinned),
        deadline=kexec_at + opts.kexec_deadline,
        host=run.target.host,
        reporter=run.reporter,
    )
    report(
        run.reporter,
        "done",
        f"installer verified ({installer_key.fingerprint})",
        phase=PHASE,
        data={"fingerprint": installer_key.fingerprint},
    )
    return installer
