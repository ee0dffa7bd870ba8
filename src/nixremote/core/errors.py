"""The one root error of nixremote and its kinds.

Every failure the library expects (bad input, an unreachable host, a refused host key, a failed
command, an API error) is raised as a :class:`NixremoteError`. Its message is one line that says
what failed; its ``hint`` says what to do. The CLI prints ``error: <message> (<hint>)`` on stderr
and exits with :attr:`NixremoteError.exit_code`; it never shows a traceback for these.
"""

from __future__ import annotations


class NixremoteError(Exception):
    """Root of every error nixremote raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class InvalidInputError(NixremoteError):
    """A file, argument or wire message does not have the expected shape."""

    exit_code = 2


class RuntimeInfoError(InvalidInputError):
    """A runtime-info.json is invalid; the message names the JSON path of the fault."""


class InvalidValueError(InvalidInputError, ValueError):
    """A value that does not mean what its field means: a host name NixOS would refuse, a MAC
    that is not one, a key that does not parse. The models' validators raise it (a
    :class:`ValueError` too, as attrs validators do); ``field`` is where it sits below the model
    in JSON terms (``hostName``, ``nameservers[1]``), so that a reader can name the JSON path."""

    def __init__(self, message: str, *, hint: str | None = None, field: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field

    def at(self, field: str) -> InvalidValueError:
        """The same error, placed at ``field`` (an inner place is kept below it)."""
        inner = self.field
        where = field if not inner else f"{field}{inner if inner.startswith('[') else '.' + inner}"
        return InvalidValueError(self.message, hint=self.hint, field=where)


class PluginError(NixremoteError):
    """A plugin could not be loaded, or implements a hook that does not exist."""


class TransportError(NixremoteError):
    """Connecting to a host, or running a command on it, failed."""

    exit_code = 3


class HostKeyError(TransportError):
    """A host key is unknown or does not match the one recorded for the host."""


class CommandFailedError(TransportError):
    """A command ran and exited non-zero.

    ``argv`` is the command, ``returncode`` its exit status, ``output`` the tail of what it printed.
    """

    def __init__(
        self,
        message: str,
        *,
        argv: tuple[str, ...] = (),
        returncode: int | None = None,
        output: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.argv = argv
        self.returncode = returncode
        self.output = output


class PreflightError(NixremoteError):
    """A check before anything destructive found that the install cannot go ahead."""

    exit_code = 4


class SafetyError(PreflightError):
    """A destructive step was refused: wrong disk, mounted disk, no confirmation."""


def no_terminal_to_confirm(action: str, *, dry_run: bool = False) -> SafetyError:
    """The one refusal of every command that needs a confirmation when there is no terminal to
    ask on (``install``, ``disk apply``, ``hetzner delete``/``recreate``, the installer)."""
    hint = "pass --yes to confirm" + (", or --dry-run to look first" if dry_run else "")
    return SafetyError(
        f"refusing to {action} without confirmation (no terminal to ask on)", hint=hint
    )


class PlanError(NixremoteError):
    """A disk layout or install plan is inconsistent."""


class ApiError(NixremoteError):
    """A hoster API answered with an error, or an action it started failed or timed out."""

    exit_code = 5
