"""MkDocs hook: generate the hook reference and the runtime-info schema page from the code.

``mkdocs.yml`` lists this file under ``hooks:``. At build time it adds two pages that are not in
git, so they cannot drift from the code:

* ``reference/hooks.md`` from the hook specs in :mod:`nixremote.core.hookspecs`
  (:func:`nixremote.cli.hookref.hook_reference`, which ``nixremote plugins --hooks`` prints);
* ``reference/runtime-info.md`` from the attrs models in :mod:`nixremote.core.models`, with the
  fields of the original installer's ``runtime-info.json`` marked, and an example file written by
  the real converter.

The functions :func:`hook_reference` and :func:`runtime_info_reference` return the Markdown and
are used by ``tests/docs`` too. ``python docs/hooks.py OUTDIR`` writes both pages to a directory.
"""

from __future__ import annotations

import html
import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

import attrs

from nixremote.cli.hookref import rst_to_md

HOOKS_PAGE = "reference/hooks.md"
SCHEMA_PAGE = "reference/runtime-info.md"

# The original installer's runtime-info.json (write-runtime-info.sh) had exactly these keys.
ORIGINAL_TOP_LEVEL = (
    "hostName",
    "hostId",
    "rootAuthorizedKeys",
    "diskToFormat",
    "networkInterface",
    "networkInterfaceModule",
    "ipv4",
    "ipv6",
)


# -- the hook reference: nixremote.cli.hookref (also `nixremote plugins --hooks`) ----------------


def hook_reference() -> str:
    """The hook reference page (:func:`nixremote.cli.hookref.hook_reference`)."""
    from nixremote.cli.hookref import hook_reference as reference

    return reference(site=True)


# -- the runtime-info schema -------------------------------------------------------------------

FIELD_NOTES: dict[tuple[str, str], str] = {
    ("RuntimeInfo", "host_name"): "Host name of the installed system as NixOS's "
    "`networking.hostName` accepts it (letters, digits, `-`, `_`, at most 63, first and last a "
    "letter or digit); with dots an FQDN: the first label is the host name, the rest "
    "`networking.domain`.",
    ("RuntimeInfo", "host_id"): "8 lower-case hex digits; `networking.hostId`, which ZFS needs "
    "stable.",
    ("RuntimeInfo", "disk_to_format"): "The disk the installer wipes: a `/dev/disk/by-id/...` "
    "path, or a kernel path when the disk has none; one of `disks` when they are listed "
    '(`""`: unknown).',
    ("RuntimeInfo", "root_authorized_keys"): "root's `authorized_keys` lines (type, base64 "
    "blob whose embedded type matches, comment); options are removed when read, with a warning "
    "naming them. The plan lists them among the keys the installed system trusts.",
    ("RuntimeInfo", "interfaces"): "Every network interface (loopback excluded).",
    ("RuntimeInfo", "primary_interface"): "Current name of the interface with the default route; "
    "the original installer's flat fields describe it.",
    ("RuntimeInfo", "routes"): "Every IPv4 and IPv6 route of the main table.",
    ("RuntimeInfo", "nameservers"): "DNS resolvers (IP addresses without a zone), in order.",
    ("RuntimeInfo", "disks"): "Every whole disk the host has.",
    ("RuntimeInfo", "arch"): "`uname -m`: `x86_64`, `aarch64` (or another known one: "
    "`i686`, `armv7l`, `armv6l`, `riscv64`, `ppc64le`, `s390x`, `loongarch64`).",
    ("RuntimeInfo", "memory_bytes"): "MemTotal in bytes (the preflight checks the bundle fits).",
    ("RuntimeInfo", "boot_mode"): "`bios`, `uefi` or `unknown`, decided by the `boot_mode` hook.",
    ("RuntimeInfo", "hoster"): "The hoster plugin that claimed the host (`generic`, `hetzner`, "
    "...).",
    ("RuntimeInfo", "hoster_details"): "String pairs a hoster plugin learned (server id, "
    "location), written as a JSON object; values have no control characters.",
    ("RuntimeInfo", "schema_version"): "Version of this format; a newer one than nixremote "
    "knows is refused.",
    ("Interface", "name"): "Kernel name now (`eth0` on a rescue system): at most 15 letters, "
    "digits, `-`, `_` or `.` (stricter than the kernel: no shell metacharacters).",
    ("Interface", "mac"): "MAC address (six hex octets); the installed system matches the "
    "interface by it.",
    ("Interface", "driver"): "Kernel driver (`virtio_net`), loaded in the initrd for remote "
    "unlock.",
    ("Interface", "predictable_name"): "udev's predictable name (`enp1s0`), which NixOS uses "
    "(the rules of `name`).",
    ("Interface", "ipv4"): "IPv4 addresses.",
    ("Interface", "ipv6"): "IPv6 addresses, link-local ones included.",
    ("IPAddress", "address"): "The address, without prefix or zone.",
    ("IPAddress", "prefix_length"): "Prefix length (0-32 or 0-128).",
    ("IPAddress", "dynamic"): "Leased by DHCP/SLAAC rather than configured statically.",
    ("Route", "family"): "4 or 6.",
    ("Route", "destination"): "`default` or a CIDR prefix of the route's family.",
    ("Route", "gateway"): "Next hop (an address of the route's family), if any.",
    ("Route", "device"): "Outgoing interface (current name).",
    ("Route", "on_link"): "Gateway reachable on the link although outside the prefix "
    "(Hetzner's `172.31.1.1`).",
    ("Route", "metric"): "Route metric, if set.",
    ("Disk", "path"): "Kernel path (`/dev/sda`): under `/dev/`, of letters, digits and "
    "`#+-.:=@_/`, as udev names disks.",
    ("Disk", "by_id"): "Stable `/dev/disk/by-id/...` path.",
    ("Disk", "size_bytes"): "Size in bytes.",
    ("Disk", "model"): "Model string (no control characters).",
    ("Disk", "serial"): "Serial number (no control characters).",
    ("Disk", "rotational"): "Spinning disk.",
    ("Disk", "removable"): "Removable medium.",
}
"""One line per model field for the schema page; ``tests/docs`` fails when one is missing."""


def _type_name(tp: Any) -> str:
    if isinstance(tp, str):
        return tp
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_type_name(a) for a in inner) + (
            " or null" if len(inner) < len(args) else ""
        )
    if origin is tuple:
        if args == (tuple[str, str], Ellipsis):
            return "object of string"  # string pairs, written as a JSON object
        if len(args) == 2 and args[1] is Ellipsis:
            return f"array of {_type_name(args[0])}"
        return "array"
    if attrs.has(tp):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    if isinstance(tp, type) and issubclass(tp, __import__("enum").Enum):
        return " / ".join(f'`"{m.value}"`' for m in tp)
    return {str: "string", int: "integer", bool: "boolean", float: "number"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _default(field: attrs.Attribute[Any], tp: Any = None) -> str:
    if field.default == () and tp is not None and _type_name(tp) == "object of string":
        return "`{}`"
    if field.default is attrs.NOTHING:
        return "required"
    value = field.default
    if isinstance(value, attrs.Factory):  # type: ignore[arg-type]
        value = value.factory()
    if hasattr(value, "value") and not isinstance(value, (int, str)):
        value = value.value
    if value is None:
        return "`null`"
    if value == ():
        return "`[]`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def model_classes() -> list[type]:
    from nixremote.core.models import Disk, Interface, IPAddress, Route, RuntimeInfo

    return [RuntimeInfo, Interface, IPAddress, Route, Disk]


def _example() -> str:
    from nixremote.core.converter import dumps_runtime_info
    from nixremote.core.models import (
        BootMode,
        Disk,
        Interface,
        IPAddress,
        Route,
        RuntimeInfo,
    )

    info = RuntimeInfo(
        host_name="web1",
        host_id="8425e349",
        disk_to_format="/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345678",
        root_authorized_keys=(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHlKf8qQ+6NAKyVZE+zOwVTUBFIeVhbbfHrY8S6qgBei"
            " alice@laptop",
        ),
        interfaces=(
            Interface(
                name="eth0",
                mac="96:00:01:23:45:67",
                driver="virtio_net",
                predictable_name="enp1s0",
                ipv4=(IPAddress(address="203.0.113.7", prefix_length=32),),
                ipv6=(
                    IPAddress(address="2001:db8:1:2::1", prefix_length=64),
                    IPAddress(address="fe80::9400:1ff:fe23:4567", prefix_length=64),
                ),
            ),
        ),
        primary_interface="eth0",
        routes=(
            Route(
                family=4, destination="default", gateway="172.31.1.1", device="eth0", on_link=True
            ),
            Route(family=6, destination="default", gateway="fe80::1", device="eth0"),
        ),
        nameservers=("185.12.64.1", "185.12.64.2"),
        disks=(
            Disk(
                path="/dev/sda",
                by_id="/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345678",
                size_bytes=40 * 2**30,
                model="QEMU HARDDISK",
                rotational=False,
            ),
        ),
        arch="x86_64",
        memory_bytes=4 * 2**30,
        boot_mode=BootMode.BIOS,
        hoster="hetzner",
        hoster_details=(("serverId", "12345678"), ("location", "nbg1")),
    )
    return dumps_runtime_info(info)


def runtime_info_reference() -> str:
    """Markdown of the runtime-info.json format, generated from the models."""
    from nixremote.core.converter import LEGACY_KEYS, camel
    from nixremote.core.models import SCHEMA_VERSION

    original = set(ORIGINAL_TOP_LEVEL)
    parts = [
        "# runtime-info.json",
        "",
        '!!! note "Generated"',
        "    This page is generated from the attrs models in `src/nixremote/core/models.py` and "
        "the converter in `src/nixremote/core/converter.py` at build time (`docs/hooks.py`).",
        "",
        "`runtime-info.json` is everything nixremote learned about a host before changing it: "
        "`nixremote info` writes it, `nixremote install` encodes it onto the installer's kernel "
        "command line, and the host flake reads it to configure the network of the installed "
        "system. Keys are camelCase; unknown keys, wrong types and a newer `schemaVersion` are "
        "errors that name the JSON path of the fault (exit code 2).",
        "",
        f"The current schema version is **{SCHEMA_VERSION}**.",
        "",
        "## The original installer's fields",
        "",
        "Fields marked **original** below, and the flat fields in this section, are the ones the "
        "original installer's `write-runtime-info.sh` wrote. nixremote still writes them, "
        "derived from the primary interface, so tools and host flakes written for that format "
        "keep working; and it reads a file that has only them.",
        "",
        "| Key | Derived from |",
        "| --- | --- |",
    ]
    derived = {
        "networkInterface": "the primary interface's predictable name (or its name)",
        "networkInterfaceModule": "the primary interface's driver",
        "ipv4": "`{address, prefixLength, gateway, netmask}`: the primary interface's first "
        "IPv4 address and the default IPv4 gateway on it",
        "ipv6": "`{address, prefixLength, gateway}`: the primary interface's first global IPv6 "
        "address and the default IPv6 gateway on it",
    }
    for key in LEGACY_KEYS:
        parts.append(f"| `{key}` | {derived.get(key, 'derived from the rich model')} |")
    parts.append("")
    for cls in model_classes():
        parts += [
            f"## {cls.__name__}",
            "",
            rst_to_md(inspect.cleandoc(cls.__doc__ or "")),
            "",
            "| Key | Type | Default | Description |",
            "| --- | --- | --- | --- |",
        ]
        hints = typing.get_type_hints(cls)
        for field in attrs.fields(cls):
            key = camel(field.name)
            mark = " **original**" if cls.__name__ == "RuntimeInfo" and key in original else ""
            note = FIELD_NOTES.get((cls.__name__, field.name), "")
            parts.append(
                f"| `{key}`{mark} | {_type_name(hints.get(field.name, field.type))} "
                f"| {_default(field, hints.get(field.name))} | {note} |"
            )
        parts.append("")
    parts += [
        "## Example",
        "",
        "A Hetzner Cloud host as `nixremote info -o runtime-info.json` writes it (written by the "
        "real converter when these docs were built):",
        "",
        "```json",
        _example().rstrip(),
        "```",
        "",
        "Check a file with `nixremote runtime-info check FILE`.",
    ]
    return "\n".join(parts) + "\n"


# -- the command reference -------------------------------------------------------------------


PIPELINE_ORDER = [
    "hetzner",
    "info",
    "plan",
    "install",
    "unlock",
    "runtime-info",
    "disk",
    "kexec",
    "fleet",
    "plugins",
    "vm",
    "installer",
    "completion",
]
"""The command reference's order: how an install goes (a hoster's server, look, plan, install,
unlock), then the tools; a plugin's commands come last."""


def _walk(cmd: Any, path: list[str], ctx: Any, out: list[tuple[list[str], Any, Any]]) -> None:
    import click

    out.append((path, cmd, ctx))
    if isinstance(cmd, click.Group):
        names = cmd.list_commands(ctx)
        if not path:  # the root: in the order of the pipeline, then the tools
            names = sorted(names, key=lambda n: [*PIPELINE_ORDER, n].index(n))
        for name in names:
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            _walk(sub, [*path, name], click.Context(sub, info_name=name, parent=ctx), out)


def commands() -> list[tuple[list[str], Any, Any]]:
    """Every command of ``nixremote`` that can be loaded now: (path, command, context)."""
    import click

    from nixremote.cli.main import cli

    out: list[tuple[list[str], Any, Any]] = []
    _walk(cli, [], click.Context(cli, info_name="nixremote", **cli.context_settings), out)
    return out


def _help_markdown(text: str) -> str:
    """click help text as Markdown: ``\\b`` paragraphs (kept verbatim by click) as text blocks."""
    out = []
    for para in re.split(r"\n\s*\n", inspect.cleandoc(text)):
        if para.startswith("\b"):
            out.append("```text\n" + para[1:].strip("\n") + "\n```")
        else:
            out.append(para)
    return "\n\n".join(out)


def _cell_text(text: str) -> str:
    """Text for a Markdown table cell: HTML-escaped, pipes as entities (they split cells)."""
    return html.escape(text, quote=False).replace("|", "&#124;")


def _cell_code(text: str) -> str:
    # Backticks would show an escaped pipe literally; inline HTML keeps the entity.
    return f"<code>{_cell_text(text)}</code>"


def cli_reference() -> str:
    """Markdown of every command's usage, arguments and options, from the click objects."""
    import click

    parts = [
        "# Command reference",
        "",
        '!!! note "Generated"',
        "    This page is generated from the click commands at build time (`docs/hooks.py`); it "
        "lists exactly the commands and options of this version, including commands that the "
        "installed plugins add. The [commands guide](../commands.md) has examples.",
        "",
    ]
    for path, cmd, ctx in commands():
        title = " ".join(["nixremote", *path])
        level = "#" * min(2 + max(len(path) - 1, 0), 4)
        parts += [f"{level} `{title}`" if path else "## `nixremote`", ""]
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        parts += ["```text", f"{title} {usage}".rstrip(), "```", ""]
        if cmd.help:
            parts += [_help_markdown(cmd.help), ""]
        rows = []
        for param in cmd.get_params(ctx):
            if isinstance(param, click.Argument):
                rows.append((_cell_code(param.human_readable_name), "argument", ""))
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            names, help_text = record
            rows.append((_cell_code(names), "option", _cell_text(help_text)))
        if rows:
            parts += ["| Parameter | Kind | Help |", "| --- | --- | --- |"]
            parts += [f"| {n} | {k} | {h} |" for n, k, h in rows]
            parts.append("")
    return "\n".join(parts) + "\n"


# -- docstrings in the API pages ----------------------------------------------------------------

try:
    import griffe
except ImportError:  # only the API pages need it
    griffe = None

if griffe is not None:

    class RstRoles(griffe.Extension):  # type: ignore[misc]
        """A griffe extension (``mkdocs.yml``: ``extensions``) that turns the reST roles of
        nixremote's docstrings into Markdown for the API pages."""

        def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
            if obj.docstring is not None:
                obj.docstring.value = rst_to_md(obj.docstring.value)


# -- MkDocs --------------------------------------------------------------------------------------

CLI_PAGE = "reference/cli.md"

GENERATED = {
    HOOKS_PAGE: hook_reference,
    SCHEMA_PAGE: runtime_info_reference,
    CLI_PAGE: cli_reference,
}


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the site."""
    from mkdocs.structure.files import File

    for uri, make in GENERATED.items():
        existing = files.get_file_from_path(uri)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, uri, content=make()))
    return files


def write_pages(outdir: Path) -> list[Path]:
    written = []
    for uri, make in GENERATED.items():
        target = outdir / uri
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(make(), encoding="utf-8")
        written.append(target)
    return written


if __name__ == "__main__":
    for path in write_pages(Path(sys.argv[1] if len(sys.argv) > 1 else "generated-docs")):
        print(path)
