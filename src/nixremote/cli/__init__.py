"""The ``nixremote`` command line (:mod:`nixremote.cli.main`).

:func:`main` is the console script. ``nixremote --version`` answers here, before click and the
rest of the command line are imported (shell completion and scripts call it often).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> object:
    """Entry point of the ``nixremote`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from .. import __version__

        sys.stdout.write(f"nixremote, version {__version__}\n")
        return 0
    from .main import main as run

    return run(argv)
