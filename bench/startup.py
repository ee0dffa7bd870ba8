"""Start-up time of the ``nixremote`` command, against a bare interpreter in the same run.

Shell completion runs the program on every Tab and scripts call ``--version``; both should cost
little more than starting Python. Prints the median of N runs (default 21) of each command and
its ratio to ``python -c pass``. Goals: ``--version`` at most 3x, ``--help`` at most 6x.

    python3 bench/startup.py [N]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"--version": 3.0, "--help": 6.0}


def nixremote() -> list[str]:
    """The console script next to this interpreter (the venv's), else the one on PATH."""
    here = Path(sys.executable).with_name("nixremote")
    found = str(here) if here.is_file() else shutil.which("nixremote")
    if found is None:
        raise SystemExit("nixremote is not installed; run scripts/setup.sh first")
    return [found]


def median_seconds(argv: list[str], runs: int) -> float:
    env = {**os.environ, "NIXREMOTE_DISABLE_PLUGIN_AUTOLOAD": ""}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    command = nixremote()
    bare = median_seconds([sys.executable, "-c", "pass"], runs)
    print(f"python -c pass      {bare * 1000:7.1f} ms (median of {runs})")
    failed = False
    for flag, goal in GOALS.items():
        took = median_seconds([*command, flag], runs)
        ratio = took / bare
        mark = "ok" if ratio <= goal else "OVER GOAL"
        failed |= ratio > goal
        print(f"nixremote {flag:<10}{took * 1000:7.1f} ms  {ratio:4.1f}x  (goal {goal:g}x) {mark}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
