"""The runtime-info codec of the kernel command line and the x86 kexec budget."""

from __future__ import annotations

import base64
import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.sample_hosts import INIT, KERNEL_PARAMS, ORIGINAL_ONE_NIC, big_host
from helpers.strategies import runtime_infos as valid_runtime_infos
from nixremote.core import cmdline
from nixremote.core.converter import runtime_info_from_json_data
from nixremote.core.errors import PreflightError, RuntimeInfoError
from nixremote.core.models import RuntimeInfo

# --- strategies: valid by meaning, as wide as the validators accept (helpers.strategies) ------

runtime_infos = valid_runtime_infos()


# --- round trips --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(runtime_infos)
def test_round_trip(info: RuntimeInfo) -> None:
    encoded = cmdline.encode_runtime_info(info)
    assert encoded.startswith("z1.")
    # one kernel word: no whitespace, no quotes, no padding, URL-safe alphabet only
    body = encoded[3:]
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert cmdline.decode_runtime_info(encoded) == info


@settings(max_examples=100, deadline=None)
@given(runtime_infos, st.sampled_from(("", "init=/nix/store/x/init", "quiet loglevel=4")))
def test_round_trip_through_a_command_line(info: RuntimeInfo, params: str) -> None:
    line = f"BOOT_IMAGE=/vmlinuz {params} {cmdline.PARAM}={cmdline.encode_runtime_info(info)} ro"
    assert cmdline.runtime_info_from_cmdline(line) == info


def test_original_plain_base64_is_accepted() -> None:
    plain = base64.b64encode(json.dumps(ORIGINAL_ONE_NIC).encode()).decode()
    info = cmdline.decode_runtime_info(plain)
    assert info == runtime_info_from_json_data(ORIGINAL_ONE_NIC)
    assert info.host_name == "web1"
    assert info.primary is not None and info.primary.ipv4[0].address == "198.51.100.7"
    assert info.default_gateway(4) == "172.31.1.1"
    # unpadded, and the URL-safe alphabet, are read too
    assert cmdline.decode_runtime_info(plain.rstrip("=")) == info
    assert (
        cmdline.decode_runtime_info(
            base64.urlsafe_b64encode(json.dumps(ORIGINAL_ONE_NIC).encode()).decode()
        )
        == info
    )
    assert cmdline.runtime_info_from_cmdline(f"init=/x {cmdline.PARAM}={plain}") == info


def test_compact_is_much_smaller_than_the_original_encoding() -> None:
    info = runtime_info_from_json_data(ORIGINAL_ONE_NIC)
    plain = cmdline.encode_legacy(ORIGINAL_ONE_NIC)
    compact = cmdline.encode_runtime_info(info)
    # the compact one carries more (every field of the rich model) and is still smaller
    assert cmdline.decode_runtime_info(compact) == info
    assert len(compact) < len(plain)


def test_big_host_fits_the_budget_with_realistic_kernel_params() -> None:
    info = big_host(nics=4, disks=8)
    line = cmdline.kernel_command_line(KERNEL_PARAMS, info)
    assert line.startswith(INIT + " ")
    assert len(line) <= cmdline.CMDLINE_MAX_CHARS == 2016
    assert cmdline.runtime_info_from_cmdline(line) == info
    # its plain base64 would not have fitted at all
    assert len(cmdline.encode_legacy(json.loads(cmdline.minified_json(info)))) > 2048


def test_over_budget_says_by_how_much() -> None:
    info = big_host(nics=4, disks=8)
    fits = cmdline.kernel_command_line(KERNEL_PARAMS, info)
    pad = cmdline.CMDLINE_MAX_CHARS - len(fits)
    # exactly at the budget is fine, one more byte is over by 1
    exact = cmdline.kernel_command_line(KERNEL_PARAMS + " " + "x" * (pad - 1), info)
    assert len(exact) == cmdline.CMDLINE_MAX_CHARS
    with pytest.raises(PreflightError, match=r"1 over the budget of 2016"):
        cmdline.kernel_command_line(KERNEL_PARAMS + " " + "x" * pad, info)
    with pytest.raises(PreflightError, match=r"\b123 over the budget"):
        cmdline.kernel_command_line(KERNEL_PARAMS + " " + "x" * (pad + 122), info)


def test_budget_arithmetic() -> None:
    # 2048 incl. NUL; kexec compares len+1 with cmdline_size 2047; kexec_file_load keeps 30 free
    assert cmdline.CMDLINE_MAX_CHARS + 1 + cmdline.KEXEC_FILE_RESERVED == 2047
    assert cmdline.cmdline_budget_left("a" * 2016) == 0
    assert cmdline.cmdline_budget_left("a" * 2017) == -1


def test_bundle_param_of_the_same_name_is_replaced() -> None:
    info = big_host(nics=1, disks=1)
    line = cmdline.kernel_command_line(f"init=/x {cmdline.PARAM}=stale quiet", info)
    assert line.count(f"{cmdline.PARAM}=") == 1
    assert "stale" not in line
    assert cmdline.runtime_info_from_cmdline(line) == info


def test_no_param_is_none() -> None:
    assert cmdline.runtime_info_from_cmdline("init=/x quiet") is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("z1.!!!", "not valid base64"),
        ("z1." + base64.urlsafe_b64encode(b"not zlib").decode().rstrip("="), "corrupt"),
        (
            "z1." + base64.urlsafe_b64encode(zlib.compress(b"{" * 500)[:-6]).decode().rstrip("="),
            "truncated",
        ),
        ("z1." + base64.urlsafe_b64encode(zlib.compress(b"[1,2")).decode().rstrip("="), "not JSON"),
        (
            "z1." + base64.urlsafe_b64encode(zlib.compress(b" " * (5 * 2**20))).decode(),
            "larger than",
        ),
        (base64.b64encode(b'{"hostName": 1}').decode(), r"\$\.hostName"),
        ("%%%", "not valid base64"),
    ],
)
def test_bad_values_are_clear_errors(value: str, message: str) -> None:
    with pytest.raises(RuntimeInfoError, match=message) as err:
        cmdline.decode_runtime_info(value)
    assert err.value.hint
