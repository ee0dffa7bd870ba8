"""Waiting for a host to answer over SSH: after a create, a reset, a kexec, a reboot."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..core.errors import HostKeyError, TransportError
from ..core.progress import Reporter, report
from ..core.transport import Transport


def wait_for_ssh(
    connect: Callable[[], Transport],
    *,
    deadline: float,
    what: str,
    phase: str,
    hint: str,
    interval: float = 3.0,
    reporter: Reporter | None = None,
    clock: Callable[[], float] = time.monotonic,
    wrong_key_is_final: bool = False,
) -> Transport:
    """Call ``connect`` until it returns a transport on which ``true`` runs, or ``deadline``.

    ``connect`` should check the host key strictly where the key is known: a host that still
    presents an older key (the system before a kexec or reinstall) raises
    :class:`HostKeyError`, which here means "not yet". On timeout a :class:`TransportError`
    names ``what``, the last failure and ``hint`` (where to look). With
    ``wrong_key_is_final`` a wrong or unknown host key is raised at once: nothing else may
    answer there (the installed system and its initrd, whose keys were pinned).
    """
    start = clock()
    last = "no answer"
    while True:
        try:
            transport = connect()
            transport.run(["true"], timeout=30)
            report(
                reporter, "done", f"{what} answers over SSH ({clock() - start:.0f} s)", phase=phase
            )
            return transport
        except HostKeyError as exc:
            if wrong_key_is_final:
                raise
            last = f"host key is not the expected one yet ({exc.message})"
        except TransportError as exc:
            last = exc.message
        except OSError as exc:
            last = str(exc)
        if clock() >= deadline:
            break
        report(
            reporter,
            "progress",
            f"waiting for {what} to answer over SSH",
            phase=phase,
            current=int(clock() - start),
            total=int(deadline - start),
            unit="seconds",
            data={"last": last},
        )
        time.sleep(max(0.0, min(interval, deadline - clock())))
    raise TransportError(
        f"{what} did not answer over SSH within {deadline - start:.0f} s (last: {last})",
        hint=hint,
    )
