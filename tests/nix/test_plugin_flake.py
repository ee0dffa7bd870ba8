"""What a third-party plugin adds to a host flake, through the production path and Nix itself.

The OVH-like test plugin (``tests/data/plugins/ovhlike``, pip-installed) answers
``host_flake_modules`` with a ``.nix`` file it ships as package data, expressions built from its
settings and the chosen layout, and a flake input (``ovhtools``). The plan carries all of it as
text; the installer's flake phase writes the host flake from the plan alone (no plugin); Nix's
parser parses every file, and Nix's flake machinery evaluates the flake offline from the
``flake.lock`` nixremote writes, which pins ``ovhtools`` to the installer's copy like nixremote
and nixpkgs, with the real nixpkgs lib.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from helpers.nix import nix_parse
from helpers.plugins import imported
from nixremote.controller.planning import PlanOptions, make_plan
from nixremote.core.converter import dumps_plan, loads_plan
from nixremote.core.errors import PlanError
from nixremote.core.models import Disk, Interface, RuntimeInfo
from nixremote.core.plan import FlakeSource
from nixremote.core.plugins import get_plugin_manager
from nixremote.installers.phases import Installer, InstallerConfig

OVHTOOLS_FLAKE = """{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
  outputs = { self, nixpkgs }: {
    nixosModules.default = { lib, ... }: {
      environment.etc."ovh-tools/version".text = "1.0 with nixpkgs lib ${lib.trivial.release}";
    };
  };
}
"""

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILWp5+QeoIFpyK1qphXtO80EvWTzYuzn3cMWjDEYxfkK op@x"
INFO = RuntimeInfo(
    host_name="ns3012345",
    host_id="5e1f3e2d",
    disk_to_format="/dev/disk/by-id/nvme-A",
    root_authorized_keys=(KEY,),
    interfaces=(Interface(name="eth0", mac="a0:42:3f:12:34:56"),),
    primary_interface="eth0",
    disks=(
        Disk(path="/dev/nvme0n1", by_id="/dev/disk/by-id/nvme-A", size_bytes=960 * 2**30),
        Disk(path="/dev/nvme1n1", by_id="/dev/disk/by-id/nvme-B", size_bytes=960 * 2**30),
    ),
    arch="x86_64",
    hoster="ovh-like",
)

APPLY = (
    "sys: let etc = sys.config.environment.etc; in {"
    "  forced = sys.forced;"
    "  failed = sys.failedAssertions;"
    '  rack = etc."ovh-like/rack".text;'
    '  layout = etc."ovh-like/layout".text;'
    '  inputs = etc."ovh-like/inputs".text;'
    '  tools = etc."ovh-tools/version".text;'
    "  extraDependencies = sys.config.system.extraDependencies;"
    "}"
)


@pytest.fixture(scope="module")
def ovhtools(shared_offline_nix: Any, tmp_path_factory: pytest.TempPathFactory) -> FlakeSource:
    """The ``ovhtools`` input as an installer would carry it: a source in the store."""
    directory = tmp_path_factory.mktemp("ovhtools")
    (directory / "flake.nix").write_text(OVHTOOLS_FLAKE)
    path = shared_offline_nix.add(directory)
    record = shared_offline_nix.path_info(path)
    return FlakeSource(name="ovhtools", path=path, nar_hash=record["narHash"])


def plan_with_the_plugin(site: Path, options: PlanOptions) -> Any:
    with imported(site, "nixremote_ovhlike") as plugin:
        pm = get_plugin_manager(autoload=False, extra=[("ovh-like", plugin)])
        plan = make_plan(INFO, options, pm=pm)
    # what the installer gets: the plan as JSON, and no plugin
    return loads_plan(dumps_plan(plan))


def write_flake(plan: Any, root: Path) -> Path:
    """The installer's flake phase, on a plan whose install root is ``root``."""
    plan = attrs.evolve(plan, layout=attrs.evolve(plan.layout, mount_root=str(root)))
    Installer(plan, config=InstallerConfig()).phase_flake()
    return root / "persist" / "etc" / "nixos"


def test_the_plugins_file_and_input_end_up_in_a_host_flake_that_evaluates(
    ovhlike_site: Path,
    ovhtools: FlakeSource,
    sources: dict[str, Any],
    shared_offline_nix: Any,
    tmp_path: Path,
) -> None:
    carried = [
        FlakeSource(
            name=name,
            path=entry["path"],
            nar_hash=entry["narHash"],
            last_modified=entry.get("lastModified"),
            url=entry.get("url"),
        )
        for name, entry in sources["inputs"].items()
    ]
    plan = plan_with_the_plugin(
        ovhlike_site,
        PlanOptions(settings={"ovh-like.rack": "B07"}, flake_sources=(*carried, ovhtools)),
    )
    flake = write_flake(plan, tmp_path / "mnt")
    plugin_file = flake / "plugins" / "ovh-like" / "ovh-like.nix"
    assert (
        plugin_file.read_text()
        == (ovhlike_site / "nixremote_ovhlike" / "nix" / "ovh-like.nix").read_text()
    )
    for path in (flake / "flake.nix", plugin_file):
        parsed = nix_parse(path)
        assert parsed.returncode == 0, parsed.stderr
    text = (flake / "flake.nix").read_text()
    assert 'ovhtools.url = "github:example/ovh-tools";' in text
    assert 'ovhtools.inputs.nixpkgs.follows = "nixpkgs";' in text
    assert "(./plugins/ovh-like/ovh-like.nix)" in text
    lock = json.loads((flake / "flake.lock").read_text())
    assert lock["nodes"]["root"]["inputs"]["ovhtools"] == "ovhtools"
    assert lock["nodes"]["ovhtools"]["locked"]["path"] == ovhtools.path
    assert lock["nodes"]["ovhtools"]["original"] == {
        "owner": "example",
        "repo": "ovh-tools",
        "type": "github",
    }

    got = json.loads(
        shared_offline_nix.run(
            "eval", "--json", f"{flake}#nixosConfigurations.installed", "--apply", APPLY
        ).stdout
    )
    assert got["forced"] is True and got["failed"] == []
    assert got["rack"] == "B07"  # the setting, through the plugin's expression and file
    assert got["layout"] == "ovh-like-mirror"  # the plan's layout reached the hook
    assert got["inputs"] == "nixpkgs nixremote ovhtools"  # `inputs` reaches the file
    assert got["tools"] == "1.0 with nixpkgs lib 25.11"  # the input's module, followed nixpkgs
    # like nixremote and nixpkgs, the input's source stays in the installed system's closure
    assert ovhtools.path in got["extraDependencies"]
    assert sources["paths"]["nixremote"] in got["extraDependencies"]
    # the lock is exactly what Nix keeps: nothing would be fetched while installing
    before = (flake / "flake.lock").read_text()
    shared_offline_nix.run("flake", "lock", str(flake))
    assert (flake / "flake.lock").read_text() == before


def test_a_syntax_error_in_the_plugins_nix_fails_the_plan(
    ovhlike_site: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With Nix on the controller its parser decides; without it, the Python check."""
    with imported(ovhlike_site, "nixremote_ovhlike") as plugin:
        broken = plugin.__file__
        assert broken is not None
        nix_file = Path(broken).parent / "nix" / "ovh-like.nix"
        good = nix_file.read_text()
        nix_file.write_text(good.replace("lib.mkOption {", "lib.mkOption {{", 1))
        try:
            pm = get_plugin_manager(autoload=False, extra=[("ovh-like", plugin)])
            for nix, says in (("/usr/bin/nix-instantiate", "syntax error"), ("", "never closed")):
                monkeypatch.setenv("NIXREMOTE_NIX_INSTANTIATE", nix)
                with pytest.raises(PlanError) as e:
                    make_plan(INFO, pm=pm)
                message = e.value.message
                assert message.startswith("plugin 'ovh-like': file ovh-like.nix does not parse")
                assert says in message and "\n" not in message, message
        finally:
            nix_file.write_text(good)
