"""Collect time and SSH round trips against a loopback host.

Starts a throw-away OpenSSH sshd on 127.0.0.1 (LogLevel VERBOSE), then times, over several
runs: connecting (TCP + SSH handshake + auth, host key checked strictly), the probe alone (one
exec), and the whole collect (probe + parsing + plugins). Round trips are the exec channels the
transport opened, checked against the ``Starting session: command`` lines in sshd's log.

Run (as root, needs openssh-server): ``python3 bench/collect.py [RUNS]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sshd import start_sshd

from nixremote.controller.collect import collect, collect_facts
from nixremote.controller.ssh import connect
from nixremote.core.plugins import get_plugin_manager
from nixremote.core.transport import LocalTransport


def ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:7.1f} ms   "
        f"min {min(values) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
    )


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    pm = get_plugin_manager(autoload=False)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_sshd(Path(tmp))
        try:
            connects: list[float] = []
            probes: list[float] = []
            collects: list[float] = []
            channels = 0
            for _ in range(runs):
                started = time.perf_counter()
                transport = connect(
                    server.target,
                    port=server.port,
                    identity_file=server.identity,
                    known_hosts=server.known_hosts,
                )
                connected = time.perf_counter()
                with transport:
                    collect_facts(transport)
                    probed = time.perf_counter()
                    info, facts = collect(transport, pm)
                    done = time.perf_counter()
                    channels += transport.commands_run
                connects.append(connected - started)
                probes.append(probed - connected)
                collects.append(done - probed)
            logged = server.wait_for_sessions(channels)
        finally:
            server.stop()
    local: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        collect(LocalTransport(), pm)
        local.append(time.perf_counter() - started)
    size = sum(len(text) for text in facts.sections.values())
    print(
        f"runs: {runs}, against sshd on 127.0.0.1 (probe output {size} bytes, "
        f"{len(info.interfaces)} interfaces, {len(info.disks)} disks)"
    )
    print(f"connect (handshake + auth):  {ms(connects)}")
    print(f"probe only (one exec):       {ms(probes)}")
    print(f"collect (probe + plugins):   {ms(collects)}")
    print(f"collect on this machine:     {ms(local)}  (LocalTransport, no SSH)")
    per_collect = channels / (2 * runs)
    print(
        f"exec channels per collect: {per_collect:g} by the transport's counter, "
        f"{logged / (2 * runs):g} by sshd's log"
    )
    if channels != logged or per_collect != 1:
        print("MISMATCH: a collect must open exactly one exec channel", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
