"""Fleets: one flake for many hosts installed by nixremote.

A fleet is a directory rendered from ``templates.fleet``: ``flake.nix`` (which discovers its hosts
with ``nixremote.lib.makeFleet``), ``common.nix`` (shared by every host) and ``hosts/<name>/``,
one directory per host with its ``runtime-info.json`` and ``configuration.nix``. Adding a host is
adding a directory; ``flake.nix`` is never edited. The discovery rule lives in
``nix/lib/fleet.nix``; :func:`discover` mirrors it for the command line.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from attrs import frozen

from ..core.converter import dumps_runtime_info, load_runtime_info
from ..core.errors import CommandFailedError, InvalidInputError
from ..core.hostflake import (
    DEFAULT_NIXREMOTE_URL,
    set_nixremote_url,
    template_files,
    write_files,
)
from ..core.models import RuntimeInfo
from ..core.progress import Reporter, report

log = logging.getLogger(__name__)

HOSTS_DIR = "hosts"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


@frozen(kw_only=True)
class FleetHost:
    """A host of a fleet: its attribute name, directory and runtime info."""

    name: str
    path: Path
    info: RuntimeInfo
    written: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()


def check_host_name(name: str) -> str:
    """A fleet host name: letters, digits, ``-`` and ``_``, not starting with ``-`` or ``_``."""
    if not _NAME.match(name):
        raise InvalidInputError(
            f"invalid fleet host name {name!r}",
            hint="use letters, digits, '-' and '_', starting with a letter or digit "
            "(at most 63 characters), e.g. --name web1",
        )
    return name


def default_host_name(info: RuntimeInfo) -> str:
    """The host name without its domain (``web1.example.com`` -> ``web1``)."""
    return info.host_name.split(".", 1)[0]


def render_fleet(*, nixremote_url: str = DEFAULT_NIXREMOTE_URL) -> dict[str, str]:
    """The files of a new fleet, by path (pure)."""
    files = template_files("fleet")
    files["flake.nix"] = set_nixremote_url(files["flake.nix"], nixremote_url)
    return files


def init_fleet(
    dest: str | Path,
    *,
    nixremote_url: str = DEFAULT_NIXREMOTE_URL,
    force: bool = False,
    reporter: Reporter | None = None,
) -> tuple[str, ...]:
    """Create a fleet in ``dest``; refuses to replace an existing ``flake.nix`` unless ``force``.

    Returns the files written. Existing ``common.nix`` and ``hosts/`` content are kept.
    """
    path = Path(dest)
    if (path / "flake.nix").exists() and not force:
        raise InvalidInputError(
            f"{path / 'flake.nix'} exists already",
            hint="choose an empty directory, or pass --force to replace flake.nix",
        )
    files = render_fleet(nixremote_url=nixremote_url)
    try:
        path.mkdir(parents=True, exist_ok=True)
        written, _kept = write_files(path, files, keep=("common.nix", "hosts/README.md"))
    except OSError as exc:
        raise InvalidInputError(
            f"cannot create the fleet in {path}: {exc.strerror}", hint="check the path"
        ) from None
    report(reporter, "done", f"fleet created in {path}", phase="fleet", data={"path": str(path)})
    return written


def _read_source(source: Path) -> tuple[RuntimeInfo, str | None]:
    """Runtime info (and a configuration.nix, if any) from a file or a host flake directory."""
    if source.is_dir():
        info_file = source / "runtime-info.json"
        if not info_file.is_file():
            raise InvalidInputError(
                f"{source} has no runtime-info.json",
                hint="pass a runtime-info.json or a host flake directory written by nixremote",
            )
        config = source / "configuration.nix"
        return load_runtime_info(info_file), (
            config.read_text(encoding="utf-8") if config.is_file() else None
        )
    return load_runtime_info(source), None


def add_host(
    fleet: str | Path,
    source: str | Path,
    *,
    name: str | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
) -> FleetHost:
    """Put the host described by ``source`` into the fleet as ``hosts/<name>/``.

    ``source`` is a ``runtime-info.json`` (either shape) or a host flake directory, whose
    ``configuration.nix`` then comes along. The runtime info is validated and written in the
    current shape. An existing host is refused unless ``force``, which replaces its
    runtime-info.json and keeps its configuration.nix.
    """
    fleet_path = Path(fleet)
    if not (fleet_path / "flake.nix").is_file():
        raise InvalidInputError(
            f"{fleet_path} is not a fleet (no flake.nix)",
            hint=f"create one with: nixremote fleet init {fleet_path}",
        )
    info, configuration = _read_source(Path(source))
    host = check_host_name(name if name is not None else default_host_name(info))
    host_dir = fleet_path / HOSTS_DIR / host
    if (host_dir / "runtime-info.json").exists() and not force:
        raise InvalidInputError(
            f"the fleet has a host {host!r} already ({host_dir})",
            hint="choose another --name, or pass --force to replace its runtime-info.json",
        )
    files = {
        "runtime-info.json": dumps_runtime_info(info),
        "configuration.nix": configuration
        if configuration is not None
        else template_files("host")["configuration.nix"],
    }
    try:
        host_dir.mkdir(parents=True, exist_ok=True)
        written, kept = write_files(host_dir, files, keep=("configuration.nix",))
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write {host_dir}: {exc.strerror}", hint="check the fleet directory"
        ) from None
    report(
        reporter,
        "done",
        f"host {host} added to {fleet_path}",
        phase="fleet",
        data={"name": host, "path": str(host_dir)},
    )
    return FleetHost(name=host, path=host_dir, info=info, written=written, kept=kept)


def discover(fleet: str | Path) -> tuple[str, ...]:
    """The host names the fleet flake will find (the rule of ``nix/lib/fleet.nix``)."""
    hosts = Path(fleet) / HOSTS_DIR
    if not hosts.is_dir():
        return ()
    return tuple(
        sorted(
            p.name
            for p in hosts.iterdir()
            if p.is_dir()
            and not p.name.startswith((".", "_"))
            and (p / "runtime-info.json").is_file()
        )
    )


def is_git_worktree(path: str | Path) -> bool:
    """Whether ``path`` is inside a git work tree (flakes there see only tracked files)."""
    git = shutil.which("git")
    if git is None:
        return False
    result = subprocess.run(
        [git, "-C", str(path), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and result.stdout.strip() == "true"


def git_add(repo: str | Path, paths: Iterable[str | Path]) -> None:
    """``git add`` the paths, so that the flake sees them."""
    argv = ["git", "-C", str(repo), "add", "--", *(str(p) for p in paths)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CommandFailedError(
            f"git add failed in {repo}",
            argv=tuple(argv),
            returncode=result.returncode,
            output=result.stderr[-2000:],
            hint="add the files by hand; a flake only sees files git tracks",
        )
