"""``nixremote fleet`` and the fleet library."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers.json_output import result_data
from helpers.nix import CASES
from nixremote.cli.main import main
from nixremote.controller import fleet
from nixremote.core import hostflake
from nixremote.core.converter import load_runtime_info
from nixremote.core.errors import InvalidInputError


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_init_and_add(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "fleet"
    code, out, _ = run(
        ["fleet", "init", str(root), "--nixremote-url", "path:/src/nixremote"], capsys
    )
    assert code == 0
    assert 'nixremote.url = "path:/src/nixremote";' in (root / "flake.nix").read_text()
    assert "nixremote.lib.makeFleet" in (root / "flake.nix").read_text()
    assert (root / "common.nix").is_file()

    code, out, _ = run(
        ["fleet", "add", str(root), str(CASES / "hoster" / "runtime-info.json"), "--no-git-add"],
        capsys,
    )
    assert code == 0, out
    host = root / "hosts" / "web1"
    assert load_runtime_info(host / "runtime-info.json").host_name == "web1.example.com"
    assert (host / "configuration.nix").read_text() == hostflake.template_files("host")[
        "configuration.nix"
    ]
    code, out, _ = run(["fleet", "list", str(root), "--json"], capsys)
    assert result_data(out) == {"hosts": ["web1"]}


def test_init_refuses_existing_flake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "flake.nix").write_text("{ }\n")
    code, _, err = run(["fleet", "init", str(tmp_path)], capsys)
    assert code == 2
    assert "exists already" in err and "--force" in err
    assert (tmp_path / "flake.nix").read_text() == "{ }\n"


def test_add_refuses_duplicate_and_force_keeps_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.init_fleet(tmp_path)
    src = CASES / "legacy" / "runtime-info.json"
    fleet.add_host(tmp_path, src)
    config = tmp_path / "hosts" / "legacy1" / "configuration.nix"
    config.write_text("{ ... }: { }\n")
    code, _, err = run(["fleet", "add", str(tmp_path), str(src)], capsys)
    assert code == 2 and "has a host 'legacy1' already" in err
    code, out, _ = run(["fleet", "add", str(tmp_path), str(src), "--force", "--no-git-add"], capsys)
    assert code == 0
    assert "kept" in out
    assert config.read_text() == "{ ... }: { }\n"
    # the flat-only file was written in the current shape (rich + flat fields)
    data = json.loads((tmp_path / "hosts" / "legacy1" / "runtime-info.json").read_text())
    assert data["interfaces"][0]["name"] == "ens3" and data["networkInterface"] == "ens3"


def test_add_from_a_host_flake_directory(tmp_path: Path) -> None:
    info = load_runtime_info(CASES / "dhcp" / "runtime-info.json")
    flake = hostflake.write_host_flake(info, tmp_path / "hostflake")
    own = "{ ... }: { users.users.me.isNormalUser = true; }\n"
    (flake.path / "configuration.nix").write_text(own)
    fleet.init_fleet(tmp_path / "fleet")
    host = fleet.add_host(tmp_path / "fleet", flake.path, name="dyn-1")
    assert host.name == "dyn-1"
    assert "users.users.me" in (host.path / "configuration.nix").read_text()


@pytest.mark.parametrize("name", ["-x", "_t", ".h", "a.b", "a b", "", "x" * 64, "ä"])
def test_bad_names_refused(tmp_path: Path, name: str) -> None:
    fleet.init_fleet(tmp_path)
    with pytest.raises(InvalidInputError, match="invalid fleet host name"):
        fleet.add_host(tmp_path, CASES / "hoster" / "runtime-info.json", name=name)
    assert fleet.discover(tmp_path) == ()


def test_add_needs_a_fleet(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a fleet"):
        fleet.add_host(tmp_path, CASES / "hoster" / "runtime-info.json")


def test_invalid_runtime_info_is_refused_with_its_path(tmp_path: Path) -> None:
    fleet.init_fleet(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hostName": "x", "hostId": "nothex!", "diskToFormat": "/dev/sda"}))
    with pytest.raises(InvalidInputError, match=r"hostId"):
        fleet.add_host(tmp_path, bad)
    assert fleet.discover(tmp_path) == ()


def test_add_stages_with_git(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    fleet.init_fleet(tmp_path)
    code, out, _ = run(
        ["fleet", "add", str(tmp_path), str(CASES / "hoster" / "runtime-info.json")], capsys
    )
    assert code == 0 and "staged hosts/web1" in out
    staged = subprocess.run(
        ["git", "-C", str(tmp_path), "diff", "--cached", "--name-only"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(staged) == ["hosts/web1/configuration.nix", "hosts/web1/runtime-info.json"]


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["fleet", "init", str(tmp_path), "--json"], capsys)
    assert code == 0
    assert result_data(out)["written"] == ["common.nix", "flake.nix", "hosts/README.md"]
    source = str(CASES / "two-nics" / "runtime-info.json")
    code, out, _ = run(["fleet", "add", str(tmp_path), source, "--no-git-add", "--json"], capsys)
    assert code == 0
    assert result_data(out) == {
        "name": "db1",
        "hostName": "db1",
        "path": str(tmp_path / "hosts" / "db1"),
        "written": ["runtime-info.json", "configuration.nix"],
        "kept": [],
        "staged": False,
    }
