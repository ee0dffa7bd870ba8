#!/usr/bin/env bash
# The whole nixremote flow on your own machine, without a hoster account: boot a Debian "rescue
# system" under QEMU, collect its runtime info over SSH, then `nixremote install` it: kexec into
# the test installer bundle (its host key pinned), encrypted ZFS on its disk, the host flake
# written. nixos-install is the one step recorded instead of run (no NixOS binary cache here).
# Run scripts/setup.sh first (as root: building the VM uses mmdebstrap and chroot).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

work=$(mktemp -d)
trap 'nixremote vm down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "== booting the test VM (the first run builds it: a few minutes)"
nixremote vm down >/dev/null 2>&1 || true
nixremote vm up --fresh --disk-size 4G --json > "$work/vm.json"
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/vm.json" "$1"; }
host=$(field host); port=$(field port); identity=$(field identityFile)
cp "$(field knownHostsFile)" "$work/known_hosts"   # the rescue system's key, pinned
bundle="$(field artifacts)/installer"
ssh_args=(-p "$port" -i "$identity" --known-hosts "$work/known_hosts")

echo "== nixremote info: one SSH round trip"
nixremote info "root@$host" "${ssh_args[@]}"

echo "== nixremote disk plan: what will be destroyed, before anything is"
nixremote info "root@$host" "${ssh_args[@]}" -o "$work/runtime-info.json" >/dev/null
nixremote disk plan "$work/runtime-info.json"

echo "== nixremote install"
head -c 24 /dev/urandom | base64 > "$work/disk.key"
chmod 600 "$work/disk.key"
nixremote install "root@$host" "${ssh_args[@]}" --bundle "$bundle" \
  --disk-key-file "$work/disk.key" --phases kexec,format,install --yes

echo "== the result, seen from the installer (host key verified)"
ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
  -o UserKnownHostsFile="$work/known_hosts" -i "$identity" -p "$port" "root@$host" \
  'zpool status rpool; zfs list -o name,mountpoint,encryption,keylocation -r rpool;
   ls -l /mnt/persist/etc/ssh /mnt/persist/etc/nixos; cat /mnt/persist/nixos-install.log'
echo "== done: the VM is stopped and its files removed"
