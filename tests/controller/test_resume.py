"""A rerun finds out where the host is, on loopback: the "rescue system" with the kexec double
(``helpers.rescue``) becomes the "installer" sshd with the generated key; the next run of the
same command recognises it (no second kexec, no "kexec is not installed"), says where it goes
on, and never formats a finished install unless asked (again) or forced. The installer's phase
record, marker and the installed system's host flake are read at paths the options name (the
real ones are the installer's ``/run`` and ``/root/network``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.bundles import make_bundle
from helpers.diskplans import INFO
from nixremote.controller import pipeline
from nixremote.core.converter import loads_plan
from nixremote.core.errors import HostKeyError, InvalidInputError, SafetyError
from nixremote.core.layout import default_layout
from nixremote.core.plan import build_plan
from nixremote.core.progress import Event
from nixremote.testing.sshd import LoopbackSshd

FINISHED = ["format", "keys", "flake", "install"]


def target(server: LoopbackSshd, known: Path, policy: str = "strict") -> pipeline.Target:
    return pipeline.Target(
        host=server.host,
        user=server.user,
        port=server.port,
        identity_file=server.identity,
        known_hosts=known,
        host_key_policy=policy,
    )


def write_state(path: Path, finished: list[str]) -> None:
    path.write_text(
        json.dumps(
            {
                "format": 1,
                "hostName": "web1",
                "disk": "/dev/disk/by-id/virtio-a",
                "pool": "rpool",
                "root": "/mnt",
                "finished": finished,
            }
        )
    )


def kexec_calls(state: Path) -> list[str]:
    calls = state / "calls.jsonl"
    if not calls.exists():
        return []
    return [json.loads(line)[0] for line in calls.read_text().splitlines()]


def lines(events: list[Event], text: str) -> list[str]:
    return [e.message for e in events if text in e.message]


def test_a_rerun_recognises_the_installer_and_goes_on(
    rescue: tuple[LoopbackSshd, Path], tmp_path: Path, dev_dir: Path
) -> None:
    server, state = rescue
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts.read_text())
    record = tmp_path / "state.json"
    options = pipeline.InstallOptions(
        bundle=make_bundle(tmp_path / "b"),
        phases=("kexec",),
        yes=True,
        remote_dir=str(tmp_path / "remote"),
        secret_dirs=(str(dev_dir / "kexec"),),
        kexec_deadline=60,
        installer_marker=str(state / "installer-root" / "nixremote-installer.json"),
        state_file=str(record),
    )
    first: list[Event] = []
    pipeline.install(target(server, known), options, first.append)
    assert kexec_calls(state) == ["-l", "-e"]
    assert not lines(first, "runs the nixremote installer")

    # the same command again: the installer is recognised over its pinned key, no kexec
    again: list[Event] = []
    result = pipeline.install(target(server, known), options, again.append)
    assert kexec_calls(state) == ["-l", "-e"]
    assert lines(again, "runs the nixremote installer") == [
        f"{server.host} runs the nixremote installer: finished kexec; nothing left to do"
    ]
    assert result.phases == () and result.installer_fingerprint is None
    assert not [e for e in again if "kexec is not installed" in e.message]

    # the format finished: a dry run of kexec,format,install says it goes on with install
    write_state(record, ["format"])
    dry: list[Event] = []
    result = pipeline.install(
        target(server, known),
        pipeline.InstallOptions(
            **{**_fields(options), "phases": ("kexec", "format", "install"), "dry_run": True}
        ),
        dry.append,
    )
    assert lines(dry, "runs the nixremote installer") == [
        f"{server.host} runs the nixremote installer: finished kexec, format; going on with install"
    ]
    assert result.phases == ("format", "install")
    assert kexec_calls(state) == ["-l", "-e"]

    # the install finished: the rerun leaves format out and says so
    write_state(record, FINISHED)
    dry.clear()
    result = pipeline.install(
        target(server, known),
        pipeline.InstallOptions(
            **{**_fields(options), "phases": ("kexec", "format", "install"), "dry_run": True}
        ),
        dry.append,
    )
    assert result.phases == ("install",)
    assert any(e.kind == "skip" and "not formatted again" in e.message for e in dry)

    # an explicit format of the finished install asks again, even with --yes
    held = loads_plan((state / "installer-root" / "plan.json").read_text())
    asked: list[object] = []
    for confirm in (None, lambda plan: asked.append(plan) or False):
        with pytest.raises(SafetyError, match="formatting again WIPES") as err:
            pipeline.install(
                target(server, known),
                pipeline.InstallOptions(
                    **{
                        **_fields(options),
                        "phases": ("format",),
                        "plan": held,
                        "disk_key": b"correct horse battery staple",
                        "confirm": confirm,
                    }
                ),
            )
        assert held.identity.disks[0].path in err.value.message
        assert err.value.hint and "--force-format" in err.value.hint
    assert asked == [held]

    # another plan than the installer was handed is refused before anything runs
    other = build_plan(INFO, default_layout(INFO))
    with pytest.raises(InvalidInputError, match="another plan"):
        pipeline.install(
            target(server, known),
            pipeline.InstallOptions(
                **{
                    **_fields(options),
                    "phases": ("kexec", "format"),
                    "plan": other,
                    "disk_key": b"correct horse battery staple",
                }
            ),
        )
    assert kexec_calls(state) == ["-l", "-e"]


def _fields(options: pipeline.InstallOptions) -> dict[str, object]:
    import attrs

    return {a.name: getattr(options, a.name) for a in attrs.fields(type(options))}


def test_a_key_learnt_in_this_run_recognises_no_installer(
    rescue: tuple[LoopbackSshd, Path], tmp_path: Path
) -> None:
    """With accept-new and no key recorded, a host that claims to be the installer (its marker
    is there) is refused: only the key the kexec phase pinned recognises it."""
    server, state = rescue
    marker = tmp_path / "nixremote-installer.json"
    marker.write_text(json.dumps({"planSha256": "ab" * 32}))
    known = tmp_path / "known_hosts"
    known.write_text("")
    with pytest.raises(HostKeyError, match="not recorded before this run"):
        pipeline.install(
            target(server, known, policy="accept-new"),
            pipeline.InstallOptions(
                bundle=make_bundle(tmp_path / "b"),
                phases=("kexec",),
                yes=True,
                installer_marker=str(marker),
            ),
        )
    assert kexec_calls(state) == []


def test_the_installed_system_has_nothing_to_do(
    rescue: tuple[LoopbackSshd, Path], tmp_path: Path
) -> None:
    """The host flake in /persist and NixOS: installed. The same command does nothing; an
    explicit format needs the kexec and --force-format."""
    server, state = rescue
    flake = tmp_path / "persist" / "flake.nix"
    flake.parent.mkdir()
    flake.write_text("{ }\n")
    version = tmp_path / "bin" / "nixos-version"  # on the session's PATH (helpers.rescue)
    version.write_text("#!/bin/sh\necho 25.11\n")
    version.chmod(0o755)
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts.read_text())
    options = pipeline.InstallOptions(
        bundle=make_bundle(tmp_path / "b"),
        phases=("kexec", "format", "install"),
        yes=True,
        disk_key=b"correct horse battery staple",
        installer_marker=str(tmp_path / "no-marker"),
        state_file=str(tmp_path / "no-state.json"),
        host_flake=str(flake),
    )
    events: list[Event] = []
    result = pipeline.install(target(server, known), options, events.append)
    assert result.phases == ()
    assert lines(events, "runs the installed system") == [
        f"{server.host} runs the installed system (installed by nixremote); nothing to do"
    ]
    assert kexec_calls(state) == []
    with pytest.raises(SafetyError, match="formatting it needs the kexec first"):
        pipeline.install(
            target(server, known),
            pipeline.InstallOptions(**{**_fields(options), "phases": ("format",)}),
        )
    assert kexec_calls(state) == []
