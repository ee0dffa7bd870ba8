#!/usr/bin/env python3
"""Fault injector (not a double): installed under a real command's name, it fails the first call
whose argv starts with ``$DOUBLE_FAIL_ONCE`` and otherwise runs the real command found later on
``PATH``."""

import hashlib
import os
import shutil
import sys
from pathlib import Path

name = Path(sys.argv[0]).name
here = str(Path(sys.argv[0]).resolve().parent)
prefix = os.environ.get("DOUBLE_FAIL_ONCE", "")
if prefix and " ".join([name, *sys.argv[1:]]).startswith(prefix):
    marker = Path(os.environ["ZFS_DOUBLE_DIR"]) / (
        "failed-once-" + hashlib.sha256(prefix.encode()).hexdigest()[:12]
    )
    if not marker.exists():
        marker.write_text(prefix)
        sys.exit(f"{name}: injected failure")
rest = os.pathsep.join(
    p for p in os.environ["PATH"].split(os.pathsep) if p and str(Path(p).resolve()) != here
)
real = shutil.which(name, path=rest)
assert real, name
os.execv(real, [name, *sys.argv[1:]])
