"""A stand-in for the installed NixOS's boot, in the test VM (a test double: NixOS cannot be built
here, there is no binary cache).

The test installer image boots with :data:`KERNEL_PARAM` into ``installed-boot.sh`` instead of
the installer, and plays what the installed system's boot does, from the VM's own disks:

stage 1 (NixOS's scripted initrd, the default of 25.11)
    the initrd's SSH server on port 2222 with the host key the install generated into
    ``/persist/etc/secrets/initrd`` and the keys allowed to unlock (the nixos-install stand-in puts
    both on the ESP, as NixOS's boot loader installs the initrd with its secrets there); the pool
    imported, then ``zfs load-key -a`` waiting for the passphrase the way stage 1 waits on the
    console, until someone loads the key and ends it (kills that ``zfs``), as ``nixremote
    unlock`` does; ``rpool/local/root`` rolled back to ``@blank`` (impermanence);
stage 2
    the initrd's sshd stops; the pool's datasets are mounted at ``/sysroot`` as the installed
    system mounts them, with this image's programs bound in where NixOS has its store; an sshd
    on port 22, chrooted into that root, serves the host keys of ``/persist/etc/ssh`` to the
    keys of the host flake's ``runtime-info.json``, under the host name it names;
    ``nixos-version`` answers as a stand-in.

It prints :data:`INITRD_READY_MARKER` once the initrd's SSH listens and :data:`SYSTEM_READY_MARKER`
once the system's does.
"""

from __future__ import annotations

KERNEL_PARAM = "nixremote.standin=installed"
INITRD_READY_MARKER = "NIXREMOTE-STANDIN-INITRD-READY"
SYSTEM_READY_MARKER = "NIXREMOTE-STANDIN-SYSTEM-READY"
ESP_DIR = "nixremote-standin"
"""The directory on the ESP with the initrd's secrets (``initrd/ssh_host_ed25519_key``,
``initrd/authorized_keys``), written by the nixos-install stand-in."""
NIXOS_VERSION = "25.11.00000000.standin (nixremote test stand-in of the installed system)"

INSTALLED_BOOT = r"""#!/bin/sh
# stand-in of the installed NixOS's boot (see nixremote.testing.vm.standin)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
say() { echo "installed: [$(cut -d' ' -f1 /proc/uptime)] $*" > /dev/console; }
fail() { say "FAILED: $*"; echo "@FAILED@ installed: $*" > /dev/console; exec /bin/busybox sh; }
say "stage 1 (stand-in of the installed system's initrd)"
hostname initrd

for m in virtio_pci virtio_blk virtio_net virtio_rng vfat fat nls_cp437 nls_iso8859_1; do
    modprobe -q "$m" 2>/dev/null
done
modprobe zfs &
ZFS_PID=$!
# the disks' by-id names and their partitions' (udev does not run here)
mkdir -p /dev/disk/by-id
link_disks() {
    for b in /sys/block/vd*; do
        [ -r "$b/serial" ] || continue
        serial=$(cat "$b/serial")
        [ -n "$serial" ] || continue
        ln -sf "../../${b##*/}" "/dev/disk/by-id/virtio-$serial"
        for p in "$b"/"${b##*/}"*; do
            [ -r "$p/partition" ] || continue
            ln -sf "../../${p##*/}" "/dev/disk/by-id/virtio-$serial-part$(cat "$p/partition")"
        done
    done
}
link_disks
# udev, as in NixOS's initrd: zpool import waits for the udev database of every device
UDEVD=/lib/systemd/systemd-udevd
[ -x "$UDEVD" ] || UDEVD=/usr/lib/systemd/systemd-udevd
if [ -x "$UDEVD" ]; then
    "$UDEVD" --daemon --resolve-names=never
    udevadm trigger --type=devices --action=add --subsystem-match=block --subsystem-match=net
    udevadm settle --timeout=30
fi

# the network, as the installed system's initrd has it (DHCP here: QEMU's user-mode network)
ip link set lo up
for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" = lo ] && continue
    [ -e "$d/device" ] || continue
    ip link set "$n" up
    busybox udhcpc -i "$n" -s /etc/nixremote/udhcpc.script -q -f -n -t 20 -T 1 \
        >/var/log/udhcpc.log 2>&1
    break
done

# the initrd's secrets: on the ESP, where the boot loader installed the initrd with them
mkdir -p /boot /etc/ssh /root/.ssh /run/sshd
chmod 0700 /root /root/.ssh
for p in /dev/vd*3; do
    mount -t vfat -o ro "$p" /boot 2>/dev/null || continue
    [ -d /boot/@ESP_DIR@ ] && break
    umount /boot
done
[ -d /boot/@ESP_DIR@ ] || fail "no ESP with the initrd's secrets"
cp /boot/@ESP_DIR@/initrd/ssh_host_ed25519_key /etc/ssh/initrd_host_ed25519_key
chmod 0600 /etc/ssh/initrd_host_ed25519_key
cp /boot/@ESP_DIR@/initrd/authorized_keys /root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
umount /boot
printf '%s\n' "Port 2222" "HostKey /etc/ssh/initrd_host_ed25519_key" \
    "PermitRootLogin prohibit-password" "PasswordAuthentication no" \
    "KbdInteractiveAuthentication no" "UsePAM no" "UseDNS no" \
    "PidFile /run/sshd-initrd.pid" "AuthorizedKeysFile .ssh/authorized_keys" \
    > /etc/ssh/sshd_initrd_config
/usr/sbin/sshd -f /etc/ssh/sshd_initrd_config -E /var/log/sshd-initrd.log \
    || fail "the initrd's sshd did not start: $(tail -n 2 /var/log/sshd-initrd.log)"
wait "$ZFS_PID" || fail "modprobe zfs"
echo "@INITRD_MARKER@ boot_id=$(cat /proc/sys/kernel/random/boot_id)" > /dev/console
if grep -q 'nixremote.sample_argv=1' /proc/cmdline; then
    /usr/bin/python3 /etc/nixremote/argv-sampler.py </dev/null >/dev/null 2>&1 &
fi

# import the pool, then wait for its key as stage 1 does (`zfs load-key -a` on the console)
i=0
until zpool import -d /dev/disk/by-id -N rpool 2>/var/log/zpool-import.log; do
    i=$((i + 1))
    [ $i -lt 30 ] || fail "zpool import: $(tail -n 2 /var/log/zpool-import.log)"
    sleep 1
    link_disks
done
say "rpool imported; waiting for its key"
mkfifo /run/console-key
while [ "$(zfs get -H -o value keystatus rpool)" != available ]; do
    zfs load-key -a <> /run/console-key >/dev/null 2>&1
done
say "rpool unlocked"
zfs rollback -r rpool/local/root@blank || fail "rollback of the root to @blank"
kill "$(cat /run/sshd-initrd.pid)" 2>/dev/null

# stage 2 (stand-in): the installed system's mounts, this image's programs in place of its store
R=/sysroot
mkdir -p $R
mount -t zfs rpool/local/root $R || fail "mount the root"
for ds in local/nix:nix safe/home:home safe/persist:persist; do
    mkdir -p "$R/${ds#*:}"
    mount -t zfs "rpool/${ds%%:*}" "$R/${ds#*:}" || fail "mount rpool/${ds%%:*}"
done
mkdir -p /usr/local/bin
printf '#!/bin/sh\necho "@NIXOS_VERSION@"\n' > /usr/local/bin/nixos-version
chmod 0755 /usr/local/bin/nixos-version
for d in bin sbin lib lib64 usr; do
    [ -e "/$d" ] || continue
    mkdir -p "$R/$d"
    mount --bind "/$d" "$R/$d"
done
mkdir -p $R/etc $R/proc $R/sys $R/dev $R/run $R/tmp $R/root $R/var/empty $R/var/log
mount -t tmpfs -o mode=0755 tmpfs $R/etc
cp -a /etc/. $R/etc/
mount --bind /proc $R/proc
mount --bind /sys $R/sys
mount --rbind /dev $R/dev
mount -t tmpfs -o mode=0755 tmpfs $R/run
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mkdir -p $R/run/sshd $R/etc/ssh/authorized_keys.d
/usr/bin/python3 -c '
import json, subprocess, sys
root = sys.argv[1]
info = json.load(open(root + "/persist/etc/nixos/runtime-info.json"))
name = info["hostName"].split(".")[0]
subprocess.run(["hostname", name], check=True)
open(root + "/etc/hostname", "w").write(name + "\n")
keys = "".join(k.strip() + "\n" for k in info.get("rootAuthorizedKeys", []))
open(root + "/etc/ssh/authorized_keys.d/root", "w").write(keys)
' "$R" || fail "the host name and keys of runtime-info.json"
printf '%s\n' "Port 22" "HostKey /persist/etc/ssh/ssh_host_ed25519_key" \
    "HostKey /persist/etc/ssh/ssh_host_rsa_key" "PermitRootLogin prohibit-password" \
    "PasswordAuthentication no" "KbdInteractiveAuthentication no" "UsePAM no" "UseDNS no" \
    "PidFile /run/sshd.pid" "AuthorizedKeysFile /etc/ssh/authorized_keys.d/%u" \
    > $R/etc/ssh/sshd_config
chroot $R /usr/sbin/sshd -f /etc/ssh/sshd_config -E /run/sshd.log \
    || fail "the system's sshd did not start: $(tail -n 2 $R/run/sshd.log)"
echo "@SYSTEM_MARKER@ boot_id=$(cat /proc/sys/kernel/random/boot_id)" > /dev/console
exec /bin/busybox init
"""


def installed_boot_script(failed_marker: str) -> str:
    """``/etc/nixremote/installed-boot.sh`` of the test installer image."""
    return (
        INSTALLED_BOOT.replace("@FAILED@", failed_marker)
        .replace("@ESP_DIR@", ESP_DIR)
        .replace("@INITRD_MARKER@", INITRD_READY_MARKER)
        .replace("@SYSTEM_MARKER@", SYSTEM_READY_MARKER)
        .replace("@NIXOS_VERSION@", NIXOS_VERSION)
    )
