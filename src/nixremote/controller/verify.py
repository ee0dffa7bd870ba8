"""The verify phase: after the reboot, is the installed system what the plan said, and healthy?

One SSH command on the installed system (reached with its pinned host key) reports what a user
would check by hand: its host name, ``nixos-version``, that ``/`` is the pool's ``local/root``
and was reset to ``@blank`` at boot (the install's marker is gone), that ``/persist`` holds the
host keys, and the pool's health (``zpool status -x``). :func:`check_system` turns the answer
into a :class:`SystemReport` and refuses, with one line naming the first fault, a system that is
not as planned.
"""

from __future__ import annotations

from attrs import frozen

from ..core.errors import NixremoteError
from ..core.hostflake import INSTALL_MARKER
from ..core.transport import Transport

PHASE = "verify"

MARKER = INSTALL_MARKER

_PROBE = r"""
pool=$1
echo "hostname=$(hostname)"
echo "nixos_version=$(nixos-version 2>/dev/null || echo none)"
echo "root_source=$(findmnt -n -o SOURCE / 2>/dev/null)"
if [ -e "$2" ]; then echo "root_reset=no"; else echo "root_reset=yes"; fi
n=0
for k in /persist/etc/ssh/ssh_host_ed25519_key /persist/etc/ssh/ssh_host_rsa_key \
         /persist/etc/secrets/initrd/ssh_host_ed25519_key; do
    [ -s "$k" ] && n=$((n + 1))
done
echo "persist_keys=$n"
echo "pool_health=$(zpool status -x "$pool" 2>&1 | head -n 1)"
echo "uptime=$(cut -d' ' -f1 /proc/uptime)"
"""


class VerifyError(NixremoteError):
    """The installed system is up but not as planned (a check failed)."""

    exit_code = 4


@frozen(kw_only=True)
class SystemReport:
    """What the installed system said about itself."""

    host_name: str
    nixos_version: str
    root_source: str
    root_reset: bool
    persist_keys: int
    pool_health: str
    uptime_seconds: float

    def data(self) -> dict[str, str]:
        return {
            "hostName": self.host_name,
            "nixosVersion": self.nixos_version,
            "root": self.root_source,
            "rootReset": str(self.root_reset).lower(),
            "persistKeys": str(self.persist_keys),
            "pool": self.pool_health,
            "uptimeSeconds": f"{self.uptime_seconds:.0f}",
        }


def parse_report(text: str) -> SystemReport:
    """The probe's ``key=value`` lines (pure)."""
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    try:
        uptime = float(values.get("uptime", "0") or 0)
        keys = int(values.get("persist_keys", "0") or 0)
    except ValueError:
        uptime, keys = 0.0, 0
    return SystemReport(
        host_name=values.get("hostname", ""),
        nixos_version=values.get("nixos_version", "none"),
        root_source=values.get("root_source", ""),
        root_reset=values.get("root_reset") == "yes",
        persist_keys=keys,
        pool_health=values.get("pool_health", ""),
        uptime_seconds=uptime,
    )


def check_system(transport: Transport, *, host_name: str | None, pool: str) -> SystemReport:
    """Ask the installed system (one exec) and refuse a system that is not as planned
    (``host_name``: the plan's; ``None`` when no plan is at hand)."""
    result = transport.run(["sh", "-c", _PROBE, "verify", pool, MARKER], check=False, timeout=60)
    report = parse_report(result.text)
    expected = host_name.split(".", 1)[0] if host_name else report.host_name
    faults = []
    if report.host_name != expected or not expected:
        faults.append(f"its host name is {report.host_name or 'unknown'}, not {expected}")
    if report.root_source != f"{pool}/local/root":
        faults.append(f"/ is {report.root_source or 'unknown'}, not {pool}/local/root")
    elif not report.root_reset:
        faults.append(f"/ was not reset to {pool}/local/root@blank at boot")
    if report.persist_keys < 3:
        faults.append(f"/persist holds {report.persist_keys} of its 3 host keys")
    if "is healthy" not in report.pool_health:
        faults.append(f"the pool is not healthy: {report.pool_health or 'no answer'}")
    if faults:
        raise VerifyError(
            f"{expected} is up but not as planned: {faults[0]}",
            hint="log in and look (ssh root@HOST); the install's log is in "
            "/persist/nixos-install.log",
        )
    return report
