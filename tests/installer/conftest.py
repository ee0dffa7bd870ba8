"""Fixtures for the installer-phase tests (see ``installer_env.py``).

Needs root, util-linux, gdisk, dosfstools, openssh-client and fusefat (Debian packages).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from installer_env import KEY_DIR, InstallerEnv, private_mount_namespace, sh


@pytest.fixture
def installer_env(tmp_path: Path) -> Iterator[InstallerEnv]:
    """A loop disk and its runtime info, in a private mount namespace with /run/nixremote on a
    fresh tmpfs (the installer's)."""
    with private_mount_namespace():
        KEY_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", "mode=0700,size=16m", "nixremote-test", str(KEY_DIR))
        env = InstallerEnv(tmp_path)
        try:
            yield env
        finally:
            env.cleanup()
            sh("umount", str(KEY_DIR), check=False)
