"""The rescue VM booted with OVMF (UEFI) instead of SeaBIOS."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixremote.testing.vm import RescueVm, VmArtifacts

pytestmark = pytest.mark.vm


def test_uefi_boot(vm_artifacts: VmArtifacts, tmp_path: Path) -> None:
    with RescueVm(
        vm_artifacts, workdir=tmp_path / "vm", uefi=True, disk_size=1024**3, boot_timeout=400
    ) as vm:
        r = vm.ssh(
            [
                "sh",
                "-c",
                "cat /sys/firmware/efi/fw_platform_size; "
                "mountpoint -q /sys/firmware/efi/efivars && echo efivars",
            ]
        )
        assert r.stdout.split() == ["64", "efivars"]
        assert vm.ssh(["readlink", "-f", vm.disk_by_id]).stdout.strip() == "/dev/vda"
