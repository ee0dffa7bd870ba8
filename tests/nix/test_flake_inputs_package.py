"""nix/packages/flake-inputs.nix: its build script, taken out by Nix and run with bash.

The sources are real store paths (a store of the test's own) and the registrations the script
reads are the store's own records of them, once as ``nix-store --dump-db`` prints them (base-16)
and once as closureInfo writes them (``sha256:`` and Nix base-32); ``closureInfo`` and
``runCommand`` are stand-ins that hand those files over. The JSON the script writes is what
nixremote.core.flakelock reads: its NAR hashes, made SRI, are the store's.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nixremote.core.flakelock import host_flake_lock_from_inputs

NixosEval = Callable[..., Any]


def test_flake_inputs_json_from_the_stores_registration(
    tmp_path: Path, offline_nix: Any, nixos_eval: NixosEval
) -> None:
    paths = {}
    for name in ("nixremote", "nixpkgs"):
        src = tmp_path / name
        src.mkdir()
        (src / "flake.nix").write_text(f'{{ outputs = {{ self }}: {{ name = "{name}"; }}; }}\n')
        paths[name] = offline_nix.add(src)
    closures = tmp_path / "closures"
    for name, path in paths.items():
        record = offline_nix.dump_db(path).splitlines()
        if name == "nixpkgs":  # as closureInfo writes it: "sha256:" and Nix base-32
            record[1] = (
                "sha256:"
                + subprocess.run(
                    ["nix-hash", "--type", "sha256", "--to-base32", record[1]],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
            )
        d = closures / Path(path).name
        d.mkdir(parents=True)
        (d / "registration").write_text("\n".join(record) + "\n")

    pkg = nixos_eval(
        'import (repo + "/nix/packages/flake-inputs.nix") {'
        '  inherit lib; jq = "jq";'
        "  runCommand = name: env: script: { inherit name env script; };"
        '  closureInfo = { rootPaths }: closures + "/" + baseNameOf (builtins.head rootPaths);'
        "  inputs = { nixremote = { outPath = nixremote; };"
        "    nixpkgs = { outPath = nixpkgs; lastModified = 1763078400; }; }; }",
        closures=str(closures),
        **paths,
    )
    assert pkg["name"] == "nixremote-flake-inputs.json"
    out = tmp_path / "flake-inputs.json"
    subprocess.run(
        ["bash", "-e", "-c", pkg["script"]],
        check=True,
        cwd=tmp_path,
        env=dict(os.environ, out=str(out)),
    )
    got = json.loads(out.read_text())
    nixremote_record = offline_nix.dump_db(paths["nixremote"]).splitlines()
    assert got["nixremote"] == {"path": paths["nixremote"], "narHash": nixremote_record[1]}
    assert got["nixpkgs"]["path"] == paths["nixpkgs"]
    assert got["nixpkgs"]["narHash"].startswith("sha256:")
    assert got["nixpkgs"]["lastModified"] == 1763078400
    assert got["nixpkgs"]["url"] == "github:NixOS/nixpkgs/nixos-25.11"  # flake.nix's

    # what the host flake's lock gets: the store's own NAR hashes, in SRI form
    lock = json.loads(host_flake_lock_from_inputs(got))
    for name, path in paths.items():
        locked = lock["nodes"][name]["locked"]
        assert locked["path"] == path
        assert locked["narHash"] == offline_nix.path_info(path)["narHash"]


def test_a_path_missing_from_its_registration_fails_the_build(
    tmp_path: Path, nixos_eval: NixosEval
) -> None:
    closure = tmp_path / "closure"
    closure.mkdir()
    (closure / "registration").write_text("/nix/store/" + "c" * 32 + "-other\nsha256:x\n1\n\n0\n")
    pkg = nixos_eval(
        'import (repo + "/nix/packages/flake-inputs.nix") {'
        '  inherit lib; jq = "jq";'
        "  runCommand = name: env: script: { inherit name env script; };"
        "  closureInfo = { rootPaths }: closure;"
        '  inputs.nixremote.outPath = "/nix/store/' + "a" * 32 + '-source"; }',
        closure=str(closure),
    )
    result = subprocess.run(
        ["bash", "-e", "-c", pkg["script"]],
        cwd=tmp_path,
        text=True,
        capture_output=True,
        env=dict(os.environ, out=str(tmp_path / "o")),
        check=False,
    )
    assert result.returncode == 1
    assert "no NAR hash for /nix/store/" + "a" * 32 + "-source" in result.stderr
    assert not (tmp_path / "o").exists()
