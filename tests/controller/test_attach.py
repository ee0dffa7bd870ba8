"""A controller that connects while an earlier controller's installer run still runs follows
that run to its end (over the loopback sshd, with the real zipapp's ``installer follow``)
instead of starting a second one; with no run running it adds nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nixremote.controller import drive, pipeline, zipapp
from nixremote.controller.run import Run
from nixremote.core.progress import Event
from nixremote.installers.follow import START
from nixremote.testing.sshd import LoopbackSshd

EARLIER = """
import json, sys, time
def emit(kind, message, phase="format"):
    print(json.dumps({"kind": kind, "message": message, "phase": phase}), flush=True)
emit("start", "format")
for i in range(3):
    emit("step", f"step {i}")
    time.sleep(0.3)
emit("error", "format failed: boom")
sys.exit(1)
"""


def test_an_earlier_run_is_followed_to_its_end(loopback_sshd: LoopbackSshd, tmp_path: Path) -> None:
    pyz = tmp_path / "nixremote.pyz"
    pyz.write_bytes(zipapp.build_bytes())
    run_dir = tmp_path / "run"
    target = pipeline.Target(
        host=loopback_sshd.host,
        user=loopback_sshd.user,
        port=loopback_sshd.port,
        identity_file=loopback_sshd.identity,
        known_hosts=loopback_sshd.known_hosts,
    )
    events: list[Event] = []
    run = Run(
        target,
        pipeline.InstallOptions(plan_file=str(run_dir / "plan.json"), installer_zipapp=str(pyz)),
        events.append,
        pipeline.ssh_connector,
    )
    transport = run.connect_root(loopback_sshd.port)
    try:
        drive.attach_running(run, transport, sys.executable)  # nothing runs: nothing to say
        assert events == []
        subprocess.run(
            ["sh", "-c", START, "start", str(run_dir), sys.executable, "-c", EARLIER],
            check=True,
            timeout=30,
        )
        drive.attach_running(run, transport, sys.executable)
    finally:
        transport.close()
        run.close()
    pid = (run_dir / "phase.pid").read_text().strip()
    assert (
        events[0].message == f"re-attached to the installer run (pid {pid}) that is still running"
    )
    assert [e.message for e in events[1:]] == [
        "format",
        "step 0",
        "step 1",
        "step 2",
        "earlier run: format failed: boom",
    ]
    assert events[-1].kind == "warning"  # the next run reports (and resumes) the failure
    assert (run_dir / "phase.rc").read_text().strip() == "1"  # it ran to its end
    assert json.loads((run_dir / "phase.log").read_text().splitlines()[0])["kind"] == "start"
