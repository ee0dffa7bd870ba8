"""The ``nixremote.testing`` pytest plugin: its fixtures as a plugin author meets them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nixremote.controller.probe import format_facts
from nixremote.core.facts import Facts
from nixremote.testing.pytest_plugin import load_captured_facts
from nixremote.testing.sshd import LoopbackSshd

pytest_plugins = ["pytester"]

SECTIONS = {"uname-m": "x86_64", "dmi-sys-vendor": "ExampleCloud", "efi": "0"}


def test_nixremote_pm_has_only_the_named_plugins(nixremote_pm) -> None:
    class Mine:
        @__import__("nixremote").hookimpl
        def host_flake_modules(self, info):  # type: ignore[no-untyped-def]
            return ["./mine.nix"]

    pm = nixremote_pm(("mine", Mine()))
    names = [n for n, p in pm.list_name_plugin() if p is not None]
    # Built-ins first, the author's plugin last; nothing autoloaded from entry points.
    assert names == ["generic", "hetzner", "mine"]
    assert nixremote_pm(builtins=False).get_plugin("hetzner") is None


@pytest.mark.parametrize("kind", ["txt", "json", "dir"])
def test_capture_formats(tmp_path, kind: str) -> None:
    if kind == "txt":
        path = tmp_path / "host.txt"
        path.write_text(format_facts(Facts(sections=SECTIONS)))
    elif kind == "json":
        path = tmp_path / "host.json"
        path.write_text(json.dumps({"source": "host", "sections": SECTIONS}))
    else:
        path = tmp_path / "host"
        path.mkdir()
        for name, text in SECTIONS.items():
            (path / name).write_text(text)
    facts = load_captured_facts(path)
    for name, text in SECTIONS.items():
        assert facts.get(name) == text, (kind, name)


def test_captured_facts_fixture_finds_captures_beside_the_test(pytester) -> None:
    captures = pytester.mkdir("data") / "captures"
    captures.mkdir()
    (captures / "small.json").write_text(json.dumps({"sections": SECTIONS}))
    pytester.makepyfile(
        """
        def test_it(captured_facts):
            assert captured_facts("small").get("dmi-sys-vendor") == "ExampleCloud"

        def test_missing(captured_facts):
            import pytest
            with pytest.raises(FileNotFoundError, match="no capture 'nope'"):
                captured_facts("nope")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_loopback_sshd_checks_host_keys_strictly(loopback_sshd, tmp_path) -> None:
    ok = subprocess.run(
        loopback_sshd.ssh_argv("echo", "hello"), capture_output=True, text=True, timeout=60
    )
    assert ok.stdout == "hello\n", ok.stderr
    # Pinning another server's key must make the client refuse this one.
    with LoopbackSshd(tmp_path / "other") as other:
        loopback_sshd.known_hosts.write_text(
            f"[{loopback_sshd.host}]:{loopback_sshd.port} {other.host_public_key}\n"
        )
    refused = subprocess.run(
        loopback_sshd.ssh_argv("echo", "hello"), capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 255
    assert "Host key verification failed" in refused.stderr
    assert loopback_sshd.sessions_started() == 1


def test_loopback_sshd_stops(tmp_path) -> None:
    server = LoopbackSshd(tmp_path).start()
    assert server.running
    server.stop()
    assert not server.running
    refused = subprocess.run(server.ssh_argv("true"), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 255


def test_captured_facts_of_the_project(captured_facts) -> None:
    # tests/data/captures/ (the collect stage's real captures) serves tests in sub-directories.
    from pathlib import Path

    names = sorted(p.name for p in (Path(__file__).parents[1] / "data" / "captures").iterdir())
    assert names, "no captures committed under tests/data/captures"
    facts = captured_facts(names[0])
    assert facts.has("uname-m") or facts.has("ip-addr"), names[0]


def test_disabling_a_name_that_is_no_plugin_is_an_error(nixremote_pm) -> None:
    with pytest.raises(ValueError, match=r"'hetzer' is none of the plugins.*did you mean"):
        nixremote_pm(disabled=("hetzer",))
    assert nixremote_pm(disabled=("hetzner",)).get_plugin("hetzner") is None
    with pytest.raises(ValueError, match="no installed plugin 'nosuch'"):
        nixremote_pm("nosuch")


def test_the_capture_loader_needs_no_pytest(tmp_path) -> None:
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"source": "host", "sections": SECTIONS}))
    code = (
        "import sys\n"
        "class NoPytest:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pytest', '_pytest'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, NoPytest())\n"
        "from nixremote.plugin import load_facts\n"
        f"print(load_facts({str(path)!r}).get('dmi-sys-vendor'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "ExampleCloud"
