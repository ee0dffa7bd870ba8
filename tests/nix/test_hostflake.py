"""Host flake rendering (nixremote.core.hostflake)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.nix import CASES, REPO, nix_parse
from nixremote.core import hostflake, nixtext
from nixremote.core.converter import load_runtime_info, loads_runtime_info
from nixremote.core.errors import InvalidInputError
from nixremote.core.hostkeys import INITRD_SSH_PORT
from nixremote.core.progress import Event


@pytest.fixture
def info():  # type: ignore[no-untyped-def]
    return load_runtime_info(CASES / "hoster" / "runtime-info.json")


def test_template_files_are_the_flake_templates() -> None:
    # one copy: the root flake's templates.* point at the package data
    flake = (REPO / "flake.nix").read_text()
    assert "path = ./src/nixremote/data/templates/host;" in flake
    assert "path = ./src/nixremote/data/templates/fleet;" in flake
    files = hostflake.template_files("host")
    assert set(files) == {"flake.nix", "configuration.nix"}
    assert files["flake.nix"] == (REPO / "src/nixremote/data/templates/host/flake.nix").read_text()


def test_render_host_flake(info) -> None:  # type: ignore[no-untyped-def]
    files = hostflake.render_host_flake(
        info,
        nixremote_url="github:me/nixremote/v0.1.0",
        extra_modules=["nixremote.nixosModules.hetzner"],
    )
    assert set(files) == {"flake.nix", "runtime-info.json", "configuration.nix"}
    flake = files["flake.nix"]
    assert 'nixremote.url = "github:me/nixremote/v0.1.0";' in flake
    assert "github:nixremote/nixremote" not in flake
    assert "nixosConfigurations.installed = nixremote.lib.makeSystem" in flake
    assert "flake = self;" in flake  # registered as `installed`
    lines = flake.splitlines()
    marker = next(i for i, line in enumerate(lines) if hostflake.EXTRA_MODULES_MARKER in line)
    assert lines[marker + 1].strip() == "(nixremote.nixosModules.hetzner)"
    assert lines[marker + 1].startswith(" " * 10)
    # the runtime info round-trips and carries both shapes
    data = json.loads(files["runtime-info.json"])
    assert data["interfaces"][0]["mac"] == "96:00:00:AB:CD:EF"
    assert data["networkInterface"] == "enp1s0"
    assert loads_runtime_info(files["runtime-info.json"]) == info


def test_no_extra_modules_leaves_template(info) -> None:  # type: ignore[no-untyped-def]
    # the template's own reference: nixremote's flake as the Nix registry names it
    files = hostflake.render_host_flake(info, nixremote_url="flake:nixremote")
    assert files["flake.nix"] == hostflake.template_files("host")["flake.nix"]


@pytest.mark.parametrize("name", ["host", "fleet"])
def test_templates_name_no_repository_that_does_not_exist(name: str) -> None:
    flake = hostflake.template_files(name)["flake.nix"]
    assert 'nixremote.url = "flake:nixremote";' in flake
    assert "github:nixremote" not in flake
    if name == "host":  # the command it tells the user rebuilds what is in /etc/nixos
        assert "nixos-rebuild switch --flake /etc/nixos#installed" in flake


@pytest.mark.parametrize(
    "url", ['github:a/b"; evil = "', "path:/x\\y", "", "a${b}", " github:a/b", "x\ny"]
)
def test_bad_flake_url_refused(info, url: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match="invalid flake reference"):
        hostflake.render_host_flake(info, nixremote_url=url)


def test_write_keeps_the_users_configuration(info, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events: list[Event] = []
    first = hostflake.write_host_flake(info, tmp_path / "h", reporter=events.append)
    assert first.written == ("flake.nix", "runtime-info.json", "configuration.nix")
    assert events and events[-1].kind == "done"
    config = tmp_path / "h" / "configuration.nix"
    config.write_text("{ ... }: { services.nginx.enable = true; }\n")
    second = hostflake.write_host_flake(info, tmp_path / "h")
    assert second.kept == ("configuration.nix",)
    assert "nginx" in config.read_text()
    assert not list((tmp_path / "h").glob("*.tmp"))
    assert nix_parse(tmp_path / "h" / "flake.nix").returncode == 0


def test_multiline_module_is_indented_and_parses(info, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mod = "{ config, ... }:\n{\n  networking.firewall.allowedTCPPorts = [ 80 ];\n}"
    flake = hostflake.write_host_flake(info, tmp_path / "h", extra_modules=[mod])
    text = (flake.path / "flake.nix").read_text()
    assert "            networking.firewall.allowedTCPPorts = [ 80 ];" in text
    assert nix_parse(flake.path / "flake.nix").returncode == 0


def test_unwritable_destination_is_a_clear_error(info, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InvalidInputError, match="cannot write the host flake"):
        hostflake.write_host_flake(info, blocker / "sub")


def test_paths_match_the_nix_modules() -> None:
    # the installer writes where the NixOS modules read
    zfs = (REPO / "nix/modules/zfs.nix").read_text()
    ssh = (REPO / "nix/modules/ssh.nix").read_text()
    core = (REPO / "nix/modules/core.nix").read_text()
    imp = (REPO / "nix/modules/impermanence.nix").read_text()
    assert hostflake.INITRD_SSH_HOST_KEY == "/persist/etc/secrets/initrd/ssh_host_ed25519_key"
    assert '"${persist}/etc/secrets/initrd/ssh_host_ed25519_key"' in zfs
    assert f"default = {INITRD_SSH_PORT};" in zfs
    assert hostflake.HOST_SSH_KEY_DIR == "/persist/etc/ssh"
    assert 'default = "${persist}/etc/ssh";' in ssh
    assert hostflake.HOST_FLAKE_DIR == "/persist/etc/nixos"
    assert 'fileSystems."/etc/nixos" = {' in core
    assert 'device = "${cfg.persistDir}/etc/nixos";' in core
    assert hostflake.MACHINE_ID_FILE == "/persist/etc/machine-id"
    assert '"${persist}/etc/machine-id"' in imp
    assert 'default = "/persist";' in core


@pytest.mark.parametrize(
    "value", ["plain", 'q"uote', "back\\slash", "${interp}", "$notinterp", "new\nline\ttab", "ä€"]
)
def test_nix_string_round_trips_through_nix(value: str) -> None:
    from helpers.nix import nix_eval

    assert nix_eval(nixtext.nix_string(value)) == value


def test_layout_module_for_mirror_and_unencrypted(info, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from helpers.nix import nix_eval

    assert nixtext.layout_module(boot_devices=["/dev/disk/by-id/a"]) is None
    mod = nixtext.layout_module(
        boot_devices=["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"], encrypted=False
    )
    assert mod is not None
    assert nix_eval(mod) == {
        "nixremote": {
            "boot": {"devices": ["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"]},
            "zfs": {"encrypted": False},
        }
    }
    flake = hostflake.write_host_flake(info, tmp_path / "h", extra_modules=[mod])
    assert nix_parse(flake.path / "flake.nix").returncode == 0
    assert f"({mod})" in (flake.path / "flake.nix").read_text()


def test_host_flake_renders_from_the_installer_zipapp(tmp_path: Path) -> None:
    # inside the installer the package runs from nixremote.pyz: the templates are read from zip
    import subprocess
    import sys

    from nixremote.controller.zipapp import build_zipapp

    pyz = build_zipapp(tmp_path / "nixremote.pyz", bytecode=False).path
    out = tmp_path / "flake"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from nixremote.core import hostflake;"
        "from nixremote.core.converter import load_runtime_info;"
        "assert hostflake.__file__.startswith(sys.argv[1]), hostflake.__file__;"
        "hostflake.write_host_flake(load_runtime_info(sys.argv[2]), sys.argv[3],"
        " extra_modules=['nixremote.nixosModules.hetzner'])"
    )
    subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            code,
            str(pyz),
            str(CASES / "hoster" / "runtime-info.json"),
            str(out),
        ],
        check=True,
        cwd=tmp_path,
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "configuration.nix",
        "flake.nix",
        "runtime-info.json",
    ]
    assert (out / "configuration.nix").read_text() == hostflake.template_files("host")[
        "configuration.nix"
    ]
    assert nix_parse(out / "flake.nix").returncode == 0
