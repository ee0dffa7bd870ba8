"""nixremote.core.flakelock: the host flake's flake.lock, checked by Nix itself.

Debian's Nix (2.8) does it all offline: it converts hashes (the NAR hash forms), parses the lock
(``builtins.fromJSON``, resolved the way call-flake.nix resolves it), and, in a store of the
test's own (the ``offline_nix`` fixture), evaluates a host flake rendered from the real template
whose inputs are locked to store paths, keeps the lock as it is and refuses a wrong NAR hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nixremote.core.flakelock import (
    NIX32_ALPHABET,
    LockedSource,
    host_flake_lock_from_inputs,
    parse_flake_ref,
    render_host_flake_lock,
    render_lock,
    sri_nar_hash,
)

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "src" / "nixremote" / "data" / "templates" / "host"
NIXPKGS_URL = "github:NixOS/nixpkgs/nixos-25.11"


def nix_text(*argv: str) -> str:
    env = {
        "PATH": "/usr/bin:/bin",
        "NIX_CONFIG": "experimental-features = nix-command\nbuild-users-group =\n",
    }
    return subprocess.run(
        list(argv), capture_output=True, text=True, check=True, env=env
    ).stdout.strip()


@pytest.mark.parametrize("seed", [b"", b"nixremote", b"\x00" * 7, b"source", b"\xff" * 64])
def test_every_nar_hash_form_gives_the_sri_nix_gives(seed: bytes) -> None:
    digest = hashlib.sha256(seed).digest()
    hexa = digest.hex()
    nix32 = nix_text(
        shutil.which("nix-hash") or "nix-hash", "--type", "sha256", "--to-base32", hexa
    )
    sri = nix_text(shutil.which("nix") or "nix", "hash", "to-sri", "--type", "sha256", hexa)
    assert sri == "sha256-" + base64.b64encode(digest).decode()
    b64 = base64.b64encode(digest).decode()
    for form in (
        sri,
        hexa,
        nix32,
        f"sha256:{hexa}",
        f"sha256:{nix32}",
        f"sha256:{b64}",
        f"  {sri}\n",
    ):
        assert sri_nar_hash(form) == sri, form
    assert set(nix32) <= set(NIX32_ALPHABET) and len(nix32) == 52


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "sha256-",
        "sha256:abc",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha512-" + "A" * 88,
        "sha256:" + "e" * 52,  # 'e' is not in Nix's base-32
        "sha256:" + "z" * 52,  # more than 256 bits
        "sha256-" + "!" * 44,
        "sha1:" + "0" * 40,
    ],
)
def test_bad_nar_hashes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        sri_nar_hash(bad)


@pytest.mark.parametrize(
    ("ref", "attrs"),
    [
        ("flake:nixremote", {"id": "nixremote", "type": "indirect"}),
        ("nixremote", {"id": "nixremote", "type": "indirect"}),
        ("flake:nixpkgs/nixos-25.11", {"id": "nixpkgs", "ref": "nixos-25.11", "type": "indirect"}),
        (
            "github:NixOS/nixpkgs/nixos-25.11",
            {"owner": "NixOS", "repo": "nixpkgs", "ref": "nixos-25.11", "type": "github"},
        ),
        ("github:me/nixremote", {"owner": "me", "repo": "nixremote", "type": "github"}),
        (
            "github:me/nixremote/" + "a" * 40,
            {"owner": "me", "repo": "nixremote", "rev": "a" * 40, "type": "github"},
        ),
        (
            "path:/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-source",
            {"path": "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-source", "type": "path"},
        ),
        ("/srv/nixremote", {"path": "/srv/nixremote", "type": "path"}),
    ],
)
def test_flake_refs_parse_as_nix_parses_them(ref: str, attrs: dict[str, str]) -> None:
    assert parse_flake_ref(ref) == attrs


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "github:a",
        "github:a/b/c/d",
        "github:a/b?dir=x",
        "git+https://example.org/x",
        "path:relative",
        "path:/x/",
        "flake:",
        "flake:9x",
        'github:a/b"',
        "a b",
        "path:/x\ny",
        "https://example.org/x.tar.gz",
        "github:a/b#x",
    ],
)
def test_other_flake_refs_are_refused(ref: str) -> None:
    with pytest.raises(ValueError, match="unsupported flake reference"):
        parse_flake_ref(ref)


def test_locked_source_checks_its_path_and_normalises_its_hash() -> None:
    src = LockedSource(
        path="/nix/store/" + "a" * 32 + "-source",
        nar_hash="sha256:0nsy761asxiaf69gl85myl326xagrvy5iv3kpm0gq1dz06s6xv29",
        last_modified=1763078400,
    )
    assert src.locked() == {
        "lastModified": 1763078400,
        "path": src.path,
        "type": "path",
        "narHash": "sha256-SexutAG/BfxAvXPsWPzOT3UjBvW1IPqScSp2rYI5Xls=",
    }
    for path in (
        "/tmp/x",
        "/nix/store/short-source",
        "/nix/store/" + "e" * 32 + "-source",
        "/nix/store/" + "a" * 32 + "-source/sub",
    ):
        with pytest.raises(ValueError, match="not a store path"):
            LockedSource(path=path, nar_hash=src.nar_hash)


def test_render_lock_refuses_dangling_nodes() -> None:
    with pytest.raises(ValueError, match="not there"):
        render_lock({"a": "missing"}, {})
    with pytest.raises(ValueError, match="root"):
        render_lock({}, {"root": {}})


def _sources() -> tuple[LockedSource, LockedSource]:
    return (
        LockedSource(
            path="/nix/store/" + "a" * 32 + "-source",
            nar_hash="sha256-" + base64.b64encode(b"\x01" * 32).decode(),
        ),
        LockedSource(
            path="/nix/store/" + "b" * 32 + "-source",
            nar_hash="sha256-" + base64.b64encode(b"\x02" * 32).decode(),
            last_modified=1763078400,
        ),
    )


def test_the_lock_as_call_flake_reads_it(tmp_path: Path) -> None:
    nixremote, nixpkgs = _sources()
    lock = tmp_path / "flake.lock"
    lock.write_text(
        render_host_flake_lock(nixremote=nixremote, nixpkgs=nixpkgs, nixpkgs_ref=NIXPKGS_URL)
    )
    # call-flake.nix's resolution (Nix 2.8): every input of every node to the node it names,
    # a list being a `follows` path from the root; then what fetchTree gets for each node.
    expr = """
      let
        lockFile = builtins.fromJSON (builtins.readFile (/. + file));
        resolveInput = spec:
          if builtins.isList spec then getInputByPath lockFile.root spec else spec;
        getInputByPath = nodeName: path:
          if path == [ ] then nodeName
          else getInputByPath (resolveInput lockFile.nodes.${nodeName}.inputs.${builtins.head path})
            (builtins.tail path);
      in {
        inherit (lockFile) version root;
        inputs = builtins.mapAttrs
          (key: node: builtins.mapAttrs (n: resolveInput) (node.inputs or { }))
          lockFile.nodes;
        fetchTree = builtins.mapAttrs (key: node: removeAttrs node.locked [ "dir" ])
          (removeAttrs lockFile.nodes [ lockFile.root ]);
        original = builtins.mapAttrs (key: node: node.original)
          (removeAttrs lockFile.nodes [ lockFile.root ]);
      }
    """
    got = json.loads(
        nix_text(
            "nix-instantiate",
            "--eval",
            "--strict",
            "--json",
            "--argstr",
            "file",
            str(lock),
            "-E",
            "{ file }: " + expr,
        )
    )
    assert got["version"] == 7 and got["root"] == "root"
    # the root's nixpkgs follows nixremote's, which is the one locked nixpkgs node
    assert got["inputs"] == {
        "root": {"nixremote": "nixremote", "nixpkgs": "nixpkgs"},
        "nixremote": {"nixpkgs": "nixpkgs"},
        "nixpkgs": {},
    }
    assert got["fetchTree"] == {"nixremote": nixremote.locked(), "nixpkgs": nixpkgs.locked()}
    assert got["original"] == {
        "nixremote": {"id": "nixremote", "type": "indirect"},
        "nixpkgs": {"owner": "NixOS", "ref": "nixos-25.11", "repo": "nixpkgs", "type": "github"},
    }


# --- Nix evaluates a host flake with the lock, offline ----------------------------------------

FAKE_NIXPKGS = """{
  outputs = { self }: {
    lib.version = "fake-nixpkgs";
    lib.lastModifiedDate = self.lastModifiedDate or "none";
  };
}
"""

# nixremote's flake as far as the host template uses it: lib.makeSystem, and its nixpkgs input
# declared as the real flake.nix declares it.
FAKE_NIXREMOTE = """{
  inputs.nixpkgs.url = "@NIXPKGS_URL@";
  outputs = { self, nixpkgs }: {
    lib.makeSystem = { runtimeInfo, flake, modules, ... }: {
      config = {
        hostName = (builtins.fromJSON (builtins.readFile runtimeInfo)).hostName;
        nixpkgs = nixpkgs.lib.version;
        nixpkgsDate = nixpkgs.lib.lastModifiedDate;
        nixremote = self.outPath;
        modules = builtins.length modules;
      };
    };
  };
}
""".replace("@NIXPKGS_URL@", NIXPKGS_URL)


@pytest.fixture
def host_with_lock(offline_nix: Any, tmp_path: Path) -> dict[str, Any]:
    """Fake nixremote and nixpkgs sources in the test's store, a host flake rendered from the
    real template beside its runtime info, and the flake.lock rendered from what the image's
    flake-inputs.json would say (NAR hashes from the store's registration, as closureInfo's)."""
    sources = {}
    for name, text in (("nixpkgs", FAKE_NIXPKGS), ("nixremote", FAKE_NIXREMOTE)):
        d = tmp_path / name
        d.mkdir()
        (d / "flake.nix").write_text(text)
        sources[name] = offline_nix.add(d)
    inputs = {}
    for name, path in sources.items():
        registration = offline_nix.dump_db(path).splitlines()
        assert registration[0] == path
        inputs[name] = {"path": path, "narHash": registration[1]}  # base-16, as --dump-db has it
    inputs["nixpkgs"] |= {"lastModified": 1763078400, "url": NIXPKGS_URL}
    host = tmp_path / "host"
    host.mkdir()
    for name in ("flake.nix", "configuration.nix"):
        shutil.copy(TEMPLATE / name, host / name)
    (host / "runtime-info.json").write_text('{"hostName": "web1", "hostId": "8425e349"}\n')
    lock = host_flake_lock_from_inputs(inputs)
    (host / "flake.lock").write_text(lock)
    return {"host": host, "sources": sources, "lock": lock, "inputs": inputs}


def test_nix_evaluates_the_host_flake_offline_from_the_locked_sources(
    offline_nix: Any, host_with_lock: dict[str, Any]
) -> None:
    host = host_with_lock["host"]
    out = offline_nix.run("eval", "--json", f"{host}#nixosConfigurations.installed.config").stdout
    assert json.loads(out) == {
        "hostName": "web1",
        "nixpkgs": "fake-nixpkgs",
        "nixpkgsDate": "20251114000000",
        "nixremote": host_with_lock["sources"]["nixremote"],
        "modules": 1,  # ./configuration.nix
    }
    # the lock is what Nix itself would keep: `nix flake lock` changes nothing
    offline_nix.run("flake", "lock", str(host))
    assert (host / "flake.lock").read_text() == host_with_lock["lock"]
    meta = json.loads(offline_nix.run("flake", "metadata", "--json", str(host)).stdout)
    nodes = meta["locks"]["nodes"]
    assert nodes["nixremote"]["locked"]["path"] == host_with_lock["sources"]["nixremote"]
    assert nodes["nixpkgs"]["locked"]["path"] == host_with_lock["sources"]["nixpkgs"]


def test_nix_refuses_a_lock_with_another_nar_hash(
    offline_nix: Any, host_with_lock: dict[str, Any]
) -> None:
    host = host_with_lock["host"]
    inputs = host_with_lock["inputs"]
    inputs["nixremote"]["narHash"] = hashlib.sha256(b"other").hexdigest()
    (host / "flake.lock").write_text(host_flake_lock_from_inputs(inputs))
    result = offline_nix.run(
        "eval", "--json", f"{host}#nixosConfigurations.installed.config", check=False
    )
    assert result.returncode != 0
    assert "NAR hash mismatch" in result.stderr


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "no 'nixremote'"),
        (
            {
                "nixremote": {
                    "path": "/nix/store/" + "a" * 32 + "-source",
                    "narHash": "sha256-" + "A" * 43 + "=",
                },
                "nixpkgs": {
                    "path": "/nix/store/" + "b" * 32 + "-source",
                    "narHash": "sha256-" + "A" * 43 + "=",
                },
            },
            "no url",
        ),
        (
            {"nixremote": {"path": 1, "narHash": "x"}, "nixpkgs": {"url": NIXPKGS_URL}},
            "needs the strings",
        ),
        (
            {
                "nixremote": {
                    "path": "/nix/store/" + "a" * 32 + "-source",
                    "narHash": "sha256-" + "A" * 43 + "=",
                    "lastModified": "1",
                },
                "nixpkgs": {"url": NIXPKGS_URL},
            },
            "not a whole number",
        ),
        (
            {
                "nixremote": {
                    "path": "/nix/store/" + "a" * 32 + "-source",
                    "narHash": "sha256-" + "A" * 43 + "=",
                },
                "nixpkgs": {
                    "path": "/nix/store/" + "b" * 32 + "-source",
                    "narHash": "sha256-" + "A" * 43 + "=",
                    "url": "git+https://x/y",
                },
            },
            "unsupported flake reference",
        ),
    ],
)
def test_flake_inputs_that_cannot_make_a_lock(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        host_flake_lock_from_inputs(inputs)


def test_the_nixpkgs_reference_is_the_one_nixremotes_flake_declares() -> None:
    # flake-inputs.nix records it from flake.nix; the lock's original must equal it
    declared = nix_text(
        "nix-instantiate", "--eval", "--json", "-E", f"(import {REPO}/flake.nix).inputs.nixpkgs.url"
    )
    assert json.loads(declared) == NIXPKGS_URL
