"""The user's settings: the config file and ``--set``, checked against the plugins' declarations.

The config file is TOML, by default ``$XDG_CONFIG_HOME/nixremote/config.toml``
(``~/.config/nixremote/config.toml``; it need not exist), or the file ``--config FILE`` names
(which must). Plugin settings live in one table per plugin::

    [plugins.hetzner]
    metadata_url = "http://169.254.169.254/hetzner/v1/metadata"

    [plugins.ovh-like]
    mirror = false

``--set PLUGIN.KEY=VALUE`` (repeatable) gives the same on the command line and wins over the
file. :func:`resolve_settings` checks both against the ``plugin_settings`` declarations
(:func:`nixremote.core.settings.check_settings`): an unknown plugin or key, or a value of the
wrong type, is a one-line error naming where it came from; the settings of a disabled plugin are
left out.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy

from ..core.errors import InvalidInputError
from ..core.hookcalls import Hooks
from ..core.settings import GivenSetting, check_settings, parse_assignment
from ..core.suggest import did_you_mean

CONFIG_SECTIONS = ("plugins",)
"""The tables a config file may have."""


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/nixremote/config.toml`` (``~/.config/...`` without the variable)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "nixremote" / "config.toml"


def read_config(path: Path, *, required: bool = True) -> list[GivenSetting]:
    """The plugin settings of the config file ``path`` (none when it is missing and not
    ``required``)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if not required:
            return []
        raise InvalidInputError(
            f"no config file {path}", hint="give an existing TOML file to --config"
        ) from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}", hint="check it") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{path}: not TOML: {exc}", hint="fix the file") from None
    for key in data:
        if key not in CONFIG_SECTIONS:
            raise InvalidInputError(
                f"{path}: unknown table [{key}]" + did_you_mean(key, CONFIG_SECTIONS),
                hint="plugin settings go in [plugins.<plugin>] tables",
            )
    plugins: Any = data.get("plugins", {})
    out = []
    for plugin, table in plugins.items():
        if not isinstance(table, dict):
            raise InvalidInputError(
                f"{path}: plugins.{plugin} is not a table",
                hint=f"write [plugins.{plugin}] and its keys below it",
            )
        for key, value in table.items():
            if isinstance(value, dict | list):
                raise InvalidInputError(
                    f"{path}: plugins.{plugin}.{key} is a {type(value).__name__}",
                    hint="settings are text, true/false or numbers",
                )
            out.append(GivenSetting(key=f"{plugin}.{key}", value=value, origin=str(path)))
    return out


def given_settings(sets: Sequence[str] = (), config: Path | None = None) -> list[GivenSetting]:
    """What the user gave: the config file's settings (``config``, else the default file if it
    exists), then ``--set`` assignments (which win)."""
    given = (
        read_config(config, required=True)
        if config
        else read_config(default_config_path(), required=False)
    )
    for text in sets:
        key, value = parse_assignment(text)
        given.append(GivenSetting(key=key, value=value, origin=f"--set {text}"))
    return given


def resolve_settings(
    pm: pluggy.PluginManager,
    sets: Sequence[str] = (),
    config: Path | None = None,
    *,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The settings the hooks get: ``base`` (built-in options such as ``disk``) and the checked
    plugin settings from ``config`` and ``sets`` (see the module documentation)."""
    declared = Hooks(pm).plugin_settings()
    blocked = [name for name, plugin in pm.list_name_plugin() if plugin is None]
    blocked += list(getattr(pm, "broken", {}))
    values = check_settings(given_settings(sets, config), declared, ignored_plugins=blocked)
    return {**(base or {}), **values}
