"""Phase names and the parser of --phases."""

from __future__ import annotations

import pytest

from nixremote.core.errors import InvalidInputError
from nixremote.core.phases import INSTALLER_PHASES, parse_phases


def test_phase_selection_keeps_pipeline_order() -> None:
    assert parse_phases(None, INSTALLER_PHASES) == INSTALLER_PHASES
    assert parse_phases("", INSTALLER_PHASES) == INSTALLER_PHASES
    assert parse_phases("install, format", INSTALLER_PHASES) == ("format", "install")
    with pytest.raises(InvalidInputError, match="unknown phase 'kexec'"):
        parse_phases("kexec,format", INSTALLER_PHASES)
