"""Host flakes: the flake directory that describes one installed host.

A host flake is rendered from the ``templates.host`` files shipped with this package
(``nixremote/data/templates/host``, the same directory the root flake's ``templates.host`` points
at) and holds:

``flake.nix``
    calls ``nixremote.lib.makeSystem`` with ``./runtime-info.json``, ``./configuration.nix`` and
    the modules hoster plugins add (the ``host_flake_modules`` hook), and registers itself as
    ``installed`` in the Nix registry, pointing at ``/etc/nixos``
    (``nixos-rebuild switch --flake /etc/nixos#installed``).
``flake.lock``
    when the installer carries the flake's inputs (``flakeInputs`` of the kexec bundle): both
    pinned to those store paths, so ``nixos-install`` evaluates offline.
``runtime-info.json``
    the host's runtime info (both the rich fields and the original installer's flat ones).
``configuration.nix``
    the user's own module; never overwritten once it exists.
``plugins/<plugin>/...``
    files plugins ship (``FlakeFile``, the ``host_flake_modules`` hook), as the plan carries
    them; the ``.nix`` modules among them are in the ``modules`` list. Inputs plugins add
    (``FlakeInput``) are declared after the marker line in ``inputs`` and locked in
    ``flake.lock`` when the installer carries a source of that name.

Rendering is pure (:func:`render_host_flake`); :func:`write_host_flake` writes the files. This
module runs inside the installer too: it imports nothing beyond the standard library and
nixremote's core.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from attrs import frozen

from .converter import dumps_runtime_info
from .errors import InvalidInputError
from .flakelock import NIXREMOTE_DEFAULT_REF, host_flake_lock
from .flakeparts import FlakeFile, FlakeInput
from .models import RuntimeInfo
from .nixtext import check_flake_url
from .plan import FlakeSource
from .progress import Reporter, report

log = logging.getLogger(__name__)

DEFAULT_NIXREMOTE_URL = NIXREMOTE_DEFAULT_REF
"""The flake reference of nixremote that generated flakes use unless told otherwise: nixremote as
the Nix registry names it (the installer image and the installed system register it)."""

HOST_FLAKE_DIR = "/persist/etc/nixos"
"""Where the installer writes the host flake (bind-mounted on ``/etc/nixos`` on the host)."""

HOST_SSH_KEY_DIR = "/persist/etc/ssh"
"""The installed system's SSH host keys (``ssh_host_ed25519_key``, ``ssh_host_rsa_key``)."""

INITRD_SSH_HOST_KEY = "/persist/etc/secrets/initrd/ssh_host_ed25519_key"
"""The host key of the initrd's SSH server (port 2222, for the ZFS unlock)."""

INSTALL_MARKER = "/.nixremote-installed"
"""Written into the new root at the end of the install phase; the rollback of ``/`` to
``@blank`` at boot removes it (the controller's verify phase checks that it is gone)."""

MACHINE_ID_FILE = "/persist/etc/machine-id"
"""The machine id of the installed system (``/etc/machine-id`` points there)."""

EXTRA_MODULES_MARKER = "# nixremote:extra-modules"
"""The template line after which the modules of hoster plugins are inserted."""

EXTRA_INPUTS_MARKER = "# nixremote:extra-inputs"
"""The template line after which the inputs plugins add are declared."""

_URL_LINE = re.compile(r'^(?P<indent>\s*)nixremote\.url = "(?P<url>[^"]*)";$', re.MULTILINE)


def template_dir(name: str) -> Traversable:
    """The directory of a flake template shipped with nixremote (``host`` or ``fleet``)."""
    if name not in ("host", "fleet"):
        raise InvalidInputError(f"no flake template {name!r}", hint="use 'host' or 'fleet'")
    return resources.files("nixremote").joinpath("data", "templates", name)


def template_files(name: str) -> dict[str, str]:
    """Every file of a template, by path relative to the template directory."""
    out: dict[str, str] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            elif child.name != "__pycache__":
                out[rel] = child.read_text(encoding="utf-8")

    walk(template_dir(name), "")
    return out


def set_nixremote_url(flake_text: str, url: str) -> str:
    """The flake text with its ``nixremote.url`` input set to ``url``."""
    check_flake_url(url)
    text, count = _URL_LINE.subn(
        lambda m: f'{m.group("indent")}nixremote.url = "{url}";', flake_text, count=1
    )
    if count != 1:
        raise InvalidInputError(
            "the flake template has no 'nixremote.url = \"...\";' line",
            hint="restore the template shipped with nixremote",
        )
    return text


def _marker_line(lines: Sequence[str], marker: str) -> int:
    found = [i for i, line in enumerate(lines) if line.strip().startswith(marker)]
    if not found:
        raise InvalidInputError(
            f"the flake template has no '{marker}' line",
            hint="restore the template shipped with nixremote",
        )
    return found[0]


def insert_inputs(flake_text: str, inputs: Iterable[FlakeInput]) -> str:
    """The flake text with each of ``inputs`` declared after the inputs marker line."""
    items = list(inputs)
    if not items:
        return flake_text
    lines = flake_text.splitlines(keepends=True)
    index = _marker_line(lines, EXTRA_INPUTS_MARKER)
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    added = [f"{indent}{line}\n" for item in items for line in item.declaration()]
    return "".join(lines[: index + 1] + added + lines[index + 1 :])


def insert_modules(flake_text: str, modules: Iterable[str]) -> str:
    """The flake text with each Nix expression of ``modules`` added after the marker line."""
    mods = [m.strip() for m in modules if m and m.strip()]
    if not mods:
        return flake_text
    lines = flake_text.splitlines(keepends=True)
    index = _marker_line(lines, EXTRA_MODULES_MARKER)
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    added: list[str] = []
    for mod in mods:
        if EXTRA_MODULES_MARKER in mod:
            raise InvalidInputError(
                f"module expression {mod!r} contains the template marker", hint="remove it"
            )
        body = mod.replace("\n", "\n" + indent)
        # Parenthesised, so that a function application stays one list element.
        added.append(f"{indent}({body})\n")
    return "".join(lines[: index + 1] + added + lines[index + 1 :])


def render_host_flake(
    info: RuntimeInfo,
    *,
    nixremote_url: str = DEFAULT_NIXREMOTE_URL,
    extra_modules: Iterable[str] = (),
    sources: Sequence[FlakeSource] = (),
    files: Sequence[FlakeFile] = (),
    inputs: Sequence[FlakeInput] = (),
) -> dict[str, str]:
    """The files of the host flake for ``info``, by name (pure). With ``sources`` (the flake
    inputs the installer carries) and nixremote as the registry names it, ``flake.lock`` pins
    them (and each of ``inputs`` that has a source of its name); another ``nixremote_url`` is
    resolved by Nix itself (no lock). ``files`` (plugins' files, by their path in the flake)
    are written as they are; ``extra_modules`` names the module files among them."""
    template = template_files("host")
    flake = set_nixremote_url(template["flake.nix"], nixremote_url)
    flake = insert_inputs(flake, inputs)
    flake = insert_modules(flake, extra_modules)
    out = {
        "flake.nix": flake,
        "runtime-info.json": dumps_runtime_info(info),
        "configuration.nix": template["configuration.nix"],
    }
    for file in files:
        if file.path in out or not file.path.startswith("plugins/"):
            raise InvalidInputError(
                f"a plugin file would be {file.path}, outside plugins/ of the host flake",
                hint="make the plan again",
            )
        out[file.path] = file.text
    if sources and nixremote_url == NIXREMOTE_DEFAULT_REF:
        out["flake.lock"] = host_flake_lock(sources, nixremote_ref=nixremote_url, inputs=inputs)
    return out


@frozen(kw_only=True)
class HostFlake:
    """A host flake on disk: where it is, which files were written, which were kept."""

    path: Path
    written: tuple[str, ...]
    kept: tuple[str, ...] = ()


def write_files(
    dest: Path,
    files: Mapping[str, str],
    *,
    keep: Iterable[str] = (),
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Write ``files`` under ``dest``; names in ``keep`` are not replaced when they exist."""
    keep_set = set(keep)
    written: list[str] = []
    kept: list[str] = []
    for name, text in files.items():
        target = dest / name
        if name in keep_set and target.exists():
            kept.append(name)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        written.append(name)
    return tuple(written), tuple(kept)


def write_host_flake(
    info: RuntimeInfo,
    dest: str | Path,
    *,
    nixremote_url: str = DEFAULT_NIXREMOTE_URL,
    extra_modules: Iterable[str] = (),
    sources: Sequence[FlakeSource] = (),
    files: Sequence[FlakeFile] = (),
    inputs: Sequence[FlakeInput] = (),
    reporter: Reporter | None = None,
) -> HostFlake:
    """Write the host flake of ``info`` into ``dest`` (created if needed).

    ``flake.nix``, ``runtime-info.json`` and the plugins' files are always (re)written; an
    existing ``configuration.nix`` is the user's and is kept.
    """
    path = Path(dest)
    try:
        path.mkdir(parents=True, exist_ok=True)
        rendered = render_host_flake(
            info,
            nixremote_url=nixremote_url,
            extra_modules=extra_modules,
            sources=sources,
            files=files,
            inputs=inputs,
        )
        written, kept = write_files(path, rendered, keep=("configuration.nix",))
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write the host flake to {path}: {exc.strerror}",
            hint="check that the directory is writable",
        ) from None
    report(
        reporter,
        "done",
        f"host flake for {info.host_name} written to {path}",
        phase="flake",
        data={"path": str(path), "written": ",".join(written), "kept": ",".join(kept)},
    )
    return HostFlake(path=path, written=written, kept=kept)
