"""What goes into the test machine's images: Debian sources and packages, kernel modules, the
installer's programs and files, the parts of Python's stdlib kept, the kernel command line. Every
value here is part of the cache key of the built artifacts (:func:`.builder.artifacts_key`)."""

from __future__ import annotations

import re

BUILD_VERSION = 2
"""Bump when the build logic changes in a way the hashed inputs do not capture."""

SUITE = "bookworm"
SOURCES = (
    "deb http://deb.debian.org/debian bookworm main contrib",
    "deb http://deb.debian.org/debian bookworm-updates main contrib",
    "deb http://deb.debian.org/debian-security bookworm-security main contrib",
)

BUILDER_PACKAGES = (
    "linux-image-amd64",
    "linux-headers-amd64",
    "zfs-dkms",
    "zfsutils-linux",
    "make",
    "gcc",
    "libc6-dev",
    "binutils",
    # the installer image is assembled from these
    "openssh-server",
    "openssh-sftp-server",
    "python3.11",
    "busybox",
    "bash",
    "coreutils",
    "gdisk",
    "parted",
    "dosfstools",
    "kmod",
    "udev",
    "iproute2",
    "util-linux",
    "fdisk",
    "cryptsetup-bin",
)

RESCUE_PACKAGES = (
    "openssh-server",
    "openssh-sftp-server",
    "kexec-tools",
    "iproute2",
    "gdisk",
    "parted",
    "cryptsetup",
    "dosfstools",
    "zfsutils-linux",
    "util-linux",
    "fdisk",
    "kmod",
    "udev",
    "busybox",
    "procps",
    "ca-certificates",
    "less",
    # a non-root login with sudo (tests/vm/test_byo.py adds the user at run time)
    "sudo",
    # without it apt satisfies init-system-helpers with usrmerge, which drags in perl
    "usr-is-merged",
)

# kernel modules: by name (with their dependencies), plus whole directories for the rescue system
COMMON_MODULES = (
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "virtio_rng",
    "zfs",
    "spl",
    "vfat",
    "fat",
    "nls_cp437",
    "nls_iso8859_1",
    "nls_utf8",
    "nls_ascii",
    "efivarfs",
    "loop",
)
RESCUE_MODULES = (
    "dm_crypt",
    "dm_mod",
    "af_alg",
    "algif_skcipher",
    "algif_hash",
    "algif_aead",
    "xts",
    "essiv",
    "cbc",
    "ecb",
    "gcm",
    "ccm",
    "sha256_generic",
    "sha512_generic",
    "ext4",
    "raid1",
    "dm_raid",
    "virtio_scsi",
    "virtio_console",
    "sd_mod",
    "e1000",
    "e1000e",
)
RESCUE_MODULE_DIRS = ("kernel/crypto", "kernel/arch/x86/crypto")
RESCUE_HOOKS = (
    # usrmerge (and with it perl) comes along although usr-is-merged is there: drop them
    '--customize-hook=chroot "$1" dpkg --purge usrmerge libfile-find-rule-perl '
    "libnumber-compare-perl libtext-glob-perl perl libperl5.36 perl-modules-5.36",
)

# the installer image: programs copied with their shared libraries (looked up in the builder)
INSTALLER_PROGRAMS = (
    "sshd",
    "ssh-keygen",
    "python3.11",
    "bash",
    "busybox",
    # parted's partprobe (BLKPG per partition) works while udev still has the disk open,
    # busybox's (BLKRRPART) fails with EBUSY then
    "sgdisk",
    "sfdisk",
    "partx",
    "partprobe",
    "blkid",
    "lsblk",
    "findmnt",
    "mount",
    "umount",
    "wipefs",
    "blkdiscard",
    "losetup",
    "mkswap",
    "swapon",
    "swapoff",
    "flock",
    "setsid",
    "mkfs.fat",
    "fatlabel",
    "zfs",
    "zpool",
    "zgenhostid",
    "mount.zfs",
    "kmod",
    "udevadm",
    "ip",
    "shred",
    "sha256sum",
    "stat",
    "dd",
    "sync",
    "timeout",
    "install",
    "mountpoint",
    "blockdev",
    # GNU coreutils where busybox lacks options the installer uses (readlink -e, cp -a, ...)
    "readlink",
    "realpath",
    "mktemp",
    "cp",
    "mv",
    "rm",
    "ln",
    "ls",
    "df",
    "du",
    "sort",
    "head",
    "tail",
    "cat",
    "chmod",
    "chown",
    "mkdir",
    "touch",
    "tee",
    "wc",
    "date",
    "env",
    "sha512sum",
)
INSTALLER_EXTRA_FILES = (
    "/usr/lib/openssh/sftp-server",
    "/usr/lib/systemd/systemd-udevd",
    "/usr/lib/udev/zvol_id",
    "/usr/lib/udev/rules.d/50-udev-default.rules",
    "/usr/lib/udev/rules.d/60-block.rules",
    "/usr/lib/udev/rules.d/60-persistent-storage.rules",
    "/usr/lib/udev/rules.d/60-zvol.rules",
    "/usr/lib/udev/rules.d/75-net-description.rules",
    "/usr/lib/udev/rules.d/80-drivers.rules",
    "/usr/lib/udev/rules.d/80-net-setup-link.rules",
    "/usr/lib/systemd/network/99-default.link",
    "/etc/udev/udev.conf",
    "/etc/protocols",
    "/etc/services",
    "/etc/ethertypes",
)
OPTIONAL_FILES = frozenset({"/etc/protocols", "/etc/services", "/etc/ethertypes"})
KMOD_LINKS = ("modprobe", "insmod", "rmmod", "lsmod", "depmod", "modinfo")
PYTHON_EXCLUDE_DIRS = frozenset(
    {
        "test",
        "tests",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "pydoc_data",
        "distutils",
        "sqlite3",
        "curses",
        "dbm",
        "venv",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "config-3.11-x86_64-linux-gnu",
        "lib-dynload",
        "__phello__",
    }
)
PYTHON_EXCLUDE_FILES = frozenset({"turtle.py", "_pydecimal.py", "antigravity.py", "this.py"})
PYTHON_DYNLOAD_SKIP = re.compile(
    r"^(_test|xx|_ctypes_test|_curses|_dbm|_gdbm|_sqlite3|_tkinter|audioop|ossaudiodev|nis"
    r"|readline|_codecs_(cn|hk|iso2022|jp|kr|tw)|_crypt|_lsprof)"
)

INSTALLER_KERNEL_PARAMS = "init=/init console=ttyS0 panic=10"
INSTALLER_PYTHON = "/usr/bin/python3"
