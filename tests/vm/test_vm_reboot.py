"""A guest reboot with ``no_reboot``: QEMU exits, the rescue system boots again from cold on the
same disk, port and pinned host key (how a test looks at the disk after the installer reboots)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixremote.testing.vm import RESCUE_READY_MARKER, RescueVm, VmArtifacts

pytestmark = pytest.mark.vm


def test_restart_after_guest_reboot(vm_artifacts: VmArtifacts, tmp_path: Path) -> None:
    with RescueVm(
        vm_artifacts, workdir=tmp_path / "vm", no_reboot=True, disk_size=1024**3, boot_timeout=400
    ) as vm:
        port, known = vm.ssh_port, vm.known_hosts_file.read_text()
        first = vm.ssh(["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()
        vm.ssh(
            [
                "sh",
                "-c",
                "printf survives-reboot | dd of=/dev/vda bs=512 seek=100 conv=fsync 2>/dev/null",
            ]
        )
        vm.ssh(["sh", "-c", "nohup sh -c 'sleep 1; reboot' >/dev/null 2>&1 &"])
        vm.restart_after_reboot(timeout=300)
        assert (vm.ssh_port, vm.known_hosts_file.read_text()) == (port, known)
        second = vm.ssh(["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()
        assert second != first
        data = vm.ssh(["dd", "if=/dev/vda", "bs=512", "skip=100", "count=1", "status=none"])
        assert data.stdout.startswith("survives-reboot")
        before = vm.console_log.with_name("console.before-reboot.log").read_text()
        assert RESCUE_READY_MARKER in before and "reboot" in before
