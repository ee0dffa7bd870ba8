"""Planning on the controller: the layout the plugins choose, and the plan made of it."""

from __future__ import annotations

import attrs
import pytest

from helpers.diskplans import DISK, INFO
from nixremote.controller.planning import choose_layout
from nixremote.core.errors import PlanError
from nixremote.core.layout import DiskLayout, LayoutOptions, default_layout
from nixremote.core.models import RuntimeInfo


class AcmePlugin:
    """A hoster plugin that mirrors its own hosts' disks and declines everyone else's."""

    from nixremote import hookimpl

    @hookimpl
    def disk_layout(self, info: RuntimeInfo, options: LayoutOptions) -> DiskLayout | None:
        if info.hoster != "acme":
            return None
        return default_layout(
            info, attrs.evolve(options, variant="mirror", disks=("/dev/disk/by-id/acme-2",))
        )


class BrokenPlugin:
    from nixremote import hookimpl

    @hookimpl
    def disk_layout(self, info: RuntimeInfo, options: LayoutOptions) -> object:
        return {"not": "a layout"}


def test_a_hoster_plugin_chooses_its_own_layout(nixremote_pm):
    pm = nixremote_pm(AcmePlugin())
    acme = attrs.evolve(INFO, hoster="acme")
    layout = choose_layout(acme, pm=pm)
    assert layout.pool.vdev == "mirror"
    assert [d.path for d in layout.disks] == [DISK, "/dev/disk/by-id/acme-2"]
    assert choose_layout(INFO, pm=pm) == default_layout(INFO)  # declined: the generic answer
    with pytest.raises(PlanError, match="returned dict, not a DiskLayout"):
        choose_layout(INFO, pm=nixremote_pm(BrokenPlugin()))
