"""Click options with hidden aliases: an old or borrowed name (``--key-file``, ``--ssh-port``,
nixos-anywhere's ``--kexec``) still works, while ``--help`` shows the one name of the
vocabulary. Shared by the ``nixremote`` command line and the installer's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

FC = TypeVar("FC", bound=Callable[..., Any] | click.Command)


class AliasOption(click.Option):
    """A :class:`click.Option` whose ``aliases`` parse like its other names but are left out of
    ``--help`` (and of shell completion's option list)."""

    def __init__(
        self, param_decls: Sequence[str], *, aliases: Sequence[str] = (), **attrs: Any
    ) -> None:
        super().__init__([*param_decls, *aliases], **attrs)
        self.aliases = tuple(aliases)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return " / ".join(f"'{o}'" for o in self.opts if o not in self.aliases)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        opts = self.opts
        self.opts = [o for o in opts if o not in self.aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = opts


def option(*param_decls: str, aliases: Sequence[str] = (), **attrs: Any) -> Callable[[FC], FC]:
    """``click.option`` with hidden ``aliases``."""
    return click.option(*param_decls, cls=AliasOption, aliases=aliases, **attrs)
