"""The user's settings: the config file and ``--set``, checked against the declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixremote import hookimpl
from nixremote.controller.config import default_config_path, read_config, resolve_settings
from nixremote.core.errors import InvalidInputError
from nixremote.core.plugins import get_plugin_manager
from nixremote.core.settings import GivenSetting, Setting


class Racks:
    @hookimpl
    def plugin_settings(self):  # type: ignore[no-untyped-def]
        return [
            Setting(key="racks.rack", type=str, help="The rack."),
            Setting(key="racks.count", type=int, help="How many."),
        ]


def pm(disabled: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return get_plugin_manager(autoload=False, extra=[("racks", Racks())], disabled=disabled)


def test_the_default_file_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_path() == tmp_path / "nixremote" / "config.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_config_path() == tmp_path / "home" / ".config" / "nixremote" / "config.toml"


def test_plugin_tables_become_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[plugins.racks]\nrack = "A12"\ncount = 3\n\n[plugins.hetzner]\nx = true\n')
    assert read_config(path) == [
        GivenSetting(key="racks.rack", value="A12", origin=str(path)),
        GivenSetting(key="racks.count", value=3, origin=str(path)),
        GivenSetting(key="hetzner.x", value=True, origin=str(path)),
    ]
    assert read_config(tmp_path / "missing.toml", required=False) == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[plugins.racks\n", "not TOML"),
        ("[plugin.racks]\nrack = 1\n", "unknown table [plugin] (did you mean 'plugins'?)"),
        ("[plugins]\nracks = 1\n", "plugins.racks is not a table"),
        ("[plugins.racks]\nrack = [1, 2]\n", "plugins.racks.rack is a list"),
    ],
)
def test_a_bad_file_is_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as caught:
        read_config(path)
    assert str(path) in caught.value.message and says in caught.value.message
    assert "\n" not in str(caught.value)
    with pytest.raises(InvalidInputError, match="no config file"):
        read_config(tmp_path / "missing.toml")


def test_set_wins_over_the_file_and_values_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "nixremote").mkdir()
    (tmp_path / "nixremote" / "config.toml").write_text(
        '[plugins.racks]\nrack = "C03"\ncount = 2\n'
    )
    assert resolve_settings(pm()) == {"racks.rack": "C03", "racks.count": "2"}
    assert resolve_settings(pm(), ["racks.rack=B07"], base={"disk": "sda"}) == {
        "disk": "sda",
        "racks.rack": "B07",
        "racks.count": "2",
    }
    other = tmp_path / "other.toml"
    other.write_text("[plugins.racks]\ncount = 5\n")
    assert resolve_settings(pm(), config=other) == {"racks.count": "5"}  # instead of the default
    with pytest.raises(InvalidInputError, match="'two' is not a whole number"):
        resolve_settings(pm(), ["racks.count=two"])
    # the settings of a plugin that is switched off are left out
    assert resolve_settings(pm(disabled=("racks",)), ["racks.rack=B07"]) == {}
