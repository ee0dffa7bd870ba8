#!/usr/bin/env python3
"""The handoff with an uploaded bundle and with a URL bundle: bytes the controller sends, time
to the installer's SSH.

    python3 bench/handoff.py [--only upload|url] [--json]

For each way, a fresh rescue VM (QEMU, TCG) runs nixremote's kexec phase (the library's
``install(..., phases=("kexec",))``: collect, plan, preflight, upload, ``kexec``, reconnect to
the installer verified) with the test installer bundle:

- ``upload``: the kernel and initrd travel from this machine over SSH;
- ``url``: a URL bundle (``nixremote kexec url-bundle``); the VM downloads the kernel and initrd
  from a loopback HTTP server on this machine through QEMU's ``guestfwd`` (10.0.2.100:80;
  ``restrict=on`` stays, no traffic leaves this machine), checking their sha256.

Prints, per way: the payload bytes the controller sent (the bundle files it uploaded and the
handoff archive, which carries the installer zipapp), the bundle's own size, and the seconds from
the start of the phase to the verified installer SSH. Goal: with a URL the controller sends under
2 MiB, whatever the bundle's size. Under TCG the times depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.httpserve import serve
from nixremote.controller import pipeline
from nixremote.testing.vm import RescueVm, VmArtifacts, build

MIB = 1024 * 1024


def run_way(art: VmArtifacts, way: str, work: Path) -> dict[str, object]:
    bundle_bytes = sum(p.stat().st_size for p in (art.bundle_dir / "bzImage", art.installer_initrd))
    with serve(art.bundle_dir) as (base, requests):
        port = int(base.rsplit(":", 1)[1])
        bundle = art.bundle_dir
        if way == "url":
            bundle = work / "url-bundle"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "nixremote.cli.main",
                    "kexec",
                    "url-bundle",
                    str(art.bundle_dir),
                    "http://10.0.2.100",
                    "-o",
                    str(bundle),
                ],
                check=True,
                capture_output=True,
            )
        vm = RescueVm(art, workdir=work / "vm", boot_timeout=400, no_reboot=True, http_forward=port)
        vm.start()
        try:
            known = work / "known_hosts"
            known.write_text(vm.known_hosts_line + "\n")
            t = time.monotonic()
            result = pipeline.install(
                pipeline.Target(
                    host=vm.host,
                    user="root",
                    port=vm.ssh_port,
                    identity_file=vm.identity_file,
                    known_hosts=known,
                ),
                pipeline.InstallOptions(
                    bundle=bundle,
                    phases=("kexec",),
                    yes=True,
                    disks=(vm.disk_by_id,),
                ),
            )
            seconds = time.monotonic() - t
        finally:
            vm.stop()
    return {
        "way": way,
        "controller_sent_bytes": result.uploaded_bytes,
        "bundle_bytes": bundle_bytes,
        "target_downloads": sorted(requests),
        "to_installer_ssh_s": round(seconds, 1),
    }


def main() -> int:
    # paramiko prints the failed attempts of the wait for the installer's SSH: expected here
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("upload", "url"), default=None)
    ap.add_argument("--json", action="store_true", help="print one JSON object a way")
    args = ap.parse_args()
    art = build()
    ways = [args.only] if args.only else ["upload", "url"]
    for way in ways:
        with tempfile.TemporaryDirectory(prefix=f"nixremote-bench-{way}-") as d:
            figures = run_way(art, way, Path(d))
        if args.json:
            print(json.dumps(figures), flush=True)
        else:
            sent = int(figures["controller_sent_bytes"])  # type: ignore[call-overload]
            print(
                f"{way:>6}: controller sent {sent} bytes ({sent / MIB:.2f} MiB) of a "
                f"{int(figures['bundle_bytes']) / MIB:.1f} MiB bundle; "  # type: ignore[call-overload]
                f"installer SSH after {figures['to_installer_ssh_s']} s"
                + (
                    f"; the target downloaded {figures['target_downloads']}" if way == "url" else ""
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
