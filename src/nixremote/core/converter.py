"""The one converter between nixremote's models and JSON (``runtime-info.json`` and friends).

Keys are camelCase. ``runtime-info.json`` also carries, derived from the primary interface and the
disk to format, the flat field set of the original installer (``networkInterface``,
``networkInterfaceModule``, ``ipv4{address,prefixLength,gateway,netmask}``,
``ipv6{address,prefixLength,gateway}``), so tools written for it keep working; a file that has only
those fields is read too. Faults are raised as :class:`~nixremote.core.errors.RuntimeInfoError`
naming the JSON path of the fault (``$.interfaces[0].mac``) and saying what to do; the models
validate every value by meaning (:mod:`nixremote.core.validate`), and JSON nested deeper than
:data:`~nixremote.core.jsontext.MAX_DEPTH` is refused in one line too.

Key lines with ``authorized_keys`` options (``command="..."``, ``no-pty``) are read without
them: each removal is logged as a warning naming the options and the JSON path
(:func:`strip_key_options`), because a key with a forced command locks root (and the remote
unlock) out of the installed system.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import jsontext, layout, validate
from .diskplan import Step
from .errors import InvalidValueError, RuntimeInfoError
from .filetree import FileTree, TreeEntry
from .flakeparts import FlakeFile, FlakeInput
from .models import (
    SCHEMA_VERSION,
    BootMode,
    Disk,
    Interface,
    IPAddress,
    Route,
    RuntimeInfo,
)
from .plan import (
    PLAN_SCHEMA_VERSION,
    BundleFile,
    BundleTravel,
    FlakeSource,
    HostFlakeInputs,
    Plan,
    PlannedDisk,
    PluginRecord,
    TargetIdentity,
)
from .sshkeys import strip_options
from .userflake import UserFlake

log = logging.getLogger(__name__)

T = TypeVar("T")

LEGACY_KEYS = (
    "networkInterface",
    "networkInterfaceModule",
    "ipv4",
    "ipv6",
)
"""Top-level keys of the original installer that are derived, not stored, in the rich model."""


def camel(name: str) -> str:
    """``prefix_length`` -> ``prefixLength``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _pairs_to_object(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(pairs)


def _object_to_pairs(value: Any, _type: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object of strings, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise TypeError(f"value of {key!r} must be a string")
    return tuple(sorted((str(k), v) for k, v in value.items()))


def _strict(kind: type) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _type: Any) -> Any:
        # bool is an int in Python; JSON true is not a number.
        if type(value) is not kind and not (kind is float and type(value) is int):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


@attrs.frozen(kw_only=True)
class _LegacyAddress:
    """The original installer's ``ipv4``/``ipv6`` block (``netmask`` only for IPv4)."""

    address: str
    prefix_length: int
    gateway: str | None = None
    netmask: str | None = None


def make_converter() -> cattrs.Converter:
    """Build the converter (camelCase keys, unknown keys rejected, strict scalar types)."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    for kind in (str, int, bool, float):
        conv.register_structure_hook(kind, _strict(kind))
    conv.register_structure_hook(BootMode, lambda v, t: BootMode(_strict(str)(v, t)))
    conv.register_unstructure_hook(BootMode, lambda v: v.value)

    for cls in (IPAddress, Interface, Route, Disk, _LegacyAddress):
        _register_camel(conv, cls)
    _register_camel(
        conv,
        RuntimeInfo,
        hoster_details=override(
            rename="hosterDetails",
            struct_hook=_object_to_pairs,
            unstruct_hook=_pairs_to_object,
        ),
    )
    conv.register_structure_hook(
        layout.PartitionRole, lambda v, t: layout.PartitionRole(_strict(str)(v, t))
    )
    conv.register_unstructure_hook(layout.PartitionRole, lambda v: v.value)
    for model in (
        layout.Partition,
        layout.DiskSpec,
        layout.Pool,
        layout.Dataset,
        layout.DiskLayout,
        layout.LayoutOptions,
        Step,
        PlannedDisk,
        TargetIdentity,
        FlakeSource,
        FlakeFile,
        FlakeInput,
        HostFlakeInputs,
        PluginRecord,
        TreeEntry,
        FileTree,
        UserFlake,
        BundleFile,
        BundleTravel,
    ):
        _register_camel(conv, model)
    _register_camel(  # settings as an object: {"<plugin>.<key>": "value"}
        conv,
        Plan,
        settings=override(struct_hook=_object_to_pairs, unstruct_hook=_pairs_to_object),
    )
    return conv


def _register_camel(conv: cattrs.Converter, cls: type, **extra: Any) -> None:
    overrides = {a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)}
    overrides.update(extra)
    unstructure_fn: Any = make_dict_unstructure_fn(cls, conv, **overrides)  # type: ignore[arg-type]
    structure_fn: Any = make_dict_structure_fn(
        cls,
        conv,
        _cattrs_forbid_extra_keys=True,
        **overrides,  # type: ignore[arg-type]
    )
    conv.register_unstructure_hook(cls, unstructure_fn)
    conv.register_structure_hook(cls, structure_fn)


converter = make_converter()
"""The converter. Use :func:`structure` and :func:`unstructure` rather than calling it directly."""


# --- errors with JSON paths -------------------------------------------------------------------


def _format_exception(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return "unknown key " + ", ".join(repr(k) for k in sorted(exc.extra_fields))
    if isinstance(exc, InvalidValueError):
        return exc.message
    if (
        isinstance(exc, ValueError)
        and len(exc.args) >= 2
        and isinstance(exc.args[1], attrs.Attribute)
    ):
        # An attrs validator: (message, attribute, expected, value).
        attr = exc.args[1]
        value = exc.args[-1]
        return f"invalid {camel(attr.name)} {value!r}"
    if isinstance(exc, TypeError) and type_ is not None:
        name = getattr(type_, "__name__", None) or str(type_).replace("typing.", "")
        return f"invalid value for type, expected {name}"
    return f"invalid value ({exc})"


@attrs.frozen
class _Fault:
    message: str
    path: str
    hint: str | None = None


def _faults(exc: BaseException, path: str = "$", type_: Any = None) -> list[_Fault]:
    """Every fault of a cattrs error with its JSON path (camelCase keys); a validator's
    :class:`InvalidValueError` adds the field below its model and brings its own hint."""
    if isinstance(exc, cattrs.IterableValidationError):
        items, rest = exc.group_exceptions()
        out = [f for e, item in items for f in _faults(e, f"{path}[{item.index!r}]")]
        return out + [f for e in rest for f in _faults(e, path)]
    if isinstance(exc, cattrs.ClassValidationError):
        fields, others = exc.group_exceptions()
        out = [f for e, a in fields for f in _faults(e, f"{path}.{camel(a.name)}", a.type)]
        return out + [f for e in others for f in _faults(e, path, exc.cl)]
    if isinstance(exc, InvalidValueError):
        where = path
        if exc.field:
            where += exc.field if exc.field.startswith("[") else f".{exc.field}"
        return [_Fault(exc.message, where, exc.hint)]
    return [_Fault(_format_exception(exc, type_), path)]


def _json_path(exc: BaseException, path: str = "$") -> list[str]:
    """Flatten a cattrs error into ``"<message> @ <json path>"`` lines with camelCase keys."""
    return [f"{f.message} @ {f.path}" for f in _faults(exc, path)]


HINT = "fix the field at that JSON path"


def _raise(source: str, faults: list[_Fault]) -> RuntimeInfoError:
    first = faults[0]
    more = f" (and {len(faults) - 1} more)" if len(faults) > 1 else ""
    return RuntimeInfoError(
        f"{source}: {first.message} @ {first.path}{more}", hint=first.hint or HINT
    )


def structure(data: Any, cls: type[T], *, source: str = "input") -> T:
    """Build ``cls`` from JSON data, raising :class:`RuntimeInfoError` with the JSON path."""
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        raise _raise(source, _faults(exc)) from None
    except InvalidValueError as exc:
        raise _raise(source, _faults(exc)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise _raise(source, [_Fault(_format_exception(exc, cls), "$")]) from None


def loads_json(text: str | bytes, *, source: str, hint: str = "fix the JSON syntax") -> Any:
    """JSON text from a file or the wire: malformed or too deeply nested JSON is one
    :class:`RuntimeInfoError` line."""
    try:
        return jsontext.loads(text)
    except jsontext.JsonDepthError as exc:
        raise RuntimeInfoError(
            f"{source}: not valid JSON: {exc}", hint="this is not a file nixremote wrote"
        ) from None
    except json.JSONDecodeError as exc:
        raise RuntimeInfoError(
            f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            hint=hint,
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise RuntimeInfoError(f"{source}: not valid JSON (not UTF-8 text)", hint=hint) from None


def strip_key_options(data: Any, key: str, where: str, *, source: str) -> Any:
    """``data`` (a JSON object) with the options of the key lines at ``data[key]`` removed;
    each removal is logged as a warning naming the options and the JSON path."""
    if not isinstance(data, Mapping) or not isinstance(data.get(key), list):
        return data
    lines, stripped = strip_options(data[key])
    for item in stripped:
        log.warning("%s: %s", source, item.message(f"{where}.{key}[{item.index}]"))
    if not stripped:
        return data
    return {**data, key: lines}


def unstructure(obj: Any) -> Any:
    """JSON data for a model."""
    return converter.unstructure(obj)


# --- runtime-info.json --------------------------------------------------------------------------


def _netmask(prefix_length: int) -> str:
    return str(ipaddress.IPv4Network(f"0.0.0.0/{prefix_length}").netmask)


def legacy_fields(info: RuntimeInfo) -> dict[str, Any]:
    """The original installer's flat fields, derived from the primary interface."""
    out: dict[str, Any] = {}
    iface = info.primary
    if iface is None:
        return out
    out["networkInterface"] = iface.stable_name
    if iface.driver:
        out["networkInterfaceModule"] = iface.driver
    if iface.ipv4:
        addr = iface.ipv4[0]
        out["ipv4"] = {
            "address": addr.address,
            "prefixLength": addr.prefix_length,
            "gateway": info.default_gateway(4, iface.name),
            "netmask": _netmask(addr.prefix_length),
        }
    globals6 = iface.global_ipv6
    if globals6:
        addr6 = globals6[0]
        out["ipv6"] = {
            "address": addr6.address,
            "prefixLength": addr6.prefix_length,
            "gateway": info.default_gateway(6, iface.name),
        }
    return out


def runtime_info_to_json_data(info: RuntimeInfo) -> dict[str, Any]:
    data: dict[str, Any] = {"schemaVersion": info.schema_version}
    body = unstructure(info)
    body.pop("schemaVersion", None)
    data.update(body)
    data.update(legacy_fields(info))
    return data


def _legacy_check(source: str, path: str, check: Callable[[], object]) -> None:
    try:
        check()
    except InvalidValueError as exc:
        raise _raise(source, _faults(exc, path)) from None


def _from_legacy(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Rich fields built from the original installer's flat ones (only where absent); faults
    name the flat fields' JSON paths."""
    out = dict(data)
    name = data.get("networkInterface")
    if name is None:
        return out
    if not isinstance(name, str):
        raise RuntimeInfoError(
            f"{source}: invalid value for type, expected str @ $.networkInterface", hint=HINT
        )
    _legacy_check(source, "$.networkInterface", lambda: validate.interface_name(name))
    iface: dict[str, Any] = {"name": name, "predictableName": name}
    if "networkInterfaceModule" in data:
        module = data["networkInterfaceModule"]
        if module is not None:
            _legacy_check(source, "$.networkInterfaceModule", lambda: validate.driver(module))
        iface["driver"] = module
    routes: list[dict[str, Any]] = []
    for family, key in ((4, "ipv4"), (6, "ipv6")):
        if data.get(key) is None:
            continue
        block = _structure_at(data[key], _LegacyAddress, source, f"$.{key}")
        _legacy_check(
            source,
            f"$.{key}.address",
            lambda block=block, family=family: validate.ip_address(  # type: ignore[misc]
                block.address, family=family
            ),
        )
        _legacy_check(
            source,
            f"$.{key}",
            lambda block=block: IPAddress(  # type: ignore[misc]
                address=block.address, prefix_length=block.prefix_length
            ),
        )
        iface[key] = [{"address": block.address, "prefixLength": block.prefix_length}]
        if block.gateway:
            _legacy_check(
                source,
                f"$.{key}.gateway",
                lambda block=block, family=family: validate.ip_address(  # type: ignore[misc]
                    block.gateway, what="gateway", family=family
                ),
            )
            routes.append(
                {
                    "family": family,
                    "destination": "default",
                    "gateway": block.gateway,
                    "device": name,
                    "onLink": _on_link(block.address, block.prefix_length, block.gateway),
                }
            )
    out.setdefault("interfaces", [iface])
    out.setdefault("primaryInterface", name)
    out.setdefault("routes", routes)
    return out


def _structure_at(data: Any, cls: type[T], source: str, path: str) -> T:
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        raise _raise(source, _faults(exc, path)) from None


def _on_link(address: Any, prefix: Any, gateway: Any) -> bool:
    """A gateway outside the address's own prefix can only be reached on-link (Hetzner's /32)."""
    try:
        net = ipaddress.ip_interface(f"{address}/{prefix}").network
        gw = ipaddress.ip_address(gateway)
    except (ValueError, TypeError):
        return False
    if gw.is_link_local:
        return False
    return gw not in net


def runtime_info_from_json_data(data: Any, *, source: str = "runtime info") -> RuntimeInfo:
    """Read runtime info in the current shape or the original installer's."""
    if not isinstance(data, Mapping):
        raise RuntimeInfoError(
            f"{source}: expected a JSON object @ $", hint="the file must hold one JSON object"
        )
    version = data.get("schemaVersion", SCHEMA_VERSION)
    if type(version) is not int:
        raise RuntimeInfoError(
            f"{source}: expected int, got {type(version).__name__} @ $.schemaVersion",
            hint="fix the field at that JSON path",
        )
    if version > SCHEMA_VERSION:
        raise RuntimeInfoError(
            f"{source}: schemaVersion {version} is newer than this nixremote reads "
            f"({SCHEMA_VERSION}) @ $.schemaVersion",
            hint="upgrade nixremote",
        )
    if version < 1:
        raise RuntimeInfoError(
            f"{source}: schemaVersion {version} is not valid @ $.schemaVersion",
            hint="use schemaVersion 1",
        )
    if "interfaces" not in data:
        data = _from_legacy(data, source)
    data = strip_key_options(data, "rootAuthorizedKeys", "$", source=source)
    body = {k: v for k, v in data.items() if k not in LEGACY_KEYS}
    body["schemaVersion"] = version
    return structure(body, RuntimeInfo, source=source)


def dumps_runtime_info(info: RuntimeInfo, *, indent: int | None = 2) -> str:
    """``runtime-info.json`` text (sorted keys, trailing newline when indented)."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(
        runtime_info_to_json_data(info), indent=indent, sort_keys=True, separators=separators
    )
    return text + "\n" if indent is not None else text


def loads_runtime_info(text: str | bytes, *, source: str = "runtime info") -> RuntimeInfo:
    """Parse ``runtime-info.json`` text; malformed JSON is a :class:`RuntimeInfoError` too."""
    return runtime_info_from_json_data(loads_json(text, source=source), source=source)


def load_runtime_info(path: str | Path) -> RuntimeInfo:
    """Read a ``runtime-info.json`` file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuntimeInfoError(f"cannot read {p}: {exc.strerror}", hint="check the path") from None
    return loads_runtime_info(text, source=str(p))


def save_runtime_info(info: RuntimeInfo, path: str | Path) -> None:
    """Write a ``runtime-info.json`` file."""
    Path(path).write_text(dumps_runtime_info(info), encoding="utf-8")


# --- plan.json ----------------------------------------------------------------------------------


def plan_from_json_data(data: Any, *, source: str = "plan") -> Plan:
    """Read a plan (JSON data); faults name their JSON path."""
    if not isinstance(data, Mapping):
        raise RuntimeInfoError(
            f"{source}: expected a JSON object @ $", hint="the file must hold one JSON object"
        )
    version = data.get("schemaVersion")
    if type(version) is not int or not 1 <= version <= PLAN_SCHEMA_VERSION:
        raise RuntimeInfoError(
            f"{source}: schemaVersion {version!r} is not one this nixremote reads "
            f"(1..{PLAN_SCHEMA_VERSION}) @ $.schemaVersion",
            hint="make the plan again with this nixremote",
        )
    data = strip_key_options(data, "authorizedKeys", "$", source=source)
    info = data.get("runtimeInfo")
    if isinstance(info, Mapping):
        info = strip_key_options(info, "rootAuthorizedKeys", "$.runtimeInfo", source=source)
        data = {**data, "runtimeInfo": info}
    return structure(data, Plan, source=source)


def dumps_plan(plan: Plan) -> str:
    """``plan.json`` text (sorted keys, trailing newline)."""
    return json.dumps(unstructure(plan), indent=2, sort_keys=True) + "\n"


def plan_digest(plan: Plan) -> str:
    """The sha256 of ``plan.json``'s text: what the installer marker names."""
    return hashlib.sha256(dumps_plan(plan).encode()).hexdigest()


def loads_plan(text: str | bytes, *, source: str = "plan") -> Plan:
    """Parse ``plan.json`` text; malformed JSON is a :class:`RuntimeInfoError` too."""
    data = loads_json(text, source=source, hint="fix the JSON syntax, or make the plan again")
    return plan_from_json_data(data, source=source)


def load_plan(path: str | Path) -> Plan:
    """Read a ``plan.json`` file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuntimeInfoError(f"cannot read {p}: {exc.strerror}", hint="check the path") from None
    return loads_plan(text, source=str(p))


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write a ``plan.json`` file."""
    Path(path).write_text(dumps_plan(plan), encoding="utf-8")
