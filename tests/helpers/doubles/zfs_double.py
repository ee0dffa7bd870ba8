#!/usr/bin/env python3
"""TEST DOUBLE of ``zpool`` and ``zfs`` (installed as both names): this machine's kernel has no
ZFS. It records every call (argv, and the sha256 of stdin, never stdin itself) in
``$ZFS_DOUBLE_DIR/calls.jsonl`` and keeps just enough state to behave like the real tools for the
installer's phases: which pools exist and are imported, whether their key is loaded, and one
directory per dataset (``$ZFS_DOUBLE_DIR/datasets/<pool>/<dataset>``) that the ``mount`` double
bind-mounts, so data survives an export and import like on a real pool.

Failure injection: ``DOUBLE_FAIL_ONCE`` holds a command prefix (``"zpool create"``); the first
call that starts with it fails (exit 1, "injected failure"), later ones run normally.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

STATE = Path(os.environ["ZFS_DOUBLE_DIR"])


def load() -> dict:
    path = STATE / "state.json"
    return json.loads(path.read_text()) if path.exists() else {"pools": {}}


def save(state: dict) -> None:
    (STATE / "state.json").write_text(json.dumps(state, indent=1, sort_keys=True))


def fail(message: str, code: int = 1) -> None:
    sys.stderr.write(message + "\n")
    sys.exit(code)


def fail_once(argv: list[str]) -> None:
    prefix = os.environ.get("DOUBLE_FAIL_ONCE", "")
    if not prefix or not " ".join(argv).startswith(prefix):
        return
    marker = STATE / ("failed-once-" + hashlib.sha256(prefix.encode()).hexdigest()[:12])
    if marker.exists():
        return
    marker.write_text(prefix)
    fail(f"{argv[0]}: injected failure (test double)")


def mounted_sources() -> set[str]:
    """Dataset directories bind-mounted somewhere (mountinfo field 4 is the root in the fs)."""
    roots = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        roots.add(line.split()[3])
    return roots


def main() -> None:
    name = Path(sys.argv[0]).name
    argv = [name, *sys.argv[1:]]
    STATE.mkdir(parents=True, exist_ok=True)
    stdin = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    with open(STATE / "calls.jsonl", "a") as log:
        log.write(
            json.dumps(
                {"argv": argv, "stdinSha256": hashlib.sha256(stdin).hexdigest() if stdin else None}
            )
            + "\n"
        )
    fail_once(argv)
    state = load()
    pools = state["pools"]
    args = argv[1:]
    cmd = args[0] if args else ""
    if name == "zpool":
        if cmd == "version":
            print("zfs-2.2.99-testdouble\nzfs-kmod-2.2.99-testdouble")
        elif cmd == "labelclear":
            pass  # nothing to clear: the double keeps no labels on the partition
        elif cmd == "create":
            opts = {}
            rest = args[1:]
            while rest and rest[0] in ("-o", "-O", "-f"):
                if rest[0] == "-f":
                    rest = rest[1:]
                    continue
                key, _, value = rest[1].partition("=")
                opts[key] = value
                rest = rest[2:]
            if rest and rest[0] == "--":
                rest = rest[1:]
            pool, vdevs = rest[0], rest[1:]
            if pool in pools and pools[pool]["imported"]:
                fail(f"cannot create '{pool}': pool already exists")
            for vdev in vdevs:
                if vdev != "mirror" and not Path(vdev).exists():
                    fail(f"cannot open '{vdev}': no such device")
            key_sha = None
            if opts.get("encryption", "off") != "off":
                location = opts.get("keylocation", "prompt")
                if not location.startswith("file://"):
                    fail("test double: expected keylocation=file://")
                key_path = Path(location[len("file://") :])
                data = key_path.read_bytes().split(b"\n")[0]
                key_sha = hashlib.sha256(data).hexdigest()
            pools[pool] = {
                "imported": True,
                "keyLoaded": True,
                "keySha256": key_sha,
                "vdevs": vdevs,
                "options": opts,
                "snapshots": [],
            }
            (STATE / "datasets" / pool).mkdir(parents=True, exist_ok=True)
        elif cmd == "list":
            pool = args[-1]
            if pool not in pools or not pools[pool]["imported"]:
                fail(f"cannot open '{pool}': no such pool")
            print(pool)
            if "-v" in args:  # the vdevs, one a line after a tab (real zpool adds columns)
                for vdev in pools[pool]["vdevs"]:
                    print("\t" + ("mirror-0" if vdev == "mirror" else vdev) + "\t-")
        elif cmd == "import":
            pool = args[-1]
            if "-d" not in args:
                fail("test double: the installer imports with -d")
            if pool not in pools:
                fail(f"cannot import '{pool}': no such pool available")
            if pools[pool]["imported"]:
                fail(f"cannot import '{pool}': a pool with that name is already created/imported")
            pools[pool]["imported"] = True
            pools[pool]["keyLoaded"] = pools[pool]["keySha256"] is None
        elif cmd == "export":
            pool = args[-1]
            if pool not in pools or not pools[pool]["imported"]:
                fail(f"cannot open '{pool}': no such pool")
            base = str(STATE / "datasets" / pool)
            busy = [r for r in mounted_sources() if r == base or r.startswith(base + "/")]
            if busy:
                fail(f"cannot unmount '{busy[0]}': pool or dataset is busy")
            pools[pool]["imported"] = False
            pools[pool]["keyLoaded"] = False
        else:
            fail(f"test double: zpool {cmd} is not implemented", 2)
    else:  # zfs

        def need(dataset: str) -> dict:
            pool = dataset.split("/")[0].split("@")[0]
            if pool not in pools or not pools[pool]["imported"]:
                fail(f"cannot open '{dataset}': dataset does not exist")
            return pools[pool]

        if cmd == "create":
            dataset = args[-1]
            need(dataset)
            (STATE / "datasets" / dataset).mkdir(parents=True, exist_ok=True)
        elif cmd == "snapshot":
            need(args[-1])["snapshots"].append(args[-1])
        elif cmd == "set":
            need(args[-1]).setdefault("set", []).append(args[1])
        elif cmd == "get":
            pool = need(args[-1])
            if args[-2] == "keystatus":
                print("available" if pool["keyLoaded"] else "unavailable")
            else:
                fail(f"test double: zfs get {args[-2]} is not implemented", 2)
        elif cmd == "load-key":
            pool = need(args[-1])
            if "-L" not in args or args[args.index("-L") + 1] != "prompt":
                fail("test double: the installer loads the key with -L prompt (stdin)")
            given = stdin.split(b"\n")[0]
            if hashlib.sha256(given).hexdigest() != pool["keySha256"]:
                fail("Key load error: Incorrect key provided for 'rpool'.", 255)
            pool["keyLoaded"] = True
        else:
            fail(f"test double: zfs {cmd} is not implemented", 2)
    save(state)


if __name__ == "__main__":
    main()
