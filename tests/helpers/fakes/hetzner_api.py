"""A stateful fake of the Hetzner Cloud API on loopback (a test double).

The real API cannot be used in tests (no token, no traffic to hosters), so this fake stands in
for it. It is driven by the official ``hcloud`` client exactly as production code drives the real
API, and it holds itself to the published contract: every JSON body it sends is validated with
``jsonschema.Draft202012Validator`` against the operation's response schema in
``tests/data/hetzner/cloud.spec.json.xz`` (or ``$NIXREMOTE_HETZNER_SPEC``). A body that does not
match is recorded in :attr:`FakeHetznerCloud.schema_mismatches` and answered with a 500 instead, so
the client fails loudly; :meth:`FakeHetznerCloud.assert_clean` (run by the pytest fixture's
finaliser) fails the test on any recorded mismatch.

Request bodies are checked loosely against the operation's request schema: "ID or name" fields
(``image``, ``server_type``, ``location``, ``ssh_keys[]``) may be strings or integers, as the API
and hcloud accept both. A bad request is answered 400 ``invalid_input`` and recorded in
:attr:`FakeHetznerCloud.request_errors`.

Implemented: servers (list with ``name``/``status`` filters and pagination, get, create, delete),
server actions (``enable_rescue``, ``disable_rescue``, ``reset``, ``reboot``, ``poweron``,
``poweroff``, ``shutdown``, ``rebuild``), actions (get by id, list by id, per-server list and get),
ssh_keys (list with ``name``/``fingerprint`` filters, get, create, delete), and the read-only
catalogues ``server_types``, ``images`` and ``locations`` (list with ``name`` filter, get).

Behaviour that tests rely on:

- Actions stay ``running`` for :attr:`FakeHetznerCloud.action_polls` reads of the action, then
  end ``success`` (or as planned with :meth:`FakeHetznerCloud.plan_action`: ``error``, or
  ``never`` to stay running forever). Their effect on the server applies when they succeed.
- A server with a running action is locked: a further action on it answers 423 ``locked``.
- A server being deleted keeps its name until the delete action has finished (a create with that
  name answers 409 ``uniqueness_error``).
- The bearer token is checked on every request (401 ``unauthorized`` otherwise).
- :meth:`FakeHetznerCloud.inject` makes the next matching request(s) fail with a chosen status and
  error code (404, 423, 429 with the ``RateLimit-*`` headers, ...).

Addresses are documentation ranges only: IPv4 from 203.0.113.0/24, IPv6 networks
``2001:db8:<n>::/64``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import lzma
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

from helpers.fakes import LoopbackServer

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TOKEN = "fake-hcloud-token-0123456789abcdef"

_SPEC_CACHE: dict[str, Any] = {}
_SPEC_LOCK = threading.Lock()


SPEC = REPO_ROOT / "tests" / "data" / "hetzner" / "cloud.spec.json.xz"
"""Hetzner's OpenAPI spec, a copy in the repository (``tests/data/README.md``: source, sha256)."""


def spec_path() -> Path:
    """The OpenAPI spec: ``$NIXREMOTE_HETZNER_SPEC`` (plain or ``.xz``), else the copy in the
    repository."""
    env = os.environ.get("NIXREMOTE_HETZNER_SPEC")
    return Path(env) if env else SPEC


def load_spec() -> dict[str, Any]:
    """The parsed spec (read once per process)."""
    path = spec_path()
    with _SPEC_LOCK:
        if str(path) not in _SPEC_CACHE:
            raw = path.read_bytes()
            if path.suffix == ".xz":
                raw = lzma.decompress(raw)
            _SPEC_CACHE[str(path)] = json.loads(raw)
        return _SPEC_CACHE[str(path)]


# ---------------------------------------------------------------------------------------------
# Catalogue data (realistic shapes; values are plausible, not authoritative)

_LOCATIONS = (
    {
        "id": 1,
        "name": "fsn1",
        "description": "Falkenstein DC Park 1",
        "country": "DE",
        "city": "Falkenstein",
        "latitude": 50.47612,
        "longitude": 12.370071,
        "network_zone": "eu-central",
    },
    {
        "id": 2,
        "name": "nbg1",
        "description": "Nuremberg DC Park 1",
        "country": "DE",
        "city": "Nuremberg",
        "latitude": 49.452102,
        "longitude": 11.076665,
        "network_zone": "eu-central",
    },
    {
        "id": 3,
        "name": "hel1",
        "description": "Helsinki DC Park 1",
        "country": "FI",
        "city": "Helsinki",
        "latitude": 60.169855,
        "longitude": 24.938379,
        "network_zone": "eu-central",
    },
)

# (id, name, cores, memory GB, disk GB, cpu_type, architecture, category, net EUR/month)
_SERVER_TYPES = (
    (104, "cx22", 2, 4.0, 40, "shared", "x86", "Cost-Optimized", "3.7900"),
    (105, "cx32", 4, 8.0, 80, "shared", "x86", "Cost-Optimized", "6.8000"),
    (45, "cax11", 2, 4.0, 40, "shared", "arm", "Cost-Optimized", "3.7900"),
    (96, "ccx13", 2, 8.0, 80, "dedicated", "x86", "Dedicated vCPU", "12.4900"),
)

# (id, name, os_flavor, os_version, architecture)
_IMAGES = (
    (114690387, "debian-12", "debian", "12", "x86"),
    (114690389, "debian-12", "debian", "12", "arm"),
    (161547269, "ubuntu-24.04", "ubuntu", "24.04", "x86"),
    (161547270, "ubuntu-24.04", "ubuntu", "24.04", "arm"),
)

_EPOCH = "2024-01-02T10:00:00+00:00"

# The action command names the API uses for each server action endpoint.
_SERVER_ACTION_COMMANDS = {
    "enable_rescue": "enable_rescue",
    "disable_rescue": "disable_rescue",
    "reset": "reset_server",
    "reboot": "reboot_server",
    "poweron": "start_server",
    "poweroff": "stop_server",
    "shutdown": "shutdown_server",
    "rebuild": "rebuild_server",
}


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _price(net: str) -> dict[str, str]:
    gross = f"{float(net) * 1.19:.4f}"
    return {"net": net, "gross": gross}


def _location_json(loc: dict[str, Any]) -> dict[str, Any]:
    return dict(loc)


def _server_type_json(row: tuple[Any, ...]) -> dict[str, Any]:
    st_id, name, cores, memory, disk, cpu_type, arch, category, monthly = row
    hourly = f"{float(monthly) / 730:.4f}"
    return {
        "id": st_id,
        "name": name,
        "description": name.upper(),
        "cores": cores,
        "memory": memory,
        "disk": disk,
        "deprecated": False,
        "deprecation": None,
        "prices": [
            {
                "location": loc["name"],
                "price_hourly": _price(hourly),
                "price_monthly": _price(monthly),
                "included_traffic": 21990232555520,
                "price_per_tb_traffic": _price("1.0000"),
            }
            for loc in _LOCATIONS
        ],
        "storage_type": "local",
        "cpu_type": cpu_type,
        "category": category,
        "architecture": arch,
        "locations": [
            {
                "id": loc["id"],
                "name": loc["name"],
                "deprecation": None,
                "recommended": loc["name"] != "hel1",
                "available": True,
            }
            for loc in _LOCATIONS
        ],
    }


def _image_json(row: tuple[Any, ...]) -> dict[str, Any]:
    img_id, name, flavor, version, arch = row
    return {
        "id": img_id,
        "type": "system",
        "status": "available",
        "name": name,
        "description": f"{flavor.capitalize()} {version}",
        "image_size": None,
        "disk_size": 5,
        "created": _EPOCH,
        "created_from": None,
        "bound_to": None,
        "os_flavor": flavor,
        "os_version": version,
        "rapid_deploy": True,
        "protection": {"delete": False},
        "deprecated": None,
        "deleted": None,
        "labels": {},
        "architecture": arch,
    }


def ssh_fingerprint(public_key: str) -> str:
    """The MD5 fingerprint (colon-separated hex) the API reports for an OpenSSH public key."""
    parts = public_key.split()
    if len(parts) < 2:
        raise ValueError("not an OpenSSH public key")
    blob = base64.b64decode(parts[1], validate=True)
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


# ---------------------------------------------------------------------------------------------
# Errors raised inside handlers


class _ApiFault(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def _not_found(kind: str, ident: object) -> _ApiFault:
    return _ApiFault(404, "not_found", f"{kind} with ID '{ident}' not found")


class SchemaMismatchError(AssertionError):
    """A body the fake was about to send does not match the spec."""


# ---------------------------------------------------------------------------------------------
# State


class _Action:
    def __init__(
        self,
        action_id: int,
        command: str,
        resources: list[dict[str, Any]],
        polls: int,
        outcome: str,
        error: tuple[str, str],
        on_success: Callable[[], None] | None,
    ) -> None:
        self.id = action_id
        self.command = command
        self.resources = resources
        self.polls_left = polls
        self.total_polls = max(polls, 1)
        self.outcome = outcome  # "success" | "error" | "never"
        self.error = error
        self.on_success = on_success
        self.status = "running"
        self.progress = 0
        self.started = _now()
        self.finished: str | None = None

    def poll(self) -> None:
        """One read of the action by a client: advance it."""
        if self.status != "running":
            return
        if self.outcome == "never":
            self.progress = min(self.progress + 1, 99)
            return
        self.polls_left -= 1
        if self.polls_left > 0:
            done = self.total_polls - self.polls_left
            self.progress = min(99, int(100 * done / self.total_polls))
            return
        self.finished = _now()
        if self.outcome == "error":
            self.status = "error"
            return
        self.status = "success"
        self.progress = 100
        if self.on_success is not None:
            self.on_success()

    def json(self) -> dict[str, Any]:
        error = None
        if self.status == "error":
            error = {"code": self.error[0], "message": self.error[1]}
        return {
            "id": self.id,
            "command": self.command,
            "status": self.status,
            "progress": self.progress,
            "started": self.started,
            "finished": self.finished,
            "resources": copy.deepcopy(self.resources),
            "error": error,
        }


class _Fault:
    def __init__(
        self,
        method: str,
        path: re.Pattern[str],
        status: int,
        code: str,
        message: str,
        times: int | None,
        headers: dict[str, str],
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.message = message
        self.times = times
        self.headers = headers
        self.hits = 0


class FakeHetznerCloud(LoopbackServer):
    """The fake API. Use as a context manager; :attr:`endpoint` is the base URL for ``hcloud``.

    ``action_polls`` is how many reads an action takes to finish (at least 1).
    """

    thread_name = "fake-hetzner-api"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        action_polls: int = 2,
        host: str = "127.0.0.1",
        ipv4_template: str = "203.0.113.{n}",
    ) -> None:
        self.token = token
        self.ipv4_template = ipv4_template
        # Called as on_create(server_json, user_data) when a server is created: tests use it to
        # play cloud-init (start an sshd with the host key from the user data).
        self.on_create: Callable[[dict[str, Any], str | None], None] | None = None
        self.action_polls = max(1, action_polls)
        self.host = host
        self.spec = load_spec()
        self.schema_mismatches: list[str] = []
        self.request_errors: list[str] = []
        self.requests: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.servers: dict[int, dict[str, Any]] = {}
        self.ssh_keys: dict[int, dict[str, Any]] = {}
        self.actions: dict[int, _Action] = {}
        # Per-server history of boots: "disk" or "rescue", in order.
        self.boots: dict[int, list[str]] = {}
        self.user_data: dict[int, str | None] = {}
        self.deleting: set[int] = set()
        self._faults: list[_Fault] = []
        self._plans: dict[str, list[tuple[str, tuple[str, str], int | None]]] = {}
        self._ids = itertools.count(1000)
        self._action_ids = itertools.count(13000)
        self._ip_counter = itertools.count(10)
        self._lock = threading.RLock()
        self._validators: dict[tuple[str, str, str], jsonschema.Draft202012Validator] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake Hetzner API is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeHetznerCloud:
        fake = self

        class Handler(_Handler):
            api = fake

        self._serve(Handler)
        return self

    def assert_clean(self) -> None:
        """Fail if any response did not match the spec or any request was malformed."""
        problems = [f"response: {m}" for m in self.schema_mismatches]
        problems += [f"request: {m}" for m in self.request_errors]
        if problems:
            raise SchemaMismatchError(
                f"{len(problems)} contract violation(s) in the fake Hetzner API:\n"
                + "\n".join(problems)
            )

    # -- test controls -------------------------------------------------------------------------

    def inject(
        self,
        method: str,
        path: str,
        *,
        status: int,
        code: str,
        message: str | None = None,
        times: int | None = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests (``None``: all) matching ``method`` and ``path``.

        ``path`` is a regular expression matched in full against the path after ``/v1``
        (e.g. ``r"/servers/\\d+/actions/reset"``). For ``status=429`` the ``RateLimit-*``
        headers are added unless given.
        """
        if status == 429 and headers is None:
            headers = {
                "RateLimit-Limit": "3600",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(int(time.time()) + 1),
            }
        default_messages = {
            401: "unable to authenticate",
            404: "not found",
            409: "conflict",
            423: "server is locked",
            429: "limit of 3600 requests per hour reached",
        }
        with self._lock:
            self._faults.append(
                _Fault(
                    method.upper(),
                    re.compile(path),
                    status,
                    code,
                    message or default_messages.get(status, code.replace("_", " ")),
                    times,
                    headers or {},
                )
            )

    def fault_hits(self) -> int:
        """How many requests were answered by injected faults."""
        with self._lock:
            return sum(f.hits for f in self._faults)

    def plan_action(
        self,
        command: str,
        outcome: str,
        *,
        error: tuple[str, str] = ("action_failed", "action failed"),
        polls: int | None = None,
    ) -> None:
        """Make the next action with this ``command`` end in ``outcome``.

        ``outcome`` is ``"success"``, ``"error"`` (with ``error=(code, message)``) or
        ``"never"`` (stays running). Plans queue up per command.
        """
        if outcome not in ("success", "error", "never"):
            raise ValueError(f"unknown outcome {outcome!r}")
        with self._lock:
            self._plans.setdefault(command, []).append((outcome, error, polls))

    def add_ssh_key(self, name: str, public_key: str) -> dict[str, Any]:
        """Create an SSH key in the project directly (no request)."""
        with self._lock:
            return self._create_ssh_key(name, public_key, {})

    def add_server(
        self,
        name: str,
        *,
        server_type: str = "cx22",
        image: str = "debian-12",
        location: str = "nbg1",
        status: str = "running",
    ) -> dict[str, Any]:
        """Create a running server directly (no request, no actions)."""
        with self._lock:
            st = self._find_server_type(server_type)
            img = self._find_image(image, st["architecture"])
            loc = self._find_location(location)
            server = self._new_server(name, st, img, loc)
            server["status"] = status
            self.boots[server["id"]].append("disk")
            return copy.deepcopy(server)

    def server_by_name(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            for server in self.servers.values():
                if server["name"] == name:
                    return copy.deepcopy(server)
            return None

    def commands(self) -> list[str]:
        """The command of every action created so far, in order."""
        with self._lock:
            return [a.command for a in sorted(self.actions.values(), key=lambda a: a.id)]

    # -- validation ------------------------------------------------------------------------------

    def _validator(self, path: str, method: str, code: str) -> jsonschema.Draft202012Validator:
        key = (path, method, code)
        if key not in self._validators:
            responses = self.spec["paths"][path][method]["responses"]
            if code not in responses:
                code_key = f"{code[0]}xx"
                if code_key not in responses:
                    raise SchemaMismatchError(
                        f"{method.upper()} {path}: no response {code} in spec"
                    )
            else:
                code_key = code
            schema = responses[code_key]["content"]["application/json"]["schema"]
            self._validators[key] = jsonschema.Draft202012Validator(schema)
        return self._validators[key]

    def validate_response(self, path: str, method: str, status: int, body: Any) -> list[str]:
        """Errors of ``body`` against the spec for ``method path`` answering ``status``."""
        try:
            validator = self._validator(path, method, str(status))
        except (KeyError, SchemaMismatchError) as exc:
            return [f"{method.upper()} {path} {status}: no schema ({exc})"]
        return [
            f"{method.upper()} {path} {status}: {'/'.join(map(str, e.absolute_path)) or '<root>'}:"
            f" {e.message}"
            for e in validator.iter_errors(body)
        ]

    def validate_request(self, path: str, method: str, body: Any) -> list[str]:
        op = self.spec["paths"][path][method]
        request_body = op.get("requestBody")
        if request_body is None:
            return []
        schema = request_body["content"]["application/json"]["schema"]
        loose = _loosen_id_or_name(schema)
        validator = jsonschema.Draft202012Validator(loose)
        return [
            f"{method.upper()} {path}: {'/'.join(map(str, e.absolute_path)) or '<root>'}:"
            f" {e.message}"
            for e in validator.iter_errors(body)
        ]

    # -- lookups ---------------------------------------------------------------------------------

    def _find_server_type(self, ident: str | int) -> dict[str, Any]:
        for row in _SERVER_TYPES:
            if ident in (row[0], row[1]) or str(ident) == str(row[0]):
                return _server_type_json(row)
        raise _ApiFault(
            400,
            "invalid_input",
            "invalid input in field 'server_type'",
            {"fields": [{"name": "server_type", "messages": [f"server type {ident} not found"]}]},
        )

    def _find_location(self, ident: str | int) -> dict[str, Any]:
        for loc in _LOCATIONS:
            if ident in (loc["id"], loc["name"]) or str(ident) == str(loc["id"]):
                return _location_json(loc)
        raise _ApiFault(
            400,
            "invalid_input",
            "invalid input in field 'location'",
            {"fields": [{"name": "location", "messages": [f"location {ident} not found"]}]},
        )

    def _find_image(self, ident: str | int, arch: str) -> dict[str, Any]:
        for row in _IMAGES:
            if (ident == row[0] or str(ident) == str(row[0])) or (
                ident == row[1] and arch == row[4]
            ):
                return _image_json(row)
        raise _ApiFault(
            400,
            "invalid_input",
            "invalid input in field 'image'",
            {"fields": [{"name": "image", "messages": [f"image {ident} not found for {arch}"]}]},
        )

    def _find_ssh_key(self, ident: str | int) -> dict[str, Any]:
        for key in self.ssh_keys.values():
            if ident in (key["id"], key["name"]) or str(ident) == str(key["id"]):
                return key
        raise _ApiFault(
            400,
            "invalid_input",
            "invalid input in field 'ssh_keys'",
            {"fields": [{"name": "ssh_keys", "messages": [f"SSH key {ident} not found"]}]},
        )

    def _server(self, server_id: int) -> dict[str, Any]:
        server = self.servers.get(server_id)
        if server is None:
            raise _not_found("server", server_id)
        return server

    def _locked(self, server_id: int) -> bool:
        return any(
            a.status == "running"
            and any(r["type"] == "server" and r["id"] == server_id for r in a.resources)
            for a in self.actions.values()
        )

    # -- state changes ---------------------------------------------------------------------------

    def _new_server(
        self, name: str, st: dict[str, Any], img: dict[str, Any], loc: dict[str, Any]
    ) -> dict[str, Any]:
        server_id = next(self._ids)
        n = next(self._ip_counter)
        ipv4 = self.ipv4_template.format(n=n)
        server = {
            "id": server_id,
            "name": name,
            "status": "initializing",
            "created": _now(),
            "public_net": {
                "ipv4": {
                    "id": 50_000_000 + n,
                    "ip": ipv4,
                    "blocked": False,
                    "dns_ptr": "static."
                    + ".".join(reversed(ipv4.split(".")))
                    + ".clients.example.net",
                },
                "ipv6": {
                    "id": 60_000_000 + n,
                    "ip": f"2001:db8:{n:x}::/64",
                    "blocked": False,
                    "dns_ptr": [],
                },
                "floating_ips": [],
                "firewalls": [],
            },
            "private_net": [],
            "server_type": st,
            "location": loc,
            "image": img,
            "iso": None,
            "rescue_enabled": False,
            "locked": False,
            "backup_window": None,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": 21990232555520,
            "protection": {"delete": False, "rebuild": False},
            "labels": {},
            "volumes": [],
            "load_balancers": [],
            "primary_disk_size": st["disk"],
            "placement_group": None,
        }
        self.servers[server_id] = server
        self.boots[server_id] = []
        return server

    def _new_action(
        self,
        command: str,
        server_id: int | None,
        on_success: Callable[[], None] | None = None,
    ) -> _Action:
        plans = self._plans.get(command)
        outcome, error, polls = "success", ("action_failed", "action failed"), None
        if plans:
            outcome, error, polls = plans.pop(0)
        resources = [] if server_id is None else [{"id": server_id, "type": "server"}]
        action = _Action(
            next(self._action_ids),
            command,
            resources,
            self.action_polls if polls is None else polls,
            outcome,
            error,
            on_success,
        )
        self.actions[action.id] = action
        return action

    def _boot(self, server_id: int) -> None:
        server = self.servers.get(server_id)
        if server is None:
            return
        server["status"] = "running"
        if server["rescue_enabled"]:
            self.boots[server_id].append("rescue")
            # The rescue flag is consumed by the boot into the rescue system.
            server["rescue_enabled"] = False
        else:
            self.boots[server_id].append("disk")

    def _create_ssh_key(self, name: str, public_key: str, labels: dict[str, str]) -> dict[str, Any]:
        for key in self.ssh_keys.values():
            if key["name"] == name:
                raise _ApiFault(
                    409,
                    "uniqueness_error",
                    "SSH key with the same name already exists",
                    {"fields": [{"name": "name"}]},
                )
            if key["public_key"].split()[:2] == public_key.split()[:2]:
                raise _ApiFault(
                    409,
                    "uniqueness_error",
                    "SSH key not unique",
                    {"fields": [{"name": "public_key"}]},
                )
        try:
            fingerprint = ssh_fingerprint(public_key)
        except ValueError as exc:
            raise _ApiFault(
                400,
                "invalid_input",
                "invalid input in field 'public_key'",
                {"fields": [{"name": "public_key", "messages": [str(exc)]}]},
            ) from exc
        key = {
            "id": next(self._ids),
            "name": name,
            "fingerprint": fingerprint,
            "public_key": public_key.strip(),
            "labels": dict(labels),
            "created": _now(),
        }
        self.ssh_keys[key["id"]] = key
        return key

    # -- request dispatch ------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Answer one request: ``(status, body or None, extra headers)``."""
        split = urlsplit(raw_path)
        path = split.path
        query = parse_qs(split.query)
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                return 400, _error_body("json_error", "invalid JSON in request body"), {}
        with self._lock:
            self.requests.append((method, path, query, body))
            if headers.get("authorization") != f"Bearer {self.token}":
                return 401, _error_body("unauthorized", "unable to authenticate"), {}
            if not path.startswith("/v1/"):
                return 404, _error_body("not_found", f"no route {path}"), {}
            sub = path[3:]
            for fault in self._faults:
                if (
                    fault.method == method
                    and fault.path.fullmatch(sub)
                    and (fault.times is None or fault.times > 0)
                ):
                    if fault.times is not None:
                        fault.times -= 1
                    fault.hits += 1
                    return fault.status, _error_body(fault.code, fault.message), dict(fault.headers)
            route = _route(method, sub)
            if route is None:
                return 404, _error_body("not_found", f"no route {method} {sub}"), {}
            spec_path_, handler, args = route
            if method in ("POST", "PUT"):
                problems = self.validate_request(spec_path_, method.lower(), body or {})
                if problems:
                    self.request_errors.extend(problems)
                    return 400, _error_body("invalid_input", "; ".join(problems)), {}
            try:
                status, out = handler(self, query, body or {}, *args)
            except _ApiFault as fault:
                return (
                    fault.status,
                    _error_body(fault.code, fault.message, fault.details),
                    dict(fault.headers),
                )
            return status, out, {"_spec_path": spec_path_}

    # Handlers: (self, query, body, *path args) -> (status, body)

    def _paginate(
        self, query: dict[str, list[str]], key: str, items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        page = int(query.get("page", ["1"])[0])
        per_page = min(int(query.get("per_page", ["25"])[0]), 50)
        total = len(items)
        last = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        return {
            key: copy.deepcopy(chunk),
            "meta": {
                "pagination": {
                    "page": page,
                    "per_page": per_page,
                    "previous_page": page - 1 if page > 1 else None,
                    "next_page": page + 1 if page < last else None,
                    "last_page": last,
                    "total_entries": total,
                }
            },
        }

    def list_servers(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        items = sorted(self.servers.values(), key=lambda s: s["id"])
        if "name" in query:
            items = [s for s in items if s["name"] == query["name"][0]]
        if "status" in query:
            items = [s for s in items if s["status"] in query["status"]]
        if "label_selector" in query:
            want = dict(
                part.split("=", 1) for part in query["label_selector"][0].split(",") if "=" in part
            )
            items = [s for s in items if all(s["labels"].get(k) == v for k, v in want.items())]
        return 200, self._paginate(query, "servers", items)

    def get_server(self, query: dict[str, list[str]], body: Any, sid: str) -> tuple[int, Any]:
        return 200, {"server": copy.deepcopy(self._server(int(sid)))}

    def create_server(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        name = body["name"]
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?", name):
            raise _ApiFault(
                400,
                "invalid_input",
                "invalid input in field 'name'",
                {"fields": [{"name": "name", "messages": ["invalid hostname"]}]},
            )
        if any(s["name"] == name for s in self.servers.values()):
            raise _ApiFault(
                409,
                "uniqueness_error",
                "server name is already used",
                {"fields": [{"name": "name"}]},
            )
        st = self._find_server_type(body["server_type"])
        img = self._find_image(body["image"], st["architecture"])
        loc = self._find_location(body.get("location", "fsn1"))
        keys = [self._find_ssh_key(k) for k in body.get("ssh_keys", [])]
        server = self._new_server(name, st, img, loc)
        server["labels"] = dict(body.get("labels", {}))
        sid = server["id"]
        self.user_data[sid] = body.get("user_data")
        if self.on_create is not None:
            self.on_create(copy.deepcopy(server), body.get("user_data"))
        start = body.get("start_after_create", True)

        def created() -> None:
            if sid in self.servers:
                self.servers[sid]["status"] = "starting" if start else "off"

        action = self._new_action("create_server", sid, created)
        next_actions = []
        if start:
            next_actions.append(self._new_action("start_server", sid, lambda: self._boot(sid)))
        return 201, {
            "server": copy.deepcopy(server),
            "action": action.json(),
            "next_actions": [a.json() for a in next_actions],
            "root_password": None if keys else secrets.token_urlsafe(12),
        }

    def delete_server(self, query: dict[str, list[str]], body: Any, sid: str) -> tuple[int, Any]:
        server_id = int(sid)
        self._server(server_id)
        if self._locked(server_id):
            raise _ApiFault(423, "locked", "server is locked")
        self.deleting.add(server_id)

        def gone() -> None:
            self.servers.pop(server_id, None)
            self.deleting.discard(server_id)

        action = self._new_action("delete_server", server_id, gone)
        self.servers[server_id]["status"] = "deleting"
        return 200, {"action": action.json()}

    def server_action(
        self, query: dict[str, list[str]], body: Any, sid: str, verb: str
    ) -> tuple[int, Any]:
        server_id = int(sid)
        server = self._server(server_id)
        if server_id in self.deleting:
            raise _ApiFault(404, "not_found", f"server with ID '{server_id}' not found")
        if self._locked(server_id):
            raise _ApiFault(423, "locked", "server is locked")
        command = _SERVER_ACTION_COMMANDS[verb]
        out: dict[str, Any] = {}
        on_success: Callable[[], None] | None
        if verb == "enable_rescue":
            for key_id in body.get("ssh_keys", []):
                self._find_ssh_key(key_id)

            def on_success() -> None:
                server["rescue_enabled"] = True

            # The spec types this as a string (never null), with or without SSH keys.
            out["root_password"] = secrets.token_urlsafe(12)
        elif verb == "disable_rescue":

            def on_success() -> None:
                server["rescue_enabled"] = False

        elif verb in ("reset", "reboot", "poweron"):

            def on_success() -> None:
                self._boot(server_id)

        elif verb in ("poweroff", "shutdown"):

            def on_success() -> None:
                server["status"] = "off"

        elif verb == "rebuild":
            img = self._find_image(body["image"], server["server_type"]["architecture"])
            self.user_data[server_id] = body.get("user_data")
            server["status"] = "rebuilding"

            def on_success() -> None:
                server["image"] = img
                self._boot(server_id)

            out["root_password"] = secrets.token_urlsafe(12)
        else:  # pragma: no cover - routes only map the verbs above
            raise _not_found("action", verb)
        action = self._new_action(command, server_id, on_success)
        out["action"] = action.json()
        return 201, out

    def _get_action(self, action_id: int) -> _Action:
        action = self.actions.get(action_id)
        if action is None:
            raise _not_found("action", action_id)
        return action

    def get_action(self, query: dict[str, list[str]], body: Any, aid: str) -> tuple[int, Any]:
        action = self._get_action(int(aid))
        action.poll()
        return 200, {"action": action.json()}

    def list_actions(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        ids = [int(i) for i in query.get("id", [])]
        if not ids:
            raise _ApiFault(400, "invalid_input", "missing required parameter 'id'")
        found = []
        for action_id in ids:
            action = self._get_action(action_id)
            action.poll()
            found.append(action.json())
        return 200, {"actions": found, "meta": {"pagination": _one_page(len(found))}}

    def get_server_action(
        self, query: dict[str, list[str]], body: Any, sid: str, aid: str
    ) -> tuple[int, Any]:
        action = self._get_action(int(aid))
        if not any(r["type"] == "server" and r["id"] == int(sid) for r in action.resources):
            raise _not_found("action", aid)
        action.poll()
        return 200, {"action": action.json()}

    def list_server_actions(
        self, query: dict[str, list[str]], body: Any, sid: str
    ) -> tuple[int, Any]:
        server_id = int(sid)
        self._server(server_id)
        items = [
            a.json()
            for a in sorted(self.actions.values(), key=lambda a: a.id)
            if any(r["type"] == "server" and r["id"] == server_id for r in a.resources)
        ]
        if "status" in query:
            items = [a for a in items if a["status"] in query["status"]]
        return 200, self._paginate(query, "actions", items)

    def list_ssh_keys(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        items = sorted(self.ssh_keys.values(), key=lambda k: k["id"])
        if "name" in query:
            items = [k for k in items if k["name"] == query["name"][0]]
        if "fingerprint" in query:
            items = [k for k in items if k["fingerprint"] == query["fingerprint"][0]]
        return 200, self._paginate(query, "ssh_keys", items)

    def get_ssh_key(self, query: dict[str, list[str]], body: Any, kid: str) -> tuple[int, Any]:
        key = self.ssh_keys.get(int(kid))
        if key is None:
            raise _not_found("ssh_key", kid)
        return 200, {"ssh_key": copy.deepcopy(key)}

    def create_ssh_key(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        key = self._create_ssh_key(body["name"], body["public_key"], body.get("labels", {}))
        return 201, {"ssh_key": copy.deepcopy(key)}

    def delete_ssh_key(self, query: dict[str, list[str]], body: Any, kid: str) -> tuple[int, Any]:
        if self.ssh_keys.pop(int(kid), None) is None:
            raise _not_found("ssh_key", kid)
        return 204, None

    def list_server_types(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        items = [_server_type_json(r) for r in _SERVER_TYPES]
        if "name" in query:
            items = [i for i in items if i["name"] == query["name"][0]]
        return 200, self._paginate(query, "server_types", items)

    def get_server_type(self, query: dict[str, list[str]], body: Any, tid: str) -> tuple[int, Any]:
        for row in _SERVER_TYPES:
            if row[0] == int(tid):
                return 200, {"server_type": _server_type_json(row)}
        raise _not_found("server_type", tid)

    def list_images(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        items = [_image_json(r) for r in _IMAGES]
        if "name" in query:
            items = [i for i in items if i["name"] == query["name"][0]]
        if "architecture" in query:
            items = [i for i in items if i["architecture"] in query["architecture"]]
        if "type" in query:
            items = [i for i in items if i["type"] in query["type"]]
        return 200, self._paginate(query, "images", items)

    def get_image(self, query: dict[str, list[str]], body: Any, iid: str) -> tuple[int, Any]:
        for row in _IMAGES:
            if row[0] == int(iid):
                return 200, {"image": _image_json(row)}
        raise _not_found("image", iid)

    def list_locations(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        items = [_location_json(loc) for loc in _LOCATIONS]
        if "name" in query:
            items = [i for i in items if i["name"] == query["name"][0]]
        return 200, self._paginate(query, "locations", items)

    def get_location(self, query: dict[str, list[str]], body: Any, lid: str) -> tuple[int, Any]:
        for loc in _LOCATIONS:
            if loc["id"] == int(lid):
                return 200, {"location": _location_json(loc)}
        raise _not_found("location", lid)


def _one_page(total: int) -> dict[str, Any]:
    return {
        "page": 1,
        "per_page": max(total, 1),
        "previous_page": None,
        "next_page": None,
        "last_page": 1,
        "total_entries": total,
    }


def _error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


_ID = r"(\d+)"
_ROUTES: tuple[tuple[str, str, str, Callable[..., tuple[int, Any]]], ...] = (
    ("GET", r"/servers", "/servers", FakeHetznerCloud.list_servers),
    ("POST", r"/servers", "/servers", FakeHetznerCloud.create_server),
    ("GET", rf"/servers/{_ID}", "/servers/{id}", FakeHetznerCloud.get_server),
    ("DELETE", rf"/servers/{_ID}", "/servers/{id}", FakeHetznerCloud.delete_server),
    (
        "GET",
        rf"/servers/{_ID}/actions",
        "/servers/{id}/actions",
        FakeHetznerCloud.list_server_actions,
    ),
    (
        "GET",
        rf"/servers/{_ID}/actions/{_ID}",
        "/servers/{id}/actions/{action_id}",
        FakeHetznerCloud.get_server_action,
    ),
    ("GET", rf"/servers/actions/{_ID}", "/servers/actions/{id}", FakeHetznerCloud.get_action),
    ("GET", r"/actions", "/actions", FakeHetznerCloud.list_actions),
    ("GET", rf"/actions/{_ID}", "/actions/{id}", FakeHetznerCloud.get_action),
    ("GET", r"/ssh_keys", "/ssh_keys", FakeHetznerCloud.list_ssh_keys),
    ("POST", r"/ssh_keys", "/ssh_keys", FakeHetznerCloud.create_ssh_key),
    ("GET", rf"/ssh_keys/{_ID}", "/ssh_keys/{id}", FakeHetznerCloud.get_ssh_key),
    ("DELETE", rf"/ssh_keys/{_ID}", "/ssh_keys/{id}", FakeHetznerCloud.delete_ssh_key),
    ("GET", r"/server_types", "/server_types", FakeHetznerCloud.list_server_types),
    ("GET", rf"/server_types/{_ID}", "/server_types/{id}", FakeHetznerCloud.get_server_type),
    ("GET", r"/images", "/images", FakeHetznerCloud.list_images),
    ("GET", rf"/images/{_ID}", "/images/{id}", FakeHetznerCloud.get_image),
    ("GET", r"/locations", "/locations", FakeHetznerCloud.list_locations),
    ("GET", rf"/locations/{_ID}", "/locations/{id}", FakeHetznerCloud.get_location),
    *(
        (
            "POST",
            rf"/servers/{_ID}/actions/({verb})",
            f"/servers/{{id}}/actions/{verb}",
            FakeHetznerCloud.server_action,
        )
        for verb in _SERVER_ACTION_COMMANDS
    ),
)


def _route(
    method: str, path: str
) -> tuple[str, Callable[..., tuple[int, Any]], tuple[str, ...]] | None:
    for route_method, pattern, spec_path_, handler in _ROUTES:
        if route_method != method:
            continue
        match = re.fullmatch(pattern, path)
        if match:
            return spec_path_, handler, match.groups()
    return None


# Fields typed "ID or name" in the API: the spec says string, clients also send integers.
_ID_OR_NAME_FIELDS = ("image", "server_type", "location")


def _loosen_id_or_name(schema: dict[str, Any]) -> dict[str, Any]:
    loose = copy.deepcopy(schema)
    props = loose.get("properties", {})
    for field in _ID_OR_NAME_FIELDS:
        if props.get(field, {}).get("type") == "string":
            props[field]["type"] = ["string", "integer"]
    keys = props.get("ssh_keys")
    if keys and keys.get("items", {}).get("type") == "string":
        keys["items"]["type"] = ["string", "integer"]
    return loose


class _Handler(BaseHTTPRequestHandler):
    api: FakeHetznerCloud
    protocol_version = "HTTP/1.1"
    server_version = "fake-hcloud/1"
    # One write per response and no Nagle delay: keep-alive requests answer in milliseconds.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = self.api.handle(self.command, self.path, headers, raw)
        spec_path_ = extra.pop("_spec_path", None)
        if spec_path_ is None:
            route = _route(self.command, urlsplit(self.path).path[3:])
            spec_path_ = route[0] if route else None
        if body is not None and spec_path_ is not None:
            problems = self.api.validate_response(spec_path_, self.command.lower(), status, body)
            if problems:
                with self.api._lock:
                    self.api.schema_mismatches.extend(problems)
                status = 500
                body = _error_body("fake_schema_mismatch", "; ".join(problems))
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status, HTTPStatus(status).phrase if status in _PHRASES else None)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("X-Correlation-Id", secrets.token_hex(8))
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_DELETE = _serve


_PHRASES = {s.value for s in HTTPStatus}


def fake_hetzner_cloud(**kwargs: Any) -> Iterator[FakeHetznerCloud]:
    """Body of a pytest fixture: start the fake, yield it, stop it, then assert it is clean."""
    fake = FakeHetznerCloud(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
    fake.assert_clean()
