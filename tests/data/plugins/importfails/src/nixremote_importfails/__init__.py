"""Fails to import, as a plugin whose dependency is missing does: nixremote lists it as broken."""

import nixremote_importfails_missing_dependency  # noqa: F401

from nixremote.plugin import hookimpl


@hookimpl
def register_commands(cli):  # never registered: the import above fails
    @cli.command("importfails-hello")
    def hello():
        """Never there."""
