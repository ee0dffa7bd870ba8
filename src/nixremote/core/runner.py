"""Running a click command group as a console script, on either side: every expected failure
(a :class:`~nixremote.core.errors.NixremoteError`) becomes one ``error: ...`` line on stderr and
its exit code, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from .errors import NixremoteError


def run_group(
    group: click.Group,
    argv: list[str] | None = None,
    *,
    reported: Callable[[NixremoteError], bool] | None = None,
) -> Any:
    """Run ``group`` (``nixremote`` or the installer's) with ``argv`` (default: sys.argv).

    ``reported(exc)`` says whether the command already told its caller about the error (a
    ``--json`` command's ``error`` event): then stderr stays quiet, and only the exit code says
    it again."""
    try:
        return group.main(args=argv, prog_name="nixremote", standalone_mode=False)
    except NixremoteError as exc:
        if reported is None or not reported(exc):
            click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
