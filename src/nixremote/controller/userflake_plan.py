"""Planning with the user's own flake (``--flake REF#NAME``), on the controller.

:func:`resolve` checks the argument's shape (and, for a local flake, that the directory holds a
``flake.nix``) before anything connects. :func:`attach` adds the flake to a plan: for a local
fleet flake (one made by ``nixremote fleet init``: it has a ``hosts/`` directory) it first puts
the host into the fleet as ``fleet add`` does (``hosts/NAME/runtime-info.json`` with the keys
the plan trusts, and a ``configuration.nix`` unless there is one; staged when the fleet is a git
work tree), then lists the flake's source tree (``.git`` and ``result`` links left out), which
the installer receives whole. Nothing is evaluated: no Nix is needed here.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from ..core.converter import dumps_runtime_info
from ..core.errors import InvalidInputError
from ..core.hostflake import template_files
from ..core.plan import Plan
from ..core.progress import Reporter, report
from ..core.userflake import USER_FLAKE_DIR, UserFlake, is_local_ref, parse_flake_arg
from .filetree_scan import scan_tree

SKIPPED = frozenset({".git", "result"})
"""Top-level entries of a local flake that are not copied."""


def resolve(text: str) -> tuple[str, str, Path | None]:
    """``REF#NAME`` -> (reference, name, the local directory or ``None``), one line on a fault."""
    ref, name = parse_flake_arg(text)
    if not is_local_ref(ref):
        return ref, name, None
    path = Path(ref.removeprefix("path:")).expanduser().resolve()
    if not (path / "flake.nix").is_file():
        raise InvalidInputError(
            f"--flake {text}: {path} holds no flake.nix",
            hint="name the directory of your flake, e.g. --flake ./fleet#web1",
        )
    return str(path), name, path


def is_fleet(path: Path) -> bool:
    """A fleet of ``nixremote fleet init`` (its hosts live under ``hosts/``)."""
    return (path / "hosts").is_dir()


def attach(plan: Plan, text: str, *, reporter: Reporter | None = None) -> Plan:
    """``plan`` with the user's flake ``text`` (see the module documentation)."""
    from . import fleet

    ref, name, path = resolve(text)
    if path is None:
        return attrs.evolve(plan, user_flake=UserFlake(ref=ref, name=name))
    info_path = None
    if is_fleet(path):
        fleet.check_host_name(name)
        host_dir = path / "hosts" / name
        info = attrs.evolve(plan.runtime_info, root_authorized_keys=plan.authorized_keys)
        try:
            host_dir.mkdir(parents=True, exist_ok=True)
            (host_dir / "runtime-info.json").write_text(dumps_runtime_info(info), "utf-8")
            configuration = host_dir / "configuration.nix"
            if not configuration.exists():
                configuration.write_text(template_files("host")["configuration.nix"], "utf-8")
        except OSError as exc:
            raise InvalidInputError(
                f"cannot write {host_dir}: {exc.strerror}", hint="check the fleet directory"
            ) from None
        info_path = f"hosts/{name}/runtime-info.json"
        if fleet.is_git_worktree(path):
            fleet.git_add(path, [host_dir])
        report(
            reporter,
            "step",
            f"wrote {path}/{info_path} (host {name} of the fleet)",
            phase="plan",
        )
    tree = scan_tree(
        path, destination=USER_FLAKE_DIR, what="--flake", keep_owner=False, skip=SKIPPED
    )
    if not any(e.path == "flake.lock" for e in tree.entries):
        report(
            reporter,
            "warning",
            f"{path} has no flake.lock: the installer resolves the flake's inputs online",
            phase="plan",
        )
    flake = UserFlake(ref=ref, name=name, tree=tree, runtime_info_path=info_path)
    return attrs.evolve(plan, user_flake=flake)


__all__ = ["SKIPPED", "attach", "is_fleet", "resolve"]
