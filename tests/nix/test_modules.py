"""The NixOS modules of nix/modules/, evaluated one by one with a stand-in for nixpkgs' lib.

The module system and nixpkgs cannot be evaluated here (docs/nix.md says why). These tests call
each module function with a stand-in ``lib`` (a test double: ``mkIf`` and friends become tagged
data), a ``config`` holding the values the module system would compute, and force every value of
the result, option defaults included, to JSON. So every branch is evaluated: a misspelt option of
nixremote's own, a wrong attribute of the runtime info or a type error in a module body fails
here, and the values the modules set can be checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import CASES, REPO, nix_eval

LIB = """{
  mkIf = c: x: { _if = c; content = x; };
  mkMerge = xs: { _merge = xs; };
  mkDefault = x: { _default = x; };
  mkForce = x: { _force = x; };
  mkBefore = x: { _before = x; };
  mkAfter = x: { _after = x; };
  mkOverride = p: x: { _override = x; priority = p; };
  mkOption = o: o // { _option = true; };
  literalExpression = x: x;
  trivial.release = "25.11";
  all = builtins.all;
  attrValues = builtins.attrValues;
  concatMapStrings = f: l: builtins.concatStringsSep "" (map f l);
  imap0 = f: l: builtins.genList (i: f i (builtins.elemAt l i)) (builtins.length l);
  optional = c: x: if c then [ x ] else [ ];
  optionalString = c: s: if c then s else "";
  types = {
    nullOr = t: "nullOr"; listOf = t: "listOf"; enum = l: "enum";
    attrs = "attrs"; str = "str"; raw = "raw"; bool = "bool"; port = "port";
    package = "package";
  };
}"""

PKGS = """{
  stdenv.hostPlatform.isx86 = true;
  writers.writePython3 = name: opts: text: "/nix/store/restore-network";
  python3 = "python3"; kexec-tools = "kexec-tools"; gptfdisk = "gptfdisk";
  dosfstools = "dosfstools"; util-linux = "util-linux"; iproute2 = "iproute2";
}"""


def config_expr(info_file: str, *, systemd_initrd: bool, devices: int) -> str:
    disks = " ".join(f'"/dev/disk/by-id/ata-D{i}"' for i in range(devices))
    return f"""{{
  nixremote = {{
    runtimeInfo = builtins.fromJSON (builtins.readFile {info_file});
    persistDir = "/persist";
    flake = {{ source = "the-flake"; configurationName = "installed"; }};
    boot = {{ mode = "hybrid"; devices = [ {disks} ]; }};
    network.enable = true;
    ssh = {{ enable = true; hostKeyDir = "/persist/etc/ssh"; }};
    zfs = {{
      enable = true; pool = "rpool"; espDevice = "/dev/disk/by-id/ata-D0-part3";
      encrypted = true;
      unlock = {{
        enable = true; port = 2222; authorizedKeys = [ "ssh-ed25519 AAAA k" ];
        hostKey = "/persist/etc/secrets/initrd/ssh_host_ed25519_key";
      }};
    }};
    impermanence = {{
      enable = true; snapshot = "rpool/local/root@blank";
      directories = [ "/var/lib/nixos" "/var/log" ];
    }};
    hetzner = {{ enable = true; cloud = true; }};
    installer = {{
      package = "nixremote-installer"; python = "python3"; firmware = [ ];
      checkPerlless = false; squashfsCompression = "xz";
    }};
  }};
  boot.initrd.systemd.enable = {"true" if systemd_initrd else "false"};
  boot.zfs.package = "zfs";
  users.users.root = {{
    password = null; initialPassword = null;
    openssh.authorizedKeys.keys = [ "ssh-ed25519 AAAA k" ];
  }};
}}"""


def evaluate(module: str, *, case: str = "hoster", systemd_initrd: bool = False,
             devices: int = 1, info: Path | None = None) -> Any:
    info = info or CASES / case / "runtime-info.json"
    expr = (
        f"import {REPO}/nix/modules/{module}.nix {{"
        f" lib = {LIB}; pkgs = {PKGS}; modulesPath = \"/modules\";"
        f" config = {config_expr(str(info), systemd_initrd=systemd_initrd, devices=devices)}; }}"
    )
    return nix_eval(expr)


def discharge(value: Any) -> Any:
    """Resolve the stand-in's tags as the module system would (conditions, priorities)."""
    if isinstance(value, dict):
        if "_if" in value:
            return discharge(value["content"]) if value["_if"] else None
        if "_merge" in value:
            merged: Any = None
            for part in (discharge(p) for p in value["_merge"]):
                merged = _merge(merged, part)
            return merged
        for tag in ("_default", "_force", "_before", "_after"):
            if tag in value and len(value) == 1:
                return discharge(value[tag])
        if "_override" in value:
            return discharge(value["_override"])
        out = {k: discharge(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(value, list):
        return [discharge(v) for v in value]
    return value


def _merge(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(out.get(k), v)
        return out
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    if isinstance(a, str) and isinstance(b, str):
        return a + "\n" + b  # types.lines
    raise AssertionError(f"conflicting definitions: {a!r} and {b!r}")


MODULES = ["core", "ssh", "zfs", "network", "impermanence", "hetzner", "installer"]


@pytest.mark.parametrize("systemd_initrd", [False, True])
@pytest.mark.parametrize("module", MODULES)
def test_every_module_evaluates_in_every_branch(module: str, systemd_initrd: bool) -> None:
    result = evaluate(module, systemd_initrd=systemd_initrd)
    assert "config" in result
    json.dumps(result)  # plain data all the way down


def test_core_single_disk() -> None:
    cfg = discharge(evaluate("core")["config"])
    grub = cfg["boot"]["loader"]["grub"]
    assert grub["devices"] == ["/dev/disk/by-id/ata-D0"]
    assert "mirroredBoots" not in grub
    assert grub["efiSupport"] is True and grub["efiInstallAsRemovable"] is True
    assert cfg["boot"]["loader"]["efi"]["canTouchEfiVariables"] is False
    assert cfg["nix"]["registry"] == {"installed": {"flake": "the-flake"}}
    assert cfg["users"]["users"]["root"]["openssh"]["authorizedKeys"]["keys"] == [
        json.loads((CASES / "hoster" / "runtime-info.json").read_text())["rootAuthorizedKeys"][0]
    ]
    assert cfg["assertions"][0]["assertion"] is True
    assert cfg["fileSystems"]["/etc/nixos"] == {
        "device": "/persist/etc/nixos", "fsType": "none", "options": ["bind", "nofail"],
        "depends": ["/persist"],
    }


def test_core_boot_mode_default_from_runtime_info() -> None:
    opts = evaluate("core", case="hoster")["options"]["nixremote"]["boot"]
    assert opts["mode"]["default"] == "bios"
    assert opts["devices"]["default"] == ["/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345"]
    assert evaluate("core", case="dhcp")["options"]["nixremote"]["boot"]["mode"]["default"] == (
        "hybrid"
    )
    assert evaluate("core", case="two-nics")["options"]["nixremote"]["boot"]["mode"][
        "default"
    ] == "uefi"


def test_core_mirrored_disks() -> None:
    grub = discharge(evaluate("core", devices=2)["config"])["boot"]["loader"]["grub"]
    assert "devices" not in grub
    assert grub["mirroredBoots"] == [
        {"devices": ["/dev/disk/by-id/ata-D0"], "path": "/boot", "efiSysMountPoint": "/boot"},
        {"devices": ["/dev/disk/by-id/ata-D1"], "path": "/boot-fallback",
         "efiSysMountPoint": "/boot-fallback"},
    ]


def test_zfs_file_systems_and_unlock() -> None:
    cfg = discharge(evaluate("zfs", devices=2)["config"])
    fs = cfg["fileSystems"]
    assert fs["/"] == {"device": "rpool/local/root", "fsType": "zfs"}
    assert fs["/persist"]["neededForBoot"] is True
    assert fs["/boot"]["device"] == "/dev/disk/by-id/ata-D0-part3"
    assert fs["/boot-fallback"]["device"] == "/dev/disk/by-id/ata-D1-part3"
    assert cfg["boot"]["zfs"]["requestEncryptionCredentials"] is True
    ssh = cfg["boot"]["initrd"]["network"]["ssh"]
    assert ssh["port"] == 2222
    assert ssh["hostKeys"] == ["/persist/etc/secrets/initrd/ssh_host_ed25519_key"]
    assert "zfs load-key -a && killall zfs" in cfg["boot"]["initrd"]["network"]["postCommands"]


def test_zfs_option_defaults() -> None:
    opts = evaluate("zfs")["options"]["nixremote"]["zfs"]
    assert opts["espDevice"]["default"] == "/dev/disk/by-id/ata-D0-part3"
    assert opts["unlock"]["port"]["default"] == 2222
    assert opts["unlock"]["hostKey"]["default"] == (
        "/persist/etc/secrets/initrd/ssh_host_ed25519_key"
    )


def test_ssh_keys_only() -> None:
    cfg = discharge(evaluate("ssh")["config"])["services"]["openssh"]
    assert cfg["settings"] == {
        "PasswordAuthentication": False,
        "KbdInteractiveAuthentication": False,
        "PermitRootLogin": "prohibit-password",
    }
    assert [k["path"] for k in cfg["hostKeys"]] == [
        "/persist/etc/ssh/ssh_host_ed25519_key", "/persist/etc/ssh/ssh_host_rsa_key"
    ]


@pytest.mark.parametrize("systemd_initrd", [False, True])
def test_network_module_uses_the_pure_function(systemd_initrd: bool) -> None:
    cfg = discharge(evaluate("network", systemd_initrd=systemd_initrd)["config"])
    expected = json.loads((CASES / "hoster" / "expected.json").read_text())
    assert cfg["systemd"]["network"] == expected["systemd"]["network"]
    assert cfg["networking"]["hostName"] == "web1"
    assert cfg["networking"]["domain"] == "example.com"
    initrd = cfg["boot"]["initrd"]
    if systemd_initrd:
        assert initrd["systemd"]["network"]["networks"] == expected["systemd"]["network"][
            "networks"
        ]
        assert "postCommands" not in initrd.get("network", {})
    else:
        assert initrd["network"]["postCommands"] == expected["boot"]["initrd"]["network"][
            "postCommands"
        ]


def test_network_module_leaves_nameservers_to_others_when_none() -> None:
    cfg = discharge(evaluate("network", case="legacy")["config"])
    assert "nameservers" not in cfg["networking"]


@pytest.mark.parametrize("systemd_initrd", [False, True])
def test_impermanence_rolls_back(systemd_initrd: bool) -> None:
    cfg = discharge(evaluate("impermanence", systemd_initrd=systemd_initrd)["config"])
    if systemd_initrd:
        unit = cfg["boot"]["initrd"]["systemd"]["services"]["nixremote-rollback"]
        assert unit["script"] == "zfs rollback -r rpool/local/root@blank"
        assert unit["before"] == ["sysroot.mount"]
        assert unit["after"] == ["zfs-import-rpool.service"]
    else:
        assert "zfs rollback -r rpool/local/root@blank" in cfg["boot"]["initrd"][
            "postResumeCommands"
        ]
    scripts = cfg["system"]["activationScripts"]
    assert sorted(scripts) == ["00-nixremote-persist"]  # sorts before "etc" and "users"
    text = scripts["00-nixremote-persist"]["text"]
    assert "ln -sfn /persist/var/lib/nixos /var/lib/nixos" in text
    assert cfg["environment"]["etc"]["machine-id"]["source"] == "/persist/etc/machine-id"


def test_hetzner_resolvers_only_as_default() -> None:
    cfg = evaluate("hetzner")["config"]
    assert cfg["_if"] is True
    assert "_default" in cfg["content"]["networking"]["nameservers"]


def test_installer_no_passwords_and_contract() -> None:
    cfg = discharge(evaluate("installer")["config"])
    assert cfg["users"]["users"]["root"]["initialHashedPassword"] == "!"
    assert cfg["users"]["users"]["nixos"]["initialHashedPassword"] == "!"
    assert cfg["services"]["openssh"]["settings"]["PasswordAuthentication"] is False
    assert cfg["services"]["openssh"]["settings"]["PermitRootLogin"] == "prohibit-password"
    assert cfg["documentation"]["enable"] is False
    assert cfg["hardware"]["enableRedistributableFirmware"] is False
    assert cfg["boot"]["initrd"]["systemd"]["enable"] is True
    packages = cfg["environment"]["systemPackages"]
    for wanted in ("nixremote-installer", "python3", "kexec-tools", "gptfdisk", "zfs"):
        assert wanted in packages


def test_zfs_systemd_initrd_unlock_shell() -> None:
    cfg = evaluate("zfs", systemd_initrd=True)["config"]
    parts = [discharge(p) for p in cfg["content"]["_merge"]]
    shells = [p["boot"]["initrd"]["systemd"]["users"]["root"] for p in parts
              if p and "systemd" in p.get("boot", {}).get("initrd", {})]
    assert shells == [{"shell": "/bin/systemd-tty-ask-password-agent"}]
    raw = json.dumps(cfg)
    assert '"priority": 900' in raw  # above nixpkgs' own mkDefault, below a plain definition


@pytest.mark.parametrize(("network", "cloud"), [(None, True), ("cloud", True),
                                                 ("dedicated", False)])
def test_hetzner_cloud_or_dedicated_from_the_plugins_details(
    network: str | None, cloud: bool, tmp_path: Path
) -> None:
    data = json.loads((CASES / "hoster" / "runtime-info.json").read_text())
    data["hosterDetails"] = {} if network is None else {"network": network}
    path = tmp_path / "ri.json"
    path.write_text(json.dumps(data))
    opts = evaluate("hetzner", info=path)["options"]["nixremote"]["hetzner"]
    assert opts["enable"]["default"] is True
    assert opts["cloud"]["default"] is cloud
