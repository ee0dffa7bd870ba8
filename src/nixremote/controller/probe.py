"""The probe: one POSIX ``sh`` script that prints every raw fact about a host in one SSH exec.

The script is sent as ``["sh", "-c", script]`` and needs nothing beyond a POSIX shell and the
tools of a minimal Debian or busybox rescue system (no jq, ethtool or gawk). Each fact is printed
between marker lines that carry a nonce chosen per run, so no fact text can forge a marker::

    @@<nonce> probe 1
    @@<nonce> begin ip-addr
    [{"ifindex": 1, ...}]
    @@<nonce> end ip-addr 0

The number after ``end`` is the exit status of the fact's command. A fact whose command failed
or is missing (exit status other than 0) is left out of the :class:`~nixremote.core.facts.Facts`,
so parsers see it as unknown; the section ``probe-status`` lists every fact with its status.

Sections (see :data:`SECTIONS`) and what reads them: :mod:`nixremote.controller.parsers`.
"""

from __future__ import annotations

import re
import secrets

from ..core.errors import InvalidInputError
from ..core.facts import Facts

PROBE_VERSION = 1

SECTIONS: tuple[tuple[str, str], ...] = (
    ("uid", "numeric user id the probe ran as (``id -u``)"),
    ("hostname", "the kernel's host name (/proc/sys/kernel/hostname)"),
    ("hostname-f", "``hostname -f`` (the fully qualified name, when resolvable locally)"),
    ("os-release", "/etc/os-release (or /usr/lib/os-release)"),
    ("uname-m", "``uname -m``: the machine architecture"),
    ("meminfo", "the MemTotal line of /proc/meminfo"),
    ("efi", "``1`` when /sys/firmware/efi exists (booted by UEFI), else ``0``"),
    ("dmi-sys-vendor", "/sys/class/dmi/id/sys_vendor"),
    ("dmi-product-name", "/sys/class/dmi/id/product_name"),
    ("machine-id", "/etc/machine-id"),
    ("authorized-keys", "root's ~/.ssh/authorized_keys"),
    ("ip-addr", "``ip -j -d addr show``: links and addresses as JSON (text without -j)"),
    ("ip-route4", "``ip -j -4 route show`` (text where ip has no -j, as busybox's)"),
    ("ip-route6", "``ip -j -6 route show`` (text where ip has no -j)"),
    ("nics", "per /sys/class/net entry: MAC, ifindex, type, driver, udev ID_NET_NAME_* names"),
    ("lsblk", "``lsblk -J -b`` with the columns nixremote reads"),
    ("sys-block", "per /sys/block entry: name, maj:min, size in sectors, removable, rotational"),
    ("disk-by-id", "each /dev/disk/by-id link and the device it points to"),
    ("root-mount", "the /proc/self/mountinfo lines of the mount at /"),
    ("resolv-conf", "/etc/resolv.conf"),
    ("resolv-conf-upstream", "/run/systemd/resolve/resolv.conf (resolved's upstream servers)"),
    ("kexec", "the path of the kexec binary, or empty when it is not installed"),
    ("kexec-load-disabled", "/proc/sys/kernel/kexec_load_disabled"),
)
"""(section name, what it holds), in the order the probe prints them."""

_SCRIPT = r"""
N='@@__NONCE__'
export LC_ALL=C PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
have() { command -v "$1" >/dev/null 2>&1; }
s() {
  name=$1; shift
  printf '\n%s begin %s\n' "$N" "$name"
  ( "$@" ) 2>/dev/null
  rc=$?
  printf '\n%s end %s %s\n' "$N" "$name" "$rc"
}
first() { for f in "$@"; do if [ -r "$f" ]; then cat "$f"; return; fi; done; return 1; }
hostname_f() {
  if have timeout; then timeout 5 hostname -f; else hostname -f; fi
}
efi() { if [ -d /sys/firmware/efi ]; then echo 1; else echo 0; fi; }
ipj() { have ip || return 127; ip -j "$@" 2>/dev/null || { [ "$1" = -d ] && shift; ip "$@"; }; }
nics() {
  for d in /sys/class/net/*; do
    [ -e "$d" ] || continue
    n=${d##*/}
    echo "iface $n"
    for f in address ifindex type; do
      [ -r "$d/$f" ] && printf '%s %s\n' "$f" "$(cat "$d/$f" 2>/dev/null)"
    done
    if [ -e "$d/device" ]; then
      if [ -L "$d/device/driver" ]; then
        l=$(readlink "$d/device/driver"); echo "driver ${l##*/}"
      fi
    else
      echo "virtual 1"
    fi
    ix=$(cat "$d/ifindex" 2>/dev/null)
    if [ -n "$ix" ] && [ -r "/run/udev/data/n$ix" ]; then
      while IFS= read -r l; do
        case $l in E:ID_NET_NAME*) echo "udev ${l#E:}";; esac
      done < "/run/udev/data/n$ix"
    elif have udevadm; then
      udevadm info -q property -p "$d" 2>/dev/null | while IFS= read -r l; do
        case $l in ID_NET_NAME*) echo "udev $l";; esac
      done
    fi
  done
}
lsblkj() {
  have lsblk || return 127
  lsblk -J -b -o NAME,KNAME,PATH,MAJ:MIN,TYPE,SIZE,MODEL,SERIAL,ROTA,RM,RO,MOUNTPOINT,PKNAME \
    || lsblk -J -b -o NAME,KNAME,MAJ:MIN,TYPE,SIZE,MODEL,SERIAL,ROTA,RM,RO,MOUNTPOINT,PKNAME
}
sysblock() {
  for d in /sys/block/*; do
    [ -e "$d" ] || continue
    m=""
    [ -r "$d/device/model" ] && m=$(cat "$d/device/model" 2>/dev/null)
    printf '%s %s %s %s %s %s\n' "${d##*/}" "$(cat "$d/dev")" "$(cat "$d/size")" \
      "$(cat "$d/removable" 2>/dev/null || echo 0)" \
      "$(cat "$d/queue/rotational" 2>/dev/null || echo -)" "$m"
  done
}
byid() {
  [ -d /dev/disk/by-id ] || return 1
  for l in /dev/disk/by-id/*; do
    [ -L "$l" ] || continue
    printf '%s %s\n' "$l" "$(readlink -f "$l")"
  done
}
rootmount() {
  set -f
  while IFS= read -r line; do
    set -- $line
    [ "$5" = / ] && printf '%s\n' "$line"
  done < /proc/self/mountinfo
  return 0
}
memtotal() {
  while read -r k v u; do
    if [ "$k" = MemTotal: ]; then echo "$k $v $u"; return 0; fi
  done < /proc/meminfo
  return 1
}
kexecpath() { command -v kexec || true; }
printf '%s probe __VERSION__\n' "$N"
s uid id -u
s hostname cat /proc/sys/kernel/hostname
s hostname-f hostname_f
s os-release first /etc/os-release /usr/lib/os-release
s uname-m uname -m
s meminfo memtotal
s efi efi
s dmi-sys-vendor cat /sys/class/dmi/id/sys_vendor
s dmi-product-name cat /sys/class/dmi/id/product_name
s machine-id cat /etc/machine-id
s authorized-keys cat /root/.ssh/authorized_keys
s ip-addr ipj -d addr show
s ip-route4 ipj -4 route show
s ip-route6 ipj -6 route show
s nics nics
s lsblk lsblkj
s sys-block sysblock
s disk-by-id byid
s root-mount rootmount
s resolv-conf cat /etc/resolv.conf
s resolv-conf-upstream cat /run/systemd/resolve/resolv.conf
s kexec kexecpath
s kexec-load-disabled cat /proc/sys/kernel/kexec_load_disabled
printf '\n%s done\n' "$N"
"""

_NONCE_RE = re.compile(r"^@@(NIXREMOTE-[0-9a-f]{16}) probe (\d+)$")


def new_nonce() -> str:
    """A fresh marker nonce (``NIXREMOTE-`` and 16 hex digits)."""
    return "NIXREMOTE-" + secrets.token_hex(8)


def probe_script(nonce: str | None = None) -> str:
    """The probe script, with markers carrying ``nonce`` (a fresh one when not given)."""
    nonce = nonce or new_nonce()
    if not re.fullmatch(r"NIXREMOTE-[0-9a-f]{16}", nonce):
        raise InvalidInputError(f"bad probe nonce {nonce!r}", hint="use probe.new_nonce()")
    return _SCRIPT.replace("__NONCE__", nonce).replace("__VERSION__", str(PROBE_VERSION))


def probe_argv(nonce: str | None = None) -> list[str]:
    """The argv that runs the probe: ``["sh", "-c", <script>]``."""
    return ["sh", "-c", probe_script(nonce)]


def split_probe_output(text: str, *, source: str = "unknown") -> Facts:
    """Split the probe's output into :class:`Facts`.

    The nonce is read from the first marker line. Sections whose command exited non-zero are
    dropped (unknown facts); ``probe-status`` lists ``<section> <status>`` for every section.
    Text that is not probe output at all raises :class:`InvalidInputError`.
    """
    lines = text.splitlines()
    nonce = None
    start = 0
    for index, line in enumerate(lines):
        match = _NONCE_RE.match(line.strip())
        if match:
            nonce = match.group(1)
            start = index + 1
            break
    if nonce is None:
        raise InvalidInputError(
            f"the probe output from {source} has no probe header",
            hint="the host's sh printed something unexpected; run with -v to see it",
        )
    begin = f"@@{nonce} begin "
    end = f"@@{nonce} end "
    sections: dict[str, str] = {}
    status: list[str] = []
    name: str | None = None
    body: list[str] = []
    for line in lines[start:]:
        if name is None:
            if line.startswith(begin):
                name = line[len(begin) :].strip()
                body = []
            continue
        if line.startswith(end):
            rest = line[len(end) :].split()
            code = rest[1] if len(rest) > 1 else "?"
            status.append(f"{name} {code}")
            if code == "0":
                sections[name] = "\n".join(body).strip("\n")
            name = None
            continue
        body.append(line)
    if name is not None:
        status.append(f"{name} truncated")
    sections["probe-status"] = "\n".join(status)
    return Facts(sections=sections, source=source)


def format_facts(facts: Facts, *, nonce: str | None = None) -> str:
    """Render ``facts`` back into the probe's output format (for captures and ``--save-facts``).

    Only the known sections are rendered; :func:`split_probe_output` reads the text back.
    """
    nonce = nonce or new_nonce()
    out = [f"@@{nonce} probe {PROBE_VERSION}"]
    for name, text in facts.sections.items():
        if name == "probe-status":
            continue
        out += ["", f"@@{nonce} begin {name}", text, "", f"@@{nonce} end {name} 0"]
    out += ["", f"@@{nonce} done", ""]
    return "\n".join(out)


def missing_sections(facts: Facts) -> tuple[str, ...]:
    """The probe sections that are unknown in ``facts`` (their command failed or was missing)."""
    return tuple(name for name, _ in SECTIONS if not facts.has(name))
