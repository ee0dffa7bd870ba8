"""The Hetzner plugin as a whole: refinement from the metadata service on a netns host, and
``nixremote hetzner recreate`` against the fake API up to a pinned SSH answer."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers.fakes.hetzner_api import DEFAULT_TOKEN, FakeHetznerCloud
from helpers.json_output import result_data
from helpers.netns import NetnsHost
from helpers.paths import TESTS
from nixremote.core.hostkeys import fingerprint
from nixremote.core.models import Interface, IPAddress, Route, RuntimeInfo
from nixremote.hosters.hetzner.metadata import HetznerMetadata, PublicInterface
from nixremote.hosters.hetzner.refine import RESOLVERS, refine
from nixremote.testing.sshd import LoopbackSshd, free_port


def _cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        timeout=120,
    )


# --- pure refinement ----------------------------------------------------------------------------


def _rescue_like() -> RuntimeInfo:
    return RuntimeInfo(
        host_name="rescue",
        host_id="12345678",
        disk_to_format="/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_1",
        interfaces=(
            Interface(
                name="eth0",
                mac="96:00:00:12:34:56",
                driver="virtio_net",
                predictable_name="enp1s0",
                ipv4=(IPAddress(address="203.0.113.10", prefix_length=32, dynamic=True),),
            ),
        ),
        routes=(Route(family=4, destination="default", gateway="172.31.1.1", device="eth0"),),
        nameservers=("198.51.100.53",),
        hoster="hetzner",
    )


def test_refine_applies_hetzner_guarantees() -> None:
    metadata = HetznerMetadata(
        hostname="web1.example.org",
        instance_id=4711,
        public_ipv4="203.0.113.10",
        interface=PublicInterface(
            name="eth0",
            mac_address="96:00:00:12:34:56",
            ipv4_dhcp=True,
            ipv6_address="2001:db8:a::1",
            ipv6_prefix_length=64,
            ipv6_gateway="fe80::1",
        ),
        region="eu-central",
    )
    info = refine(_rescue_like(), metadata)
    assert info.nameservers == RESOLVERS
    assert info.host_name == "web1"
    assert info.detail("serverId") == "4711" and info.detail("network") == "cloud"
    iface = info.interfaces[0]
    assert [(a.address, a.prefix_length) for a in iface.ipv6] == [("2001:db8:a::1", 64)]
    assert {(r.family, r.gateway, r.on_link) for r in info.routes} == {
        (4, "172.31.1.1", True),
        (6, "fe80::1", False),
    }
    # Legacy fields follow: the original installer's consumers see Hetzner's gateways.
    from nixremote.core.converter import legacy_fields

    legacy = legacy_fields(info)
    assert legacy["ipv4"]["gateway"] == "172.31.1.1"
    assert legacy["ipv6"] == {"address": "2001:db8:a::1", "prefixLength": 64, "gateway": "fe80::1"}


def test_refine_without_metadata_on_a_dedicated_server_only_sets_resolvers() -> None:
    base = _rescue_like()
    dedicated = base.__class__(
        **{
            **{
                a: getattr(base, a)
                for a in ("host_name", "host_id", "disk_to_format", "interfaces", "hoster")
            },
            "routes": (
                Route(family=4, destination="default", gateway="203.0.113.1", device="eth0"),
            ),
        }
    )
    info = refine(dedicated, None)
    assert info.nameservers == RESOLVERS
    assert info.detail("network") == "dedicated"
    assert info.routes == dedicated.routes


# --- the netns host with a metadata service ------------------------------------------------------

_RUNNER = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, sys.argv[1])
    from helpers.fakes.metadata import FakeMetadataService
    fake = FakeMetadataService(hostname="web1", instance_id=4711, public_ipv4="203.0.113.10",
                               ipv6_network="2001:db8:a::/64", mac_address="96:00:00:12:34:56")
    fake.start()
    print(fake.base_url, flush=True)
    log = sys.argv[2]
    for _ in range(6000):
        with open(log + ".tmp", "w") as out:
            json.dump(fake.requests, out)
        os.replace(log + ".tmp", log)  # atomically: the test may read at any moment
        time.sleep(0.05)
    """
)


@pytest.fixture
def metadata_in_netns(hoster_like_host: NetnsHost, tmp_path: Path):
    """The fake metadata service on the test host's own loopback (inside its namespace)."""
    log = tmp_path / "requests.json"
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            hoster_like_host.ns,
            sys.executable,
            "-c",
            _RUNNER,
            str(TESTS),
            str(log),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    yield url, log
    proc.kill()
    proc.wait()


def _requests(log: Path) -> list[str]:
    time.sleep(0.2)
    return json.loads(log.read_text()) if log.exists() else []


def _info_args(host: NetnsHost) -> list[str]:
    return [
        "info",
        host.sshd.target,
        "-i",
        str(host.sshd.identity),
        "--known-hosts",
        str(host.sshd.known_hosts),
        "--json",
    ]


def test_info_on_a_hetzner_like_host_yields_hetzner_network(
    hoster_like_host: NetnsHost, metadata_in_netns: tuple[str, Path]
) -> None:
    url, log = metadata_in_netns
    env = {**os.environ, "NIXREMOTE_HETZNER_METADATA_URL": url}
    proc = _cli(*_info_args(hoster_like_host), "--hoster", "hetzner", env=env)
    assert proc.returncode == 0, proc.stderr
    data = result_data(proc.stdout)
    assert data["hoster"] == "hetzner"
    assert data["nameservers"] == list(RESOLVERS)
    assert data["hostName"] == "web1"
    assert data["hosterDetails"]["serverId"] == "4711"
    assert data["hosterDetails"]["network"] == "cloud"
    defaults = {
        (r["family"], r["gateway"], r["onLink"], r["device"])
        for r in data["routes"]
        if r["destination"] == "default"
    }
    assert defaults == {(4, "172.31.1.1", True, "eth0"), (6, "fe80::1", False, "eth0")}
    assert data["ipv4"]["gateway"] == "172.31.1.1" and data["networkInterface"] == "enp1s0"
    assert any(r.startswith("/hetzner/v1/metadata") for r in _requests(log))


def test_metadata_is_not_queried_unless_the_host_is_hetzner(
    hoster_like_host: NetnsHost, metadata_in_netns: tuple[str, Path]
) -> None:
    url, log = metadata_in_netns
    env = {**os.environ, "NIXREMOTE_HETZNER_METADATA_URL": url}
    proc = _cli(*_info_args(hoster_like_host), env=env)
    assert proc.returncode == 0, proc.stderr
    data = result_data(proc.stdout)
    assert data["hoster"] == "generic"  # this machine's DMI vendor is not Hetzner
    assert "198.51.100.53" in data["nameservers"]
    assert _requests(log) == []


# --- recreate: delete, create, wait, SSH ready with the pinned key --------------------------------


def test_recreate_runs_the_whole_loop(tmp_path: Path) -> None:
    started: list[LoopbackSshd] = []
    with FakeHetznerCloud(action_polls=3, ipv4_template="127.0.0.1") as fake:
        old = fake.add_server("web1")
        neighbour = fake.add_server("web10")
        known_hosts = tmp_path / "known_hosts"
        identity = tmp_path / "id"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(identity)], check=True
        )
        env = {
            **os.environ,
            "HCLOUD_TOKEN": DEFAULT_TOKEN,
            "NIXREMOTE_HETZNER_POLL_INTERVAL": "0.02",
        }
        try:
            # cloud-init's part: when the server is created, an sshd starts on the port chosen
            # here, presenting the host key from the user data.
            port = free_port()
            fake.on_create = lambda s, ud: started.append(
                _cloud_init_sshd_on(tmp_path / f"srv{s['id']}", ud, port, identity)
            )
            proc = _cli(
                "hetzner",
                "recreate",
                "web1",
                "--yes",
                "--endpoint",
                fake.endpoint,
                "--known-hosts",
                str(known_hosts),
                "-i",
                str(identity),
                "--ssh-port",
                str(port),
                "--ssh-timeout",
                "60",
                "--json",
                env=env,
            )
            assert proc.returncode == 0, proc.stderr
            result = result_data(proc.stdout)
            assert fake.server_by_name("web10")["id"] == neighbour["id"]
            new = fake.server_by_name("web1")
            assert new is not None and new["id"] != old["id"] and result["id"] == new["id"]
            assert old["id"] not in fake.servers
            pinned = Path(f"{started[0].host_key}.pub").read_text()
            assert result["hostKeyFingerprint"] == fingerprint(pinned)
            assert known_hosts.read_text().split()[1:3] == pinned.split()[:2]
            assert started[0].exec_sessions() >= 1  # SSH answered, with the pinned key
            assert "delete_server" in fake.commands() and "create_server" in fake.commands()
        finally:
            for server in started:
                server.stop()
        fake.assert_clean()


def _cloud_init_sshd_on(
    workdir: Path, user_data: str | None, port: int, identity: Path
) -> LoopbackSshd:
    """Play cloud-init: an sshd on the server's address presenting the user data's host key."""
    server = LoopbackSshd(workdir, port=port, identity=identity).start()
    assert user_data is not None and user_data.startswith("#cloud-config")
    private = re.search(r"ed25519_private: \|\n((?:    .*\n)+)", user_data)
    public = re.search(r'ed25519_public: "(.*)"', user_data)
    assert private and public
    server.stop()
    server.host_key.write_text("".join(line[4:] + "\n" for line in private.group(1).splitlines()))
    server.host_key.chmod(0o600)
    Path(f"{server.host_key}.pub").write_text(public.group(1) + "\n")
    server.restart()
    return server


def _on_terminal(*args: str, env: dict[str, str], answer: str) -> tuple[int, str]:
    """Run the command with a terminal on stdin and type ``answer`` at its prompt."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nixremote.cli.main", *args],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    os.close(slave)
    os.write(master, answer.encode() + b"\n")
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(master)
    return proc.returncode, err


def test_recreate_asks_like_delete(tmp_path: Path) -> None:
    with FakeHetznerCloud(action_polls=1) as fake:
        old = fake.add_server("web1")
        env = {**os.environ, "HCLOUD_TOKEN": DEFAULT_TOKEN}
        args = ("hetzner", "recreate", "web1", "--endpoint", fake.endpoint, "--ssh-timeout", "0")
        # no terminal: refused as install refuses; a wrong name typed: nothing is deleted, the
        # API is not asked
        for stdin in (None, "web1\n"):  # piped text is not a terminal's answer
            proc = _cli(*args, env=env, stdin=stdin)
            assert proc.returncode == 4
            assert "without confirmation (no terminal to ask on)" in proc.stderr
        code, err = _on_terminal(*args, env=env, answer="web2")
        assert code == 1
        assert "Type the server name to delete and recreate 'web1'" in err
        assert "not confirmed; nothing deleted" in err
        assert fake.commands() == [] and fake.server_by_name("web1")["id"] == old["id"]
        # the name typed: it goes on
        code, err = _on_terminal(*args, "--no-host-key", env=env, answer="web1")
        assert code == 0, err
        assert "delete_server" in fake.commands()
        assert fake.server_by_name("web1")["id"] != old["id"]


def test_recreate_errors_are_one_line(tmp_path: Path) -> None:
    with FakeHetznerCloud() as fake:
        env = {**os.environ, "HCLOUD_TOKEN": "wrong-token"}
        proc = _cli("hetzner", "list", "--endpoint", fake.endpoint, env=env)
        assert proc.returncode == 5
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
        assert "HCLOUD_TOKEN" in proc.stderr
        env.pop("HCLOUD_TOKEN")
        proc = _cli("hetzner", "list", "--endpoint", fake.endpoint, env=env)
        assert proc.returncode == 2 and "no Hetzner Cloud API token" in proc.stderr
        fake.assert_clean()
