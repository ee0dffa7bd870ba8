"""The user's known_hosts file: where nixremote records the host keys it pinned.

Keys are recorded only when nixremote generated them or received them over a verified
connection (the installer's, a new server's, the installed system's and its initrd's).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..core.hostkeys import parse_public_key


def known_hosts_host(host: str, port: int = 22) -> str:
    """The host field of a known_hosts line: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def record_known_host(
    path: Path, host: str, port: int, public_lines: Iterable[str], *, replace: bool = True
) -> None:
    """Record the keys of ``host:port`` in the known_hosts file ``path``.

    With ``replace`` (the default) older lines for exactly this host and port are dropped first:
    nixremote calls this only with keys it generated or received over a verified connection,
    after the host was reinstalled. The file is rewritten atomically with mode 0600.
    """
    name = known_hosts_host(host, port)
    new = [f"{name} {' '.join(line.split()[:2])}" for line in public_lines]
    for line in new:
        parse_public_key(line.split(" ", 1)[1])
    old: list[str] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if replace and fields and name in fields[0].split(","):
                continue
            old.append(line)
    text = "\n".join([*old, *(n for n in new if n not in old)]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".known_hosts.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
