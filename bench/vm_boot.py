#!/usr/bin/env python3
"""Timings of the QEMU test machine (TCG): build, rescue boot to SSH, kexec to installer SSH.

    python3 bench/vm_boot.py [--cold] [--cache-dir DIR] [--kexec-flag -i] [--json]

Prints (seconds unless said otherwise):

- build, cold: with ``--cold``, a build into an empty cache directory (a temporary one unless
  ``--cache-dir`` is given; needs root and the Debian mirrors);
- build, cached: the same call once the cache is complete;
- rescue boot to SSH: QEMU start to the first successful SSH command (ready marker included);
- upload: the bundle (kernel + initrd) and the handoff archive over scp;
- kexec -l: loading the installer kernel;
- kexec to installer SSH: ``kexec -e`` issued (over SSH, detached, after ``sleep 1``: both
  included) to the first successful SSH command with the installer's pinned host key; also the
  part of it before the new kernel's clock starts (old kernel shutdown, purgatory, the bzImage
  decompressing itself);
- initrd sizes: compressed file and unpacked bytes of both images.

The VM runs under TCG, so the figures depend on the host's load: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
import zipapp
from pathlib import Path

from nixremote.testing.vm import (
    INSTALLER_READY_MARKER,
    RescueVm,
    build,
    cpio,
    generate_key,
    handoff_archive,
)


def _zipapp() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "__main__.py").write_text("import json, sys; print(json.dumps(sys.argv))\n")
        out = io.BytesIO()
        zipapp.create_archive(d, out)
        return out.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--cold", action="store_true", help="also time a build from an empty cache")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument(
        "--kexec-flag",
        action="append",
        default=[],
        help="extra flag for kexec -l (e.g. -i to skip purgatory's checksum)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    figures: dict[str, object] = {}
    cold_tmp: str | None = None
    cache = args.cache_dir
    if args.cold:
        if cache is None:
            cold_tmp = tempfile.mkdtemp(prefix="nixremote-vm-cold-")
            cache = Path(cold_tmp)
        elif cache.exists() and any(cache.iterdir()):
            ap.error(f"--cold needs an empty --cache-dir; {cache} is not empty")
        t = time.monotonic()
        build(cache)
        figures["build_cold_s"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    art = build(cache)
    figures["build_cached_s"] = round(time.monotonic() - t, 2)
    meta = json.loads(art.bundle_json.read_text())
    figures["rescue_initrd_bytes"] = art.rescue_initrd.stat().st_size
    figures["rescue_initrd_unpacked_bytes"] = art.rescue_initrd_unpacked_bytes
    figures["installer_initrd_bytes"] = art.installer_initrd.stat().st_size
    figures["installer_initrd_unpacked_bytes"] = meta["initrdUnpackedBytes"]
    figures["kernel_bytes"] = art.kernel.stat().st_size

    with tempfile.TemporaryDirectory(prefix="nixremote-vm-bench-") as work:
        wd = Path(work)
        vm = RescueVm(art, workdir=wd / "vm", boot_timeout=600)
        try:
            t = time.monotonic()
            vm.start()
            figures["rescue_ready_marker_s"] = round(time.monotonic() - t, 1)
            vm.wait_for_ssh()
            figures["rescue_boot_to_ssh_s"] = round(time.monotonic() - t, 1)
            assert vm.client_key is not None
            key = generate_key(wd / "installer_key", "bench-installer")
            archive = handoff_archive(
                host_key=key,
                authorized_keys=(vm.client_key.public,),
                extra=(cpio.file_entry("nixremote/nixremote.pyz", _zipapp()),),
            )
            (wd / "handoff.cpio.gz").write_bytes(archive)
            vm.ssh(["mkdir", "-p", "/root/bundle"])
            t = time.monotonic()
            for name in (meta["kernel"], meta["initrd"]):
                vm.scp_to(art.bundle_dir / name, f"/root/bundle/{name}")
            vm.scp_to(wd / "handoff.cpio.gz", "/root/bundle/handoff.cpio.gz")
            figures["upload_s"] = round(time.monotonic() - t, 1)
            vm.ssh(
                [
                    "sh",
                    "-c",
                    'cat "$1" "$2" > "$3"',
                    "concat",
                    f"/root/bundle/{meta['initrd']}",
                    "/root/bundle/handoff.cpio.gz",
                    "/root/bundle/combined.img",
                ]
            )
            t = time.monotonic()
            vm.ssh(
                [
                    "kexec",
                    "-l",
                    *args.kexec_flag,
                    f"/root/bundle/{meta['kernel']}",
                    "--initrd=/root/bundle/combined.img",
                    f"--append={meta['kernelParams']}",
                ]
            )
            figures["kexec_load_s"] = round(time.monotonic() - t, 1)
            offset = vm.console_offset()
            t = time.monotonic()
            # as the test does: detach, so that the SSH session ends before the kernel switch
            vm.ssh(["sh", "-c", "nohup sh -c 'sleep 1; kexec -e' >/dev/null 2>&1 &"])
            line, _ = vm.wait_for_console(INSTALLER_READY_MARKER, start=offset, timeout=600)
            marker_s = time.monotonic() - t
            figures["kexec_to_installer_marker_s"] = round(marker_s, 1)
            uptime = float(line.rsplit("uptime=", 1)[1].split()[0])
            figures["kexec_before_new_kernel_clock_s"] = round(marker_s - uptime, 1)
            vm.wait_for_ssh(known_hosts=vm.known_hosts_for(key.public, "installer"))
            figures["kexec_to_installer_ssh_s"] = round(time.monotonic() - t, 1)
        finally:
            vm.stop()
    if cold_tmp:
        shutil.rmtree(cold_tmp, ignore_errors=True)

    if args.json:
        print(json.dumps(figures, indent=2, sort_keys=True))
    else:
        width = max(len(k) for k in figures)
        for k, v in figures.items():
            if k.endswith("_bytes") and isinstance(v, int):
                print(f"{k:<{width}}  {v / 1024 / 1024:8.1f} MiB")
            else:
                print(f"{k:<{width}}  {v:8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
