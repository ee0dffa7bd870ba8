"""Running a disk plan on this machine: the safety checks, then the steps, stopping at a failure.

:func:`execute` runs the steps of :func:`nixremote.core.diskplan.plan` through a
:class:`~nixremote.core.transport.Transport`, stopping at the first failure with the step and its
output (steps marked ``always``, shredding the key file, still run once the key was written);
:func:`nuke_disks` is what the installer and ``nixremote disk apply`` call: the checks of
:mod:`.safety` first, then the plan (or only its report, with ``dry_run``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from attrs import frozen

from ..core.diskkey import DiskKey
from ..core.diskplan import PHASE, Step, plan, select
from ..core.errors import CommandFailedError, NixremoteError, PlanError, TransportError
from ..core.layout import DiskLayout
from ..core.models import RuntimeInfo
from ..core.progress import Reporter, report
from ..core.transport import CommandResult, Transport
from .safety import check_layout

log = logging.getLogger(__name__)


@frozen(kw_only=True)
class StepResult:
    """What running a step did: ``status`` is ``ok``, ``failed``, ``tolerated`` or ``dry-run``."""

    index: int
    step: Step
    status: str
    returncode: int | None = None
    output: str = ""


def _run_step(transport: Transport, step: Step, key: DiskKey | None) -> CommandResult:
    stdin = key.value if step.stdin_secret and key is not None else None
    try:
        return transport.run(step.argv, stdin=stdin, check=False)
    except TransportError as exc:
        if isinstance(exc, CommandFailedError):
            raise
        # "command not found" and timeouts become a failed step with the message as output.
        return CommandResult(argv=step.argv, returncode=127, stdout=b"", stderr=str(exc).encode())


def _need_key(steps: Sequence[Step], key: DiskKey | None, dry_run: bool) -> None:
    if not dry_run and key is None and any(s.stdin_secret for s in steps):
        raise PlanError(
            "the plan creates an encrypted pool but no disk key was given",
            hint="pass --key-file or the key on stdin",
        )


def execute(
    steps: Sequence[Step],
    transport: Transport,
    key: DiskKey | None,
    reporter: Reporter | None = None,
    *,
    dry_run: bool = False,
) -> tuple[StepResult, ...]:
    """Run ``steps`` in order through ``transport``.

    The first step that fails stops the run: steps marked ``always`` still run if the key was
    written (the key file is shredded), then :class:`CommandFailedError` is raised naming the
    step, with its exit code and output. ``key`` (the passphrase) is fed on stdin to the steps
    that need it; it is required when any step does. With ``dry_run`` nothing runs and every
    step is reported.
    """
    total = len(steps)
    _need_key(steps, key, dry_run)
    results: list[StepResult] = []
    failure: StepResult | None = None
    secret_used = False
    for index, step in enumerate(steps, start=1):
        if failure is not None and not (step.always and secret_used):
            continue
        secret_used = secret_used or step.stdin_secret
        data = {"stage": step.stage, "argv": step.command}
        if dry_run:
            report(
                reporter,
                "step",
                step.description,
                phase=PHASE,
                current=index,
                total=total,
                data={**data, "dryRun": True},
            )
            results.append(StepResult(index=index, step=step, status="dry-run"))
            continue
        report(
            reporter, "step", step.description, phase=PHASE, current=index, total=total, data=data
        )
        result = _run_step(transport, step, key)
        output = result.tail()
        ok = result.ok
        if ok and step.expect_stdout is not None and result.text.strip() != step.expect_stdout:
            ok = False
            output = f"expected output {step.expect_stdout!r}, got {result.text.strip()!r}"
        if ok:
            results.append(
                StepResult(
                    index=index, step=step, status="ok", returncode=result.returncode, output=output
                )
            )
            continue
        if step.may_fail and failure is None:
            report(
                reporter,
                "warning",
                f"{step.description}: exit code {result.returncode}, tolerated",
                phase=PHASE,
                current=index,
                total=total,
                data=data,
            )
            results.append(
                StepResult(
                    index=index,
                    step=step,
                    status="tolerated",
                    returncode=result.returncode,
                    output=output,
                )
            )
            continue
        item = StepResult(
            index=index, step=step, status="failed", returncode=result.returncode, output=output
        )
        results.append(item)
        if failure is None:
            failure = item
            report(
                reporter,
                "error",
                f"step {index}/{total} failed: {step.description}",
                phase=PHASE,
                current=index,
                total=total,
                data={**data, "output": output},
            )
        else:
            report(
                reporter,
                "warning",
                f"cleanup step {step.description} failed too",
                phase=PHASE,
                current=index,
                total=total,
                data=data,
            )
    if failure is not None:
        tail = failure.output.replace("\n", " | ")
        how = "" if failure.returncode == 0 else f" with exit code {failure.returncode}"
        raise CommandFailedError(
            f"disk step {failure.index}/{total} ({failure.step.description}) failed{how}: {tail}",
            argv=failure.step.argv,
            returncode=failure.returncode,
            output=failure.output,
            hint="nothing after this step ran; fix the cause and run the plan again",
        )
    if not dry_run:
        report(
            reporter,
            "done",
            f"disk plan finished: {total} steps",
            phase=PHASE,
            current=total,
            total=total,
        )
    return tuple(results)


def nuke_disks(
    info: RuntimeInfo,
    layout: DiskLayout,
    transport: Transport,
    key: DiskKey | None,
    reporter: Reporter | None = None,
    *,
    dry_run: bool = False,
    stages: Iterable[str] | None = None,
    system_paths: Sequence[str] = ("/",),
    steps: Sequence[Step] | None = None,
) -> tuple[StepResult, ...]:
    """Check the disks (:func:`.safety.check_layout`), then create ``layout`` on the host.

    This is what the installer runs (with a :class:`~nixremote.core.transport.LocalTransport`)
    once the user has confirmed on the controller. The safety checks run even with ``dry_run``
    (they only read); then ``dry_run`` reports the steps without running them. ``stages`` limits
    the run to some stages (:data:`~nixremote.core.diskplan.STAGES`); ``steps`` are the plan's
    (default: the steps of ``layout``). Raises :class:`~nixremote.core.errors.SafetyError`
    when a disk is refused, :class:`CommandFailedError` when a step fails.
    """
    steps = select(plan(layout) if steps is None else steps, stages)
    _need_key(steps, key, dry_run)  # before anything is checked or run
    check_layout(info, layout, transport, system_paths=system_paths, reporter=reporter)
    try:
        return execute(steps, transport, key, reporter, dry_run=dry_run)
    except NixremoteError:
        log.error("disk plan for %s stopped", layout.name)
        raise
