"""The user's own flake (``--flake REF#NAME``): what the plan records, and the reference's shape.

With it the installer builds ``nixosConfigurations.NAME`` of the user's flake instead of the
host flake nixremote writes. A local flake (a directory on the controller) travels as a source
tree (:class:`~nixremote.core.filetree.FileTree`, ``flake.lock`` included, ``.git`` left out)
into the installed system's ``/etc/nixos`` (``/persist/etc/nixos``), and the installer writes the
host's ``runtime-info.json`` where the configuration reads it (``runtime_info_path``: for a fleet
made by ``nixremote fleet init``, ``hosts/NAME/runtime-info.json``). A remote reference
(``github:me/fleet``) is passed to ``nixos-install`` as it is.

:func:`parse_flake_arg` checks the shape of ``REF#NAME`` only: nothing is evaluated, no Nix is
needed on the controller.
"""

from __future__ import annotations

import re

from attrs import field, frozen

from . import validate as v
from .errors import InvalidInputError
from .filetree import FileTree, tree_path
from .nixtext import check_flake_url

USER_FLAKE_DIR = "/persist/etc/nixos"
"""Where a local user flake is copied (a path of the installed system; ``/etc/nixos`` there)."""

_ATTR = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]{0,62}")
_LOCAL = ("/", "./", "../", "~/", "path:")


def _attr(value: object) -> str:
    if not isinstance(value, str) or not _ATTR.fullmatch(value):
        raise InvalidInputError(
            f"invalid configuration name {value!r}",
            hint="use REF#NAME with NAME a nixosConfigurations attribute, e.g. .#web1",
        )
    return value


def _ref(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInputError("the flake reference must be text", hint="use REF#NAME")
    return check_flake_url(value)


@frozen(kw_only=True)
class UserFlake:
    """The user's flake of a plan: ``ref`` (a local flake: the directory's absolute path on the
    controller), ``name`` (``nixosConfigurations.NAME``), ``tree`` (a local flake's files,
    copied to :data:`USER_FLAKE_DIR`; ``None`` for a remote reference) and
    ``runtime_info_path`` (inside the tree, where the installer writes the host's
    ``runtime-info.json``; ``None``: not written)."""

    ref: str = field(validator=v.check(_ref))
    name: str = field(validator=v.check(_attr))
    tree: FileTree | None = None
    runtime_info_path: str | None = field(default=None, validator=v.check(v.optional(tree_path)))

    @property
    def local(self) -> bool:
        return self.tree is not None


def is_local_ref(ref: str) -> bool:
    """Whether ``ref`` names a directory (``.``, ``./x``, ``/abs``, ``~/x``, ``path:...``)."""
    return ref in (".", "..", "~") or ref.startswith(_LOCAL)


def parse_flake_arg(text: str) -> tuple[str, str]:
    """``REF#NAME`` -> ``(REF, NAME)``, checked by shape only (one line on a fault)."""
    ref, sep, name = text.partition("#")
    if not sep or not ref or "#" in name:
        raise InvalidInputError(
            f"--flake {text!r}: expected REF#NAME",
            hint="e.g. --flake .#web1 or --flake github:me/fleet#web1",
        )
    if name.startswith("nixosConfigurations."):
        name = name.removeprefix("nixosConfigurations.")
    _attr(name)
    try:
        check_flake_url(ref)
    except InvalidInputError:
        raise InvalidInputError(
            f"--flake {text!r}: invalid flake reference {ref!r}",
            hint="use a directory (./fleet) or a reference like github:owner/repo",
        ) from None
    return ref, name


__all__ = ["USER_FLAKE_DIR", "UserFlake", "is_local_ref", "parse_flake_arg"]
