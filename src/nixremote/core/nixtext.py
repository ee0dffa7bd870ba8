"""Nix text made from data: string literals, flake references, the host flake's layout module.

Everything from a runtime info, a plan or a plugin that ends up in a ``.nix`` file passes through
here, so that a value can never become Nix syntax.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InvalidInputError


def nix_string(value: str) -> str:
    """``value`` as a Nix string literal."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("${", "\\${")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def layout_module(*, boot_devices: Sequence[str] = (), encrypted: bool = True) -> str | None:
    """A module for the host flake when the disk layout is not the single-disk default.

    ``boot_devices``: every disk of a mirrored layout (each gets GRUB and its partition 3 is
    mounted at /boot, /boot-fallback, ...); ``encrypted=False`` for an unencrypted pool (no
    key prompt, no initrd SSH server). ``None`` when the defaults fit.
    """
    settings: list[str] = []
    if len(boot_devices) > 1:
        devices = " ".join(nix_string(d) for d in boot_devices)
        settings.append(f"nixremote.boot.devices = [ {devices} ];")
    if not encrypted:
        settings.append("nixremote.zfs.encrypted = false;")
    return "{ " + " ".join(settings) + " }" if settings else None


def check_flake_url(url: str) -> str:
    """Refuse a flake reference that cannot sit inside a Nix string literal as it is (a quote,
    a backslash, ``${``), or holds whitespace or a control character (no flake reference
    does)."""
    if (
        not url
        or any(c in url for c in '"\\')
        or "${" in url
        or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url)
    ):
        raise InvalidInputError(
            f"invalid flake reference {url!r}",
            hint="use a reference like github:owner/repo or path:/abs/dir",
        )
    return url
