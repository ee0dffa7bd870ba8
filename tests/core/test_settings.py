"""Plugin settings: declarations, typed values, what the user gives, what a plan records."""

from __future__ import annotations

import pytest

from nixremote.core.errors import InvalidInputError
from nixremote.core.settings import (
    REDACTED,
    GivenSetting,
    Setting,
    as_pairs,
    check_settings,
    looks_secret,
    parse_assignment,
    redacted,
)

RACK = Setting(key="ovh-like.rack", type=str, help="The rack.")
MIRROR = Setting(key="ovh-like.mirror", type=bool, default=True, help="Mirror.")
DISKS = Setting(key="ovh-like.disks", type=int, help="How many disks.")
RATIO = Setting(key="ovh-like.ratio", type=float, help="A ratio.")
TOKEN = Setting(key="ovh-like.auth", type=str, secret=True, help="Declared secret.")
DECLARED = {"ovh-like": (RACK, MIRROR, DISKS, RATIO, TOKEN), "generic": (), "hetzner": ()}


@pytest.mark.parametrize(
    ("setting", "given", "value", "text"),
    [
        (RACK, "A12", "A12", "A12"),
        (MIRROR, "yes", True, "true"),
        (MIRROR, "OFF", False, "false"),
        (MIRROR, False, False, "false"),  # a TOML boolean
        (DISKS, " 2 ", 2, "2"),
        (DISKS, 3, 3, "3"),  # a TOML integer
        (RATIO, "0.5", 0.5, "0.5"),
        (RATIO, 2, 2.0, "2.0"),
    ],
)
def test_values_parse_as_declared(
    setting: Setting[object], given: object, value: object, text: str
) -> None:
    assert setting.parse(given) == value and type(setting.parse(given)) is type(value)
    assert setting.text(given) == text
    assert setting.get({setting.key: text}) == value  # what a hook reads back


@pytest.mark.parametrize(
    ("setting", "given", "says"),
    [
        (MIRROR, "maybe", "is not true or false"),
        (MIRROR, 1, "is not true or false"),
        (DISKS, "two", "is not a whole number"),
        (DISKS, 2.5, "is not a whole number"),
        (DISKS, True, "is not a whole number"),
        (RATIO, "half", "is not a number"),
        (RACK, 12, "is not text"),
    ],
)
def test_wrong_values_are_one_line_errors(
    setting: Setting[object], given: object, says: str
) -> None:
    with pytest.raises(InvalidInputError, match=says) as caught:
        setting.parse(given)
    assert setting.key in caught.value.message and "\n" not in str(caught.value)


def test_get_falls_back_to_the_default_then_the_fallback() -> None:
    assert MIRROR.get({}) is True  # declared default
    assert RACK.get({}) is None
    assert RACK.get({}, "unknown") == "unknown"
    assert RACK.get({"ovh-like.rack": "B07"}, "unknown") == "B07"
    assert (RACK.plugin, RACK.name) == ("ovh-like", "rack")


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match=r"not <plugin>\.<name>"):
        Setting(key="rack", type=str, help="no plugin")
    with pytest.raises(ValueError, match="not one of str, bool, int, float"):
        Setting(key="x.y", type=list, help="a list")
    with pytest.raises(ValueError, match="the default '5' is not a int"):
        Setting(key="x.y", type=int, default="5", help="a number")


def test_secrets_by_declaration_or_by_name() -> None:
    assert TOKEN.is_secret and not RACK.is_secret
    for key in ("x.api_token", "x.password", "x.passwd", "x.api_key", "x.apikey", "x.secret"):
        assert looks_secret(key), key
    for key in ("x.keyboard", "x.monkey_count", "x.rack", "x.disk"):
        assert not looks_secret(key), key
    settings = {"ovh-like.auth": "hunter2", "ovh-like.api_token": "t0k", "ovh-like.rack": "A1"}
    assert redacted(settings, {"ovh-like.auth"}) == (
        ("ovh-like.api_token", REDACTED),
        ("ovh-like.auth", REDACTED),
        ("ovh-like.rack", "A1"),
    )


def test_assignments() -> None:
    assert parse_assignment("ovh-like.rack=A=12") == ("ovh-like.rack", "A=12")
    assert parse_assignment("ovh-like.rack=") == ("ovh-like.rack", "")
    for bad in ("rack=A12", "ovh-like.rack", "=x", ".rack=1"):
        with pytest.raises(InvalidInputError, match=r"is not PLUGIN\.KEY=VALUE"):
            parse_assignment(bad)
    assert as_pairs({"b": "2", "a": "1"}) == (("a", "1"), ("b", "2"))


def given(key: str, value: object, origin: str = "--set") -> GivenSetting:
    return GivenSetting(key=key, value=value, origin=origin)


def test_check_settings_gives_canonical_text_later_values_winning() -> None:
    out = check_settings(
        [
            given("ovh-like.mirror", False, "config.toml"),
            given("ovh-like.rack", "C03", "config.toml"),
            given("ovh-like.rack", "B07"),
        ],
        DECLARED,
    )
    assert out == {"ovh-like.mirror": "false", "ovh-like.rack": "B07"}


@pytest.mark.parametrize(
    ("item", "says"),
    [
        (
            given("ovh-lik.rack", "A"),
            "--set: no plugin 'ovh-lik' (setting ovh-lik.rack) (did you mean 'ovh-like'?)",
        ),
        (
            given("ovh-like.rak", "A", "/etc/c.toml"),
            "/etc/c.toml: plugin 'ovh-like' has no setting 'rak' (did you mean 'rack'?)",
        ),
        (given("hetzner.rack", "A"), "--set: plugin 'hetzner' declares no settings"),
        (given("zzz.q", "A"), "--set: no plugin 'zzz' (setting zzz.q)"),
        (given("ovh-like.disks", "many"), "setting ovh-like.disks: 'many' is not a whole number"),
    ],
)
def test_check_settings_refuses_what_no_plugin_declares(item: GivenSetting, says: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_settings([item], DECLARED)
    assert caught.value.message.startswith(says), caught.value.message


def test_a_disabled_plugins_settings_are_dropped() -> None:
    out = check_settings(
        [given("mirrorcloud.x", "1"), given("ovh-like.rack", "A")],
        DECLARED,
        ignored_plugins=["mirrorcloud"],
    )
    assert out == {"ovh-like.rack": "A"}
