"""The Hetzner Cloud API token: ``--token-file``, ``HCLOUD_TOKEN``, or the active context of the
hcloud CLI's own ``cli.toml`` (read, never written), in that order."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from ...core.errors import InvalidInputError

log = logging.getLogger("nixremote.hosters.hetzner.api")

TOKEN_ENV = "HCLOUD_TOKEN"
"""The environment variable the token is read from (the same as Hetzner's own ``hcloud`` CLI)."""

HCLOUD_CONFIG_ENV = "HCLOUD_CONFIG"
"""The hcloud CLI's variable naming its config file (default ``~/.config/hcloud/cli.toml``)."""
HCLOUD_CONTEXT_ENV = "HCLOUD_CONTEXT"
"""The hcloud CLI's variable naming the context to use instead of the active one."""


def hcloud_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the hcloud CLI keeps its contexts: ``$HCLOUD_CONFIG``, else
    ``~/.config/hcloud/cli.toml``."""
    env = os.environ if environ is None else environ
    if env.get(HCLOUD_CONFIG_ENV):
        return Path(env[HCLOUD_CONFIG_ENV])
    return Path(env.get("HOME") or Path.home()) / ".config" / "hcloud" / "cli.toml"


def token_from_hcloud_config(
    environ: Mapping[str, str] | None = None,
) -> tuple[str, str] | None:
    """(token, where it was found) from the hcloud CLI's config: the context named by
    ``$HCLOUD_CONTEXT``, else its ``active_context``; ``None`` when there is no config file or
    no active context. The file is only read, never written."""
    import tomllib

    env = os.environ if environ is None else environ
    path = hcloud_config_path(env)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(
            f"cannot read the hcloud CLI config {str(path)!r}: {exc.__class__.__name__}",
            hint=f"fix it with the hcloud CLI, or set {TOKEN_ENV} or pass --token-file",
        ) from None
    name = env.get(HCLOUD_CONTEXT_ENV) or data.get("active_context")
    if not isinstance(name, str) or not name:
        return None
    contexts = data.get("contexts")
    for context in contexts if isinstance(contexts, list) else []:
        if isinstance(context, dict) and context.get("name") == name:
            token = context.get("token")
            where = f"the hcloud CLI context {name!r} in {str(path)!r}"
            if not isinstance(token, str):
                raise InvalidInputError(f"{where} has no token", hint="hcloud context create")
            return token.strip(), where
    raise InvalidInputError(
        f"the hcloud CLI context {name!r} is not in {str(path)!r}",
        hint="hcloud context list shows the contexts; hcloud context use NAME picks one",
    )


def token_from_env_or_file(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> str:
    """The API token: the first line of ``path`` if given, else ``$HCLOUD_TOKEN``, else the
    token of the hcloud CLI's active context (:func:`token_from_hcloud_config`).

    A token file readable by group or others is used, with a warning in the log.
    """
    env = os.environ if environ is None else environ
    if path is not None:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
            mode = file.stat().st_mode
        except FileNotFoundError:
            raise InvalidInputError(
                f"token file {str(file)!r} does not exist",
                hint="pass the path of a file that holds the Hetzner Cloud API token",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(
                f"cannot read token file {str(file)!r}: {exc.__class__.__name__}",
                hint="check the file's permissions; it must hold the token as text",
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("token file %s is readable by others; chmod 600 it", file)
        token = text.strip().splitlines()[0].strip() if text.strip() else ""
        source = f"token file {str(file)!r}"
    elif (env.get(TOKEN_ENV) or "").strip():
        token = (env.get(TOKEN_ENV) or "").strip()
        source = f"${TOKEN_ENV}"
    else:
        found = token_from_hcloud_config(env)
        if found is None:
            raise InvalidInputError(
                "no Hetzner Cloud API token",
                hint=f"set {TOKEN_ENV}, pass --token-file FILE (never the token itself), or "
                "make an hcloud CLI context (hcloud context create NAME)",
            )
        token, source = found
    if not token:
        raise InvalidInputError(f"{source} is empty", hint="put the API token in it")
    if any(c.isspace() for c in token) or not token.isprintable() or not token.isascii():
        raise InvalidInputError(
            f"{source} does not look like an API token (whitespace or control characters)",
            hint="the token is one word of letters and digits, as the Hetzner console shows it",
        )
    return token


# ---------------------------------------------------------------------------------------------
# First contact with a known host key
