"""A minimal third-party hoster plugin: claims hosts whose DMI vendor is "Example Hoster"."""

import click

from nixremote import BootMode, HosterGuess, hookimpl

HOSTER = "example"


@hookimpl
def detect_hoster(facts):
    if (facts.get("dmi-sys-vendor") or "").strip() == "Example Hoster":
        return HosterGuess(name=HOSTER, confidence=50, reason="DMI vendor 'Example Hoster'")
    return None


@hookimpl
def boot_mode(info, facts):
    return BootMode.UEFI if info.hoster == HOSTER else None


@hookimpl
def register_commands(cli):
    @cli.command("example-hello")
    def hello():
        """Say hello from the third-party plugin."""
        click.echo("hello from nixremote-thirdparty")
