"""Where the Hetzner Cloud API token comes from: ``$HCLOUD_TOKEN`` or a token file, never argv."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nixremote.core.errors import InvalidInputError
from nixremote.hosters.hetzner.token import TOKEN_ENV, token_from_env_or_file

TOKEN = "Zq3xY0aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdefghijklmnopqrstuv"


def test_token_from_the_environment() -> None:
    assert token_from_env_or_file(None, environ={TOKEN_ENV: f"  {TOKEN}\n"}) == TOKEN


def test_missing_token_says_where_to_put_it() -> None:
    with pytest.raises(InvalidInputError) as caught:
        token_from_env_or_file(None, environ={})
    assert caught.value.message == "no Hetzner Cloud API token"
    assert "HCLOUD_TOKEN" in (caught.value.hint or "")
    assert "--token-file" in (caught.value.hint or "")


def test_token_file_wins_over_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n# a comment line after the token is ignored\n")
    path.chmod(0o600)
    assert token_from_env_or_file(path, environ={TOKEN_ENV: "other"}) == TOKEN


def test_token_file_readable_by_others_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="nixremote.hosters.hetzner.api"):
        assert token_from_env_or_file(path) == TOKEN
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("content", "problem"),
    [("", "is empty"), ("\n\n", "is empty"), ("abc def\n", "does not look like an API token")],
)
def test_bad_token_files(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "token"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(InvalidInputError) as caught:
        token_from_env_or_file(path)
    assert problem in caught.value.message
    assert str(path) in caught.value.message


def test_missing_token_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        token_from_env_or_file(tmp_path / "nope")
    assert "does not exist" in caught.value.message


def test_control_characters_in_the_environment_are_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        token_from_env_or_file(None, environ={TOKEN_ENV: "abc\x07def"})
    assert "$HCLOUD_TOKEN" in caught.value.message
    assert "abc" not in caught.value.message  # the token itself is never echoed


# --- the hcloud CLI's config (issue 20) ---------------------------------------------------------

CLI_TOML = """\
active_context = "prod"

[preferences]
debug = false

[[contexts]]
name = "staging"
token = "{other}"

[[contexts]]
name = "prod"
token = "{token}"
"""


def hcloud_home(tmp_path: Path, text: str | None = None) -> Path:
    config = tmp_path / ".config" / "hcloud" / "cli.toml"
    config.parent.mkdir(parents=True)
    config.write_text(text or CLI_TOML.format(token=TOKEN, other="x" * 64))
    return config


def test_token_from_the_hcloud_cli_active_context(tmp_path: Path) -> None:
    config = hcloud_home(tmp_path)
    before = config.read_bytes()
    assert token_from_env_or_file(None, environ={"HOME": str(tmp_path)}) == TOKEN
    env = {"HOME": str(tmp_path), "HCLOUD_CONTEXT": "staging"}
    assert token_from_env_or_file(None, environ=env) == "x" * 64
    assert config.read_bytes() == before  # read only


def test_the_order_file_then_environment_then_hcloud_config(tmp_path: Path) -> None:
    hcloud_home(tmp_path)
    path = tmp_path / "token"
    path.write_text("f" * 64 + "\n")
    path.chmod(0o600)
    env = {"HOME": str(tmp_path), TOKEN_ENV: "e" * 64}
    assert token_from_env_or_file(path, environ=env) == "f" * 64
    assert token_from_env_or_file(None, environ=env) == "e" * 64
    assert token_from_env_or_file(None, environ={"HOME": str(tmp_path)}) == TOKEN


def test_hcloud_config_from_its_variable_and_its_faults(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text(CLI_TOML.format(token="y" * 64, other="x" * 64))
    env = {"HOME": str(tmp_path / "nohome"), "HCLOUD_CONFIG": str(other)}
    assert token_from_env_or_file(None, environ=env) == "y" * 64
    with pytest.raises(InvalidInputError, match="context 'gone' is not in"):
        token_from_env_or_file(None, environ={**env, "HCLOUD_CONTEXT": "gone"})
    other.write_text("active_context = [")
    with pytest.raises(InvalidInputError, match="cannot read the hcloud CLI config"):
        token_from_env_or_file(None, environ=env)
    other.write_text('[[contexts]]\nname = "a"\ntoken = "z"\n')  # no active context
    with pytest.raises(InvalidInputError, match="no Hetzner Cloud API token") as caught:
        token_from_env_or_file(None, environ=env)
    assert "hcloud context create" in (caught.value.hint or "")


def test_the_hetzner_commands_use_the_hcloud_config(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from helpers.fakes.hetzner_api import DEFAULT_TOKEN, FakeHetznerCloud

    hcloud_home(tmp_path, CLI_TOML.format(token=DEFAULT_TOKEN, other="x" * 64))
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV} | {"HOME": str(tmp_path)}
    with FakeHetznerCloud() as fake:
        fake.add_server("web1")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "nixremote.cli.main",
                "hetzner",
                "list",
                "--endpoint",
                fake.endpoint,
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = json.loads(proc.stdout.splitlines()[-1])
    assert [s["name"] for s in last["data"]["servers"]] == ["web1"]


def test_a_target_named_by_its_hetzner_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.fakes.hetzner_api import DEFAULT_TOKEN, FakeHetznerCloud
    from nixremote.cli.options import hoster_target
    from nixremote.core.errors import NixremoteError

    with FakeHetznerCloud() as fake:
        server = fake.add_server("web1")
        monkeypatch.setenv(TOKEN_ENV, DEFAULT_TOKEN)
        monkeypatch.setenv("HCLOUD_ENDPOINT", fake.endpoint)
        address = server["public_net"]["ipv4"]["ip"]
        assert hoster_target("hetzner:web1") == address
        assert hoster_target("admin@hetzner:web1") == f"admin@{address}"
        assert hoster_target("root@203.0.113.9") == "root@203.0.113.9"  # not asked
        with pytest.raises(NixremoteError, match="web2"):
            hoster_target("hetzner:web2")
        with pytest.raises(InvalidInputError, match="no server name"):
            hoster_target("hetzner:")
