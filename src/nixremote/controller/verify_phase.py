"""The verify phase: after the reboot, unlock the pool through the initrd's SSH (an encrypted
layout; :mod:`.unlock`), reach the installed system with its pinned key and check what it runs
(:mod:`.verify`), one event with each figure."""

from __future__ import annotations

import time

from ..core.diskkey import DiskKey
from ..core.errors import InvalidInputError
from ..core.progress import report
from ..core.transport import Transport
from .run import Run
from .unlock import unlock
from .verify import PHASE, check_system
from .wait import wait_for_ssh


def verify(run: Run) -> None:
    """Run the verify phase (in a dry run: say what it would do)."""
    opts, target = run.options, run.target
    plan = run.plan or opts.plan
    pool = plan.layout.pool.name if plan else "rpool"
    encrypted = plan.layout.pool.encrypted if plan else True
    host_name = plan.identity.host_name if plan else None
    report(run.reporter, "start", f"verifying {target.host}", phase=PHASE)
    if opts.dry_run:
        what = "unlock the pool through the initrd's SSH, then " if encrypted else ""
        run.step(f"{what}check the installed system over its pinned key", PHASE)
        return

    def connect_system() -> Transport:
        return run.connect_root(target.port, quiet=True)

    figures: dict[str, str] = {}
    if run.system_running:  # found running at the start (a rerun): its pool is unlocked
        report(run.reporter, "skip", f"{target.host} runs already: no unlock", phase=PHASE)
    elif encrypted:
        if opts.disk_key is None:
            raise InvalidInputError(
                "the verify phase unlocks the pool: it needs the disk key",
                hint="pass --disk-key-file FILE",
            )
        result = unlock(
            lambda: run.connect_root(opts.unlock_port, quiet=True),
            connect_system,
            DiskKey.from_bytes(opts.disk_key),
            host=target.host,
            pool=pool,
            wait=opts.verify_deadline,
            reporter=run.reporter,
        )
        figures = {
            "initrdSeconds": f"{result.initrd_seconds:.0f}",
            "unlockSeconds": f"{result.unlock_seconds:.0f}",
            "systemSeconds": f"{result.system_seconds:.0f}",
            "initrd": result.flavor,
        }
    system = wait_for_ssh(
        connect_system,
        deadline=time.monotonic() + opts.verify_deadline,
        what=f"the system of {target.host}",
        phase=PHASE,
        hint="look at the host's console",
        reporter=run.reporter,
        wrong_key_is_final=True,
    )
    try:
        found = check_system(system, host_name=host_name, pool=pool)
    finally:
        system.close()
    data = {**found.data(), **figures}
    run.verified = data
    report(
        run.reporter,
        "done",
        f"{found.host_name} runs {found.nixos_version}: / is {found.root_source} (reset "
        f"to @blank), {found.persist_keys} host keys in /persist, pool {pool}: "
        f"{found.pool_health}",
        phase=PHASE,
        data=data,
    )
