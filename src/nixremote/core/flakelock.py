"""``flake.lock`` for a host (or fleet) flake whose inputs are store paths the installer carries.

The kexec image carries the sources of nixremote's flake and of the nixpkgs it was built with
(``nix/packages/flake-inputs.nix``: ``flakeInputs`` in ``bundle.json``, and
``/etc/nixremote/flake-inputs.json`` in the image). A host flake declares::

    inputs.nixremote.url = "flake:nixremote";        # or what --nixremote-flake gives
    inputs.nixpkgs.follows = "nixremote/nixpkgs";

and :func:`render_host_flake_lock` writes the ``flake.lock`` that pins both to those store paths
as ``path`` inputs with their NAR hash. Each node's ``original`` is the reference the flake that
declares the input gives (nixremote's ``flake.nix`` declares ``github:NixOS/nixpkgs/nixos-25.11``):
Nix keeps a locked input as long as its ``original`` equals the declared reference, so
``nixos-install`` and ``nixos-rebuild`` on the host evaluate offline, while ``nix flake update``
re-resolves each input from its declared reference and moves it on.

Pure: the standard library and attrs only. :func:`sri_nar_hash` accepts the NAR hash in every form
Nix writes it (SRI, ``sha256:`` with base-16, Nix base-32 or base-64, or bare base-16 or base-32
as ``nix-store --dump-db`` prints it) and returns the SRI form flake.lock requires.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

if TYPE_CHECKING:
    from .flakeparts import FlakeInput
    from .plan import FlakeSource

LOCK_VERSION = 7
"""The flake.lock format Nix 2.8 to 2.3x read and write."""

NIXREMOTE_DEFAULT_REF = "flake:nixremote"
"""The host template's ``nixremote.url``: nixremote as the Nix registry names it."""

NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"
_SHA256_BYTES = 32

_STORE_PATH = re.compile(r"^/nix/store/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+$")
_INDIRECT_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
_REV = re.compile(r"^[0-9a-f]{40}$")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\"\\?#]")


def _nix32_decode(text: str) -> bytes:
    """Nix's base-32 (``printHash32``: the last character holds the lowest five bits)."""
    value = 0
    for position, char in enumerate(reversed(text)):
        digit = NIX32_ALPHABET.find(char)
        if digit < 0:
            raise ValueError(f"invalid character {char!r} in a Nix base-32 hash")
        value |= digit << (5 * position)
    if value >> (8 * _SHA256_BYTES):
        raise ValueError("Nix base-32 hash too large for SHA-256")
    return value.to_bytes(_SHA256_BYTES, "little")


def _digest(text: str) -> bytes:
    """The 32 bytes of a SHA-256 digest in base-16, Nix base-32 or base-64."""
    try:
        if len(text) == 64 and re.fullmatch(r"[0-9a-fA-F]{64}", text):
            return bytes.fromhex(text)
        if len(text) == 52:
            return _nix32_decode(text)
        if len(text) == 44:
            raw = base64.b64decode(text, validate=True)
            if len(raw) == _SHA256_BYTES:
                return raw
    except (ValueError, binascii.Error):
        pass
    raise ValueError(f"not a SHA-256 digest in base-16, Nix base-32 or base-64: {text!r}")


def sri_nar_hash(value: str) -> str:
    """``value``, a SHA-256 NAR hash in any form Nix writes, as SRI (``sha256-<base64>``)."""
    text = value.strip()
    if text.startswith("sha256-"):
        digest = _digest(text[len("sha256-") :])
    elif text.startswith("sha256:"):
        digest = _digest(text[len("sha256:") :])
    elif ":" in text or "-" in text:
        raise ValueError(f"NAR hash {value!r} is not SHA-256 (flake.lock requires SHA-256)")
    else:
        digest = _digest(text)
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _check_store_path(path: str) -> str:
    if not _STORE_PATH.match(path):
        raise ValueError(f"not a store path: {path!r}")
    return path


@frozen(kw_only=True)
class LockedSource:
    """A flake source in the Nix store, as a ``path`` input locks it.

    ``nar_hash`` is stored in SRI form (any form :func:`sri_nar_hash` reads is accepted);
    ``last_modified`` (seconds since the epoch) becomes the input's ``lastModifiedDate``.
    """

    path: str = field(converter=_check_store_path)
    nar_hash: str = field(converter=sri_nar_hash)
    last_modified: int | None = None

    def locked(self) -> dict[str, Any]:
        """The ``locked`` attributes of a lock node."""
        attrs: dict[str, Any] = {"narHash": self.nar_hash, "path": self.path, "type": "path"}
        if self.last_modified is not None:
            attrs["lastModified"] = self.last_modified
        return attrs


def parse_flake_ref(ref: str) -> dict[str, str]:
    """The attributes Nix parses the flake reference ``ref`` into (a lock node's ``original``).

    Supported: ``path:/abs`` and ``/abs``; ``flake:id[/ref]`` and ``id[/ref]`` (the registry);
    ``github:owner/repo[/ref-or-rev]``. Anything else (query parameters, other schemes) is a
    ValueError: its attributes cannot be written without Nix's own parser.
    """
    if not ref or _FORBIDDEN.search(ref):
        raise ValueError(f"unsupported flake reference {ref!r}")
    if ref.startswith("path:") or ref.startswith("/"):
        path = ref[len("path:") :] if ref.startswith("path:") else ref
        if not path.startswith("/") or "//" in path or (path != "/" and path.endswith("/")):
            raise ValueError(f"unsupported flake reference {ref!r}: an absolute path is needed")
        return {"path": path, "type": "path"}
    if ref.startswith("github:"):
        parts = ref[len("github:") :].split("/")
        if len(parts) not in (2, 3) or not all(_SEGMENT.match(p) for p in parts):
            raise ValueError(f"unsupported flake reference {ref!r}: github:OWNER/REPO[/REF]")
        attrs = {"owner": parts[0], "repo": parts[1], "type": "github"}
        if len(parts) == 3:
            attrs["rev" if _REV.match(parts[2]) else "ref"] = parts[2]
        return attrs
    body = ref[len("flake:") :] if ref.startswith("flake:") else ref
    if ":" not in body:
        parts = body.split("/")
        if (
            len(parts) in (1, 2)
            and _INDIRECT_ID.match(parts[0])
            and all(_SEGMENT.match(p) for p in parts)
        ):
            attrs = {"id": parts[0], "type": "indirect"}
            if len(parts) == 2:
                attrs["rev" if _REV.match(parts[1]) else "ref"] = parts[1]
            return attrs
    raise ValueError(f"unsupported flake reference {ref!r}")


def render_lock(
    root_inputs: Mapping[str, str | Sequence[str]],
    nodes: Mapping[str, Mapping[str, Any]],
) -> str:
    """The text of a flake.lock: the root node's ``inputs`` (a node name, or a ``follows`` path as
    a list of input names) and the other nodes, as Nix writes it (sorted keys, two spaces)."""
    if "root" in nodes:
        raise ValueError("the node name 'root' is the root node's")
    all_nodes: dict[str, Any] = {name: dict(node) for name, node in nodes.items()}
    all_nodes["root"] = {
        "inputs": {k: (v if isinstance(v, str) else list(v)) for k, v in root_inputs.items()}
    }
    for name, node in all_nodes.items():
        for target in node.get("inputs", {}).values():
            if isinstance(target, str) and target not in all_nodes:
                raise ValueError(f"node {name!r} refers to a node {target!r} that is not there")
    lock = {"nodes": all_nodes, "root": "root", "version": LOCK_VERSION}
    return json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_host_flake_lock(
    *,
    nixremote: LockedSource,
    nixpkgs: LockedSource,
    nixpkgs_ref: str,
    nixremote_ref: str = NIXREMOTE_DEFAULT_REF,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The flake.lock of a host or fleet flake (``nixremote.url = nixremote_ref``,
    ``nixpkgs.follows = "nixremote/nixpkgs"``) pinning both inputs to the store paths given.

    ``nixpkgs_ref`` is the reference nixremote's ``flake.nix`` gives its nixpkgs input (the
    ``url`` of ``flakeInputs.nixpkgs``); ``nixremote_ref`` the host flake's ``nixremote.url``.
    Write it only when ``nixremote_ref`` means the source given (the default, or ``path:`` of
    that store path): Nix re-resolves an input whose reference differs from the lock's.
    ``extra`` holds more root inputs, by name: their lock nodes (:func:`extra_input_node`).
    """
    extra = dict(extra or {})
    if {"nixremote", "nixpkgs"} & set(extra):
        raise ValueError("nixremote and nixpkgs are the host flake's own inputs")
    return render_lock(
        {"nixremote": "nixremote", "nixpkgs": ["nixremote", "nixpkgs"]}
        | {name: name for name in extra},
        {
            "nixremote": {
                "inputs": {"nixpkgs": "nixpkgs"},
                "locked": nixremote.locked(),
                "original": parse_flake_ref(nixremote_ref),
            },
            "nixpkgs": {
                "locked": nixpkgs.locked(),
                "original": parse_flake_ref(nixpkgs_ref),
            },
        }
        | extra,
    )


def extra_input_node(
    source: LockedSource, url: str, *, flake: bool = True, follows_nixpkgs: bool = False
) -> dict[str, Any]:
    """The lock node of an input a plugin adds (``url`` as the host flake declares it), pinned
    to ``source``; its ``nixpkgs`` follows the host's when ``follows_nixpkgs``."""
    node: dict[str, Any] = {"locked": source.locked(), "original": parse_flake_ref(url)}
    if not flake:
        node["flake"] = False
    if follows_nixpkgs:
        node["inputs"] = {"nixpkgs": ["nixpkgs"]}
    return node


def host_flake_lock_from_inputs(
    flake_inputs: Mapping[str, Any],
    *,
    nixremote_ref: str = NIXREMOTE_DEFAULT_REF,
    extra: Sequence[FlakeInput] = (),
) -> str:
    """:func:`render_host_flake_lock` from the ``flakeInputs`` JSON of a bundle or an image
    (``{"nixremote": {"path", "narHash", "lastModified"?}, "nixpkgs": {..., "url"}}``); each
    of ``extra`` (inputs plugins add) is pinned to the entry of its name, when there is one and
    its reference can be written (else Nix fetches it)."""

    def source(name: str) -> LockedSource:
        entry = flake_inputs.get(name)
        if not isinstance(entry, Mapping):
            raise ValueError(f"flakeInputs has no {name!r}")
        last = entry.get("lastModified")
        if last is not None and (not isinstance(last, int) or isinstance(last, bool)):
            raise ValueError(f"flakeInputs.{name}.lastModified is not a whole number")
        path, nar_hash = entry.get("path"), entry.get("narHash")
        if not isinstance(path, str) or not isinstance(nar_hash, str):
            raise ValueError(f"flakeInputs.{name} needs the strings path and narHash")
        return LockedSource(path=path, nar_hash=nar_hash, last_modified=last)

    nixremote, nixpkgs = source("nixremote"), source("nixpkgs")
    url = flake_inputs["nixpkgs"].get("url")
    if not isinstance(url, str):
        raise ValueError("flakeInputs.nixpkgs has no url (the reference nixremote declares)")
    nodes = {}
    for item in extra:
        if item.name in flake_inputs and lockable(item.url):
            nodes[item.name] = extra_input_node(
                source(item.name), item.url, flake=item.flake, follows_nixpkgs=item.follows_nixpkgs
            )
    return render_host_flake_lock(
        nixremote=nixremote,
        nixpkgs=nixpkgs,
        nixpkgs_ref=url,
        nixremote_ref=nixremote_ref,
        extra=nodes,
    )


def lockable(url: str) -> bool:
    """Whether a flake reference can be written into a lock's ``original`` here."""
    try:
        parse_flake_ref(url)
    except ValueError:
        return False
    return True


def host_flake_lock(
    sources: Sequence[FlakeSource], *, nixremote_ref: str, inputs: Sequence[FlakeInput] = ()
) -> str:
    """:func:`host_flake_lock_from_inputs` from a plan's :class:`~.plan.FlakeSource` records;
    ``inputs`` are the inputs plugins add (locked when a source has their name)."""
    return host_flake_lock_from_inputs(
        {
            s.name: {
                "path": s.path,
                "narHash": s.nar_hash,
                "lastModified": s.last_modified,
                "url": s.url,
            }
            for s in sources
        },
        nixremote_ref=nixremote_ref,
        extra=inputs,
    )
