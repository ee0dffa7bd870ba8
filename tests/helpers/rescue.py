"""A "rescue system" on loopback for the pipeline's kexec phase: an sshd whose session PATH has a
``kexec`` test double (the real kexec would replace this machine's kernel; it runs for real in
the VM test). The double records its calls in ``<state>/calls.jsonl``, the loaded initrd's mode
(``loaded-initrd-mode``) and, at ``kexec -e``, ``<workdir>/known_hosts`` as it was then
(``known-hosts-at-exec``) (and, when given an events
file, appends ``{"event": "kexec", "args": [...]}`` to it); ``kexec -l`` keeps the loaded
initrd; ``kexec -e`` does what booting the installer does for SSH: it stops the rescue sshd,
unpacks the archive appended to the loaded initrd and starts an "installer" sshd on the same port
with the archive's host key and authorized_keys (its PID in ``<state>/installer-sshd.pid``).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nixremote.testing.sshd import LoopbackSshd, find_sshd

KEXEC_DOUBLE = r"""#!/usr/bin/env python3
# kexec test double: records calls; "-e" swaps the rescue sshd for an installer sshd
import json, os, signal, subprocess, sys, time, zlib
from pathlib import Path

state = Path({state!r})
calls = state / "calls.jsonl"
with calls.open("a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
if {events!r}:
    with open({events!r}, "a") as f:
        f.write(json.dumps({{"event": "kexec", "args": sys.argv[1:2]}}) + "\n")
args = sys.argv[1:]
if args[0] == "-l":
    initrd = next(a.split("=", 1)[1] for a in args if a.startswith("--initrd="))
    st = os.stat(initrd)
    (state / "loaded-initrd-mode").write_text(oct(st.st_mode & 0o777))
    (state / "loaded-initrd").write_bytes(Path(initrd).read_bytes())
    sys.exit(0)
known = Path({known!r})
if known.exists():
    (state / "known-hosts-at-exec").write_text(known.read_text())
if args[0] != "-e":
    sys.exit(2)
os.kill({rescue_pid}, signal.SIGTERM)
data = (state / "loaded-initrd").read_bytes()
members = []
while data:
    d = zlib.decompressobj(wbits=31)
    members.append(d.decompress(data))
    data = d.unused_data
root = state / "installer-root"
root.mkdir()
subprocess.run(["cpio", "-i", "-d", "--quiet"], input=members[-1], cwd=root, check=True)
config = state / "installer_sshd_config"
config.write_text("\n".join([
    "ListenAddress 127.0.0.1:{port}",
    f"HostKey {{root}}/ssh/ssh_host_ed25519_key",
    f"AuthorizedKeysFile {{root}}/ssh/authorized_keys",
    f"PidFile {{state}}/installer-sshd.pid",
    "PermitRootLogin prohibit-password", "PasswordAuthentication no", "UsePAM no",
    "StrictModes no", "LogLevel VERBOSE",
]) + "\n")
for _ in range(100):  # the port is free once the rescue sshd is gone
    if subprocess.run([{sshd!r}, "-f", str(config), "-E", str(state / "installer-sshd.log")]
                      ).returncode == 0:
        break
    time.sleep(0.1)
"""


@contextlib.contextmanager
def rescue_system(
    workdir: Path, events: Path | None = None, **sshd_options: Any
) -> Iterator[tuple[LoopbackSshd, Path]]:
    """The rescue sshd and the kexec double's state directory (see the module documentation);
    both sshds are stopped afterwards. ``sshd_options`` go to the rescue's
    :class:`LoopbackSshd` (``extra_config`` after the double's PATH; e.g. those of
    :func:`helpers.sudo.sudo_login`)."""
    state = workdir / "kexec-state"
    bin_dir = workdir / "bin"
    state.mkdir(parents=True)
    bin_dir.mkdir(parents=True)
    extra = sshd_options.pop("extra_config", ())
    server = LoopbackSshd(
        workdir / "rescue",
        extra_config=[f"SetEnv PATH={bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin", *extra],
        **sshd_options,
    )
    server.start()
    assert server._proc is not None
    (bin_dir / "kexec").write_text(
        KEXEC_DOUBLE.format(
            state=str(state),
            rescue_pid=server._proc.pid,
            port=server.port,
            sshd=find_sshd(),
            events=str(events) if events else "",
            known=str(workdir / "known_hosts"),
        )
    )
    (bin_dir / "kexec").chmod(0o755)
    try:
        yield server, state
    finally:
        server.stop()
        pid_file = state / "installer-sshd.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
