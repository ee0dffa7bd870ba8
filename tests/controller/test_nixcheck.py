"""The Nix check while planning: Nix's parser when Nix is installed, else the Python check.

The Python check must never refuse what Nix accepts (every ``.nix`` file of this repository and
a set of tricky strings), and it must refuse the usual typos that Nix refuses.
"""

from __future__ import annotations

import pytest

from helpers.paths import REPO
from nixremote.controller.nixcheck import (
    NixSyntaxError,
    check_nix,
    nix_instantiate,
    nix_parse,
    sanity_check,
)
from nixremote.core.errors import PlanError

NIX = "/usr/bin/nix-instantiate"

NIX_FILES = sorted(
    p for p in REPO.rglob("*.nix") if ".git" not in p.parts and ".venv" not in p.parts
)

VALID = [
    "{ a = 1; }",
    "x: x",
    "inputs.tools.nixosModules.default",
    '{ a = "${toString 1} $$ \\" \\${ ${"}"}"; }',
    "let x'y = 1; in { a = ''\n  ''${not} '''quote $$ ${toString 2} \n''; b = x'y; }",
    "/* a } comment */ { a = [ 1 2 ]; } # another {",
    "let a' = 1; in a' + 1",
    "{ config, ... }: { x = config.networking.hostName; }",
    "./plugins/ovh-like/ovh-like.nix",
]

BROKEN = [
    ("{ a = { b = 1; }", "never closed"),
    ('{ a = "abc; }', "string is never closed"),
    ("{ a = ''abc; }", "indented string '' is never closed"),
    ("{ a = 1; } }", "unexpected '}'"),
    ("[ 1 2 )", "unexpected ')' (the [ at line 1)"),
    ("{ /* a }", "comment /* is never closed"),
    ('{ a = "${b"; }', "never closed"),
]


def test_nix_is_used_when_installed() -> None:
    assert nix_instantiate() == NIX


@pytest.mark.parametrize("path", NIX_FILES, ids=[str(p.relative_to(REPO)) for p in NIX_FILES])
def test_the_python_check_accepts_every_nix_file_nix_accepts(path) -> None:  # type: ignore[no-untyped-def]
    text = path.read_text(encoding="utf-8")
    nix_parse(text, NIX)  # Nix accepts it (raises otherwise) ...
    sanity_check(text)  # ... and so does the Python check


def test_there_are_nix_files_to_check() -> None:
    assert len(NIX_FILES) > 20


@pytest.mark.parametrize("text", VALID)
def test_tricky_valid_text(text: str) -> None:
    assert check_nix(text, what="t", nix=NIX, expression=True) == "nix-instantiate"
    assert check_nix(text, what="t", nix="", expression=True) == "python"


@pytest.mark.parametrize(("text", "says"), BROKEN)
def test_typos_are_refused_by_both(text: str, says: str) -> None:
    with pytest.raises(NixSyntaxError):
        nix_parse(text, NIX)
    with pytest.raises(NixSyntaxError, match="at line 1, column"):
        sanity_check(text)
    with pytest.raises(PlanError) as caught:
        check_nix(text, what="plugin 'p': file a.nix", nix="")
    assert caught.value.message.startswith("plugin 'p': file a.nix does not parse: ")
    assert says in caught.value.message


def test_nixs_message_says_where(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIXREMOTE_NIX_INSTANTIATE", NIX)
    with pytest.raises(PlanError) as caught:
        check_nix("{ a = 1;\n  b = ; }", what="w")
    assert "syntax error, unexpected ';'" in caught.value.message
    assert "at line 2, column 7" in caught.value.message
    # an expression of the modules list sees the flake's arguments, and only those
    assert check_nix("nixremote.nixosModules.hetzner", what="w", expression=True)
    with pytest.raises(PlanError, match="undefined variable 'pkgs' at line 1, column 1"):
        check_nix("pkgs.hello", what="w", expression=True)


def test_a_broken_nix_falls_back_to_the_python_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "nix-instantiate"
    fake.write_text("#!/bin/sh\necho 'error: cannot open the store' >&2\nexit 1\n")
    fake.chmod(0o755)
    assert check_nix("{ a = 1; }", what="w", nix=str(fake)) == "python"
    with pytest.raises(PlanError, match="never closed"):
        check_nix("{ a = 1;", what="w", nix=str(fake))
