"""nix/lib/default.nix: the pure helpers, and the wiring of makeSystem/makeFleet.

makeSystem and makeFleet end in nixpkgs' ``lib.nixosSystem``, which cannot be evaluated here (no
nixpkgs). The tests give them a stand-in nixpkgs (a test double: ``nixosSystem = args: args``)
and check what they would hand to NixOS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.nix import CASES, REPO, nix_eval
from nixremote.controller import fleet

STANDIN = (
    "nixpkgs = { lib = { nixosSystem = args: args; mkDefault = x: { _default = x; }; }; }; "
    'self = { nixosModules.default = "nixremote-default-module"; };'
)

# paths would be copied into the store by --json; show them as strings
SHOW = (
    "showModule = m: if builtins.isPath m then toString m"
    " else if m ? nixremote then m // { nixremote = m.nixremote // { flake = m.nixremote.flake"
    " // { inputs = builtins.attrNames m.nixremote.flake.inputs; }; }; } else m;"
    " show = sys: sys // { modules = map showModule sys.modules;"
    " specialArgs = builtins.attrNames sys.specialArgs; };"
)


def test_pure_parts_need_no_nixpkgs() -> None:
    got = nix_eval(
        f"let l = import {REPO}/nix/lib {{ }}; in {{"
        ' sys = map l.systemOf [ { arch = "x86_64"; } { arch = "aarch64"; } { arch = "arm64"; }'
        " { arch = null; } { } ];"
        ' part = l.partitionPath "/dev/disk/by-id/nvme-X" 3;'
        " net = (l.network.toNixos (l.readRuntimeInfo (/. + file))).networking.hostId;"
        " info = (l.readRuntimeInfo (/. + file)).hostName; }",
        file=str(CASES / "legacy" / "runtime-info.json"),
    )
    assert got == {
        "sys": ["x86_64-linux", "aarch64-linux", "aarch64-linux", "x86_64-linux", "x86_64-linux"],
        "part": "/dev/disk/by-id/nvme-X-part3",
        "net": "a1b2c3d4",
        "info": "legacy1",
    }


def test_make_system_wiring() -> None:
    got: Any = nix_eval(
        f"let {STANDIN} {SHOW} l = import {REPO}/nix/lib {{ inherit self nixpkgs; }}; in "
        'show (l.makeSystem { runtimeInfo = /. + file; flake = "the-host-flake";'
        ' modules = [ "extra" ]; })',
        file=str(CASES / "ipv6-only" / "runtime-info.json"),
    )
    assert got["specialArgs"] == ["nixremote"]
    default, settings, extra = got["modules"]
    assert default == "nixremote-default-module"
    assert extra == "extra"
    assert settings["nixpkgs"]["hostPlatform"] == {"_default": "aarch64-linux"}  # from arch
    assert settings["nixremote"]["flake"] == {
        "source": "the-host-flake",
        "configurationName": "installed",
        "inputs": ["nixpkgs", "nixremote"],  # kept in the system's closure and registry
    }
    assert settings["nixremote"]["runtimeInfo"]["hostName"] == "v6only"


def test_make_fleet_wiring(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    fleet.init_fleet(root)
    fleet.add_host(root, CASES / "hoster" / "runtime-info.json")
    fleet.add_host(root, CASES / "dhcp" / "runtime-info.json")
    (root / "hosts" / "dyn" / "configuration.nix").unlink()
    got: Any = nix_eval(
        f"let {STANDIN} {SHOW} l = import {REPO}/nix/lib {{ inherit self nixpkgs; }}; in "
        "builtins.mapAttrs (n: show) (l.makeFleet { hostsDir = /. + dir;"
        ' flake = "the-fleet"; modules = [ "common" ]; })',
        dir=str(root / "hosts"),
    )
    assert sorted(got) == ["dyn", "web1"]
    web1 = got["web1"]["modules"]
    assert web1[0] == "nixremote-default-module"
    assert web1[1]["nixremote"]["flake"] == {
        "source": "the-fleet",
        "configurationName": "web1",
        "inputs": ["nixpkgs", "nixremote"],
    }
    assert web1[2:] == ["common", str(root / "hosts" / "web1" / "configuration.nix")]
    assert got["dyn"]["modules"][2:] == ["common"]  # no configuration.nix, none added


def test_boot_mount_points_match_the_disk_layouts() -> None:
    # the NixOS modules mount partition 3 of each boot disk where the mirror layout put it
    from nixremote.core.layout import build_layout
    from nixremote.core.models import BootMode

    disks = tuple(f"/dev/disk/by-id/ata-DISK{i}" for i in range(4))
    layout = build_layout(name="mirror", disks=disks, boot=BootMode.UNKNOWN)
    got = nix_eval(
        f"let d = import {REPO}/nix/lib/disks.nix; in builtins.genList (i: d.bootMountPoint i) 4"
    )
    assert [mount for _disk, mount in layout.boot_mounts] == got
    assert [disk for disk, _mount in layout.boot_mounts] == list(disks)
