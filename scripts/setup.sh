#!/usr/bin/env bash
# Set up a new Debian (bookworm) machine for nixremote: system packages, then a virtualenv in
# .venv with nixremote and its test tools. Run as root (apt-get). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # SSH: the controller's client and the loopback/netns test hosts' servers
  openssh-client openssh-server sudo openssl curl hostname
  # network namespaces and the probe's tools
  iproute2 procps kmod util-linux
  # disk layouts on sparse image files
  gdisk parted fdisk dosfstools e2fsprogs coreutils fusefat
  # Nix's own parser and evaluator for every .nix file and generated flake
  nix-bin
  # the end-to-end machine: QEMU (TCG), a Debian rescue system and test installer built locally
  qemu-system-x86 qemu-utils ovmf mmdebstrap cpio xz-utils zstd busybox-static
  # the docs render test: the built site in headless Chromium (loopback only), with fonts
  chromium fonts-dejavu-core
  # Python
  python3 python3-venv python3-pip git jq gzip
)

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
else
  echo "setup: not root or no apt-get; skipping system packages (${APT_PACKAGES[*]})" >&2
fi
mkdir -p /run/sshd 2>/dev/null || true

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip "setuptools>=77" wheel
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,docs]"
echo "setup: done; run .venv/bin/nixremote --help"
