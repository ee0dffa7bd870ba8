"""The installer environment (nix/modules/installer.nix on netboot and on the ISO), evaluated with
the real module system of nixpkgs 25.11 over the re-stated profiles it is built on
(tests/nix/nixos-modules-path/: netboot-minimal, installation-cd-minimal, installation-device,
perlless, minimal, base), and the kexec package built from that evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NixosEval = Callable[..., Any]


MODULES_PATH = REPO / "tests" / "nix" / "nixos-modules-path"

# The installer as the root flake evaluates it (flake.nix's installerSystem), with fake flakes
# standing for nixremote's and nixpkgs' sources.
INSTALLER = (
    "installer = medium: cd: evalConfig {{"
    "  standIn.cdBaseStateVersion = cd;"
    '  modules = [ (repo + "/nix/installer/${{medium}}.nix") ({{ pkgs, ... }}: {{'
    '    nixpkgs.hostPlatform = "x86_64-linux";'
    "    nixremote.installer.package = pkgs.python3;"
    "    nixremote.installer.flakeInputs = {{"
    '      nixremote = {{ outPath = "{store}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-source"; }};'
    '      nixpkgs = {{ outPath = "{store}/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-source";'
    "        lastModified = 1763078400; }}; }};"
    "  }}) ]; }};"
).format(store="/nix/store")


def installer_eval(nixos_eval: NixosEval, body: str, **argstr: str) -> object:
    return nixos_eval(f"let {INSTALLER} in {body}", **argstr)


@pytest.mark.parametrize(
    ("medium", "cd"), [("netboot", "release"), ("iso", "release"), ("iso", "18.03")]
)
def test_installer_evaluates_whole(medium: str, cd: str, nixos_eval: NixosEval) -> None:
    got = installer_eval(
        nixos_eval,
        "let i = installer medium cd; in { forced = forceAll i.config;"
        " failed = i.failedAssertions; state = i.config.system.stateVersion; }",
        medium=medium,
        cd=cd,
    )
    # whichever stateVersion default installation-cd-base.nix brings, the installer's wins
    assert got == {"forced": True, "failed": [], "state": "25.11"}


def test_the_old_state_version_default_would_not_evaluate_on_the_iso(
    nixos_eval_error: Callable[..., str],
) -> None:
    # What installer.nix had (mkDefault lib.trivial.release) next to the CD profile's
    # mkDefault "18.03": two mkDefaults that differ, the .#iso evaluation error the issue
    # suspected. The mkOverride 900 of installer.nix is what makes test_installer_evaluates_whole
    # pass with "18.03".
    message = nixos_eval_error(
        'let i = evalConfig { standIn.cdBaseStateVersion = "18.03"; modules = ['
        ' (/. + modulesPath + "/installer/cd-dvd/installation-cd-minimal.nix")'
        ' { nixpkgs.hostPlatform = "x86_64-linux";'
        "   system.stateVersion = lib.mkDefault lib.trivial.release; } ]; };"
        " in i.config.system.stateVersion",
        modulesPath=str(MODULES_PATH),
    )
    assert "The option `system.stateVersion' has conflicting definition values" in message
    assert '"18.03"' in message


def test_installer_locks_the_profiles_down(nixos_eval: NixosEval) -> None:
    got = installer_eval(
        nixos_eval,
        'let c = (installer "netboot" "release").config; in {'
        "  root = c.users.users.root.initialHashedPassword;"
        "  nixos = c.users.users.nixos.initialHashedPassword;"
        "  ssh = c.services.openssh.settings; autologin = c.services.getty.autologinUser;"
        "  docs = c.documentation; wireless = c.networking.wireless.enable;"
        "  firmware = c.hardware.enableRedistributableFirmware;"
        "  packages = map (p: p.name) c.environment.systemPackages;"
        "  filesystems = c.boot.supportedFilesystems;"
        "  systemdInitrd = c.boot.initrd.systemd.enable; registry = c.nix.registry;"
        "  channel = c.system.installer.channel.enable; clone = c.installer.cloneConfig;"
        "  squashfs = c.netboot.squashfsCompression; compressor = c.boot.initrd.compressor;"
        "  forbidden = c.system.forbiddenDependenciesRegexes;"
        "  params = c.boot.kernelParams; hostId = c.networking.hostId; }",
    )
    # installation-device.nix gives both empty passwords: locked (mkForce)
    assert got["root"] == "!" and got["nixos"] == "!"
    # installation-device.nix's mkDefault "yes" loses to the installer's mkForce
    assert got["ssh"]["PermitRootLogin"] == "prohibit-password"
    assert got["ssh"]["PasswordAuthentication"] is False
    assert got["autologin"] == "root"
    # installation-device.nix's mkImageMediaOverride (60) loses to mkForce (50)
    assert not any(v["enable"] if isinstance(v, dict) else v for v in got["docs"].values())
    assert got["wireless"] is False and got["firmware"] is False
    # profiles/base.nix is disabled: none of its tools, none of its file systems
    assert "testdisk" not in got["packages"]
    assert {"nixremote-installer", "python3", "kexec-tools", "gptfdisk", "zfs"} <= (
        set(got["packages"]) | {"nixremote-installer"}
    )
    assert got["filesystems"] == {"ext4": True, "vfat": True, "zfs": True, "tmpfs": True}
    assert got["systemdInitrd"] is True
    assert got["registry"] == {}
    assert got["channel"] is False and got["clone"] is False
    assert got["squashfs"] == "xz -Xdict-size 100% -b 1M -Xbcj x86"
    assert got["compressor"] == "gzip"
    assert got["forbidden"] == []  # checkPerlless is off by default
    assert got["params"] == ["console=ttyS0,115200n8", "console=tty0"]
    assert got["hostId"] == "8425e349"


def test_installer_carries_the_flake_sources_and_nothing_else(nixos_eval: NixosEval) -> None:
    got = installer_eval(
        nixos_eval,
        'let c = (installer "netboot" "release").config; in {'
        "  extra = c.system.extraDependencies;"
        "  inStore = c.netboot.storeContents == [ c.system.build.toplevel ];"
        "  toplevelExtra = c.system.build.toplevel.env.extraDependencies;"
        '  etc = c.environment.etc."nixremote/flake-inputs.json".source.name;'
        "  file = c.system.build.nixremoteFlakeInputs.script; }",
    )
    sources = [
        "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-source",
        "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-source",
    ]
    # installation-device.nix's stdenv & co are gone; the two sources are in the image's closure
    assert got["extra"] == sources
    assert got["toplevelExtra"] == sources and got["inStore"] is True
    assert got["etc"] == "nixremote-flake-inputs.json"
    script = got["file"]
    # nixpkgs' reference as nixremote's flake.nix declares it, its lastModified; none for nixremote
    assert "--argjson url '\"github:NixOS/nixpkgs/nixos-25.11\"'" in script
    assert "--argjson lastModified 1763078400" in script
    assert "--argjson url null" in script


def test_kexec_package_reads_what_the_installer_has(nixos_eval: NixosEval) -> None:
    # nix/packages/kexec.nix called on the evaluated installer: every attribute it reads exists
    got = installer_eval(
        nixos_eval,
        'let i = installer "netboot" "release"; pkgs = i._module.args.pkgs;'
        ' k = pkgs.callPackage (repo + "/nix/packages/kexec.nix") {'
        "   installer = i; nixremote = pkgs.python3; gzip = pkgs.coreutils; }; in"
        " { inherit (k) name script; params = k.env.passthru.kernelParams; }",
    )
    assert got["name"] == "nixremote-kexec-x86_64-linux"
    script = got["script"]
    assert "cp /nix/store/" in script and "-linux/bzImage $out/bzImage" in script
    assert "--slurpfile flakeInputs /nix/store/" in script
    assert "-nixremote-flake-inputs.json" in script
    assert got["params"].startswith("init=/nix/store/")
    assert got["params"].endswith("-nixos-system-nixos/init console=ttyS0,115200n8 console=tty0")
