"""The NixOS modules of nix/modules/, evaluated with the real module system of nixpkgs 25.11.

``lib`` is nixpkgs' own (tests/data/nixpkgs-lib-25.11.tar.gz); the NixOS options the modules set
are declared with their nixpkgs types in tests/nix/nixos-options/, where the nixpkgs assertions
that matter are re-stated too; ``pkgs`` is a test double. So, as on a real build, an undeclared
option, a value of the wrong type, two definitions of one priority that disagree and a failed
assertion all fail here; every value of every configuration is forced.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CASES = Path(__file__).resolve().parent / "cases"
NixosEval = Callable[..., Any]


ALL_CASES = sorted(p.name for p in CASES.iterdir() if (p / "runtime-info.json").is_file())
KEY = json.loads((CASES / "hoster" / "runtime-info.json").read_text())["rootAuthorizedKeys"][0]


def info(case: str) -> str:
    return str(CASES / case / "runtime-info.json")


def test_all_cases_present() -> None:
    assert set(ALL_CASES) >= {
        "hoster",
        "two-nics",
        "ipv6-only",
        "dhcp",
        "legacy",
        "mixed",
        "no-keys",
    }


@pytest.mark.parametrize("systemd_initrd", [False, True])
@pytest.mark.parametrize("case", [c for c in ALL_CASES if c != "no-keys"])
def test_every_case_evaluates_whole(case: str, systemd_initrd: bool, nixos_eval: NixosEval) -> None:
    got = nixos_eval(
        'let h = host { info = /. + file; systemdInitrd = sd == "1"; }; in'
        " { forced = forceAll h.config; failed = h.failedAssertions;"
        "   host = h.config.networking.hostName; id = h.config.networking.hostId; }",
        file=info(case),
        sd="1" if systemd_initrd else "0",
    )
    data = json.loads((CASES / case / "runtime-info.json").read_text())
    assert got == {
        "forced": True,
        "failed": [],
        "host": data["hostName"].split(".")[0],
        "id": data["hostId"],
    }


def test_a_runtime_info_without_keys_is_refused_with_a_clear_message(
    nixos_eval: NixosEval,
) -> None:
    got = nixos_eval(
        "let h = extra: host { info = /. + file; modules = extra; }; in {"
        "  bare = (h [ ]).failedAssertions;"
        "  fixed = (h [ { users.users.root.openssh.authorizedKeys.keys = [ key ]; } ])"
        "    .failedAssertions; }",
        file=info("no-keys"),
        key=KEY,
    )
    ours = [m for m in got["bare"] if m.startswith("nixremote:")]
    assert len(ours) == 1
    assert "rootAuthorizedKeys in runtime-info.json is empty" in ours[0]
    assert "users.users.root.openssh.authorizedKeys.keys" in ours[0]
    # what nixos-install would have stopped on without it, less helpfully
    assert any("Neither the root account nor any wheel user" in m for m in got["bare"])
    assert "You should specify at least one authorized key for initrd SSH" in got["bare"]
    assert got["fixed"] == []


def test_core_single_disk(nixos_eval: NixosEval) -> None:
    got = nixos_eval(
        "let c = (host { info = /. + file; }).config; in {"
        "  grub = { inherit (c.boot.loader.grub) devices mirroredBoots efiSupport"
        "    efiInstallAsRemovable zfsSupport; };"
        "  efi = c.boot.loader.efi;"
        "  registry = builtins.mapAttrs (n: r: { inherit (r) from to; }) c.nix.registry;"
        '  registryJson = builtins.fromJSON c.environment.etc."nix/registry.json".text;'
        "  keys = c.users.users.root.openssh.authorizedKeys.keys;"
        '  etcNixos = { inherit (c.fileSystems."/etc/nixos") device fsType options depends; };'
        "  flakes = c.nix.settings.experimental-features; mutable = c.users.mutableUsers; }",
        file=info("hoster"),
    )
    disk = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345"
    assert got["grub"] == {
        "devices": [disk],
        # grub.nix derives the one boot path from `devices`
        "mirroredBoots": [
            {
                "path": "/boot",
                "devices": [disk],
                "efiSysMountPoint": "/boot",
                "efiBootloaderId": None,
            }
        ],
        "efiSupport": False,
        "efiInstallAsRemovable": False,
        "zfsSupport": True,
    }
    assert got["efi"] == {"canTouchEfiVariables": False, "efiSysMountPoint": "/boot"}
    # `installed` is the editable flake, not a store copy of it
    assert got["registry"] == {
        "installed": {
            "from": {"type": "indirect", "id": "installed"},
            "to": {"type": "path", "path": "/etc/nixos"},
        },
    }
    assert got["registryJson"]["flakes"] == [
        {
            "exact": True,
            "from": {"id": "installed", "type": "indirect"},
            "to": {"path": "/etc/nixos", "type": "path"},
        },
    ]
    assert got["keys"] == [KEY]
    etc_nixos = got["etcNixos"]
    # filesystems.nix adds the systemd ordering `depends` means, outside the initrd
    assert sorted(etc_nixos.pop("options")) == [
        "bind",
        "nofail",
        "x-systemd.requires-mounts-for=/persist",
    ]
    assert etc_nixos == {"device": "/persist/etc/nixos", "fsType": "none", "depends": ["/persist"]}
    assert got["flakes"] == ["nix-command", "flakes"]
    assert got["mutable"] is False


@pytest.mark.parametrize(
    ("case", "mode", "devices", "efi"),
    [
        ("hoster", "bios", ["/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345"], False),
        ("dhcp", "hybrid", ["/dev/vda"], True),
        ("two-nics", "uefi", ["nodev"], True),
    ],
)
def test_boot_mode_from_the_runtime_info(
    case: str, mode: str, devices: list[str], efi: bool, nixos_eval: NixosEval
) -> None:
    got = nixos_eval(
        "let c = (host { info = /. + file; }).config; in"
        " { mode = c.nixremote.boot.mode; inherit (c.boot.loader.grub) devices efiSupport"
        " efiInstallAsRemovable; }",
        file=info(case),
    )
    assert got == {
        "mode": mode,
        "devices": devices,
        "efiSupport": efi,
        "efiInstallAsRemovable": efi,
    }


@pytest.mark.parametrize("case", ["hoster", "two-nics", "dhcp"])
def test_core_mirrored_disks(case: str, nixos_eval: NixosEval) -> None:
    got = nixos_eval(
        "let h = host { info = /. + file;"
        ' devices = [ "/dev/disk/by-id/ata-D0" "/dev/disk/by-id/ata-D1" ]; }; in {'
        "  failed = h.failedAssertions; inherit (h.config.boot.loader.grub) devices mirroredBoots;"
        "  boots = map (m: { inherit (h.config.fileSystems.${m}) device options; })"
        '    [ "/boot" "/boot-fallback" ]; }',
        file=info(case),
    )
    uefi = case == "two-nics"
    assert got["failed"] == []
    assert got["devices"] == []
    assert got["mirroredBoots"] == [
        {
            "devices": ["nodev"] if uefi else ["/dev/disk/by-id/ata-D0"],
            "path": "/boot",
            "efiSysMountPoint": "/boot",
            "efiBootloaderId": None,
        },
        {
            "devices": ["nodev"] if uefi else ["/dev/disk/by-id/ata-D1"],
            "path": "/boot-fallback",
            "efiSysMountPoint": "/boot-fallback",
            "efiBootloaderId": None,
        },
    ]
    vfat = ["fmask=0077", "dmask=0077", "nofail"]
    assert got["boots"] == [
        {"device": "/dev/disk/by-id/ata-D0-part3", "options": vfat},
        {"device": "/dev/disk/by-id/ata-D1-part3", "options": vfat},
    ]


@pytest.mark.parametrize(
    ("case", "devices", "dev_nodes"),
    [
        ("hoster", None, "/dev/disk/by-id"),
        ("dhcp", None, "/dev/disk/by-partuuid"),  # /dev/vda: a virtio disk has no by-id link
        ("ipv6-only", None, "/dev/disk/by-partuuid"),  # /dev/sda
        (
            "hoster",
            ["/dev/disk/by-path/pci-0000:00:04.0", "/dev/disk/by-path/pci-0000:00:05.0"],
            "/dev/disk/by-path",
        ),
        ("hoster", ["/dev/disk/by-id/ata-A", "/dev/nvme0n1"], "/dev/disk/by-partuuid"),
    ],
)
def test_zfs_dev_nodes_follow_the_disk(
    case: str, devices: list[str] | None, dev_nodes: str, nixos_eval: NixosEval
) -> None:
    devs = "null" if devices is None else "[ " + " ".join(json.dumps(d) for d in devices) + " ]"
    got = nixos_eval(
        f"(host {{ info = /. + file; devices = {devs}; }}).config.boot.zfs.devNodes",
        file=info(case),
    )
    assert got == dev_nodes


def test_zfs_dev_nodes_yield_to_the_user(nixos_eval: NixosEval) -> None:
    got = nixos_eval(
        '(host { info = /. + file; modules = [ { boot.zfs.devNodes = "/dev"; } ]; })'
        ".config.boot.zfs.devNodes",
        file=info("dhcp"),
    )
    assert got == "/dev"


@pytest.mark.parametrize("systemd_initrd", [False, True])
def test_zfs_file_systems_and_unlock(systemd_initrd: bool, nixos_eval: NixosEval) -> None:
    got = nixos_eval(
        'let c = (host { info = /. + file; systemdInitrd = sd == "1"; }).config; in {'
        "  fs = builtins.mapAttrs (n: f: { inherit (f) device fsType neededForBoot; })"
        "    c.fileSystems;"
        "  initrdMounts = map (f: f.mountPoint) c.system.build.initrdFileSystems;"
        "  ssh = { inherit (c.boot.initrd.network.ssh) enable port hostKeys authorizedKeys; };"
        "  secrets = c.boot.initrd.secrets; zfs = c.boot.zfs.requestEncryptionCredentials;"
        "  post = c.boot.initrd.network.postCommands;"
        "  rootShell = c.boot.initrd.systemd.users.root.shell or null; }",
        file=info("hoster"),
        sd="1" if systemd_initrd else "0",
    )
    fs = got["fs"]
    assert fs["/"] == {"device": "rpool/local/root", "fsType": "zfs", "neededForBoot": False}
    assert fs["/persist"] == {
        "device": "rpool/safe/persist",
        "fsType": "zfs",
        "neededForBoot": True,
    }
    assert fs["/boot"]["device"] == "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345-part3"
    # what the initrd mounts (nixpkgs' utils.fsNeededForBoot), in the order it mounts them
    # (filesystems.nix's toposort over utils.fsBefore): the root first, /nix, /persist, and the
    # persisted directories, bind-mounted from /persist, after it
    mounts = got["initrdMounts"]
    assert mounts[0] == "/"
    assert sorted(mounts) == [
        "/",
        "/nix",
        "/persist",
        "/var/lib/nixos",
        "/var/lib/systemd",
        "/var/log",
    ]
    for bind in ("/var/lib/nixos", "/var/lib/systemd", "/var/log"):
        assert mounts.index("/persist") < mounts.index(bind)
    key = "/persist/etc/secrets/initrd/ssh_host_ed25519_key"
    assert got["ssh"] == {"enable": True, "port": 2222, "hostKeys": [key], "authorizedKeys": [KEY]}
    assert got["secrets"] == {key: key}  # copied into the initrd by the boot loader, not the store
    assert got["zfs"] is True
    if systemd_initrd:
        assert got["post"] == ""
        # nixpkgs' own (bash): commands over SSH work (nixremote unlock runs the password agent)
        assert got["rootShell"] == "/bin/bash"
    else:
        post = got["post"]
        # network first (mkBefore), the keys (initrd-ssh.nix), the unlock prompt last (mkAfter)
        network = post.index("i=$(nixremote_ifname '96:00:00:ab:cd:ef')")
        keys = post.index(f"echo '{KEY}' >> /root/.ssh/authorized_keys")
        prompt = post.index("zfs load-key -a && killall zfs")
        assert network < keys < prompt
        assert got["rootShell"] is None  # no systemd initrd, no users of its own


def test_ssh_keys_only(nixos_eval: NixosEval) -> None:
    got = nixos_eval(
        "let c = (host { info = /. + file; }).config; in {"
        "  inherit (c.services.openssh) enable openFirewall settings;"
        "  hostKeys = map (k: k.path) c.services.openssh.hostKeys;"
        "  requires = c.systemd.services.sshd.unitConfig.RequiresMountsFor;"
        "  sudo = c.security.sudo.wheelNeedsPassword; }",
        file=info("hoster"),
    )
    assert got["enable"] is True and got["openFirewall"] is True
    assert got["settings"] == {
        "PasswordAuthentication": False,
        "KbdInteractiveAuthentication": False,
        "PermitRootLogin": "prohibit-password",
    }
    assert got["hostKeys"] == [
        "/persist/etc/ssh/ssh_host_ed25519_key",
        "/persist/etc/ssh/ssh_host_rsa_key",
    ]
    assert got["requires"] == ["/persist/etc/ssh"]
    assert got["sudo"] is True


@pytest.mark.parametrize("systemd_initrd", [False, True])
@pytest.mark.parametrize("case", ["hoster", "two-nics", "mixed", "legacy"])
def test_network_module_uses_the_pure_function(
    case: str, systemd_initrd: bool, nixos_eval: NixosEval
) -> None:
    got = nixos_eval(
        'let c = (host { info = /. + file; systemdInitrd = sd == "1"; }).config;'
        " strip = builtins.mapAttrs (n: u: { inherit (u) matchConfig linkConfig networkConfig"
        "   address routes; }); in {"
        "  networks = strip c.systemd.network.networks;"
        "  initrdNetworks = strip c.boot.initrd.systemd.network.networks;"
        "  units = builtins.mapAttrs (n: f: f.text) (lib.filterAttrs"
        '    (n: _: lib.hasPrefix "systemd/network/" n) c.environment.etc);'
        "  networking = { inherit (c.networking) hostName domain hostId useDHCP useNetworkd"
        "    nameservers; };"
        "  modules = c.boot.initrd.availableKernelModules;"
        "  udhcpc = c.boot.initrd.network.udhcpc.enable;"
        "  post = c.boot.initrd.network.postCommands; }",
        file=info(case),
        sd="1" if systemd_initrd else "0",
    )
    expected = json.loads((CASES / case / "expected.json").read_text())
    assert got["networks"] == expected["systemd"]["network"]["networks"]
    want = expected["networking"]
    assert got["networking"]["hostName"] == want["hostName"]
    assert got["networking"]["domain"] == want["domain"]
    assert got["networking"]["nameservers"] == want["nameservers"]
    for name, unit in expected["systemd"]["network"]["networks"].items():
        text = got["units"][f"systemd/network/{name}.network"]
        for address in unit["address"]:
            assert f"Address={address}\n" in text
        match = unit["matchConfig"]
        assert (
            f"MACAddress={match['MACAddress']}\n" in text
            if "MACAddress" in match
            else (f"Name={match['Name']}\n" in text)
        )
    assert set(expected["boot"]["initrd"]["availableKernelModules"]) <= set(got["modules"])
    if systemd_initrd:
        assert got["initrdNetworks"] == expected["systemd"]["network"]["networks"]
        assert got["post"] == ""
    else:
        assert got["initrdNetworks"] == {}
        assert got["udhcpc"] is expected["boot"]["initrd"]["network"]["udhcpc"]["enable"]
        assert got["post"].startswith(expected["boot"]["initrd"]["network"]["postCommands"])


@pytest.mark.parametrize(
    ("case", "hetzner", "nameservers"),
    [
        ("hoster", True, ["185.12.64.1", "2a01:4ff:ff00::add:1"]),  # the runtime info's win
        ("legacy", False, []),
    ],
)
def test_nameservers_from_the_runtime_info_else_the_hosters(
    case: str, hetzner: bool, nameservers: list[str], nixos_eval: NixosEval
) -> None:
    got = nixos_eval(
        "let c = extra: (host { info = /. + file; modules = extra; }).config; in {"
        "  plain = (c [ ]).networking.nameservers;"
        "  hetzner = (c [ { nixremote.hetzner.enable = true; } ]).networking.nameservers; }",
        file=info(case),
    )
    assert got["plain"] == nameservers
    # Hetzner's resolvers are only a default: runtime info wins, none -> Hetzner's
    assert got["hetzner"] == (
        nameservers
        or ["185.12.64.1", "185.12.64.2", "2a01:4ff:ff00::add:1", "2a01:4ff:ff00::add:2"]
    )
    assert hetzner == (case == "hoster")


@pytest.mark.parametrize(
    ("network", "cloud"), [(None, True), ("cloud", True), ("dedicated", False)]
)
def test_hetzner_cloud_or_dedicated_from_the_plugins_details(
    network: str | None, cloud: bool, tmp_path: Path, nixos_eval: NixosEval
) -> None:
    data = json.loads((CASES / "hoster" / "runtime-info.json").read_text())
    data["hosterDetails"] = {} if network is None else {"network": network}
    path = tmp_path / "ri.json"
    path.write_text(json.dumps(data))
    got = nixos_eval(
        "let c = (host { info = /. + file; }).config; in {"
        "  inherit (c.nixremote.hetzner) enable cloud;"
        "  guest = c.services.qemuGuest.enable;"
        "  firmware = c.hardware.enableRedistributableFirmware;"
        "  params = c.boot.kernelParams; }",
        file=str(path),
    )
    assert got == {
        "enable": True,
        "cloud": cloud,
        "guest": cloud,
        "firmware": not cloud,
        "params": ["console=ttyS0,115200", "console=tty0"],
    }


def test_core_assertion_refuses_clear_text_passwords(nixos_eval: NixosEval) -> None:
    got = nixos_eval(
        "(host { info = /. + file; modules = [ { users.users.alice = { isNormalUser = true;"
        ' initialPassword = "hunter2"; }; } ]; }).failedAssertions',
        file=info("hoster"),
    )
    assert [m for m in got if m.startswith("nixremote:")] == [
        "nixremote: set no clear-text password (users.users.*.password or initialPassword); "
        "use SSH keys, or hashedPassword if you must."
    ]


@pytest.mark.parametrize(
    ("module", "error"),
    [
        # an option nixpkgs does not have (a typo): "does not exist", as on a real build
        ('{ boot.zfs.devnodes = "/dev"; }', "The option `boot.zfs.devnodes' does not exist"),
        # a value of the wrong type
        (
            '{ nixremote.zfs.unlock.port = "2222"; }',
            "`nixremote.zfs.unlock.port' is not of type `16 bit unsigned integer",
        ),
        (
            '{ boot.kernelParams = [ "quiet splash" ]; }',
            "is not of type `string, with spaces inside double quotes'",
        ),
        # two plain definitions that disagree
        ('{ networking.hostId = "deadbeef"; }', "conflicting definition values"),
        (
            '{ users.users.root.openssh.authorizedKeys.keys = [ "a\\nb" ]; }',
            "is not of type `(optionally newline-terminated) single-line string'",
        ),
    ],
)
def test_errors_of_a_real_build_fail_here(
    module: str, error: str, nixos_eval_error: Callable[..., str]
) -> None:
    message = nixos_eval_error(
        f"forceAll (host {{ info = /. + file; modules = [ {module} ]; }}).config",
        file=info("hoster"),
    )
    assert error in message


@pytest.mark.parametrize("systemd_initrd", [False, True])
def test_impermanence_bind_mounts_the_persisted_directories(
    systemd_initrd: bool, nixos_eval: NixosEval
) -> None:
    got = nixos_eval(
        'let c = (host { info = /. + file; systemdInitrd = sd == "1"; }).config; in {'
        "  binds = map (d: { inherit (c.fileSystems.${d}) device fsType depends neededForBoot;"
        "    options = lib.sort lib.lessThan c.fileSystems.${d}.options; })"
        "    c.nixremote.impermanence.directories;"
        "  script = c.nixremote.impermanence.rollbackScript;"
        "  resume = c.boot.initrd.postResumeCommands;"
        "  unit = let u = c.boot.initrd.systemd.services.nixremote-rollback or null; in"
        "    if u == null then null else u // { path = map (p: p.name) u.path; };"
        "  order = c.system.build.activationOrder;"
        '  activation = c.system.activationScripts."00-nixremote-persist".text;'
        "  machineId = c.environment.etc.machine-id.source; }",
        file=info("hoster"),
        sd="1" if systemd_initrd else "0",
    )
    # x-initrd.mount: filesystems.nix's mark of a mount the initrd makes; with systemd in the
    # initrd, `depends` becomes the ordering after /sysroot/persist (scripted: the sort order)
    options = ["bind", "x-initrd.mount"] + (
        ["x-systemd.requires-mounts-for=/sysroot/persist"] if systemd_initrd else []
    )
    assert got["binds"] == [
        {
            "device": f"/persist{d}",
            "fsType": "none",
            "options": options,
            "depends": ["/persist"],
            "neededForBoot": True,
        }
        for d in ("/var/lib/nixos", "/var/lib/systemd", "/var/log")
    ]
    script = got["script"]
    assert script.startswith("zfs rollback -r rpool/local/root@blank && ")
    if systemd_initrd:
        unit = got["unit"]
        assert unit["script"] == 'PATH="$PATH:/bin"\n' + script
        assert unit["path"] == ["zfs"]
        assert unit["before"] == ["sysroot.mount"]
        assert unit["after"] == ["zfs-import-rpool.service"]
        assert unit["serviceConfig"]["Type"] == "oneshot"
        assert got["resume"] == ""
    else:
        assert got["unit"] is None
        assert got["resume"].endswith(script)
    # the machine id is made before "etc" links /etc/machine-id to it; nothing is symlinked
    assert got["order"].index("00-nixremote-persist") < got["order"].index("etc")
    assert "ln -s" not in got["activation"]
    assert got["machineId"] == "/persist/etc/machine-id"


def test_rollback_script_creates_the_bind_mount_sources(
    tmp_path: Path, nixos_eval: NixosEval
) -> None:
    # The initrd's script, run by sh with stand-ins for zfs, mount and umount (which record
    # their arguments); its mount point is moved into the test's directory.
    script = nixos_eval(
        "(host { info = /. + file; }).config.nixremote.impermanence.rollbackScript",
        file=info("hoster"),
    )
    mnt = tmp_path / "mnt"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "log"
    for name in ("zfs", "mount", "umount"):
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
        (stubs / name).chmod(0o755)
    text = script.replace("/run/nixremote-persist", str(mnt))
    result = subprocess.run(
        ["sh", "-eu", "-c", text],
        capture_output=True,
        text=True,
        env={"PATH": f"{stubs}:{os.environ['PATH']}"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "zfs rollback -r rpool/local/root@blank",
        f"mount -t zfs rpool/safe/persist {mnt}",
        f"umount {mnt}",
    ]
    for d in ("var/lib/nixos", "var/lib/systemd", "var/log"):
        assert (mnt / d).is_dir()
    assert result.stdout == "nixremote: root rolled back to rpool/local/root@blank\n"
