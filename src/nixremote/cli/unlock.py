"""``nixremote unlock``: give an installed host's initrd the pool's passphrase over SSH.

Waits for the initrd's SSH server (port 2222), checks its host key strictly against the one the
install recorded (no trust on first use: a changed or unknown key is refused before the
passphrase is sent), hands the passphrase over on stdin, then waits until the installed
system's sshd answers with its own pinned key and reports how long each stage took.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..core.errors import InvalidInputError
from .options import ssh_options, target_from
from .output import json_option

F = TypeVar("F", bound=Callable[..., Any])
_ssh_options: Callable[[F], F] = ssh_options(
    port_help="Port of the initrd's SSH server (default 2222)."
)


@click.command("unlock")
@click.argument("target", metavar="[USER@]HOST")
@_ssh_options
@click.option(
    "--system-port",
    type=click.IntRange(1, 65535),
    default=22,
    show_default=True,
    help="Port of the installed system's sshd (waited for after the unlock).",
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
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds to wait for each stage of the boot.",
)
@click.option("--no-system", is_flag=True, help="Do not wait for the system's sshd afterwards.")
@json_option
def unlock_cmd(
    target: str,
    port: int | None,
    system_port: int,
    disk_key_file: Path | None,
    pool: str,
    wait: float,
    no_system: bool,
    as_json: bool,
    **connection: Any,
) -> None:
    """Unlock the encrypted pool of HOST through its initrd's SSH server, then wait for the
    system (strict host keys at both hops; the passphrase goes on stdin only)."""
    import attrs

    from ..controller.target import ssh_connector
    from ..controller.unlock import unlock
    from ..core.diskkey import DiskKey
    from ..core.progress import Event
    from .output import emit_result, progress_reporter

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
    known_hosts = connection["known_hosts"]
    base = target_from(target, port=None, **connection)
    root = attrs.evolve(base, user="root")
    port = port or 2222

    def connect(at: int) -> Any:
        return lambda: ssh_connector(root, known_hosts=known_hosts, policy="strict", port=at)

    with progress_reporter(json_lines=as_json) as reporter:
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
            "unlocked": result.unlocked,
            "initrdSeconds": round(result.initrd_seconds, 1),
            "unlockSeconds": round(result.unlock_seconds, 1),
            "systemSeconds": None if no_system else round(result.system_seconds, 1),
        }
        done = "" if no_system else f", system SSH after {result.system_seconds:.0f} s"
        message = (
            f"{result.host}: initrd SSH after {result.initrd_seconds:.0f} s, "
            f"unlocked after {result.unlock_seconds:.0f} s{done}"
        )
        if as_json:
            emit_result(message, data)
        else:
            reporter(Event(kind="done", message=message))


__all__ = ["unlock_cmd"]
