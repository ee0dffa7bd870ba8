"""A loopback fake of the Hetzner Cloud metadata service (a test double).

Tests never send traffic to 169.254.169.254; this fake serves the same paths under a configurable
base (``/hetzner/v1/metadata`` by default) on 127.0.0.1:

- ``<base>``: the whole YAML document (availability-zone, hostname, instance-id, local-ipv4,
  network-config, public-ipv4, public-keys, region, vendor_data);
- ``<base>/hostname``, ``/instance-id``, ``/public-ipv4``: plain text;
- ``<base>/network-config``: cloud-init v1 YAML (IPv4 by DHCP, IPv6 static ``<prefix>::1/64``
  with gateway ``fe80::1``, Hetzner's resolvers);
- ``<base>/private-networks``: YAML list;
- ``/hetzner/v1/userdata``: the user data.

The YAML is written the way PyYAML's default emitter writes it (sorted keys, sequences not
indented under their key, long scalars wrapped at 80 columns, quoted where a plain scalar would
change type), which is what the real service answers.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers.fakes import LoopbackServer

HETZNER_NAMESERVERS_V4 = ("185.12.64.1", "185.12.64.2")
HETZNER_NAMESERVERS_V6 = ("2a01:4ff:ff00::add:2", "2a01:4ff:ff00::add:1")
DEFAULT_BASE_PATH = "/hetzner/v1/metadata"
WIDTH = 80

_PLAIN_SAFE = re.compile(r"(?!- |-$)[A-Za-z0-9_./+=()-][^\n\t]*")
# Plain scalars that YAML 1.1 (PyYAML) or 1.2 would read as something other than a string.
_RESOLVES = re.compile(
    r"~|null|Null|NULL|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|<<|=|[-+]?[0-9]+"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*"
)


def _wrap_plain(text: str, first_width: int, indent: int) -> list[str]:
    """Wrap a plain scalar at spaces like PyYAML does (continuations indented by ``indent``)."""
    if len(text) <= first_width or " " not in text or "  " in text or text[0] in "'\"":
        return [text]
    words = text.split(" ")
    lines = [words[0]]
    width = first_width
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) > width:
            lines.append(word)
            width = WIDTH - indent
        else:
            lines[-1] += " " + word
    return [lines[0]] + [" " * indent + line for line in lines[1:]]


_ESCAPE_TOKEN = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)|.", re.DOTALL)


def _wrap_double(text: str, first_width: int, indent: int) -> list[str]:
    """Split a long double-quoted scalar after ``\\n`` escapes, with escaped line breaks.

    Like PyYAML, never inside an escape, and not where the next line would start with a space
    (a continuation line's leading spaces are not part of the value).
    """
    if len(text) <= first_width:
        return [text]
    tokens = _ESCAPE_TOKEN.findall(text)
    lines: list[str] = []
    current = ""
    width = first_width
    for index, token in enumerate(tokens):
        current += token
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token == "\\n" and len(current) >= width // 2 and following not in ("", " ", '"'):
            lines.append(current + "\\")
            current = ""
            width = WIDTH - indent
    lines.append(current)
    return [lines[0]] + [" " * indent + line for line in lines[1:]]


def to_yaml(data: Any) -> str:
    """A YAML text of ``data`` in PyYAML's default block style (as the service answers)."""
    import yaml

    text: str = yaml.safe_dump(data, default_flow_style=False, sort_keys=True)
    return text


class FakeMetadataService(LoopbackServer):
    """The fake service. Use as a context manager; :attr:`base_url` is the metadata URL."""

    thread_name = "fake-hetzner-metadata"

    def __init__(
        self,
        *,
        hostname: str = "web1",
        instance_id: int = 1001,
        public_ipv4: str | None = "203.0.113.10",
        ipv6_network: str | None = "2001:db8:a::/64",
        mac_address: str = "96:00:03:a1:b2:c3",
        availability_zone: str = "nbg1-dc3",
        region: str = "eu-central",
        public_keys: tuple[str, ...] = (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcVfsfF4R1P7qKVkVq0Xq7m0Fhx6VnqkIuFGJ6r8r9F"
            " operator@controller.example.org",
        ),
        private_networks: tuple[dict[str, Any], ...] = (),
        user_data: str = "",
        base_path: str = DEFAULT_BASE_PATH,
        host: str = "127.0.0.1",
    ) -> None:
        self.hostname = hostname
        self.instance_id = instance_id
        self.public_ipv4 = public_ipv4
        self.ipv6_network = ipv6_network
        self.mac_address = mac_address
        self.availability_zone = availability_zone
        self.region = region
        self.public_keys = public_keys
        self.private_networks = private_networks
        self.user_data = user_data
        self.base_path = "/" + base_path.strip("/")
        self.host = host
        self.requests: list[str] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def for_server(cls, server: dict[str, Any], **kwargs: Any) -> FakeMetadataService:
        """The metadata a server of the fake Cloud API would see (``server`` is its JSON)."""
        ipv4 = server["public_net"]["ipv4"]
        ipv6 = server["public_net"]["ipv6"]
        return cls(
            hostname=server["name"],
            instance_id=server["id"],
            public_ipv4=ipv4["ip"] if ipv4 else None,
            ipv6_network=ipv6["ip"] if ipv6 else None,
            availability_zone=f"{server['location']['name']}-dc3",
            region=server["location"]["network_zone"],
            **kwargs,
        )

    # -- documents -------------------------------------------------------------------------------

    def network_config(self) -> dict[str, Any]:
        subnets: list[dict[str, Any]] = [
            {"dns_nameservers": list(HETZNER_NAMESERVERS_V4), "ipv4": True, "type": "dhcp"}
        ]
        if self.ipv6_network:
            net = ipaddress.IPv6Network(self.ipv6_network)
            subnets.append(
                {
                    "address": f"{net.network_address + 1}/{net.prefixlen}",
                    "dns_nameservers": list(HETZNER_NAMESERVERS_V6),
                    "gateway": "fe80::1",
                    "ipv6": True,
                    "type": "static",
                }
            )
        return {
            "config": [
                {
                    "mac_address": self.mac_address,
                    "name": "eth0",
                    "subnets": subnets,
                    "type": "physical",
                }
            ],
            "version": 1,
        }

    def document(self) -> dict[str, Any]:
        return {
            "availability-zone": self.availability_zone,
            "hostname": self.hostname,
            "instance-id": self.instance_id,
            "local-ipv4": "",
            "network-config": self.network_config(),
            "public-ipv4": self.public_ipv4 or "",
            "public-keys": list(self.public_keys),
            "region": self.region,
            "vendor_data": "#cloud-config\nbootcmd:\n- echo 'vendor data of the fake metadata"
            " service'\nruncmd:\n- [systemctl, restart, ssh]\n",
        }

    def answer(self, path: str) -> tuple[int, str]:
        """The status and text for a request path."""
        base = self.base_path
        items: dict[str, Any] = {
            base: lambda: to_yaml(self.document()),
            f"{base}/hostname": lambda: self.hostname,
            f"{base}/instance-id": lambda: str(self.instance_id),
            f"{base}/public-ipv4": lambda: self.public_ipv4 or "",
            f"{base}/network-config": lambda: to_yaml(self.network_config()),
            f"{base}/private-networks": lambda: to_yaml(list(self.private_networks)),
            f"{base}/availability-zone": lambda: self.availability_zone,
            f"{base}/region": lambda: self.region,
            f"{base.rsplit('/', 1)[0]}/userdata": lambda: self.user_data,
        }
        make = items.get(path.rstrip("/") if path != "/" else path)
        if make is None:
            return 404, "not found\n"
        return 200, make()

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The metadata URL, like ``http://169.254.169.254/hetzner/v1/metadata``."""
        if self._httpd is None:
            raise RuntimeError("the fake metadata service is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{self.base_path}"

    def start(self) -> FakeMetadataService:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                status, text = fake.answer(self.path.split("?", 1)[0])
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._serve(Handler)
        return self
