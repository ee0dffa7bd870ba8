"""The terraform example parses (python-hcl2), and the terranix one says the same."""

from __future__ import annotations

from typing import Any

import hcl2

from helpers.nix import REPO, nix_eval

EXAMPLE = REPO / "examples" / "terraform"


def _unquote(key: str) -> str:
    return key.strip('"')


def _keys(mapping: dict[str, Any]) -> set[str]:
    """Keys of an hcl2 mapping, without python-hcl2 7.x's bookkeeping keys."""
    return {_unquote(k) for k in mapping if not k.startswith("__")}


def _blocks(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """{"type.name": body} for resource-like blocks (python-hcl2 4.x and 7.x shapes)."""
    out: dict[str, dict[str, Any]] = {}
    for entry in doc.get(kind, []):
        for rtype, named in entry.items():
            if rtype.startswith("__"):
                continue
            for rname, body in named.items():
                if rname.startswith("__"):
                    continue
                out[f"{_unquote(rtype)}.{_unquote(rname)}"] = body
    return out


def _load() -> dict[str, Any]:
    with (EXAMPLE / "main.tf").open() as handle:
        return hcl2.load(handle)  # type: ignore[no-any-return]


def test_main_tf_parses_with_the_expected_resources() -> None:
    doc = _load()
    resources = _blocks(doc, "resource")
    assert set(resources) == {
        "hcloud_ssh_key.admin",
        "tls_private_key.first_boot_host_key",
        "hcloud_server.host",
        "local_file.known_hosts",
        "terraform_data.install",
    }
    providers = set().union(*(_keys(p) for p in doc["terraform"][0]["required_providers"]))
    assert providers == {"hcloud", "tls", "local"}
    variables = set().union(*(_keys(v) for v in doc["variable"]))
    assert {"hcloud_token", "disk_key_file", "name"} <= variables


def test_install_runs_nixremote_with_pinned_host_key() -> None:
    install = _blocks(_load(), "resource")["terraform_data.install"]
    text = repr(install["provisioner"])
    assert "nixremote install root@" in text
    assert "--known-hosts" in text and "--disk-key-file" in text
    assert "nixremote fleet add" in text
    server = _blocks(_load(), "resource")["hcloud_server.host"]
    assert "ed25519_private" in repr(server["user_data"])


def test_tfvars_example_parses() -> None:
    with (EXAMPLE / "terraform.tfvars.example").open() as handle:
        doc = hcl2.load(handle)
    assert _unquote(str(doc["name"])) == "nixos1"


def test_terranix_renders_the_same_resources() -> None:
    got = nix_eval(
        f"import {EXAMPLE}/terranix/config.nix "
        "{ lib = { concatStringsSep = builtins.concatStringsSep; }; }"
    )
    tf_resources = set(_blocks(_load(), "resource"))
    nix_resources = {f"{t}.{n}" for t, named in got["resource"].items() for n in named}
    assert nix_resources == tf_resources
    assert set(got["terraform"]["required_providers"]) == {"hcloud", "tls", "local"}
    commands = [
        p["local-exec"]["command"]
        for p in got["resource"]["terraform_data"]["install"]["provisioner"]
    ]
    assert any(
        c.startswith("nixremote install root@${hcloud_server.host.ipv4_address}") for c in commands
    )
