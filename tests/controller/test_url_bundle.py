"""A URL bundle: the target downloads the kernel and initrd itself (from a loopback HTTP server
here), checks their sha256 before ``kexec -l``, and the controller sends only the handoff archive.

The rescue system is the loopback sshd with the kexec double (:mod:`helpers.rescue`); its
``curl`` is this machine's. A wrong sha256 stops the phase before anything is loaded, with the
old system still answering."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from helpers.bundles import make_bundle
from helpers.httpserve import serve
from helpers.json_output import result_data
from nixremote.controller import pipeline
from nixremote.controller.bundle import load_bundle
from nixremote.controller.ssh import connect
from nixremote.core.errors import InvalidInputError, PreflightError
from nixremote.core.summary import plan_lines
from nixremote.testing.sshd import LoopbackSshd


def url_bundle(local: Path, directory: Path, base: str, *, wrong: bool = False) -> Path:
    """A bundle.json in ``directory`` whose kernel and initrd are ``local``'s, at ``base``."""
    meta = json.loads((local / "bundle.json").read_text())
    for key, name in (("kernel", "bzImage"), ("initrd", "initrd.gz")):
        data = (local / name).read_bytes()
        sha = hashlib.sha256(data + (b"x" if wrong and key == "initrd" else b"")).hexdigest()
        meta[key] = {"url": f"{base}/{name}", "sha256": sha, "size": len(data)}
    meta["initrdUnpackedBytes"] = 1 << 20
    directory.mkdir()
    (directory / "bundle.json").write_text(json.dumps(meta))
    return directory


def _install(
    server: LoopbackSshd, tmp_path: Path, bundle: Path, events: list, secret: Path
) -> object:  # type: ignore[type-arg]
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts.read_text())
    return pipeline.install(
        pipeline.Target(
            host=server.host,
            user=server.user,
            port=server.port,
            identity_file=server.identity,
            known_hosts=known,
        ),
        pipeline.InstallOptions(
            bundle=bundle,
            phases=("kexec",),
            yes=True,
            remote_dir=str(tmp_path / "remote"),
            secret_dirs=(str(secret),),
            kexec_deadline=60,
        ),
        events.append,
    )


def test_the_target_downloads_the_bundle_and_the_controller_sends_only_the_archive(
    rescue: tuple[LoopbackSshd, Path], tmp_path: Path, dev_dir: Path
) -> None:
    server, state = rescue
    local = make_bundle(tmp_path / "local", initrd_bytes=2 * 1024 * 1024)
    with serve(local) as (base, requests):
        bundle = url_bundle(local, tmp_path / "b", base)
        events: list = []  # type: ignore[type-arg]
        result = _install(server, tmp_path, bundle, events, dev_dir / "kexec")
    assert sorted(requests) == ["/bzImage", "/initrd.gz"]
    remote = tmp_path / "remote"
    assert (remote / "bzImage").read_bytes() == (local / "bzImage").read_bytes()
    assert (remote / "initrd").read_bytes() == (local / "initrd.gz").read_bytes()
    assert not list(remote.glob("*.part"))
    calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
    assert [c[0] for c in calls] == ["-l", "-e"]
    assert calls[0][1] == f"{remote}/bzImage"
    # the controller sent the handoff archive only, far less than the bundle
    bundle_bytes = sum((local / n).stat().st_size for n in ("bzImage", "initrd.gz"))
    assert 0 < result.uploaded_bytes < 2 * 1024 * 1024 < bundle_bytes  # type: ignore[attr-defined]
    # the plan said which way the bundle travels
    assert any(
        e.phase == "plan" and e.message.startswith("bundle:    fetched by the target")
        for e in events
    )


def test_a_wrong_sha256_is_refused_before_kexec_and_the_old_system_runs_on(
    rescue: tuple[LoopbackSshd, Path], tmp_path: Path, dev_dir: Path
) -> None:
    server, state = rescue
    local = make_bundle(tmp_path / "local")
    with serve(local) as (base, _requests):
        bundle = url_bundle(local, tmp_path / "b", base, wrong=True)
        with pytest.raises(PreflightError, match="does not match the bundle's sha256") as err:
            _install(server, tmp_path, bundle, [], dev_dir / "kexec")
    assert "runs as before" in err.value.message
    assert not (state / "calls.jsonl").exists()  # kexec never ran
    remote = tmp_path / "remote"
    assert not (remote / "initrd").exists() and not (remote / "initrd.part").exists()
    with connect(
        f"{server.user}@{server.host}",
        port=server.port,
        identity_file=server.identity,
        known_hosts=server.known_hosts,
        connect_timeout=10,
    ) as old:
        assert old.run(["true"]).ok


def test_a_partial_download_is_completed_and_a_present_file_is_kept(
    rescue: tuple[LoopbackSshd, Path], tmp_path: Path, dev_dir: Path
) -> None:
    """The loopback server does not serve ranges: the resume falls back to a full download."""
    server, _state = rescue
    local = make_bundle(tmp_path / "local")
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "bzImage").write_bytes((local / "bzImage").read_bytes())  # there already
    (remote / "initrd.part").write_bytes((local / "initrd.gz").read_bytes()[:1000])
    with serve(local) as (base, requests):
        bundle = url_bundle(local, tmp_path / "b", base)
        _install(server, tmp_path, bundle, [], dev_dir / "kexec")
    assert "/bzImage" not in requests
    assert (remote / "initrd").read_bytes() == (local / "initrd.gz").read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "file:///etc/shadow"}, "is not an http"),
        ({"url": "http://x/a b"}, "is not an http"),
        ({"url": "http://x/$(reboot)"}, "is not an http"),
        ({"url": "http:///nohost"}, "names no host"),
        ({"sha256": "abc"}, "is not a sha256"),
        ({"size": 0}, "size must be a positive integer"),
        ({"extra": 1}, "unknown key"),
    ],
)
def test_hostile_url_entries_are_one_line(tmp_path: Path, change: dict, message: str) -> None:  # type: ignore[type-arg]
    local = make_bundle(tmp_path / "local")
    bundle = url_bundle(local, tmp_path / "b", "http://127.0.0.1:9")
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["initrd"].update(change)
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(InvalidInputError, match=message) as err:
        load_bundle(bundle)
    assert "\n" not in str(err.value)


def test_an_uploaded_bundle_says_so_in_the_plan(tmp_path: Path) -> None:
    import attrs

    from helpers.diskplans import INFO
    from helpers.keys import KEYS
    from nixremote.controller.run import bundle_travel
    from nixremote.core.layout import default_layout
    from nixremote.core.plan import build_plan

    bundle = load_bundle(make_bundle(tmp_path / "local"))
    plan = attrs.evolve(
        build_plan(INFO, default_layout(INFO), authorized_keys=[KEYS[0]]),
        bundle=bundle_travel(bundle),
    )
    line = next(x for x in plan_lines(plan) if x.startswith("bundle:"))
    assert line.startswith("bundle:    uploaded from this machine: ")
    assert "bzImage (65536 bytes)" in line


def test_the_url_bundle_command_writes_a_bundle_the_target_can_fetch(tmp_path: Path) -> None:
    import subprocess

    local = make_bundle(tmp_path / "local")
    out = tmp_path / "url"
    proc = subprocess.run(
        [
            "nixremote",
            "kexec",
            "url-bundle",
            str(local),
            "https://files.example.org/k/",
            "-o",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert result_data(proc.stdout) == json.loads((out / "bundle.json").read_text())
    bundle = load_bundle(out)
    assert bundle.fetched
    kernel, initrd = bundle.fetch
    assert kernel.url == "https://files.example.org/k/bzImage"
    assert initrd.sha256 == hashlib.sha256((local / "initrd.gz").read_bytes()).hexdigest()
    assert bundle.kernel_params == load_bundle(local).kernel_params
    proc = subprocess.run(
        ["nixremote", "kexec", "url-bundle", str(local), "ftp://x", "-o", str(tmp_path / "u2")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: BASE_URL")


def test_install_refuses_another_bundle_than_the_plans(
    rescue: tuple[LoopbackSshd, Path], tmp_path: Path, dev_dir: Path
) -> None:
    from nixremote.core.errors import SafetyError

    server, state = rescue
    local = make_bundle(tmp_path / "local")
    bundle = url_bundle(local, tmp_path / "b", "http://127.0.0.1:9")
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts.read_text())
    target = pipeline.Target(
        host=server.host,
        user=server.user,
        port=server.port,
        identity_file=server.identity,
        known_hosts=known,
    )
    plan = pipeline.plan(target, pipeline.InstallOptions(bundle=bundle))
    assert plan.bundle is not None and plan.bundle.how == "url"
    options = pipeline.InstallOptions(
        bundle=local,  # uploaded: not the way the plan was approved
        plan=plan,
        phases=("kexec",),
        yes=True,
        remote_dir=str(tmp_path / "remote"),
        secret_dirs=(str(dev_dir / "kexec"),),
    )
    with pytest.raises(SafetyError, match="is not the one the plan was approved with"):
        pipeline.install(target, options)
    assert not (state / "calls.jsonl").exists()
    assert not (tmp_path / "remote").exists()
