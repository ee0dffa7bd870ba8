"""Plugin settings: what a plugin declares, what the user gives, how both are checked.

A plugin declares each setting it reads as a :class:`Setting` (its key ``<plugin>.<name>``, its
type, a help line, a default, whether it is a secret) from the ``plugin_settings`` hook. The user
gives values with ``--set PLUGIN.KEY=VALUE`` (on ``nixremote info``, ``plan`` and ``install``)
and in the config file (``[plugins.<plugin>]`` tables of ``~/.config/nixremote/config.toml``;
``--set`` wins). :func:`check_settings` refuses a key no plugin declares (with the closest known
name) and a value that does not parse as the declared type, and returns every value as text in
its canonical form (``true``, ``42``), which is what the hooks receive in ``settings`` and what
the plan records, with the values of secret keys redacted (:func:`redacted`).

Hooks read their settings with :meth:`Setting.get`, typed::

    MIRROR = Setting(key="ovh-like.mirror", type=bool, default=True, help="Mirror two disks.")

    @hookimpl
    def disk_layout(info, options, settings):
        if MIRROR.get(settings): ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast, overload

import attrs
from attrs import field, frozen

from .errors import InvalidInputError
from .suggest import did_you_mean

T = TypeVar("T")

SETTING_TYPES: tuple[type, ...] = (str, bool, int, float)
"""The types a setting may have."""

REDACTED = "<redacted>"
"""What a plan records instead of a secret value."""

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.[A-Za-z_][A-Za-z0-9_-]*$")
_SECRET = re.compile(
    r"(token|secret|passw(or)?d|passphrase|credential|private|(^|[._-])(api_?)?key$)", re.I
)
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


_WANT: dict[type, str] = {bool: "true or false", int: "a whole number", float: "a number"}


def _convert(kind: type, value: object) -> object:
    text = value.strip() if isinstance(value, str) else None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in (*_TRUE, *_FALSE):
            return text.lower() in _TRUE
        raise ValueError("expected true or false")
    if isinstance(value, bool):
        raise TypeError(f"a boolean is not {_WANT.get(kind, 'text')}")
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f"{type(value).__name__} is not text")
        return value
    if kind is int:
        if isinstance(value, int):
            return value
        if text is None:
            raise TypeError(f"{type(value).__name__} is not a whole number")
        return int(text)
    if isinstance(value, int | float):
        return float(value)
    if text is None:
        raise TypeError(f"{type(value).__name__} is not a number")
    return float(text)


def looks_secret(key: str) -> bool:
    """Whether a setting's name suggests a secret (``token``, ``password``, ``api_key``, ...)."""
    return bool(_SECRET.search(key.rpartition(".")[2]))


def _check_key(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _KEY.match(value):
        raise ValueError(f"setting key {value!r} is not <plugin>.<name> (letters, digits, _ and -)")


def _check_type(instance: object, attribute: attrs.Attribute[type], value: type) -> None:
    if value not in SETTING_TYPES:
        raise ValueError(f"setting type {value!r} is not one of str, bool, int, float")


@frozen(kw_only=True)
class Setting(Generic[T]):
    """A setting a plugin reads: ``key`` is ``<plugin>.<name>`` (the plugin's entry-point name),
    ``type`` one of ``str``, ``bool``, ``int``, ``float``; ``help`` one line for ``nixremote
    plugins --settings``; ``default`` what :meth:`get` returns when the user gave nothing;
    ``secret`` keeps the value out of plans (as does a name like ``token`` or ``password``)."""

    key: str = field(validator=_check_key)
    type: type[T] = field(validator=_check_type)
    help: str
    default: T | None = field(default=None)
    secret: bool = False

    @default.validator
    def _check_default(self, attribute: attrs.Attribute[T | None], value: T | None) -> None:
        if value is not None and type(value) is not self.type:
            raise ValueError(
                f"setting {self.key}: the default {value!r} is not a {self.type.__name__}"
            )

    @property
    def plugin(self) -> str:
        """The plugin part of the key."""
        return self.key.rpartition(".")[0]

    @property
    def name(self) -> str:
        """The name within the plugin."""
        return self.key.rpartition(".")[2]

    @property
    def is_secret(self) -> bool:
        return self.secret or looks_secret(self.key)

    def parse(self, value: object) -> T:
        """``value`` (text from ``--set``, or a TOML value) as this setting's type."""
        try:
            return cast(T, _convert(self.type, value))
        except (ValueError, TypeError) as exc:
            want = _WANT.get(self.type, "text")
            raise InvalidInputError(
                f"setting {self.key}: {value!r} is not {want} ({exc})",
                hint=f"give {self.key} {want}",
            ) from None

    def text(self, value: object) -> str:
        """``value`` checked and written the way hooks receive it (``true``, ``42``)."""
        parsed: Any = self.parse(value)
        if isinstance(parsed, bool):
            return "true" if parsed else "false"
        return str(parsed) if not isinstance(parsed, float) else repr(parsed)

    @overload
    def get(self, settings: Mapping[str, str]) -> T | None: ...

    @overload
    def get(self, settings: Mapping[str, str], fallback: T) -> T: ...

    def get(self, settings: Mapping[str, str], fallback: T | None = None) -> T | None:
        """This setting's value in ``settings`` (what a hook receives), typed; else the declared
        default, else ``fallback``."""
        text = settings.get(self.key)
        if text is None:
            return self.default if self.default is not None else fallback
        return self.parse(text)


def as_pairs(value: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Settings as sorted ``(key, value)`` pairs (how frozen options hold them), from a mapping
    or pairs."""
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(k), str(v)) for k, v in items))


def parse_assignment(text: str) -> tuple[str, str]:
    """``PLUGIN.KEY=VALUE`` (an argument of ``--set``) -> ``(key, value)``."""
    key, eq, value = text.partition("=")
    key = key.strip()
    if not eq or "." not in key or not _KEY.match(key):
        raise InvalidInputError(
            f"--set {text!r} is not PLUGIN.KEY=VALUE",
            hint="e.g. --set hetzner.metadata_url=http://169.254.169.254/hetzner/v1/metadata",
        )
    return key, value


@frozen(kw_only=True)
class GivenSetting:
    """A value the user gave: its key, its value (text, or a TOML value) and where it came from
    (``--set``, a config file's path)."""

    key: str
    value: object
    origin: str = "--set"


def check_settings(
    given: Iterable[GivenSetting],
    declared: Mapping[str, Sequence[Setting[Any]]],
    *,
    ignored_plugins: Iterable[str] = (),
) -> dict[str, str]:
    """Check what the user gave against what the plugins declare (``declared``: plugin name ->
    its settings); later values win. Returns key -> canonical text.

    A key of a plugin in ``ignored_plugins`` (installed but disabled) is dropped; a key of an
    unknown plugin, an undeclared key and a value of the wrong type are one-line errors that
    name where the value came from and the closest known name.
    """
    ignored = set(ignored_plugins)
    by_key = {s.key: s for settings in declared.values() for s in settings}
    out: dict[str, str] = {}
    for item in given:
        setting = by_key.get(item.key)
        if setting is not None:
            out[item.key] = setting.text(item.value)
            continue
        plugin, _, name = item.key.rpartition(".")
        owner = next(
            (p for p in sorted(declared, key=len, reverse=True) if item.key.startswith(p + ".")),
            None,
        )
        if owner is None and any(item.key.startswith(p + ".") for p in ignored):
            continue
        if owner is None:
            raise InvalidInputError(
                f"{item.origin}: no plugin {plugin!r} (setting {item.key})"
                + did_you_mean(plugin, declared),
                hint="`nixremote plugins` lists the plugins",
            )
        names = [s.name for s in declared[owner]]
        what = (
            f"plugin {owner!r} has no setting {name!r}" + did_you_mean(name, names)
            if names
            else f"plugin {owner!r} declares no settings"
        )
        raise InvalidInputError(
            f"{item.origin}: {what}", hint="`nixremote plugins --settings` lists every setting"
        )
    return out


def redacted(
    settings: Mapping[str, str], secret: Iterable[str] = ()
) -> tuple[tuple[str, str], ...]:
    """``settings`` as a plan records them: sorted pairs, the values of keys in ``secret`` and of
    keys that look secret replaced by :data:`REDACTED`."""
    hidden = set(secret)
    return tuple(
        sorted((k, REDACTED if k in hidden or looks_secret(k) else v) for k, v in settings.items())
    )
