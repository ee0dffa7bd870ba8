"""Provisioning Hetzner Cloud servers through the official ``hcloud`` library.

:class:`HetznerCloud` wraps the operations nixremote needs (list, create, recreate, rescue, reset,
delete). Each one waits for the actions it starts, reports progress through an injected reporter
(:mod:`nixremote.core.progress`), and returns frozen models (:class:`ServerInfo`,
:class:`Provisioned`), never ``hcloud`` objects. Every failure -- an API error, an unreachable
endpoint, an action that ends in ``error`` or runs past the timeout -- is raised as
:class:`~nixremote.core.errors.ApiError` with a one-line message and a hint.

``hcloud`` is imported inside the functions that use it, so importing this module (or running
``nixremote --version``) does not load it.

Waiting for SSH to answer is the caller's part (it needs the transport): :attr:`ServerInfo.ssh_host`
is the address to try, and :attr:`Provisioned.host_key` is the host key to expect when the server
was created with one (:func:`host_key_user_data`). A rescue system's host key cannot be known in
advance.

The token comes from the caller: :func:`token_from_env_or_file` reads a token file, else
``HCLOUD_TOKEN``, else the hcloud CLI's active context (``~/.config/hcloud/cli.toml``, read
only). It is never taken from argv and never logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from attrs import field, frozen

from ...controller.keypair import KeyPair
from ...core.errors import ApiError, InvalidInputError
from ...core.progress import Reporter, report
from .token import TOKEN_ENV

if TYPE_CHECKING:
    from hcloud import Client
    from hcloud.actions import BoundAction
    from hcloud.servers import BoundServer

log = logging.getLogger(__name__)

ENDPOINT_ENV = "HCLOUD_ENDPOINT"
"""The environment variable Hetzner's tools read an endpoint override from (for the CLI)."""

DEFAULT_ENDPOINT = "https://api.hetzner.cloud/v1"

USER_DATA_LIMIT = 32 * 1024
"""The API refuses cloud-init user data larger than 32 KiB."""

PHASE = "hetzner"

_HOSTNAME = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


# ---------------------------------------------------------------------------------------------
# Models


@frozen(kw_only=True)
class ServerInfo:
    """What nixremote needs to know about a Hetzner Cloud server.

    ``ipv6_network`` is the server's routed ``/64`` as the API gives it (``2001:db8:1::/64``);
    Hetzner configures ``<prefix>::1`` on the server (:attr:`ipv6_address`).
    """

    id: int
    name: str
    status: str
    ipv4: str | None
    ipv6_network: str | None
    server_type: str
    architecture: str
    location: str | None
    image: str | None
    rescue_enabled: bool = False
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def ipv6_address(self) -> str | None:
        """The address Hetzner assigns the server in its ``/64``: ``<prefix>::1``."""
        if not self.ipv6_network:
            return None
        prefix = self.ipv6_network.split("/", 1)[0]
        return prefix + "1" if prefix.endswith("::") else prefix

    @property
    def ssh_host(self) -> str:
        """The address to reach the server over SSH: its IPv4, else its IPv6 address."""
        host = self.ipv4 or self.ipv6_address
        if host is None:
            raise ApiError(
                f"server {self.name!r} has no public IPv4 or IPv6 address",
                hint="give the server a public IP (primary IP) in the Hetzner console",
            )
        return host


@frozen(kw_only=True)
class Provisioned:
    """The result of create, recreate and rescue.

    ``root_password`` is what the API returned (``None`` when SSH keys were used for a new
    server); ``host_key`` is the host key the server will present if it was created with one,
    ``None`` otherwise (accept the key on first contact, for this host only).
    """

    server: ServerInfo
    root_password: str | None = field(default=None, repr=False)
    host_key: KeyPair | None = None


# ---------------------------------------------------------------------------------------------
# Token


def host_key_user_data(host_key: KeyPair) -> str:
    """``#cloud-config`` user data that installs ``host_key`` as the server's SSH host key.

    cloud-init's ``ssh`` module deletes the image's host keys (``ssh_deletekeys``), writes the
    given ed25519 pair (``ssh_keys``) and generates no others (``ssh_genkeytypes: []``), so the
    server presents exactly the key the controller already knows.
    """
    private_lines = host_key.private_openssh.strip().splitlines()
    lines = [
        "#cloud-config",
        "ssh_deletekeys: true",
        "ssh_genkeytypes: []",
        "ssh_keys:",
        "  ed25519_private: |",
        *(f"    {line}" for line in private_lines),
        # A JSON string is a valid YAML double-quoted scalar.
        f"  ed25519_public: {json.dumps(host_key.public_openssh.strip())}",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Errors

# code -> (what happened, what to do)
_ERRORS: dict[str, tuple[str, str]] = {
    "unauthorized": (
        "the Hetzner Cloud API rejected the token",
        f"check {TOKEN_ENV} or --token-file: use an API token of the server's project",
    ),
    "forbidden": (
        "the token may not do this",
        "use an API token with Read & Write permission",
    ),
    "not_found": (
        "not found",
        "check the name with `nixremote hetzner list`",
    ),
    "locked": (
        "the server is locked by another action that is still running",
        "wait until it finishes, then retry",
    ),
    "rate_limit_exceeded": (
        "rate-limited by the Hetzner Cloud API",
        "wait a few minutes, then retry (the API allows 3600 requests an hour)",
    ),
    "uniqueness_error": (
        "the name is already used in the project",
        "pick another name, or use recreate to replace the server",
    ),
    "invalid_input": (
        "the API refused the input",
        "check the server type, image, location and SSH key names",
    ),
    "resource_limit_exceeded": (
        "a project limit is reached",
        "delete unused resources or ask Hetzner to raise the limit",
    ),
    "resource_unavailable": (
        "the requested resource is not available",
        "try another location or server type",
    ),
    "conflict": (
        "the resource changed while the request ran",
        "retry",
    ),
    "maintenance": (
        "the Hetzner Cloud API is in maintenance",
        "retry later",
    ),
}

_STATUS_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    423: "locked",
    429: "rate_limit_exceeded",
}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def api_error_from(exc: Exception, what: str, endpoint: str = DEFAULT_ENDPOINT) -> ApiError:
    """Map an ``hcloud`` or ``requests`` exception to an :class:`ApiError` for ``what``."""
    from hcloud import APIException

    if isinstance(exc, APIException):
        code = exc.code
        key = _STATUS_CODES.get(code, "") if isinstance(code, int) else str(code)
        summary, hint = _ERRORS.get(
            key,
            (
                "the Hetzner Cloud API answered with an error",
                "retry later; if it persists, check https://status.hetzner.com",
            ),
        )
        detail = _one_line(exc.message)
        fields = _invalid_fields(exc.details)
        if fields:
            detail = f"{detail} [{fields}]"
        return ApiError(f"{what}: {summary}: {detail} ({code})", hint=hint)
    import requests

    if isinstance(exc, requests.exceptions.Timeout):
        return ApiError(
            f"{what}: the Hetzner Cloud API at {endpoint} did not answer in time",
            hint="check the network, then retry",
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return ApiError(
            f"{what}: cannot reach the Hetzner Cloud API at {endpoint} ({exc.__class__.__name__})",
            hint="check the network and the API endpoint, then retry",
        )
    return ApiError(f"{what}: {_one_line(str(exc))}", hint="retry; report a bug if it persists")


def _invalid_fields(details: Any) -> str:
    if not isinstance(details, dict):
        return ""
    fields = details.get("fields")
    if not isinstance(fields, list):
        return ""
    parts = []
    for entry in fields:
        if isinstance(entry, dict) and "name" in entry:
            messages = entry.get("messages") or []
            text = "; ".join(str(m) for m in messages) if isinstance(messages, list) else ""
            parts.append(f"{entry['name']}: {text}" if text else str(entry["name"]))
    return _one_line(", ".join(parts))


# ---------------------------------------------------------------------------------------------
# The client


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("nixremote")
    except Exception:  # pragma: no cover - running from a source tree without metadata
        return "0"


class HetznerCloud:
    """Provisioning operations on one Hetzner Cloud project (the token's).

    ``endpoint`` overrides the API base URL (tests point it at a loopback fake).
    ``poll_interval`` is the pause between reads of a running action, ``timeout`` the longest
    one action may run before :class:`ApiError`, ``request_timeout`` the HTTP timeout of one
    request. ``reporter`` receives :class:`nixremote.core.progress.Event` objects.

    Requests that fail with ``rate_limit_exceeded``, ``conflict``, 502 or 504 are retried by
    ``hcloud`` itself (up to 5 times, exponential backoff from 1 s with jitter, capped at 60 s)
    before they surface here.
    """

    def __init__(
        self,
        token: str,
        *,
        endpoint: str | None = None,
        poll_interval: float = 1.0,
        timeout: float = 600.0,
        request_timeout: float = 30.0,
        reporter: Reporter | None = None,
    ) -> None:
        if not token:
            raise InvalidInputError(
                "no Hetzner Cloud API token",
                hint=f"set {TOKEN_ENV} or pass --token-file FILE",
            )
        if poll_interval <= 0 or timeout <= 0:
            raise InvalidInputError("poll interval and timeout must be positive")
        from hcloud import Client

        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.reporter = reporter
        self._client: Client = Client(
            token=token,
            api_endpoint=self.endpoint,
            application_name="nixremote",
            application_version=_version(),
            poll_interval=poll_interval,
            timeout=request_timeout,
        )

    def __repr__(self) -> str:
        return f"HetznerCloud(endpoint={self.endpoint!r})"

    # -- helpers ---------------------------------------------------------------------------------

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        import requests
        from hcloud import HCloudException

        try:
            yield
        except (HCloudException, requests.exceptions.RequestException) as exc:
            raise api_error_from(exc, what, self.endpoint) from exc

    def _report(self, kind: str, message: str, **kw: Any) -> None:
        report(self.reporter, kind, message, phase=PHASE, **kw)

    def _wait(self, action: BoundAction, what: str) -> None:
        """Poll ``action`` until it ends; :class:`ApiError` on ``error`` or past the timeout."""
        command = action.command or "action"
        started = time.monotonic()
        last_progress: int | None = None
        while True:
            with self._calling(f"{what}: reading action {command} #{action.id}"):
                action.reload()
            status = action.status
            progress = action.progress
            if progress != last_progress:
                last_progress = progress
                self._report(
                    "progress",
                    f"{what}: {command}",
                    current=progress or 0,
                    total=100,
                    unit="percent",
                    data={"action": command, "actionId": action.id},
                )
            if status == "success":
                return
            if status == "error":
                err: Mapping[str, Any] = action.error or {}
                reason = _one_line(err.get("message") or "no reason given")
                code = err.get("code") or "error"
                raise ApiError(
                    f"{what}: action {command} #{action.id} failed: {reason} ({code})",
                    hint="see the server's actions in the Hetzner console; retry, or recreate",
                )
            waited = time.monotonic() - started
            if waited >= self.timeout:
                raise ApiError(
                    f"{what}: action {command} #{action.id} still running after"
                    f" {waited:.1f} s (timeout {self.timeout:g} s)",
                    hint="check the server in the Hetzner console, then retry with a longer"
                    " timeout",
                )
            time.sleep(min(self.poll_interval, max(self.timeout - waited, 0.0)))

    def _find_bound(self, name: str) -> BoundServer | None:
        with self._calling(f"looking up server {name!r}"):
            servers = self._client.servers.get_all(name=name)
        exact = [s for s in servers if s.name == name]
        if len(exact) > 1:
            raise ApiError(
                f"{len(exact)} servers are named {name!r}",
                hint="rename or delete the extra ones in the Hetzner console",
            )
        return exact[0] if exact else None

    def _require(self, name: str, what: str) -> BoundServer:
        server = self._find_bound(name)
        if server is None:
            raise ApiError(
                f"{what}: no server named {name!r} in this project",
                hint="check the name with `nixremote hetzner list` (and that the token is the"
                " right project's)",
            )
        return server

    def _ssh_key_ids(self, names: Sequence[str | int], what: str) -> list[int]:
        ids: list[int] = []
        for key in names:
            if isinstance(key, int):
                ids.append(key)
                continue
            with self._calling(f"{what}: looking up SSH key {key!r}"):
                found = self._client.ssh_keys.get_by_name(key)
            if found is None or found.id is None:
                raise ApiError(
                    f"{what}: no SSH key named {key!r} in this project",
                    hint="upload it in the Hetzner console (Security > SSH keys) or with"
                    " `hcloud ssh-key create`, or check the name",
                )
            ids.append(int(found.id))
        return ids

    def _reload(self, server_id: int, what: str) -> ServerInfo:
        with self._calling(what):
            return server_info(self._client.servers.get_by_id(server_id))

    # -- operations ------------------------------------------------------------------------------

    def list_servers(self) -> tuple[ServerInfo, ...]:
        """Every server of the project, by name."""
        with self._calling("listing servers"):
            servers = self._client.servers.get_all()
        return tuple(sorted((server_info(s) for s in servers), key=lambda s: s.name))

    def find(self, name: str) -> ServerInfo | None:
        """The server named exactly ``name``, or ``None``."""
        server = self._find_bound(name)
        return None if server is None else server_info(server)

    def get(self, name: str) -> ServerInfo:
        """The server named exactly ``name``; :class:`ApiError` if there is none."""
        return server_info(self._require(name, f"getting server {name!r}"))

    def create(
        self,
        name: str,
        *,
        server_type: str,
        image: str,
        location: str | None = None,
        ssh_keys: Sequence[str | int] = (),
        user_data: str | None = None,
        host_key: KeyPair | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Provisioned:
        """Create a server and wait until it runs.

        ``ssh_keys`` are names (or IDs) of SSH keys in the project, authorised for root.
        ``host_key`` installs that SSH host key through cloud-init (see
        :func:`host_key_user_data`); it cannot be combined with ``user_data``.
        """
        what = f"creating server {name!r}"
        if not _HOSTNAME.fullmatch(name) or len(name) > 253:
            raise InvalidInputError(
                f"{name!r} is not a valid server name",
                hint="use letters, digits, '-' and '.' (a hostname as per RFC 1123)",
            )
        if host_key is not None:
            if user_data is not None:
                raise InvalidInputError(
                    "user_data and host_key cannot both be given",
                    hint="build one #cloud-config that also carries the ssh_keys entry",
                )
            user_data = host_key_user_data(host_key)
        if user_data is not None and len(user_data.encode("utf-8")) > USER_DATA_LIMIT:
            raise InvalidInputError(
                f"user data is {len(user_data.encode('utf-8'))} bytes, over the API's 32 KiB",
                hint="shorten the cloud-config",
            )
        from hcloud.images import Image
        from hcloud.locations import Location
        from hcloud.server_types import ServerType
        from hcloud.ssh_keys import SSHKey

        key_ids = self._ssh_key_ids(ssh_keys, what)
        self._report(
            "step",
            f"creating server {name!r} ({server_type}, {image}, {location or 'any location'})",
        )
        with self._calling(what):
            response = self._client.servers.create(
                name=name,
                server_type=ServerType(name=server_type),
                image=Image(name=image),
                location=Location(name=location) if location else None,
                ssh_keys=[SSHKey(id=i) for i in key_ids] or None,
                user_data=user_data,
                labels=dict(labels) if labels else None,
            )
        server_id = _server_id(response.server)
        log.info("server %s created as #%s", name, server_id)
        self._wait(response.action, what)
        for action in response.next_actions or ():
            self._wait(action, what)
        info = self._reload(server_id, what)
        self._report("done", f"server {name!r} is {info.status} at {info.ssh_host}")
        return Provisioned(server=info, root_password=response.root_password, host_key=host_key)

    def recreate(
        self,
        name: str,
        *,
        server_type: str,
        image: str,
        location: str | None = None,
        ssh_keys: Sequence[str | int] = (),
        user_data: str | None = None,
        host_key: KeyPair | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Provisioned:
        """Delete the server named exactly ``name`` if there is one, then create it anew.

        Only a server whose name equals ``name`` is ever deleted.
        """
        existing = self._find_bound(name)
        if existing is not None and existing.name == name:
            self._delete_bound(existing, f"recreating server {name!r}")
        else:
            self._report("skip", f"no server named {name!r}: nothing to delete")
        return self.create(
            name,
            server_type=server_type,
            image=image,
            location=location,
            ssh_keys=ssh_keys,
            user_data=user_data,
            host_key=host_key,
            labels=labels,
        )

    def _delete_bound(self, server: BoundServer, what: str) -> None:
        self._report("step", f"deleting server {server.name!r} (#{server.id})")
        with self._calling(what):
            action = self._client.servers.delete(server)
        self._wait(action, what)
        self._report("done", f"server {server.name!r} deleted")

    def delete(self, name: str) -> ServerInfo:
        """Delete the server named exactly ``name``; returns what it was."""
        what = f"deleting server {name!r}"
        server = self._require(name, what)
        info = server_info(server)
        self._delete_bound(server, what)
        return info

    def reset(self, name: str) -> ServerInfo:
        """Hard-reset the server (power cycle) and wait for the action."""
        what = f"resetting server {name!r}"
        server = self._require(name, what)
        self._report("step", f"resetting server {name!r}")
        with self._calling(what):
            action = self._client.servers.reset(server)
        self._wait(action, what)
        info = self._reload(_server_id(server), what)
        self._report("done", f"server {name!r} reset")
        return info

    def rebuild(
        self,
        name: str,
        *,
        image: str,
        user_data: str | None = None,
        host_key: KeyPair | None = None,
    ) -> Provisioned:
        """Reinstall the server from ``image`` in place (same ID and addresses); all data is lost.

        ``host_key`` works as for :meth:`create`. The SSH keys the server was created with stay
        authorised.
        """
        what = f"rebuilding server {name!r}"
        if host_key is not None:
            if user_data is not None:
                raise InvalidInputError(
                    "user_data and host_key cannot both be given",
                    hint="build one #cloud-config that also carries the ssh_keys entry",
                )
            user_data = host_key_user_data(host_key)
        from hcloud.images import Image

        server = self._require(name, what)
        self._report("step", f"rebuilding server {name!r} from {image}")
        with self._calling(what):
            response = self._client.servers.rebuild(server, Image(name=image), user_data=user_data)
        self._wait(response.action, what)
        info = self._reload(_server_id(server), what)
        self._report("done", f"server {name!r} rebuilt from {image} at {info.ssh_host}")
        return Provisioned(server=info, root_password=response.root_password, host_key=host_key)

    def rescue(self, name: str, *, ssh_keys: Sequence[str | int] = ()) -> Provisioned:
        """Boot the server into Hetzner's ``linux64`` rescue system with ``ssh_keys``.

        Enabling rescue does not reboot, so a reset (or a power-on for a server that is off)
        follows. The rescue system's host key is new on every boot: ``host_key`` is ``None``.
        """
        what = f"booting server {name!r} into rescue"
        server = self._require(name, what)
        key_ids = self._ssh_key_ids(ssh_keys, what)
        self._report("step", f"enabling the rescue system of {name!r}")
        with self._calling(what):
            # The API takes integer key IDs (hcloud's annotation says list[str]).
            enabled = self._client.servers.enable_rescue(
                server, type="linux64", ssh_keys=cast(Any, key_ids) or None
            )
        self._wait(enabled.action, what)
        if server.status == "off":
            self._report("step", f"powering on {name!r} into rescue")
            with self._calling(what):
                boot = self._client.servers.power_on(server)
        else:
            self._report("step", f"resetting {name!r} into rescue")
            with self._calling(what):
                boot = self._client.servers.reset(server)
        self._wait(boot, what)
        info = self._reload(_server_id(server), what)
        self._report("done", f"server {name!r} booted the rescue system at {info.ssh_host}")
        return Provisioned(server=info, root_password=enabled.root_password, host_key=None)


def _server_id(server: Any) -> int:
    if server.id is None:  # pragma: no cover - the API always sends an id
        raise ApiError("the API returned a server without an id", hint="retry")
    return int(server.id)


def server_info(server: Any) -> ServerInfo:
    """A :class:`ServerInfo` from an ``hcloud`` server object."""
    public_net = getattr(server, "public_net", None)
    ipv4 = getattr(public_net, "ipv4", None) if public_net else None
    ipv6 = getattr(public_net, "ipv6", None) if public_net else None
    server_type = server.server_type
    location = getattr(server, "location", None)
    image = getattr(server, "image", None)
    labels = getattr(server, "labels", None) or {}
    return ServerInfo(
        id=int(server.id),
        name=str(server.name),
        status=str(server.status),
        ipv4=ipv4.ip if ipv4 is not None else None,
        ipv6_network=ipv6.ip if ipv6 is not None else None,
        server_type=str(server_type.name),
        architecture=str(server_type.architecture or "x86"),
        location=str(location.name) if location is not None else None,
        image=(str(image.name) if image.name else image.description) if image is not None else None,
        rescue_enabled=bool(getattr(server, "rescue_enabled", False)),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
    )
