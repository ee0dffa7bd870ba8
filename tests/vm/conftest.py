"""Fixtures of the QEMU test machine: the built artifacts and a booted rescue VM."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from nixremote.core.progress import logging_reporter
from nixremote.testing.vm import RescueVm, VmArtifacts, build


@pytest.fixture(scope="session")
def vm_artifacts() -> VmArtifacts:
    """The kernel, rescue initramfs and test installer bundle (built on first use, as root;
    cached in NIXREMOTE_VM_CACHE afterwards)."""
    logging.getLogger("nixremote").setLevel(logging.INFO)
    return build(reporter=logging_reporter)


@pytest.fixture(scope="module")
def rescue_vm(
    vm_artifacts: VmArtifacts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RescueVm]:
    """One booted rescue VM per test module (the tests of a module run in file order and may
    leave it changed; the kexec test comes last)."""
    vm = RescueVm(vm_artifacts, workdir=tmp_path_factory.mktemp("vm"), boot_timeout=400)
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()
