"""A non-root login with sudo for a loopback sshd, changing nothing on this machine.

:func:`sudo_login` prepares what an sshd needs to let in the user ``nxsudo`` (uid 4242,
password :data:`PASSWORD`, sudo to root with that password): copies of /etc/passwd,
/etc/shadow, /etc/group and /etc/sudoers that add it, bind-mounted over the real ones by a
``setup`` snippet in a private mount namespace (``prefix``), with tmpfs mounts for its home and
sudo's time stamps. Needs Debian's ``sudo`` and ``openssl``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from nixremote.testing.sshd import keygen

USER = "nxsudo"
PASSWORD = "pw 4 test"


def sudo_login(tmp_path: Path) -> dict[str, Any]:
    """The :class:`~nixremote.testing.sshd.LoopbackSshd` options (``prefix``, ``setup``,
    ``extra_config``, ``authorized_keys_file``, ``identity``) of an sshd that lets ``nxsudo``
    in with the returned ``identity``."""
    etc = tmp_path / "etc"
    etc.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    hashed = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"],
        input=PASSWORD,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    files = {
        "passwd": f"{USER}:x:4242:4242:nixremote test:/home/{USER}:/bin/sh\n",
        "shadow": f"{USER}:{hashed}:19000:0:99999:7:::\n",
        "group": f"{USER}:x:4242:\n",
    }
    for name, extra in files.items():
        (etc / name).write_text(Path(f"/etc/{name}").read_text() + extra)
    (etc / "shadow").chmod(0o640)
    sudoers = etc / "sudoers"
    sudoers.write_text(
        "Defaults env_reset, !lecture, timestamp_timeout=5\n"
        "root ALL=(ALL:ALL) ALL\n"
        f"{USER} ALL=(ALL:ALL) ALL\n"
    )
    sudoers.chmod(0o440)
    identity = keygen(tmp_path / "id_ed25519")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "authorized_keys").write_text(Path(f"{identity}.pub").read_text())
    subprocess.run(["chown", "-R", "4242:4242", str(home)], check=True)
    setup = "\n".join(
        [
            "set -e",
            *(f"mount --bind {etc / n} /etc/{n}" for n in (*files, "sudoers")),
            # The home is reached through a tmpfs /home: pytest's own directories are 0700.
            "mount -t tmpfs -o mode=755 tmpfs /home",
            f"mkdir /home/{USER}",
            f"mount --bind {home} /home/{USER}",
            "mkdir -p /run/sudo",  # sudo's time stamps, private to this namespace
            "mount -t tmpfs -o mode=711 tmpfs /run/sudo",
        ]
    )
    return {
        "prefix": ["unshare", "--mount", "--propagation", "private"],
        "setup": setup,
        "extra_config": [f"AllowUsers {USER}"],
        "authorized_keys_file": ".ssh/authorized_keys",
        "identity": identity,
    }
