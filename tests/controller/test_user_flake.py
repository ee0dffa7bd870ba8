"""``--flake REF#NAME``: the user's own flake, recorded in the plan, copied (a local one) or
passed through (a remote one), built by the installer's ``nixos-install --flake``.

The fleet is a real one from ``nixremote fleet init``; the installer's phases run on a temporary
root with a recording stand-in for ``nixos-install`` (the real one needs a Nix store)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import attrs
import pytest

from helpers.diskplans import INFO
from helpers.keys import KEYS
from nixremote.controller.filetree_scan import pack_tree
from nixremote.controller.fleet import init_fleet
from nixremote.controller.userflake_plan import SKIPPED, attach, resolve
from nixremote.core.converter import dumps_plan, loads_plan, loads_runtime_info
from nixremote.core.errors import InvalidInputError
from nixremote.core.layout import default_layout
from nixremote.core.plan import build_plan
from nixremote.core.summary import plan_lines
from nixremote.core.userflake import parse_flake_arg
from nixremote.installers.phases import Installer, InstallerConfig


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (".#web1", (".", "web1")),
        ("github:me/fleet#web1", ("github:me/fleet", "web1")),
        ("path:/srv/fleet#nixosConfigurations.db1", ("path:/srv/fleet", "db1")),
    ],
)
def test_the_shape_of_a_reference(text: str, expected: tuple[str, str]) -> None:
    assert parse_flake_arg(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("github:me/fleet", "expected REF#NAME"),
        ("#web1", "expected REF#NAME"),
        ("a#b#c", "expected REF#NAME"),
        ("github:me/fleet#web 1", "invalid configuration name"),
        ("github:me/fleet#$(id)", "invalid configuration name"),
        ('git+https://x/"a#web1', "invalid flake reference"),
    ],
)
def test_bad_references_are_one_line(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as err:
        parse_flake_arg(text)
    assert "\n" not in str(err.value)


def _plan() -> object:
    return build_plan(INFO, default_layout(INFO), authorized_keys=[f"{KEYS[1]} me"])


def test_a_local_fleet_gets_the_host_and_travels_as_a_tree(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    init_fleet(fleet)
    (fleet / "flake.lock").write_text('{"nodes": {}, "version": 7}\n')
    (fleet / ".git").mkdir()  # left out of the copy
    (fleet / "result").symlink_to("/nix/store/x-system")  # a build link: left out too
    plan = attach(_plan(), f"{fleet}#web1")  # type: ignore[arg-type]
    flake = plan.user_flake
    assert flake is not None and flake.name == "web1" and flake.ref == str(fleet)
    assert flake.runtime_info_path == "hosts/web1/runtime-info.json"
    written = loads_runtime_info((fleet / "hosts/web1/runtime-info.json").read_text())
    assert written.host_name == INFO.host_name
    assert written.root_authorized_keys == plan.authorized_keys  # what the plan trusts
    assert (fleet / "hosts/web1/configuration.nix").is_file()
    assert flake.tree is not None
    paths = {e.path for e in flake.tree.entries}
    assert {"flake.nix", "flake.lock", "hosts/web1/runtime-info.json"} <= paths
    assert not any(p.split("/")[0] in SKIPPED for p in paths)
    assert {(e.uid, e.gid) for e in flake.tree.entries} == {(0, 0)}
    assert loads_plan(dumps_plan(plan)) == plan
    assert any(
        line.startswith(f"flake:     {fleet}#web1 (copied: ")
        and "runtime info written to hosts/web1/runtime-info.json" in line
        for line in plan_lines(plan)
    )


def test_a_remote_reference_is_passed_through() -> None:
    plan = attach(_plan(), "github:me/fleet#web1")  # type: ignore[arg-type]
    assert plan.user_flake is not None and plan.user_flake.tree is None
    assert "flake:     github:me/fleet#web1 (fetched by the installer; not copied)" in (
        plan_lines(plan)
    )


def test_a_directory_without_flake_nix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"holds no flake\.nix"):
        resolve(f"{tmp_path}#web1")


RECORDER = """#!/bin/sh
printf '%s\\n' "$@" > {out}
"""


def _installer(tmp_path: Path, plan: object) -> tuple[Installer, Path, Path]:
    root = tmp_path / "mnt"
    root.mkdir()
    record = tmp_path / "argv"
    stand_in = tmp_path / "nixos-install"
    stand_in.write_text(RECORDER.format(out=record))
    stand_in.chmod(0o755)
    plan = attrs.evolve(plan, layout=attrs.evolve(plan.layout, mount_root=str(root)))  # type: ignore[attr-defined]
    archive = tmp_path / "user-flake.tar"
    if plan.user_flake.tree is not None:  # type: ignore[attr-defined]
        archive.write_bytes(
            pack_tree(plan.user_flake.tree, what="--flake", keep_owner=False, skip=SKIPPED)  # type: ignore[attr-defined]
        )
    config = InstallerConfig(
        state_file=tmp_path / "state.json",
        nixos_install=str(stand_in),
        user_flake_archive=archive,
    )
    return Installer(plan, config=config), root, record  # type: ignore[arg-type]


def test_the_installer_copies_a_local_flake_and_installs_it(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    init_fleet(fleet)
    plan = attach(_plan(), f"{fleet}#web1")  # type: ignore[arg-type]
    installer, root, record = _installer(tmp_path, plan)
    installer.phase_flake()
    copy = root / "persist/etc/nixos"
    assert (copy / "flake.nix").read_bytes() == (fleet / "flake.nix").read_bytes()
    info = json.loads((copy / "hosts/web1/runtime-info.json").read_text())
    assert info["hostName"] == INFO.host_name
    assert not (copy / "runtime-info.json").exists()  # nixremote's host flake is not written
    installer.phase_install()
    argv = record.read_text().splitlines()
    assert argv[argv.index("--flake") + 1] == f"{copy}#web1"


def test_the_installer_passes_a_remote_flake_to_nixos_install(tmp_path: Path) -> None:
    plan = attach(_plan(), "github:me/fleet#web1")  # type: ignore[arg-type]
    installer, root, record = _installer(tmp_path, plan)
    installer.phase_flake()
    assert not (root / "persist/etc/nixos").exists()
    installer.phase_install()
    argv = record.read_text().splitlines()
    assert argv[argv.index("--flake") + 1] == "github:me/fleet#web1"


def test_the_cli_plan_shape_check_runs_before_connecting(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["nixremote", "plan", "root@127.0.0.1", "-p", "9", "--flake", "github:me/fleet"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --flake 'github:me/fleet': expected REF#NAME")
