"""After the API: wait for a provisioned server's SSH, with its host key pinned or accepted once."""

from __future__ import annotations

import time
from pathlib import Path

from ...controller.known_hosts import record_known_host
from ...core.progress import Reporter, report
from .api import PHASE, Provisioned


def await_ssh(
    result: Provisioned,
    *,
    known_hosts: Path,
    port: int = 22,
    timeout: float = 300.0,
    identity: Path | None = None,
    reporter: Reporter | None = None,
) -> str | None:
    """Record the server's host key and wait until SSH answers; return its fingerprint.

    A server created with a generated host key has it recorded before the first contact and is
    checked strictly. A rescue system's key is new on every boot: old keys of that host and
    port are dropped and the first key it presents is accepted, once, for that host only (and
    reported). ``timeout`` 0 records what can be recorded and does not wait.
    """
    from ...controller.ssh import connect
    from ...controller.wait import wait_for_ssh

    host = result.server.ssh_host
    if result.host_key is not None:
        record_known_host(known_hosts, host, port, [result.host_key.public_openssh])
        report(
            reporter,
            "step",
            f"pinned host key {result.host_key.fingerprint} for {host}",
            phase=PHASE,
        )
        policy = "strict"
    else:
        record_known_host(known_hosts, host, port, [])
        report(
            reporter,
            "warning",
            f"{host} presents a new host key (rescue system): accepting it once, "
            "for this host only",
            phase=PHASE,
        )
        policy = "accept-new"
    if timeout <= 0:
        return result.host_key.fingerprint if result.host_key else None
    transport = wait_for_ssh(
        lambda: connect(
            host,
            port=port,
            identity_file=identity,
            known_hosts=known_hosts,
            host_key_policy=policy,
            connect_timeout=10,
            reporter=reporter,
        ),
        deadline=time.monotonic() + timeout,
        what=f"server {result.server.name} ({host})",
        phase=PHASE,
        hint="check the server's console in the Hetzner console",
        reporter=reporter,
    )
    transport.close()
    if result.host_key is not None:
        return result.host_key.fingerprint
    return getattr(transport, "accepted_new_key", None)
