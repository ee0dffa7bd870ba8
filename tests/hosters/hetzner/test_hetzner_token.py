"""Where the Hetzner Cloud API token comes from: ``$HCLOUD_TOKEN`` or a token file, never argv."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nixremote.core.errors import InvalidInputError
from nixremote.hosters.hetzner.api import TOKEN_ENV, token_from_env_or_file

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
