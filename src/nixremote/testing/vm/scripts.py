"""The shell and Python scripts that go into the VM's two initramfs images.

Kept as strings (not package data files) so the module works from a wheel as well as from the
source tree; the builder hashes them into its cache key, so editing one rebuilds what uses it.

Both images boot the same way: ``/init`` mounts the kernel filesystems, restores the handoff
archive appended as a second initrd (layout of ``docs/kexec-bundle.md``), starts udev (for
``/dev/disk/by-id`` and module autoloading), brings the network up, starts OpenSSH's sshd with the
handed-in host key, prints a ready marker on the serial console and then execs busybox ``init`` as
PID 1.

The network:

- the rescue system takes a DHCP lease from QEMU's user-mode network on its first NIC, or, in
  hoster mode, applies the static network it finds in the appended archive
  (``vm/static-network``: ``ip`` arguments, a line each), with no DHCP at all;
- the test installer first renames its NICs to udev's path names (``eth0`` -> ``enp0s3``: a
  systemd-based installer names them so, the rescue system does not), then runs the production
  network restore (``nixremote.installers.restore_network``, shipped as
  ``/usr/lib/nixremote/restore_network.py``) with ``--ip`` on the handed-over dump and runtime
  info, and takes DHCP only on the NICs it did not configure statically, like the NixOS image's
  DHCP fallback unit. ``nixremote.test.restore=off`` on the kernel command line skips the restore
  (test instrumentation: the negative test).
"""

from __future__ import annotations

RESCUE_READY_MARKER = "NIXREMOTE-RESCUE-READY"
INSTALLER_READY_MARKER = "NIXREMOTE-INSTALLER-READY"
BOOT_FAILED_MARKER = "NIXREMOTE-BOOT-FAILED"

# Shared by both images; ``@MARKER@`` and ``@NAME@`` are filled in per image.
INIT = r"""#!/bin/sh
# @NAME@ /init: nixremote test machine (see nixremote.testing.vm.scripts)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
BOOT_FAILED_MARKER=@FAILED@
umask 022
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp /var/log /var/tmp
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm
chmod 1777 /tmp /var/tmp
if [ -d /sys/firmware/efi/efivars ]; then
    mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
fi
ln -sf /proc/self/fd /dev/fd 2>/dev/null
ln -sf /proc/self/fd/0 /dev/stdin 2>/dev/null
ln -sf /proc/self/fd/1 /dev/stdout 2>/dev/null
ln -sf /proc/self/fd/2 /dev/stderr 2>/dev/null
ln -sf /proc/mounts /etc/mtab 2>/dev/null

say() { echo "@NAME@: [$(cut -d' ' -f1 /proc/uptime)] $*" > /dev/console; }
say "init started"
if [ -x /etc/nixremote/installed-boot.sh ] && grep -q 'nixremote.standin=installed' /proc/cmdline
then
    exec /etc/nixremote/installed-boot.sh  # the installed system's stand-in (standin.py)
fi
hostname @NAME@

# -- the archive appended as a second initrd (docs/kexec-bundle.md) --------------------------
mkdir -p /etc/ssh /root/network
chmod 0700 /root
if [ -f /ssh/ssh_host_ed25519_key ]; then
    cp /ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
    chmod 0600 /etc/ssh/ssh_host_ed25519_key
    cp /ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key.pub
    chmod 0644 /etc/ssh/ssh_host_ed25519_key.pub
    say "host key restored from the appended archive"
else
    say "WARNING: no host key in the appended archive, generating one"
    ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
fi
if [ -f /ssh/authorized_keys ]; then
    mkdir -p /root/.ssh
    chmod 0700 /root/.ssh
    cp /ssh/authorized_keys /root/.ssh/authorized_keys
    chmod 0600 /root/.ssh/authorized_keys
fi
for f in /*.json; do
    [ -f "$f" ] && cp "$f" /root/network/ && chmod 0644 "/root/network/${f##*/}"
done
if [ -f /nixremote/nixremote.pyz ]; then
    cp /nixremote/nixremote.pyz /root/nixremote.pyz
    chmod 0644 /root/nixremote.pyz
fi

# -- devices: only what SSH and the disk need now; the rest after the ready marker ----------
for m in virtio_pci virtio_blk virtio_net virtio_rng; do modprobe -q "$m" 2>/dev/null; done
UDEVD=/lib/systemd/systemd-udevd
[ -x "$UDEVD" ] || UDEVD=/usr/lib/systemd/systemd-udevd
[ -x "$UDEVD" ] || say "WARNING: no udevd"
if [ -x "$UDEVD" ] && [ "@EARLY_UDEV@" = 1 ]; then
    "$UDEVD" --daemon --resolve-names=never
    udevadm trigger --type=devices --action=add --subsystem-match=net --subsystem-match=block
    udevadm settle --timeout=30
    say "udev settled (net, block)"
else
    # udev starts after the ready marker; the disks' by-id links now, as udev names them
    mkdir -p /dev/disk/by-id
    for b in /sys/block/vd*; do
        [ -r "$b/serial" ] || continue
        serial=$(cat "$b/serial")
        [ -n "$serial" ] && ln -sf "../../${b##*/}" "/dev/disk/by-id/virtio-$serial"
    done
fi

# -- network (static, restored, or DHCP) and sshd, side by side ---------------------------------
ip link set lo up
NICS=
for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" = lo ] && continue
    [ -e "$d/device" ] || continue
    NICS="$NICS $n"
done
[ -n "$NICS" ] || say "WARNING: no network interface"
if [ "@RESTORE@" = 1 ]; then
    # udev's path names, as a systemd-based installer has them (the rescue system says eth0)
    RENAMED=
    for n in $NICS; do
        p=$(udevadm test-builtin net_id "/sys/class/net/$n" 2>/dev/null \
            | sed -n 's/^ID_NET_NAME_PATH=//p')
        if [ -n "$p" ] && [ "$p" != "$n" ] && ip link set dev "$n" name "$p"; then n=$p; fi
        RENAMED="$RENAMED $n"
    done
    NICS=$RENAMED
fi
say "network interfaces:$NICS"
STATIC=
DHCP=
if [ -f /vm/static-network ]; then
    # hoster mode: the addresses the hoster gave, static; no DHCP anywhere
    while read -r line; do
        case "$line" in ''|'#'*) continue ;; esac
        ip $line || say "WARNING: ip $line failed"
    done < /vm/static-network
    STATIC=$NICS
elif [ "@RESTORE@" = 1 ] && grep -q 'nixremote.test.restore=off' /proc/cmdline; then
    say "network restore disabled (nixremote.test.restore=off)"
    DHCP=$NICS
elif [ "@RESTORE@" = 1 ]; then
    # the production network restore, on the dump and runtime info the controller handed over
    /usr/bin/python3 -I /usr/lib/nixremote/restore_network.py --ip \
        /root/network/runtime-info.json >/run/restore-network.out 2>/var/log/restore-network.log
    while read -r line; do say "$line"; done < /var/log/restore-network.log
    STATIC=$(sed -n 's/^static //p' /run/restore-network.out)
    for n in $NICS; do
        case " $(echo $STATIC) " in *" $n "*) ;; *) DHCP="$DHCP $n" ;; esac
    done
else
    DHCP=$(echo $NICS | cut -d' ' -f1)
fi
DHCP_PIDS=
for n in $DHCP; do
    ip link set "$n" up
    busybox udhcpc -i "$n" -s /etc/nixremote/udhcpc.script -q -f -n -t 20 -T 1 \
        >"/var/log/udhcpc-$n.log" 2>&1 &
    DHCP_PIDS="$DHCP_PIDS $!:$n"
done
ZFS_PID=
if [ "@LOAD_ZFS@" = 1 ]; then
    # like a NixOS installer with ZFS support: the module is loaded at boot
    modprobe zfs &
    ZFS_PID=$!
fi
mkdir -p /run/sshd
chmod 0755 /run/sshd
if ! /usr/sbin/sshd -E /var/log/sshd.log; then
    say "ERROR: sshd did not start: $(tail -n 3 /var/log/sshd.log)"
    echo "$BOOT_FAILED_MARKER @NAME@: sshd" > /dev/console
fi
for job in $DHCP_PIDS; do
    n=${job#*:}
    wait "${job%%:*}" || say "WARNING: DHCP on $n failed: $(tail -n 1 "/var/log/udhcpc-$n.log")"
done
say "network: static on [$(echo $STATIC)], DHCP on [$(echo $DHCP)];\
 $(ip -o addr show scope global | awk '{printf " %s %s", $2, $4}')"
if [ -n "$ZFS_PID" ]; then
    wait "$ZFS_PID" || say "WARNING: modprobe zfs failed"
fi
i=0
while [ $i -lt 100 ]; do
    # 0016 = port 22, 0A = LISTEN
    if grep -q ':0016 00000000:0000 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
        break
    fi
    i=$((i + 1))
    sleep 0.1
done
for hook in /etc/nixremote/ready.d/*; do
    [ -x "$hook" ] && "$hook"
done
BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)
echo "@MARKER@ boot_id=$BOOT_ID uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/console
# test instrumentation: every process's argv, sampled, on the console (see ARGV_SAMPLER)
if [ "@SAMPLE_ARGV@" = 1 ] || grep -q 'nixremote.sample_argv=1' /proc/cmdline; then
    /usr/bin/python3 /etc/nixremote/argv-sampler.py </dev/null >/dev/null 2>&1 &
fi
# the full coldplug (module autoload, the udev database of every device) after the marker
if [ -x "$UDEVD" ]; then
    [ "@EARLY_UDEV@" = 1 ] || "$UDEVD" --daemon --resolve-names=never
    (udevadm trigger --type=subsystems --action=add
     udevadm trigger --type=devices --action=add
     udevadm settle --timeout=120
     say "udev coldplug done") </dev/null >/dev/null 2>&1 &
fi
exec /bin/busybox init
"""

INITTAB = """\
# busybox init: nothing to spawn, only orderly reboot/poweroff
::ctrlaltdel:/bin/busybox reboot -f
::shutdown:/bin/busybox sh -c 'echo "init: shutting down" > /dev/console'
::shutdown:/bin/busybox umount -a -r
"""

UDHCPC_SCRIPT = r"""#!/bin/sh
# busybox udhcpc hook: apply the lease with iproute2
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface" 2>/dev/null
        ip link set "$interface" up
        ;;
    bound|renew)
        # with the lease's lifetime: the address shows as "dynamic", as a DHCP client's does
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface" \
            ${lease:+valid_lft "$lease" preferred_lft "$lease"}
        if [ -n "$router" ]; then
            for r in $router; do
                ip route replace default via "$r" dev "$interface"
                break
            done
        fi
        : > /etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
        ;;
esac
exit 0
"""

SSHD_CONFIG = """\
# nixremote test machine: root by key only
Port 22
AddressFamily any
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PidFile /run/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
AcceptEnv LANG LC_*
"""
# the rescue system's Debian sshd_config names the sftp subsystem itself; the installer's does not
SSHD_SFTP = "Subsystem sftp /usr/lib/openssh/sftp-server\n"

# The one stand-in of the test installer image: it cannot build NixOS here (no binary cache), so it
# records what it was asked to do. See NIXOS_INSTALL_RECORD for where.
NIXOS_INSTALL_RECORD = "/persist/nixos-install.log"

NIXOS_INSTALL = r'''#!/usr/bin/python3
"""nixos-install stand-in of the nixremote test installer (cannot build NixOS in the test VM).

Records one JSON object per call (a line) in <root>/persist/nixos-install.log (root from --root,
default /mnt) and in /run/nixos-install.log: argv, root, the --flake reference, the flake
directory's files with their sha256, and whether `nix-instantiate --parse` accepted flake.nix (when
nix-instantiate exists in the image; otherwise "skipped"). Exits 1, like the real one would, when
--flake is missing or the flake directory holds no flake.nix; 0 otherwise.
"""
import hashlib, json, os, shutil, subprocess, sys, time

argv = sys.argv[1:]
root, flake = "/mnt", None
i = 0
while i < len(argv):
    a = argv[i]
    if a == "--root" and i + 1 < len(argv):
        root = argv[i + 1]; i += 1
    elif a == "--flake" and i + 1 < len(argv):
        flake = argv[i + 1]; i += 1
    elif a.startswith("--flake="):
        flake = a.split("=", 1)[1]
    elif a.startswith("--root="):
        root = a.split("=", 1)[1]
    i += 1

record = {"argv": sys.argv, "root": root, "flake": flake, "time": time.time(), "ok": False}
error = None
if flake is None:
    error = "no --flake given"
else:
    ref = flake.split("#", 1)[0]
    if ref.startswith("path:"):
        ref = ref[5:]
    record["flakeDir"] = ref
    candidates = [ref]
    if not ref.startswith(root.rstrip("/") + "/"):
        candidates.append(os.path.join(root, ref.lstrip("/")))
    found = next((c for c in candidates if os.path.isfile(os.path.join(c, "flake.nix"))), None)
    if found is None:
        error = f"no flake.nix in {ref}"
    else:
        record["flakeDirResolved"] = found
        files = {}
        for dirpath, dirnames, filenames in os.walk(found):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            for name in sorted(filenames):
                p = os.path.join(dirpath, name)
                with open(p, "rb") as fh:
                    files[os.path.relpath(p, found)] = hashlib.sha256(fh.read()).hexdigest()
        record["flakeFiles"] = files
        nix = shutil.which("nix-instantiate")
        if nix:
            r = subprocess.run([nix, "--parse", os.path.join(found, "flake.nix")],
                               capture_output=True, text=True)
            record["parse"] = "ok" if r.returncode == 0 else "failed: " + r.stderr.strip()[-500:]
            if r.returncode != 0:
                error = "flake.nix does not parse"
        else:
            record["parse"] = "skipped"
if error is None:
    # the boot loader's part: NixOS installs the initrd onto the ESP with its secrets (the
    # initrd's SSH host key) and the keys that may unlock; the installed system's stand-in
    # (nixremote.testing.vm.standin) boots with them
    src = os.path.join(root, "persist/etc/secrets/initrd/ssh_host_ed25519_key")
    dest = os.path.join(root, "boot", "nixremote-standin", "initrd")
    try:
        os.makedirs(dest, exist_ok=True)
        shutil.copyfile(src, os.path.join(dest, "ssh_host_ed25519_key"))
        # nixremote's host flake has it at its root; a fleet under hosts/<name>/
        attr = flake.split("#", 1)[1] if "#" in flake else ""
        info = os.path.join(found, "runtime-info.json")
        if not os.path.isfile(info) and attr:
            info = os.path.join(found, "hosts", attr, "runtime-info.json")
        record["runtimeInfo"] = os.path.relpath(info, found)
        with open(info) as fh:
            keys = json.load(fh).get("rootAuthorizedKeys", [])
        with open(os.path.join(dest, "authorized_keys"), "w") as fh:
            fh.write("".join(k.strip() + "\n" for k in keys))
        record["bootLoader"] = dest
    except OSError as e:
        error = f"cannot install the boot loader's files: {e}"
record["ok"] = error is None
if error:
    record["error"] = error
line = json.dumps(record, sort_keys=True) + "\n"
for target in (os.path.join(root, "persist", "nixos-install.log"), "/run/nixos-install.log"):
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a") as fh:
            fh.write(line)
    except OSError as e:
        print(f"nixos-install (stand-in): cannot write {target}: {e}", file=sys.stderr)
if error:
    print(f"nixos-install (stand-in): error: {error}", file=sys.stderr)
    sys.exit(1)
print(f"nixos-install (stand-in): recorded install of {flake} into {root}")
'''

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""

GROUP = """\
root:x:0:
daemon:x:1:
tty:x:5:
disk:x:6:
kmem:x:15:
dialout:x:20:
cdrom:x:24:
tape:x:26:
audio:x:29:
video:x:44:
input:x:105:
kvm:x:106:
render:x:107:
sgx:x:108:
nogroup:x:65534:
"""

SHADOW = """\
root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
sshd:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
"""

NSSWITCH = """\
passwd: files
group: files
shadow: files
hosts: files dns
"""


ARGV_PREFIX = "nixremote-argv: "

# Started by init after the ready marker when the image samples argv (the test installer always,
# the rescue system with ``nixremote.sample_argv=1``): every 0.2 s, each new (pid, argv) goes to
# the serial console and /run/nixremote-argv.log as ``nixremote-argv: ["argv0", ...]``, so a test
# can check from outside that a secret never appeared in any process's argv.
ARGV_SAMPLER = r"""
import json, os, time
seen = set()
me = str(os.getpid())
outs = [open("/dev/console", "w", buffering=1), open("/run/nixremote-argv.log", "a", buffering=1)]
while True:
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        try:
            with open("/proc/" + pid + "/cmdline", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        if not raw or (pid, raw) in seen:
            continue
        seen.add((pid, raw))
        argv = [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]
        line = "@PREFIX@" + json.dumps(argv) + "\n"
        for out in outs:
            out.write(line)
    time.sleep(0.2)
""".replace("@PREFIX@", ARGV_PREFIX)


def init_script(
    *,
    name: str,
    marker: str,
    early_udev: bool,
    sample_argv: bool = False,
    load_zfs: bool = False,
    restore_network: bool = False,
) -> str:
    """``/init`` of one image. ``early_udev``: settle udev (net, block) before the ready marker
    (the rescue system, whose udev database the collect probe reads); otherwise udev starts
    right after the marker and init links the virtio disks' by-id names itself (faster).
    ``restore_network``: rename the NICs and run the production network restore (the test
    installer); otherwise static from the archive or DHCP (the rescue system)."""
    return (
        INIT.replace("@NAME@", name)
        .replace("@RESTORE@", "1" if restore_network else "0")
        .replace("@MARKER@", marker)
        .replace("@EARLY_UDEV@", "1" if early_udev else "0")
        .replace("@SAMPLE_ARGV@", "1" if sample_argv else "0")
        .replace("@LOAD_ZFS@", "1" if load_zfs else "0")
        .replace("@FAILED@", BOOT_FAILED_MARKER)
    )
