"""What a plugin adds to a host flake beyond a module expression: files and flake inputs.

The ``host_flake_modules`` hook returns a list whose items are

- a ``str``: a Nix expression, one element of the host flake's ``modules = [ ... ]`` list, with
  ``nixremote`` and ``inputs`` (the host flake's inputs) in scope;
- a :class:`FlakeFile`: a file the plugin ships (usually as package data, read with
  :meth:`FlakeFile.from_package`), copied into the host flake as
  ``plugins/<plugin>/<path>`` and, when ``module`` (the default), imported as a NixOS module;
- a :class:`FlakeInput`: an input the host flake declares (``inputs.<name>.url = "<url>";``),
  which modules reach as ``inputs.<name>`` (an expression) or through the ``inputs`` module
  argument (a file: ``{ inputs, ... }: { imports = [ inputs.<name>.nixosModules.default ]; }``).

All of it travels in the plan as data (a file as its text), so the installer writes it without
any plugin. Pure: the standard library and attrs.
"""

from __future__ import annotations

import re
from importlib import resources

import attrs
from attrs import field, frozen

from .errors import InvalidInputError
from .nixtext import check_flake_url

_SEGMENT = r"[A-Za-z0-9._+-]*[A-Za-z0-9_+-][A-Za-z0-9._+-]*"
_PATH = re.compile(rf"^{_SEGMENT}(/{_SEGMENT})*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_'-]*$")
RESERVED_INPUTS = frozenset({"self", "nixremote", "nixpkgs"})
"""Input names the host flake declares itself."""


def _check_path(instance: FlakeFile, attribute: attrs.Attribute[str], value: str) -> None:
    if not _PATH.match(value) or any(part in (".", "..") for part in value.split("/")):
        raise ValueError(
            f"flake file path {value!r} must be relative, without . or .. (letters, digits, "
            "._+- and /)"
        )
    if instance.module and not value.endswith(".nix"):
        raise ValueError(f"module file {value!r} must end in .nix")


@frozen(kw_only=True)
class FlakeFile:
    """A file for the host flake: ``path`` relative to the plugin's directory in the flake
    (``plugins/<plugin>/``), ``text`` its content, ``module`` whether the host flake imports it
    as a NixOS module (a ``.nix`` file) or only carries it (data a module reads)."""

    path: str = field(validator=_check_path)
    text: str
    module: bool = True

    @classmethod
    def from_package(
        cls, package: str, resource: str, *, path: str | None = None, module: bool = True
    ) -> FlakeFile:
        """The file ``resource`` (``nix/ovh.nix``) shipped in the Python package ``package``
        (list it as package data), named ``path`` in the flake (default: its file name)."""
        text = resources.files(package).joinpath(resource).read_text(encoding="utf-8")
        return cls(path=path or resource.rsplit("/", 1)[-1], text=text, module=module)


def _check_input_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _IDENTIFIER.match(value) or value in RESERVED_INPUTS:
        raise ValueError(
            f"flake input name {value!r} must be a Nix identifier other than "
            + ", ".join(sorted(RESERVED_INPUTS))
        )


def _check_url(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        check_flake_url(value)
    except InvalidInputError as exc:  # attrs validators raise ValueError
        raise ValueError(exc.message) from None


@frozen(kw_only=True)
class FlakeInput:
    """An input of the host flake: ``name`` (a Nix identifier), ``url`` its flake reference,
    ``flake`` false for a plain source (``flake = false;``), ``follows_nixpkgs`` to make its
    ``nixpkgs`` input follow the host's (``inputs.<name>.inputs.nixpkgs.follows``).

    It is locked like nixremote and nixpkgs: when the installer carries a source of that name
    (``flakeInputs`` of the kexec bundle), ``flake.lock`` pins it to that store path; otherwise
    Nix fetches it while installing."""

    name: str = field(validator=_check_input_name)
    url: str = field(validator=_check_url)
    flake: bool = True
    follows_nixpkgs: bool = False

    def declaration(self) -> list[str]:
        """The lines of ``inputs = { ... };`` that declare this input."""
        lines = [f'{self.name}.url = "{self.url}";']
        if not self.flake:
            lines.append(f"{self.name}.flake = false;")
        if self.follows_nixpkgs:
            lines.append(f'{self.name}.inputs.nixpkgs.follows = "nixpkgs";')
        return lines


HostFlakeItem = str | FlakeFile | FlakeInput
"""What a ``host_flake_modules`` answer holds: expressions, files, inputs."""
