"""``nixremote unlock``: give an installed host's initrd the pool's passphrase over SSH.

Waits for the initrd's SSH server (port 2222), checks its host key strictly against the one the
install recorded (no trust on first use: a changed or unknown key is refused before the
passphrase is sent), hands the passphrase over on stdin, then waits until the installed
system's sshd answers with its own pinned key and reports how long each stage took.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..core.errors import InvalidInputError
from .options import target_from


@click.command("unlock")
@click.argument("target", metavar="[USER@]HOST")
@click.option(
    "-p",
    "--port",
    type=click.IntRange(1, 65535),
    default=2222,
    show_default=True,
    help="Port of the initrd's SSH server.",
)
@click.option(
    "--system-port",
    type=click.IntRange(1, 65535),
    default=22,
    show_default=True,
    help="Port of the installed system's sshd (waited for after the unlock).",
)
@click.option(
    "-i", "--identity", type=click.Path(path_type=Path, dir_okay=False), help="SSH private key."
)
@click.option(
    "--known-hosts",
    type=click.Path(path_type=Path, dir_okay=False),
    help="known_hosts file with the recorded keys (default ~/.ssh/known_hosts).",
)
@click.option(
    "--disk-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File holding the passphrase (else it is asked for).",
)
@click.option("--pool", default="rpool", show_default=True, help="The pool to unlock.")
@click.option(
    "--wait",
    "wait",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds to wait for each stage of the boot.",
)
@click.option("--no-system", is_flag=True, help="Do not wait for the system's sshd afterwards.")
@click.option(
    "--connect-timeout",
    type=float,
    default=15.0,
    show_default=True,
    help="Seconds to wait for each SSH connection.",
)
@click.option("--json", "json_lines", is_flag=True, help="One JSON event a line on stdout.")
def unlock_cmd(
    target: str,
    port: int,
    system_port: int,
    identity: Path | None,
    known_hosts: Path | None,
    disk_key_file: Path | None,
    pool: str,
    wait: float,
    no_system: bool,
    connect_timeout: float,
    json_lines: bool,
) -> None:
    """Unlock the encrypted pool of HOST through its initrd's SSH server, then wait for the
    system (strict host keys at both hops; the passphrase goes on stdin only)."""
    import attrs

    from ..controller.target import ssh_connector
    from ..controller.unlock import unlock
    from ..core.diskkey import DiskKey
    from ..core.progress import Event
    from .output import progress_reporter

    if disk_key_file is not None:
        key = DiskKey.from_file(disk_key_file)
    elif sys.stdin.isatty():
        value: str = click.prompt(f"Passphrase of {pool}", hide_input=True, err=True)
        key = DiskKey.from_bytes(value.encode(), source="the passphrase")
    else:
        raise InvalidInputError(
            "the passphrase is needed and there is no terminal to ask for it",
            hint="pass --disk-key-file FILE",
        )
    base = target_from(
        target,
        port=None,
        identity=identity,
        known_hosts=known_hosts,
        accept_new=False,
        connect_timeout=connect_timeout,
    )
    root = attrs.evolve(base, user="root")

    def connect(at: int) -> Any:
        return lambda: ssh_connector(root, known_hosts=known_hosts, policy="strict", port=at)

    with progress_reporter(json_lines=json_lines) as reporter:
        result = unlock(
            connect(port),
            None if no_system else connect(system_port),
            key,
            host=base.host,
            pool=pool,
            wait=wait,
            reporter=reporter,
        )
        data = {
            "host": result.host,
            "pool": result.pool,
            "initrd": result.flavor,
            "unlocked": str(result.unlocked).lower(),
            "initrdSeconds": f"{result.initrd_seconds:.0f}",
            "unlockSeconds": f"{result.unlock_seconds:.0f}",
            "systemSeconds": f"{result.system_seconds:.0f}",
        }
        done = "" if no_system else f", system SSH after {result.system_seconds:.0f} s"
        reporter(
            Event(
                kind="done",
                data=data,
                message=f"{result.host}: initrd SSH after {result.initrd_seconds:.0f} s, "
                f"unlocked after {result.unlock_seconds:.0f} s{done}",
            )
        )


__all__ = ["unlock_cmd"]
