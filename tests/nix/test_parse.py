"""Every .nix file of the repository, and every generated host and fleet flake, parses with Nix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers.nix import CASES, REPO, nix_parse
from nixremote.controller import fleet
from nixremote.core import hostflake
from nixremote.core.converter import load_runtime_info


def _repo_nix_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard", "*.nix"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode == 0 and listed.stdout.strip():
        files = [REPO / line for line in listed.stdout.splitlines()]
    else:
        files = [p for p in REPO.rglob("*.nix") if ".git" not in p.parts]
    return sorted(p for p in files if p.is_file())


NIX_FILES = _repo_nix_files()


def test_the_repository_has_its_nix_files() -> None:
    names = {p.relative_to(REPO).as_posix() for p in NIX_FILES}
    for required in (
        "flake.nix",
        "nix/lib/network.nix",
        "nix/lib/fleet.nix",
        "nix/modules/installer.nix",
        "nix/packages/kexec.nix",
        "src/nixremote/data/templates/host/flake.nix",
        "src/nixremote/data/templates/fleet/flake.nix",
    ):
        assert required in names


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_repository_file_parses(path: Path) -> None:
    result = nix_parse(path)
    assert result.returncode == 0, result.stderr


def test_parser_rejects_broken_nix(tmp_path: Path) -> None:
    broken = tmp_path / "broken.nix"
    broken.write_text("{ a = ; }\n")
    assert nix_parse(broken).returncode != 0


@pytest.mark.parametrize("case", ["hoster", "legacy", "dhcp"])
def test_generated_host_flake_parses(case: str, tmp_path: Path) -> None:
    info = load_runtime_info(CASES / case / "runtime-info.json")
    flake = hostflake.write_host_flake(
        info,
        tmp_path / "host",
        nixremote_url="path:/srv/nixremote",
        extra_modules=["nixremote.nixosModules.hetzner", "{ services.fstrim.enable = true; }"],
    )
    for name in ("flake.nix", "configuration.nix"):
        result = nix_parse(flake.path / name)
        assert result.returncode == 0, (name, result.stderr)


def test_generated_fleet_parses(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    fleet.init_fleet(root, nixremote_url="github:example/nixremote/v1")
    for case in ("hoster", "two-nics"):
        fleet.add_host(root, CASES / case / "runtime-info.json")
    files = sorted(root.rglob("*.nix"))
    assert len(files) == 4  # flake.nix, common.nix, two configuration.nix
    for path in files:
        result = nix_parse(path)
        assert result.returncode == 0, (path, result.stderr)
