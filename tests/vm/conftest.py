"""Fixtures of the QEMU test machine: the built artifacts, a booted rescue VM, and one booted on
the hoster-mode network."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from nixremote.core.progress import logging_reporter
from nixremote.testing.vm import RescueVm, VmArtifacts, build
from nixremote.testing.vm.hoster import HosterNetwork


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


@pytest.fixture(scope="module")
def hoster_vm(
    request: pytest.FixtureRequest,
    vm_artifacts: VmArtifacts,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RescueVm]:
    """One rescue VM per test module on the hoster-mode network (QEMU in a namespace that plays
    the hoster's router, every address static): the module's ``HOSTER_NETWORK`` (a
    :class:`HosterNetwork`; default: dual stack). A 4 GiB disk; a guest reboot ends QEMU
    (``no_reboot``). The namespace, its veth and taps are removed afterwards, also on failure."""
    network = getattr(request.module, "HOSTER_NETWORK", HosterNetwork())
    vm = RescueVm(
        vm_artifacts,
        workdir=tmp_path_factory.mktemp("hoster-vm"),
        network=network,
        disk_size=4 * 1024**3,
        boot_timeout=400,
        no_reboot=True,
    )
    try:
        vm.start()
        yield vm
    finally:
        vm.stop()
