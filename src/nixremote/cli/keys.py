"""The options that say which SSH keys the installed system trusts, for every command that plans.

``--authorized-key KEY`` (repeatable) adds a key to the old root's keys and the identity's
``.pub``; ``--authorized-keys-file FILE`` replaces them all with the file's keys (plus any
``--authorized-key``). Options in front of a key (``command="..."``, ``no-pty``) are removed,
with a warning naming them. Everything is checked here, before anything happens on a host.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..core.errors import InvalidInputError, InvalidValueError
from ..core.sshkeys import keys_from_text, parse_key_line, unique_keys

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def authorized_key_options(f: F) -> F:
    """Add ``--authorized-key`` and ``--authorized-keys-file`` to a command."""
    f = click.option(
        "--authorized-keys-file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="The installed system trusts exactly the keys of this file (authorized_keys "
        "format) and those of --authorized-key, instead of the old root's and the identity's.",
    )(f)
    f = click.option(
        "--authorized-key",
        "authorized_key",
        multiple=True,
        metavar="KEY",
        help="A public key line ('ssh-ed25519 AAAA... you@host') the installed system trusts, "
        "beyond the old root's keys and the identity's .pub (repeatable).",
    )(f)
    return f


def authorized_keys(keys: tuple[str, ...], keys_file: Path | None) -> tuple[tuple[str, ...], bool]:
    """``(keys, replace)`` from the two options: the checked keys without options, and whether
    they replace the old root's keys and the identity's (a file was given). Raises
    :class:`InvalidInputError` for a line that is not a key, or a file without keys."""
    out: list[str] = []
    if keys_file is not None:
        try:
            text = keys_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise InvalidInputError(
                f"cannot read the authorized keys file {keys_file}: {reason}",
                hint="check the path",
            ) from None
        from_file, warnings = keys_from_text(text, source=str(keys_file))
        for warning in warnings:
            log.warning("%s", warning)
        if not from_file:
            raise InvalidInputError(
                f"the authorized keys file {keys_file} holds no key",
                hint="put one public key line a line into it (a .pub file's content)",
            )
        out += from_file
    for value in keys:
        try:
            key = parse_key_line(value, what="--authorized-key")
        except InvalidValueError as exc:
            raise InvalidInputError(exc.message, hint=exc.hint) from None
        if key.options:
            log.warning(
                "--authorized-key: removed the options %s of the key %s %s",
                ",".join(key.options),
                key.type,
                key.fingerprint,
            )
        out.append(key.line)
    return unique_keys(out), keys_file is not None
