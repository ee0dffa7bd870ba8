"""Rendered host and fleet flakes, evaluated through Nix's own flake machinery, offline.

Nothing here is a stand-in for the flake side: Debian's Nix (2.8) evaluates the host flake that
nixremote renders (hostflake.write_host_flake) and the fleet it renders (fleet.init_fleet and
add_host), each with the flake.lock of nixremote.core.flakelock, against inputs that are real
store paths in a store of the test's own:

- ``nixremote``: this repository's flake (its tracked files, as Nix copies a flake);
- ``nixpkgs``: a stand-in whose ``lib`` is the real nixpkgs 25.11 lib (tests/data) and whose
  ``lib.nixosSystem`` is tests/nix/nixos-eval/eval-config.nix: lib.evalModules over the NixOS
  option declarations of tests/nix/nixos-options (and, as nixpkgs' own nixosSystem does,
  ``nixpkgs.flake.source = self.outPath``).

So every configuration is nixremote.lib.makeSystem's, evaluated with the real module system from
the locked sources: every value forced, every assertion checked, and what the installed system
keeps of the sources it was built from (closure, registry) is visible.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nixremote.controller import fleet
from nixremote.core import hostflake, nixtext
from nixremote.core.converter import load_runtime_info
from nixremote.core.flakelock import host_flake_lock_from_inputs
from nixremote.core.plan import FlakeSource

CASES = Path(__file__).resolve().parent / "cases"
REPO = Path(__file__).resolve().parents[2]


SUMMARY = (
    "sys: let c = sys.config; in {"
    "  forced = sys.forced;"
    "  failed = sys.failedAssertions;"
    "  hostName = c.networking.hostName;"
    "  extraDependencies = c.system.extraDependencies;"
    "  registry = builtins.mapAttrs (n: r: r.to) c.nix.registry;"
    '  registryJson = c.environment.etc."nix/registry.json".text;'
    "  nixPath = c.nix.nixPath;"
    "  stateVersion = c.system.stateVersion;"
    "  packages = map (p: p.name) c.environment.systemPackages;"
    "  qemuGuest = c.services.qemuGuest.enable;"
    "}"
)


def evaluate(nix: Any, flake: Path, attr: str) -> Any:
    out = nix.run("eval", "--json", f"{flake}#{attr}", "--apply", SUMMARY).stdout
    return json.loads(out)


@pytest.mark.parametrize("case", ["hoster", "mixed", "legacy"])
def test_rendered_host_flake_evaluates_from_its_lock(
    case: str, tmp_path: Path, shared_offline_nix: Any, sources: dict[str, Any]
) -> None:
    info = load_runtime_info(CASES / case / "runtime-info.json")
    written = hostflake.write_host_flake(
        info,
        tmp_path / "host",
        nixremote_url="flake:nixremote",
        extra_modules=[
            "nixremote.nixosModules.hetzner",
            nixtext.layout_module(boot_devices=["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"])
            or "",
        ],
        sources=[
            FlakeSource(
                name=name,
                path=entry["path"],
                nar_hash=entry["narHash"],
                last_modified=entry.get("lastModified"),
                url=entry.get("url"),
            )
            for name, entry in sources["inputs"].items()
        ],
    )
    # the production path (the flake phase) wrote the lock the tested function renders
    assert "flake.lock" in written.written
    lock = (written.path / "flake.lock").read_text()
    assert lock == host_flake_lock_from_inputs(sources["inputs"])

    got = evaluate(shared_offline_nix, written.path, "nixosConfigurations.installed")
    paths = sources["paths"]
    assert got["forced"] is True
    assert got["failed"] == []
    assert got["hostName"] == info.host_name.split(".")[0]
    assert got["stateVersion"] == "25.11"  # configuration.nix's
    assert {"git", "htop"} <= set(got["packages"])
    # the sources the lock pins are in the installed system's closure ...
    assert sorted(got["extraDependencies"]) == sorted(paths.values())
    # ... and in its registry: nixpkgs (nixpkgs' own module), nixremote (core.nix), and
    # `installed` is /etc/nixos itself
    registry = got["registry"]
    assert registry["nixpkgs"] == {"type": "path", "path": paths["nixpkgs"]}
    assert registry["nixremote"]["path"] == paths["nixremote"]
    assert (
        registry["nixremote"]["narHash"]
        == json.loads(lock)["nodes"]["nixremote"]["locked"]["narHash"]
    )
    assert registry["installed"] == {"type": "path", "path": "/etc/nixos"}
    assert paths["nixremote"] in got["registryJson"] and paths["nixpkgs"] in got["registryJson"]
    assert got["nixPath"] == [
        "nixpkgs=flake:nixpkgs",
        "/nix/var/nix/profiles/per-user/root/channels",
    ]
    # the lock is as Nix keeps it
    shared_offline_nix.run("flake", "lock", str(written.path))
    assert (written.path / "flake.lock").read_text() == lock


def test_rendered_host_flake_without_keys_stops_at_nixremotes_assertion(
    tmp_path: Path, shared_offline_nix: Any, sources: dict[str, Any]
) -> None:
    info = load_runtime_info(CASES / "no-keys" / "runtime-info.json")
    written = hostflake.write_host_flake(info, tmp_path / "host", nixremote_url="flake:nixremote")
    (written.path / "flake.lock").write_text(host_flake_lock_from_inputs(sources["inputs"]))
    got = evaluate(shared_offline_nix, written.path, "nixosConfigurations.installed")
    ours = [m for m in got["failed"] if m.startswith("nixremote:")]
    assert len(ours) == 1 and "rootAuthorizedKeys in runtime-info.json" in ours[0]


def test_rendered_fleet_evaluates_every_host(
    tmp_path: Path, shared_offline_nix: Any, sources: dict[str, Any]
) -> None:
    root = tmp_path / "fleet"
    fleet.init_fleet(root, nixremote_url="flake:nixremote")
    for case in ("hoster", "two-nics", "mixed", "dhcp"):
        fleet.add_host(root, CASES / case / "runtime-info.json")
    (root / "flake.lock").write_text(host_flake_lock_from_inputs(sources["inputs"]))
    out = shared_offline_nix.run(
        "eval",
        "--json",
        f"{root}#nixosConfigurations",
        "--apply",
        f"builtins.mapAttrs (name: {SUMMARY})",
    ).stdout
    got = json.loads(out)
    assert sorted(got) == ["db1", "dyn", "mixed", "web1"]
    for name, host in got.items():
        assert host["forced"] is True, name
        assert host["failed"] == [], name
        assert sorted(host["extraDependencies"]) == sorted(sources["paths"].values())
        assert {"git"} <= set(host["packages"])  # common.nix
    assert got["web1"]["qemuGuest"] is True  # hoster "hetzner": the module enables itself
    assert got["db1"]["qemuGuest"] is False
