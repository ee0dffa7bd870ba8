"""Untrusted runtime info validated by meaning: the models, the converter and the readers.

Each bad value of issue 14 is refused by the model itself (``InvalidValueError``, naming the
field) and by every reader of ``runtime-info.json`` and ``plan.json`` in one line with the JSON
path of the fault and what to do; ``nixremote runtime-info check`` exits 2 with that line.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from helpers.diskplans import INFO
from helpers.keys import KEYS
from helpers.paths import DATA
from nixremote.core import validate
from nixremote.core.converter import (
    dumps_plan,
    loads_plan,
    loads_runtime_info,
    runtime_info_to_json_data,
)
from nixremote.core.errors import InvalidValueError, PlanError, RuntimeInfoError
from nixremote.core.layout import default_layout
from nixremote.core.models import Disk, Interface, IPAddress, Route, RuntimeInfo
from nixremote.core.plan import build_plan
from nixremote.core.sshkeys import keys_from_text, parse_key_line, strip_options

ORIGINAL = json.loads((DATA / "original-runtime-info.json").read_text())
KEY = KEYS[0] + " alice@laptop"
RSA_ON_ED25519 = "ssh-rsa " + KEYS[1].split()[1]


def rich() -> dict[str, Any]:
    """A valid runtime info in the rich shape, with a disk list, as JSON data."""
    info = RuntimeInfo(
        host_name="web1.example.org",
        host_id="8425e349",
        disk_to_format="/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_1",
        root_authorized_keys=(KEY,),
        interfaces=(
            Interface(
                name="eth0",
                mac="52:54:00:12:34:56",
                driver="virtio_net",
                predictable_name="enp1s0",
                ipv4=(IPAddress(address="198.51.100.7", prefix_length=32),),
                ipv6=(IPAddress(address="2001:db8::1", prefix_length=64),),
            ),
        ),
        primary_interface="eth0",
        routes=(
            Route(family=4, destination="default", gateway="172.31.1.1", device="eth0"),
            Route(family=6, destination="2001:db8:1::/48", gateway="fe80::1", device="eth0"),
        ),
        nameservers=("185.12.64.1",),
        disks=(
            Disk(
                path="/dev/sda",
                by_id="/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_1",
                model="QEMU HARDDISK",
            ),
        ),
        arch="x86_64",
        hoster="hetzner",
        hoster_details=(("location", "nbg1"),),
    )
    return runtime_info_to_json_data(info)


def put(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


# (what, mutation of the rich shape, JSON path in the error, a word of the message)
RICH_CASES = [
    ("newline in host name", put("hostName", value="web\n1"), "$.hostName", "label"),
    ("quote in host name", put("hostName", value='web"1'), "$.hostName", "label"),
    ("Nix in host name", put("hostName", value='${builtins.abort "x"}'), "$.hostName", "label"),
    ("command in domain", put("hostName", value="a.$(reboot)"), "$.hostName", "label"),
    ("empty host name", put("hostName", value=""), "$.hostName", "empty"),
    ("host name label too long", put("hostName", value="a" * 64), "$.hostName", "label"),
    ("host name ends with -", put("hostName", value="web-"), "$.hostName", "label"),
    ("host id", put("hostId", value="xyz"), "$.hostId", "hex"),
    (
        "command after a MAC",
        put("interfaces", 0, "mac", value="52:54:00:12:34:56;touch${IFS}/tmp/x;#"),
        "$.interfaces[0].mac",
        "six hex octets",
    ),
    ("MAC of 5 octets", put("interfaces", 0, "mac", value="52:54:00:12:34"), "mac", "octets"),
    ("command as interface", put("interfaces", 0, "name", value="$(cmd)"), "name", "accepts"),
    ("long interface", put("interfaces", 0, "name", value="a" * 16), "name", "accepts"),
    ("interface with /", put("interfaces", 0, "name", value="eth/0"), "name", "accepts"),
    ("interface with space", put("interfaces", 0, "name", value="eth 0"), "name", "accepts"),
    ("option as interface", put("interfaces", 0, "name", value="-x"), "name", "accepts"),
    (
        "unit section in predictable name",
        put("interfaces", 0, "predictableName", value="enp1s0\n[Network]\nDNS=6.6.6.6"),
        "$.interfaces[0].predictableName",
        "accepts",
    ),
    ("driver", put("interfaces", 0, "driver", value="virtio;reboot"), "driver", "module"),
    (
        "zone in an address",
        put("interfaces", 0, "ipv6", 0, "address", value="fe80::1%eth0;reboot"),
        "$.interfaces[0].ipv6[0].address",
        "zone",
    ),
    (
        "v6 address in the v4 list",
        put("interfaces", 0, "ipv4", 0, "address", value="2001:db8::7"),
        "$.interfaces[0].ipv4[0].address",
        "IPv4",
    ),
    ("gateway with ;cmd", put("routes", 0, "gateway", value="172.31.1.1;cmd"), "gateway", "IP"),
    ("gateway of the other family", put("routes", 0, "gateway", value="fe80::1"), "gateway", "v4"),
    (
        "destination with ;cmd",
        put("routes", 1, "destination", value="10.0.0.0/8;cmd"),
        "$.routes[1].destination",
        "prefix",
    ),
    ("route device", put("routes", 0, "device", value="eth0`id`"), "$.routes[0].device", "accepts"),
    ("metric", put("routes", 0, "metric", value=-1), "$.routes[0].metric", "range"),
    (
        "nameserver with a newline",
        put("nameservers", value=["1.1.1.1\nnameserver 6.6.6.6"]),
        "$.nameservers[0]",
        "not an IP",
    ),
    (
        "second key after a newline",
        put("rootAuthorizedKeys", value=[KEY + "\n" + KEYS[1]]),
        "$.rootAuthorizedKeys[0]",
        "control character",
    ),
    ("not a key", put("rootAuthorizedKeys", value=["hello world"]), "[0]", "unknown key type"),
    ("bad base64", put("rootAuthorizedKeys", value=["ssh-ed25519 AAAA!!"]), "[0]", "base64"),
    ("type mismatch", put("rootAuthorizedKeys", value=[RSA_ON_ED25519]), "[0]", "whose blob"),
    ("DSA key", put("rootAuthorizedKeys", value=["ssh-dss AAAAB3NzaC1kc3M="]), "[0]", "DSA"),
    ("quote in arch", put("arch", value='x86_64"'), "$.arch", "knows"),
    ("disk sda", put("diskToFormat", value="sda"), "$.diskToFormat", "device path"),
    ("disk --zap-all", put("diskToFormat", value="--zap-all"), "$.diskToFormat", "device path"),
    ("disk with ..", put("diskToFormat", value="/dev/../etc/passwd"), "diskToFormat", "device"),
    (
        "disk not collected",
        put("diskToFormat", value="/dev/sdb"),
        "$.diskToFormat",
        "not among the host's disks",
    ),
    ("by-id with a space", put("disks", 0, "byId", value="/dev/disk/by-id/a b"), "byId", "device"),
    ("escape in a model", put("disks", 0, "model", value="\x1b]0;pwned\x07"), "model", "control"),
    ("hoster", put("hoster", value="het zner"), "$.hoster", "plain name"),
    (
        "newline in a hoster detail",
        put("hosterDetails", value={"location": "nbg1\nx"}),
        "$.hosterDetails.location",
        "control",
    ),
    ("primary interface", put("primaryInterface", value="$(id)"), "primaryInterface", "accepts"),
]


@pytest.mark.parametrize(
    ("what", "mutate", "path", "word"), RICH_CASES, ids=[c[0] for c in RICH_CASES]
)
def test_the_reader_names_the_json_path_and_what_to_do(
    what: str, mutate: Callable[[dict[str, Any]], None], path: str, word: str
) -> None:
    data = rich()
    loads_runtime_info(json.dumps(data))  # valid before the mutation
    mutate(data)
    with pytest.raises(RuntimeInfoError) as err:
        loads_runtime_info(json.dumps(data), source="info.json")
    text = str(err.value)
    assert "\n" not in text and "\r" not in text
    assert f"@ {path}" in text or path in text.split(" @ ")[1], text
    assert word in text
    assert err.value.hint and err.value.hint != "fix the field at that JSON path", text


LEGACY_CASES = [
    ("networkInterface", "$(cmd)", "$.networkInterface"),
    ("networkInterfaceModule", "virtio_net;id", "$.networkInterfaceModule"),
    ("ipv4", {"address": "1.2.3.4;id", "prefixLength": 32}, "$.ipv4.address"),
    ("ipv4", {"address": "2001:db8::1", "prefixLength": 32}, "$.ipv4.address"),
    ("ipv4", {"address": "1.2.3.4", "prefixLength": 32, "gateway": "1.1.1.1 x"}, "$.ipv4.gateway"),
    ("ipv6", {"address": "2001:db8::1", "prefixLength": 64, "gateway": "$(id)"}, "$.ipv6.gateway"),
    ("hostName", "legacy\n1", "$.hostName"),
    ("rootAuthorizedKeys", ["ssh-ed25519 AAAA x"], "$.rootAuthorizedKeys[0]"),
]


@pytest.mark.parametrize(("key", "value", "path"), LEGACY_CASES)
def test_the_original_flat_shape_names_its_own_fields(key: str, value: Any, path: str) -> None:
    assert loads_runtime_info(json.dumps(ORIGINAL)).host_name == "legacy1"
    with pytest.raises(RuntimeInfoError) as err:
        loads_runtime_info(json.dumps(dict(ORIGINAL, **{key: value})))
    assert f"@ {path}" in str(err.value)
    assert "\n" not in str(err.value)


def test_deep_nesting_is_one_line_not_a_recursion_error() -> None:
    deep = "[" * 10_000 + "]" * 10_000
    for text in (deep, json.dumps({"hostName": "x", "routes": "@"}).replace('"@"', deep)):
        with pytest.raises(RuntimeInfoError, match="nested deeper than 64 levels") as err:
            loads_runtime_info(text)
        assert "\n" not in str(err.value)
        with pytest.raises(RuntimeInfoError, match="nested deeper"):
            loads_plan(text)
    # brackets inside strings do not count
    loads_runtime_info(json.dumps(dict(ORIGINAL, hosterDetails={"note": "[" * 100})))


# --- the models directly ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: attrs.evolve(INFO, host_name="a.$(reboot)"), "hostName"),
        (lambda: Interface(name="eth0", mac="52:54:00:12:34:56;x"), "mac"),
        (lambda: Interface(name="$(cmd)"), "name"),
        (lambda: Route(family=4, destination="default", gateway=";cmd"), "gateway"),
        (lambda: Route(family=6, destination="10.0.0.0/8"), "destination"),
        (lambda: attrs.evolve(INFO, nameservers=("1.1.1.1", "8.8.8.8\n")), "nameservers[1]"),
        (lambda: attrs.evolve(INFO, root_authorized_keys=("command=x " + KEY,)), "[0]"),
        (lambda: attrs.evolve(INFO, arch="x86_64'"), "arch"),
        (lambda: attrs.evolve(INFO, disk_to_format="/dev/sdz"), "diskToFormat"),
        (lambda: Disk(path="-sda"), "path"),
        (lambda: IPAddress(address="10.0.0.1", prefix_length=33), "prefixLength"),
        (lambda: attrs.evolve(INFO, hoster_details=(("a b", "x"),)), "hosterDetails"),
    ],
)
def test_the_models_refuse_by_themselves(build: Callable[[], object], field: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        build()
    assert isinstance(err.value, ValueError)  # attrs' convention: validators raise ValueError
    assert err.value.field is not None and err.value.field.endswith(field)
    assert err.value.hint and "\n" not in err.value.message


def test_accepted_names_are_what_nixos_and_the_kernel_accept() -> None:
    for good in ("web1", "a", "web-1_x", "web1.example.org", "x1.a-b.c_d", "A9"):
        assert validate.host_name(good) == good
    assert validate.split_host_name("web1.example.org") == ("web1", "example.org")
    assert attrs.evolve(INFO, host_name="db.example.org").domain == "example.org"
    for good in ("eth0", "enp0s31f6", "eth0.100", "br-1a2b", "wg_0", "a" * 15):
        assert validate.interface_name(good) == good
    for good in ("/dev/sda", "/dev/nvme0n1", "/dev/disk/by-id/usb-Generic_Flash-0:0"):
        assert validate.disk_path(good) == good
    for bad in ("-web", "_web", "web.", ".web", "we b", "wéb"):
        with pytest.raises(InvalidValueError):
            validate.host_name(bad)


# --- keys ---------------------------------------------------------------------------------------


def test_key_options_are_removed_with_a_warning_naming_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    line = 'command="echo \'Please login as ubuntu\';sleep 10",no-pty,from="10.0.0.1" ' + KEY
    data = dict(ORIGINAL, rootAuthorizedKeys=[line, KEYS[1]])
    with caplog.at_level(logging.WARNING):
        info = loads_runtime_info(json.dumps(data), source="f.json")
    assert info.root_authorized_keys == (KEY, KEYS[1])
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "command=\"echo 'Please login as ubuntu';sleep 10\"" in warning
    assert "no-pty" in warning and 'from="10.0.0.1"' in warning
    assert "$.rootAuthorizedKeys[0]" in warning and "SHA256:" in warning
    key = parse_key_line(line)
    assert key.options == (
        "command=\"echo 'Please login as ubuntu';sleep 10\"",
        "no-pty",
        'from="10.0.0.1"',
    )
    assert key.line == KEY
    # a plan read back strips them too (its keys and its runtime info's)
    plan = build_plan(INFO, default_layout(INFO))
    raw = json.loads(dumps_plan(plan))
    raw["authorizedKeys"] = [line]
    raw["runtimeInfo"]["rootAuthorizedKeys"] = ["no-agent-forwarding " + KEYS[2]]
    again = loads_plan(json.dumps(raw))
    assert again.authorized_keys == (KEY,)
    assert again.runtime_info.root_authorized_keys == (KEYS[2],)


def test_a_key_file_is_read_line_by_line() -> None:
    text = f"# mine\n\n{KEY}\r\nrestrict,pty {KEYS[1]} bob\n{KEY} again\n"
    keys, warnings = keys_from_text(text, source="keys.txt")
    assert keys == (KEY, f"{KEYS[1]} bob", f"{KEY} again")
    assert len(warnings) == 1 and "restrict,pty" in warnings[0] and "keys.txt:4" in warnings[0]
    with pytest.raises(InvalidValueError, match=r"line 2 of keys\.txt"):
        keys_from_text(f"{KEY}\nnot a key\n", source="keys.txt")
    assert strip_options(["x", 3]) == (["x", 3], [])


def test_no_key_at_all_is_refused_at_plan_time() -> None:
    keyless = attrs.evolve(INFO, root_authorized_keys=())
    with pytest.raises(PlanError, match="would trust no SSH key") as err:
        build_plan(keyless, default_layout(keyless))
    assert err.value.hint and "--authorized-key" in err.value.hint
    plan = build_plan(keyless, default_layout(keyless), authorized_keys=[KEYS[1]])
    assert plan.authorized_keys == (KEYS[1],)
    # the old root's keys are listed in the plan, the extra ones after them, each once
    plan = build_plan(
        INFO, default_layout(INFO), authorized_keys=[KEYS[1], INFO.root_authorized_keys[0]]
    )
    assert plan.authorized_keys == (*INFO.root_authorized_keys, KEYS[1])
    # a key file replaces them
    plan = build_plan(
        INFO, default_layout(INFO), authorized_keys=[KEYS[2]], replace_authorized_keys=True
    )
    assert plan.authorized_keys == (KEYS[2],)
    with pytest.raises(InvalidValueError):
        build_plan(INFO, default_layout(INFO), authorized_keys=["not a key"])


def test_the_plan_reader_refuses_what_the_runtime_info_reader_refuses() -> None:
    plan = build_plan(INFO, default_layout(INFO))
    for path, value, where in (
        (("runtimeInfo", "hostName"), "x;reboot", "$.runtimeInfo.hostName"),
        (("identity", "macs"), ["52:54:00:12:34:56;x"], "$.identity.macs[0]"),
        (("layout", "disks", 0, "path"), "--zap-all", "$.layout.disks[0].path"),
        (("identity", "disks", 0, "device"), "/dev/sda;id", "$.identity.disks[0].device"),
        (("authorizedKeys",), ["hello"], "$.authorizedKeys[0]"),
        (("target",), "root@x\n", "$.target"),
    ):
        data = json.loads(dumps_plan(plan))
        put(*path, value=value)(data)
        with pytest.raises(RuntimeInfoError) as err:
            loads_plan(json.dumps(data))
        assert f"@ {where}" in str(err.value), (where, str(err.value))


# --- the command --------------------------------------------------------------------------------


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nixremote.cli.main", "runtime-info", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("what", "mutate", "path", "word"),
    [
        c
        for c in RICH_CASES
        if c[0]
        in {
            "command in domain",
            "command after a MAC",
            "command as interface",
            "gateway with ;cmd",
            "destination with ;cmd",
            "unit section in predictable name",
            "nameserver with a newline",
            "second key after a newline",
            "quote in arch",
            "disk --zap-all",
            "disk not collected",
            "not a key",
            "empty host name",
        }
    ],
    ids=lambda c: c if isinstance(c, str) else "",
)
def test_runtime_info_check_exits_2_with_one_line(
    tmp_path: Path, what: str, mutate: Callable[[dict[str, Any]], None], path: str, word: str
) -> None:
    data = rich()
    mutate(data)
    bad = tmp_path / "runtime-info.json"
    bad.write_text(json.dumps(data))
    proc = check(bad)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert path in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_runtime_info_check_deep_json_and_key_options(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10_000 + "]" * 10_000)
    proc = check(deep)
    assert (proc.returncode, proc.stderr.count("\n")) == (2, 1)
    assert "nested deeper than 64 levels" in proc.stderr and "Traceback" not in proc.stderr
    options = tmp_path / "options.json"
    options.write_text(
        json.dumps(dict(ORIGINAL, rootAuthorizedKeys=['command="echo no",no-pty ' + KEY]))
    )
    proc = check(options)
    assert proc.returncode == 0, proc.stderr
    assert 'removed the options command="echo no",no-pty' in proc.stderr
    assert "$.rootAuthorizedKeys[0]" in proc.stderr


def test_the_plan_says_where_each_trusted_key_comes_from() -> None:
    from nixremote.core.plan import trusted_keys

    plan = build_plan(INFO, default_layout(INFO), authorized_keys=[f"{KEYS[1]} bob@laptop"])
    keys = trusted_keys(plan)
    assert [(k.origin, k.comment) for k in keys] == [
        ("old root", "root@web1"),
        ("given", "bob@laptop"),
    ]
    assert all(k.type == "ssh-ed25519" and k.fingerprint.startswith("SHA256:") for k in keys)
