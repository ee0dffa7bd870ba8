"""Where is the host: the probe's answer read strictly, what finished, the one resume line, and
the rule that a key learnt in this run recognises nobody."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nixremote.controller import whereis
from nixremote.core.errors import HostKeyError, InvalidInputError

DIGEST = "ab" * 32
ALL = ("format", "keys", "flake", "install", "reboot")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def answer(where: str, marker: str = "", state: str = "") -> str:
    return f"where={where}\n@@marker\n{marker}\n@@state\n{state}\n@@end\n"


def state_json(finished: list[str], **extra: object) -> str:
    data = {
        "format": 1,
        "hostName": "web1",
        "disk": "/dev/disk/by-id/virtio-a",
        "pool": "rpool",
        "root": "/mnt",
        "finished": finished,
        **extra,
    }
    return json.dumps(data)


def test_the_old_system() -> None:
    where = whereis.parse_where(answer("old"), host="h")
    assert where.kind == whereis.OLD and where.finished == () and where.state is None


def test_the_installer_before_any_phase_finished() -> None:
    marker = json.dumps({"planSha256": DIGEST})
    where = whereis.parse_where(answer("installer", marker), host="h")
    assert where.kind == whereis.INSTALLER and where.plan_sha256 == DIGEST
    assert where.state is None and where.finished == ("kexec",)
    assert not where.install_finished


@pytest.mark.parametrize(
    ("finished", "controller"),
    [
        ([], ("kexec",)),
        (["format"], ("kexec", "format")),
        (["format", "keys", "flake"], ("kexec", "format")),
        (["format", "keys", "flake", "install"], ("kexec", "format", "install")),
        (
            ["format", "keys", "flake", "install", "reboot"],
            ("kexec", "format", "install", "reboot"),
        ),
    ],
)
def test_the_installer_phases_map_onto_the_controllers(
    finished: list[str], controller: tuple[str, ...]
) -> None:
    where = whereis.parse_where(
        answer("installer", json.dumps({"planSha256": DIGEST}), state_json(finished)), host="h"
    )
    assert where.state is not None and list(where.state.finished) == finished
    assert where.finished == controller
    assert where.install_finished == ("install" in controller)


def test_the_installed_system() -> None:
    where = whereis.parse_where(answer("installed"), host="h")
    assert where.kind == whereis.INSTALLED and where.install_finished
    assert where.finished == ("kexec", "format", "install", "reboot")


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("where=installer\n@@marker\n", "something unexpected"),
        (answer("maybe"), "without saying"),
        (answer("installer", json.dumps({"planSha256": "../../etc"})), "64 hex digits"),
        (answer("installer", "not json"), "64 hex digits"),
        (answer("installer", "", "{broken"), "state.json: not valid JSON"),
        (answer("installer", "", state_json(["format", "rm -rf /"])), "list of phase names"),
    ],
)
def test_a_malformed_answer_is_one_error_naming_the_host(text: str, fault: str) -> None:
    with pytest.raises(InvalidInputError, match="web1") as err:
        whereis.parse_where(text, host="web1")
    assert fault in err.value.message
    assert err.value.hint


def test_the_resume_line() -> None:
    fresh = whereis.parse_where(answer("installer"), host="h")
    assert (
        whereis.resume_line(fresh, "h", ("kexec", "format", "install"))
        == "h runs the nixremote installer: finished kexec; going on with format"
    )
    formatted = whereis.parse_where(answer("installer", "", state_json(["format"])), host="h")
    assert (
        whereis.resume_line(formatted, "h", ("kexec", "format", "install", "reboot"))
        == "h runs the nixremote installer: finished kexec, format; going on with install"
    )
    done = whereis.parse_where(
        answer("installer", "", state_json(["format", "keys", "flake", "install"])), host="h"
    )
    assert whereis.resume_line(done, "h", ("kexec", "format", "install")).endswith(
        "finished kexec, format, install; nothing left to do"
    )
    installed = whereis.parse_where(answer("installed"), host="h")
    assert whereis.resume_line(installed, "h", ("kexec", "format", "install")) == (
        "h runs the installed system (installed by nixremote); nothing to do"
    )
    assert whereis.resume_line(installed, "h", ("kexec", "verify")).endswith("going on with verify")


def test_only_a_key_pinned_before_the_run_recognises_the_installer(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    assert not whereis.had_pinned_key(known, "203.0.113.5", 22)
    known.write_text(f"[203.0.113.5]:2200 {KEY}\n")
    assert whereis.had_pinned_key(known, "203.0.113.5", 2200)
    assert not whereis.had_pinned_key(known, "203.0.113.5", 22)
    installer = whereis.parse_where(answer("installer"), host="h")
    with pytest.raises(HostKeyError, match="not recorded before this run"):
        whereis.check_pinned(installer, pinned_before=False, policy="accept-new", host="h", port=22)
    for policy, pinned in (("strict", False), ("accept-new", True)):
        whereis.check_pinned(installer, pinned_before=pinned, policy=policy, host="h", port=22)
    # the old system is the old system, whoever vouches for it
    old = whereis.parse_where(answer("old"), host="h")
    whereis.check_pinned(old, pinned_before=False, policy="accept-new", host="h", port=22)
