"""Build (and cache) the QEMU test machine from Debian bookworm packages.

Three outputs, all from Debian's archive (``main contrib`` of bookworm, bookworm-updates and
bookworm-security):

- the kernel (``linux-image-amd64``) and the ZFS modules for it (``zfs-dkms``, compiled in a
  throw-away *builder* chroot that has the matching ``linux-headers``);
- the **rescue system**: a Debian root (openssh-server, kexec-tools, zfsutils-linux, ...) packed as
  one initramfs, with its own ``/init`` (no systemd);
- the **test installer bundle** (``docs/kexec-bundle.md``): the same kernel as ``bzImage``, a small
  busybox-based ``initrd.gz`` assembled file by file from the builder chroot (python3.11 with a
  zipped stdlib, OpenSSH sshd, sgdisk, parted, zfs, udev, ...) and ``bundle.json``.

Everything is cached below ``NIXREMOTE_VM_CACHE`` (default ``~/.cache/nixremote/vm``): the two
chroots as *stages* keyed on their package lists, the final artifacts keyed on everything that goes
into them (packages, scripts, file selections, this module's :data:`BUILD_VERSION`). A rerun with a
complete cache entry returns at once. Building needs root (``mmdebstrap --mode=root`` and
``chroot``) and network access to the Debian mirrors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
from attrs import frozen

from nixremote.core.errors import CommandFailedError, NixremoteError, PreflightError
from nixremote.core.progress import Event, Reporter, null_reporter

from ...controller import cpio
from . import scripts, standin

log = logging.getLogger(__name__)

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


@frozen(kw_only=True)
class VmArtifacts:
    """One complete cache entry: what :func:`build` produced (or found)."""

    root: Path
    key: str
    kernel_version: str
    kernel: Path
    rescue_initrd: Path
    bundle_dir: Path
    rescue_initrd_unpacked_bytes: int
    installer_initrd_unpacked_bytes: int
    build_seconds: float
    """How long the build of this entry took (when it was built, not now)."""
    cached: bool
    """True when this call found the entry complete and built nothing."""

    @property
    def installer_initrd(self) -> Path:
        return self.bundle_dir / "initrd.gz"

    @property
    def bundle_json(self) -> Path:
        return self.bundle_dir / "bundle.json"


def default_cache_dir() -> Path:
    env = os.environ.get("NIXREMOTE_VM_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "nixremote" / "vm"


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def builder_key() -> str:
    return _digest({"v": 1, "suite": SUITE, "sources": SOURCES, "packages": BUILDER_PACKAGES})


def rescue_root_key() -> str:
    return _digest(
        {
            "v": 1,
            "suite": SUITE,
            "sources": SOURCES,
            "packages": RESCUE_PACKAGES,
            "hooks": RESCUE_HOOKS,
        }
    )


def restore_network_source() -> str:
    """The text of :mod:`nixremote.installers.restore_network` (one stdlib-only file)."""
    from ...installers import restore_network

    return Path(restore_network.__file__).read_text(encoding="utf-8")


def artifacts_key() -> str:
    """The cache key of the final artifacts: every input that shapes them."""
    script_texts = {
        name: getattr(scripts, name)
        for name in dir(scripts)
        if name.isupper() and isinstance(getattr(scripts, name), str)
    }
    return _digest(
        {
            "build": BUILD_VERSION,
            "builder": builder_key(),
            "rescue": rescue_root_key(),
            "scripts": script_texts,
            "standin": standin.INSTALLED_BOOT,
            "restoreNetwork": restore_network_source(),
            "modules": [COMMON_MODULES, RESCUE_MODULES, RESCUE_MODULE_DIRS],
            "installer": [
                INSTALLER_PROGRAMS,
                INSTALLER_EXTRA_FILES,
                KMOD_LINKS,
                sorted(PYTHON_EXCLUDE_DIRS),
                sorted(PYTHON_EXCLUDE_FILES),
                PYTHON_DYNLOAD_SKIP.pattern,
                INSTALLER_KERNEL_PARAMS,
                INSTALLER_PYTHON,
            ],
        }
    )


def load_cached(cache_dir: Path | None = None) -> VmArtifacts | None:
    """The complete cache entry for the current inputs, or ``None``."""
    root = (cache_dir or default_cache_dir()) / artifacts_key()
    manifest = root / "artifacts.json"
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    art = VmArtifacts(
        root=root,
        key=root.name,
        kernel_version=data["kernelVersion"],
        kernel=root / "vmlinuz",
        rescue_initrd=root / "rescue-initrd.gz",
        bundle_dir=root / "installer",
        rescue_initrd_unpacked_bytes=int(data["rescueInitrdUnpackedBytes"]),
        installer_initrd_unpacked_bytes=int(data["installerInitrdUnpackedBytes"]),
        build_seconds=float(data["buildSeconds"]),
        cached=True,
    )
    for path in (art.kernel, art.rescue_initrd, art.installer_initrd, art.bundle_json):
        if not path.is_file():
            return None
    return art


def build(cache_dir: Path | None = None, reporter: Reporter | None = None) -> VmArtifacts:
    """Return the VM artifacts, building what the cache lacks (needs root for that)."""
    report = reporter or null_reporter
    cache = (cache_dir or default_cache_dir()).expanduser().resolve()
    found = load_cached(cache)
    if found is not None:
        report(Event(kind="skip", phase="vm-build", message=f"VM artifacts cached in {found.root}"))
        return found
    cache.mkdir(parents=True, exist_ok=True)
    # one build at a time per cache (parallel test processes wait for the first one)
    with open(cache / ".build.lock", "a") as lock:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)
        found = load_cached(cache)
        if found is not None:
            report(
                Event(
                    kind="skip",
                    phase="vm-build",
                    message=f"VM artifacts built meanwhile in {found.root}",
                )
            )
            return found
        return _Builder(cache, report).run()


def _run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float | None = None,
    capture: bool = True,
    env: dict[str, str] | None = None,
) -> str:
    cmd = [str(a) for a in argv]
    log.debug("running %s", cmd)
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=capture,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        tail = ((proc.stdout or "") + (proc.stderr or ""))[-3000:]
        raise CommandFailedError(
            f"{cmd[0]} failed with exit status {proc.returncode}: {tail.strip().splitlines()[-1:]}",
            argv=tuple(cmd),
            returncode=proc.returncode,
            output=tail,
            hint="see the log for the full output; the VM build needs root and the Debian mirrors",
        )
    return proc.stdout or ""


def parse_ldd(output: str) -> list[str]:
    """Library paths named by ``ldd`` output (pure)."""
    libs: list[str] = []
    for line in output.splitlines():
        line = line.strip()
        if line.endswith(":"):  # the file header when ldd is given several files
            continue
        if "=>" in line:
            target = line.split("=>", 1)[1].strip().split(" (", 1)[0].strip()
            if target.startswith("/"):
                libs.append(target)
        elif line.startswith("/"):
            libs.append(line.split(" (", 1)[0].strip())
    return libs


def parse_modules_dep(text: str) -> dict[str, tuple[str, ...]]:
    """``modules.dep`` as {module path: dependency paths} (pure)."""
    deps: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        mod, rest = line.split(":", 1)
        deps[mod.strip()] = tuple(rest.split())
    return deps


def module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    for suffix in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def module_closure(
    deps: dict[str, tuple[str, ...]], names: Iterable[str], dirs: Iterable[str] = ()
) -> list[str]:
    """Module paths for ``names`` and every module below ``dirs``, with dependencies (pure).
    Names that are built into the kernel (absent from ``deps``) are skipped."""
    by_name = {module_name(p): p for p in deps}
    todo = [by_name[n.replace("-", "_")] for n in names if n.replace("-", "_") in by_name]
    for d in dirs:
        prefix = d.rstrip("/") + "/"
        todo.extend(p for p in deps if p.startswith(prefix))
    seen: set[str] = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(deps.get(p, ()))
    return sorted(seen)


class _Builder:
    def __init__(self, cache: Path, report: Reporter) -> None:
        self.cache = cache
        self.report = report
        self.stages = cache / "stages"
        self.debs = cache / "debs"
        self.key = artifacts_key()
        self.timings: dict[str, float] = {}

    # -- helpers ----------------------------------------------------------------------------
    def _step(self, message: str) -> None:
        log.info("vm build: %s", message)
        self.report(Event(kind="step", phase="vm-build", message=message))

    def _mmdebstrap(self, dest: Path, packages: Sequence[str], hooks: Sequence[str]) -> None:
        self.debs.mkdir(parents=True, exist_ok=True)
        argv: list[str] = [
            "mmdebstrap",
            "--variant=minbase",
            "--mode=root",
            "--format=directory",
            "--components=main,contrib",
            "--include=" + ",".join(packages),
            '--aptopt=Acquire::Languages "none"',
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-include=/usr/share/locale/locale.alias",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            "--dpkgopt=path-exclude=/usr/share/info/*",
            "--skip=essential/unlink",
            '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
            f"--setup-hook=sync-in {self.debs} /var/cache/apt/archives/",
            # the initramfs of the Debian kernel package is never used: skip building it
            '--essential-hook=chroot "$1" dpkg-divert --quiet --local --rename '
            '--add /usr/sbin/update-initramfs && ln -sf /bin/true "$1"/usr/sbin/update-initramfs',
            *hooks,
            f"--customize-hook=sync-out /var/cache/apt/archives {self.debs}",
            SUITE,
            str(dest),
            *SOURCES,
        ]
        _run(argv, timeout=1800)

    def _stage(
        self, name: str, key: str, packages: Sequence[str], hooks: Sequence[str] = ()
    ) -> Path:
        dest = self.stages / f"{name}-{key}"
        if (dest / ".nixremote-stage-done").is_file():
            self._step(f"{name} chroot cached")
            return dest
        if dest.exists():
            shutil.rmtree(dest)
        self.stages.mkdir(parents=True, exist_ok=True)
        self._step(f"debootstrapping the {name} chroot (mmdebstrap, {len(packages)} packages)")
        start = time.monotonic()
        self._mmdebstrap(dest, packages, hooks)
        (dest / ".nixremote-stage-done").write_text(f"{time.time()}\n")
        self.timings[f"{name}Chroot"] = round(time.monotonic() - start, 1)
        return dest

    # -- the pipeline -------------------------------------------------------------------------
    def run(self) -> VmArtifacts:
        if os.geteuid() != 0:
            raise PreflightError(
                "building the test VM needs root (mmdebstrap --mode=root, chroot)",
                hint="run the first build as root, or point NIXREMOTE_VM_CACHE at a built cache",
            )
        for tool in ("mmdebstrap",):
            if shutil.which(tool) is None:
                raise PreflightError(f"{tool} not found", hint="apt-get install mmdebstrap")
        start = time.monotonic()
        self.report(
            Event(
                kind="start",
                phase="vm-build",
                message=f"building the test VM into {self.cache / self.key}",
            )
        )
        builder = self._stage(
            "builder",
            builder_key(),
            BUILDER_PACKAGES,
            hooks=(
                # zfs-dkms builds for the running kernel only when it can; make sure the module
                # exists for the Debian kernel that was installed
                '--customize-hook=for k in "$1"/lib/modules/*; do k=${k##*/}; '
                '[ -e "$1"/lib/modules/$k/updates/dkms/zfs.ko ] || '
                'chroot "$1" dkms autoinstall -k $k; done',
            ),
        )
        kver = self._kernel_version(builder)
        if not (builder / "lib/modules" / kver / "updates/dkms/zfs.ko").is_file():
            raise NixremoteError(
                f"zfs-dkms did not produce zfs.ko for {kver}",
                hint=f"remove {builder} and build again; see the dkms log",
            )
        rescue_root = self._stage("rescue", rescue_root_key(), RESCUE_PACKAGES, RESCUE_HOOKS)

        out = self.cache / self.key
        tmp = self.cache / f"{self.key}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        work = builder / "var/tmp/nixremote-build"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        try:
            t = time.monotonic()
            shutil.copy2(builder / "boot" / f"vmlinuz-{kver}", tmp / "vmlinuz")
            self._step("assembling the rescue initramfs")
            rescue_bytes = self._rescue(builder, rescue_root, kver, work, tmp)
            self.timings["rescueInitrd"] = round(time.monotonic() - t, 1)
            t = time.monotonic()
            self._step("assembling the test installer bundle")
            installer_bytes = self._installer(builder, kver, work, tmp)
            self.timings["installerBundle"] = round(time.monotonic() - t, 1)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        elapsed = round(time.monotonic() - start, 1)
        manifest = {
            "key": self.key,
            "kernelVersion": kver,
            "installerReadyMarker": scripts.INSTALLER_READY_MARKER,
            "rescueReadyMarker": scripts.RESCUE_READY_MARKER,
            "nixosInstallRecord": scripts.NIXOS_INSTALL_RECORD,
            "rescueInitrdUnpackedBytes": rescue_bytes,
            "installerInitrdUnpackedBytes": installer_bytes,
            "buildSeconds": elapsed,
            "timings": self.timings,
            "builtAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / "artifacts.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
        self.report(
            Event(
                kind="done",
                phase="vm-build",
                message=f"test VM built in {elapsed:.0f}s",
                data={"dir": str(out)},
            )
        )
        art = load_cached(self.cache)
        assert art is not None
        return attrs.evolve(art, cached=False)

    def _kernel_version(self, builder: Path) -> str:
        versions = sorted(
            p.name
            for p in (builder / "lib/modules").iterdir()
            if (builder / "boot" / f"vmlinuz-{p.name}").is_file()
        )
        if not versions:
            raise NixremoteError(
                "no Debian kernel in the builder chroot", hint=f"remove {builder} and build again"
            )
        return versions[-1]

    # -- kernel modules -----------------------------------------------------------------------
    def _modules(
        self,
        builder: Path,
        kver: str,
        work: Path,
        name: str,
        names: Sequence[str],
        dirs: Sequence[str],
    ) -> Path:
        """Copy a module selection (stripped of debug info) into ``work/mods-name`` and run
        depmod on it inside the builder; returns the tree that holds ``lib/modules/<kver>``."""
        src = builder / "lib/modules" / kver
        deps = parse_modules_dep((src / "modules.dep").read_text())
        chosen = module_closure(deps, names, dirs)
        stage = work / f"mods-{name}"
        dst = stage / "lib/modules" / kver
        dst.mkdir(parents=True)
        for rel in chosen:
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dst / rel)
        for meta in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            if (src / meta).is_file():
                shutil.copy2(src / meta, dst / meta)
        inside = "/" + stage.relative_to(builder).as_posix()
        kos = [
            f"{inside}/lib/modules/{kver}/{rel}"
            for rel in chosen
            if rel.endswith(".ko") and rel.startswith("updates/")
        ]
        for i in range(0, len(kos), 200):
            _run(["chroot", builder, "strip", "--strip-debug", *kos[i : i + 200]])
        _run(["chroot", builder, "depmod", "-b", inside, kver])
        return stage

    # -- rescue ---------------------------------------------------------------------------------
    def _rescue(self, builder: Path, rescue_root: Path, kver: str, work: Path, out: Path) -> int:
        tree = work / "rescue"
        _run(["cp", "-a", "--reflink=auto", rescue_root, tree])
        for junk in (
            "var/cache/apt",
            "var/lib/apt/lists",
            "usr/share/doc",
            "usr/share/man",
            "usr/share/info",
            ".nixremote-stage-done",
            "var/log/apt",
            "usr/lib/udev/hwdb.bin",
            "usr/lib/udev/hwdb.d",
            "var/cache/debconf/templates.dat-old",
            "var/lib/dpkg/status-old",
            "usr/lib/x86_64-linux-gnu/gconv",
            "usr/share/zoneinfo",
        ):
            p = tree / junk
            if p.is_dir():
                shutil.rmtree(p)
                if junk in ("var/cache/apt", "var/lib/apt/lists"):
                    p.mkdir(parents=True)
            elif p.exists():
                p.unlink()
        for key in (tree / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        for cache in list(tree.glob("usr/lib/python3*/**/__pycache__")):
            shutil.rmtree(cache)
        mods = self._modules(
            builder, kver, work, "rescue", COMMON_MODULES + RESCUE_MODULES, RESCUE_MODULE_DIRS
        )
        mdst = tree / "usr/lib/modules"
        mdst.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(mdst / kver, ignore_errors=True)
        shutil.move(mods / "lib/modules" / kver, mdst / kver)
        _write(
            tree / "init",
            scripts.init_script(name="rescue", marker=scripts.RESCUE_READY_MARKER, early_udev=True),
            0o755,
        )
        _write(tree / "etc/inittab", scripts.INITTAB)
        _write(tree / "etc/nixremote/udhcpc.script", scripts.UDHCPC_SCRIPT, 0o755)
        _write(tree / "etc/nixremote/argv-sampler.py", scripts.ARGV_SAMPLER)
        _write(tree / "etc/ssh/sshd_config.d/00-nixremote.conf", scripts.SSHD_CONFIG)
        _write(tree / "etc/default/kexec", "LOAD_KEXEC=false\nKEXEC_KERNEL=\nKEXEC_INITRD=\n")
        _write(tree / "etc/hostname", "rescue\n")
        _write(tree / "etc/hosts", "127.0.0.1 localhost\n127.0.1.1 rescue\n::1 localhost\n")
        _write(tree / "etc/fstab", "")
        _write(tree / "etc/resolv.conf", "")
        for tool in ("reboot", "poweroff", "halt"):
            link = tree / "usr/sbin" / tool
            if not link.exists() and not link.is_symlink():
                link.symlink_to("/bin/busybox")
        (tree / "root").chmod(0o700)
        return cpio.write_tree(tree, out / "rescue-initrd.gz")

    # -- installer ------------------------------------------------------------------------------
    def _installer(self, builder: Path, kver: str, work: Path, out: Path) -> int:
        tree = work / "installer"
        tree.mkdir()
        for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64"):
            (tree / d).mkdir(parents=True)
        for link in ("bin", "sbin", "lib", "lib64"):
            (tree / link).symlink_to(f"usr/{link}")
        for d in (
            "dev",
            "proc",
            "sys",
            "run",
            "tmp",
            "var/tmp",
            "var/log",
            "etc/ssh",
            "etc/zfs",
            "root",
            "mnt",
            "persist",
        ):
            (tree / d).mkdir(parents=True, exist_ok=True)
        (tree / "var/run").symlink_to("/run")
        (tree / "root").chmod(0o700)
        (tree / "tmp").chmod(0o1777)

        paths: list[str] = []
        for prog in INSTALLER_PROGRAMS:
            found = _which_in(builder, prog)
            if found is None:
                raise NixremoteError(
                    f"{prog} not found in the builder chroot",
                    hint=f"add its package to BUILDER_PACKAGES ({builder})",
                )
            paths.append(found)
        paths.extend(INSTALLER_EXTRA_FILES)
        dynload = builder / "usr/lib/python3.11/lib-dynload"
        for so in sorted(dynload.iterdir()):
            if not PYTHON_DYNLOAD_SKIP.match(so.name):
                paths.append("/" + so.relative_to(builder).as_posix())
        elf = [p for p in paths if _is_elf(builder / p.lstrip("/"))]
        libs: set[str] = set()
        for i in range(0, len(elf), 50):
            libs.update(parse_ldd(_run(["chroot", builder, "ldd", *elf[i : i + 50]])))
        for wanted in [*paths, *sorted(libs)]:
            if wanted in OPTIONAL_FILES and not (builder / wanted.lstrip("/")).exists():
                continue
            _copy_from_root(builder, wanted, tree)
        # ld.so is found at /lib64 through the usrmerge link
        # kmod applets and the busybox applets that no real program provides
        for name in KMOD_LINKS:
            target = "usr/sbin" if name in ("insmod", "rmmod", "modprobe", "depmod") else "usr/bin"
            kmod_link = tree / target / name
            if not kmod_link.exists():
                kmod_link.symlink_to("/usr/bin/kmod")
        applets = _run(["chroot", builder, "busybox", "--list-full"]).split()
        for applet in applets:
            name = applet.rsplit("/", 1)[-1]
            if any(
                (tree / d / name).exists() or (tree / d / name).is_symlink()
                for d in ("usr/bin", "usr/sbin")
            ):
                continue
            where = "usr/sbin" if "sbin/" in applet else "usr/bin"
            (tree / where / name).symlink_to("/usr/bin/busybox")
        sh = tree / "usr/bin/sh"
        if sh.is_symlink() or sh.exists():
            sh.unlink()
        sh.symlink_to("busybox")
        py = tree / "usr/bin/python3"
        if not py.exists():
            py.symlink_to("python3.11")
        if not (tree / "usr/bin/mkfs.vfat").exists():
            (tree / "usr/sbin/mkfs.vfat").symlink_to("mkfs.fat")
        self._python_stdlib(builder, work, tree)

        mods = self._modules(builder, kver, work, "installer", COMMON_MODULES, ())
        shutil.move(mods / "lib/modules", tree / "usr/lib/modules")

        _write(
            tree / "init",
            scripts.init_script(
                name="installer",
                marker=scripts.INSTALLER_READY_MARKER,
                early_udev=False,
                sample_argv=True,
                load_zfs=True,
                restore_network=True,
            ),
            0o755,
        )
        # the production network restore, as the NixOS image runs it (see scripts.INIT)
        _write(tree / "usr/lib/nixremote/restore_network.py", restore_network_source(), 0o755)
        _write(tree / "etc/nixremote/argv-sampler.py", scripts.ARGV_SAMPLER)
        _write(tree / "etc/inittab", scripts.INITTAB)
        _write(tree / "etc/nixremote/udhcpc.script", scripts.UDHCPC_SCRIPT, 0o755)
        _write(tree / "etc/ssh/sshd_config", scripts.SSHD_CONFIG + scripts.SSHD_SFTP)
        _write(tree / "etc/passwd", scripts.PASSWD)
        _write(tree / "etc/group", scripts.GROUP)
        _write(tree / "etc/shadow", scripts.SHADOW, 0o640)
        _write(tree / "etc/nsswitch.conf", scripts.NSSWITCH)
        _write(tree / "etc/hostname", "installer\n")
        _write(tree / "etc/hosts", "127.0.0.1 localhost\n127.0.1.1 installer\n::1 localhost\n")
        _write(tree / "etc/fstab", "")
        _write(tree / "etc/resolv.conf", "")
        _write(
            tree / "etc/os-release",
            'PRETTY_NAME="nixremote test installer (Debian bookworm parts)"\n'
            "NAME=nixremote-test-installer\nID=nixremote-test-installer\nID_LIKE=debian\n"
            "VERSION_ID=12\n",
        )
        _write(
            tree / "etc/profile",
            "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
        )
        _write(tree / "usr/bin/nixos-install", scripts.NIXOS_INSTALL, 0o755)
        _write(
            tree / "etc/nixremote/installed-boot.sh",
            standin.installed_boot_script(scripts.BOOT_FAILED_MARKER),
            0o755,
        )

        bundle = out / "installer"
        bundle.mkdir()
        shutil.copy2(out / "vmlinuz", bundle / "bzImage")
        unpacked = cpio.write_tree(tree, bundle / "initrd.gz", compresslevel=6)
        meta = {
            "format": 1,
            "arch": "x86_64",
            "kernel": "bzImage",
            "initrd": "initrd.gz",
            "kernelParams": INSTALLER_KERNEL_PARAMS,
            "python": INSTALLER_PYTHON,
            "initrdUnpackedBytes": unpacked,
        }
        # only the contract's keys: the controller rejects unknown ones
        (bundle / "bundle.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return unpacked

    def _python_stdlib(self, builder: Path, work: Path, tree: Path) -> None:
        """Compile the kept part of the stdlib into /usr/lib/python311.zip (inside the builder,
        with its own python3.11, so the bytecode matches) and keep os.pyc as getpath's
        landmark in /usr/lib/python3.11."""
        inside = "/" + work.relative_to(builder).as_posix()
        program = f"""
import marshal, importlib.util, os, sys, zipfile, io
src = '/usr/lib/python3.11'
skip_dirs = {sorted(PYTHON_EXCLUDE_DIRS)!r}
skip_files = {sorted(PYTHON_EXCLUDE_FILES)!r}
out = {inside!r} + '/python311.zip'
def pyc(path, rel):
    with open(path, 'rb') as fh:
        source = fh.read()
    code = compile(source, '/usr/lib/python3.11/' + rel, 'exec', dont_inherit=True)
    data = bytearray(importlib.util.MAGIC_NUMBER)
    data += (0).to_bytes(4, 'little') + (0).to_bytes(4, 'little') + (0).to_bytes(4, 'little')
    data += marshal.dumps(code)
    return bytes(data)
n = 0
with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
        for f in sorted(filenames):
            if not f.endswith('.py') or f in skip_files:
                continue
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, src)
            if os.path.islink(full) and not os.path.exists(full):
                continue
            info = zipfile.ZipInfo(rel[:-3] + '.pyc', date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, pyc(full, rel))
            n += 1
with open({inside!r} + '/os.pyc', 'wb') as fh:
    fh.write(pyc(os.path.join(src, 'os.py'), 'os.py'))
print(n)
"""
        _run(["chroot", builder, "python3.11", "-I", "-c", program])
        shutil.move(work / "python311.zip", tree / "usr/lib/python311.zip")
        (tree / "usr/lib/python3.11").mkdir(parents=True, exist_ok=True)
        shutil.move(work / "os.pyc", tree / "usr/lib/python3.11/os.pyc")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def _which_in(root: Path, prog: str) -> str | None:
    for d in ("usr/sbin", "usr/bin", "sbin", "bin", "usr/lib/systemd"):
        p = root / d / prog
        if p.exists():
            return "/" + (Path(d) / prog).as_posix()
    return None


def _resolve_in_root(root: Path, path: str) -> str:
    """Resolve symlinks of ``path`` inside ``root`` (absolute links are relative to root)."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        if part == ".":
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise NixremoteError(f"symlink loop at {path} in {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)


def _copy_from_root(root: Path, path: str, tree: Path) -> None:
    """Copy ``path`` from ``root`` into ``tree`` at the same place, following symlinks but
    recreating them (so ``libfoo.so.1 -> libfoo.so.1.2.3`` stays a link)."""
    seen = 0
    current = path
    while True:
        seen += 1
        if seen > 40:
            raise NixremoteError(f"symlink loop at {path} in {root}")
        parent = _resolve_in_root(root, str(Path(current).parent))
        real = f"{parent.rstrip('/')}/{Path(current).name}"
        src = root / real.lstrip("/")
        dst = tree / real.lstrip("/")
        # the usrmerge links in ``tree`` map /lib to /usr/lib etc.
        dst = tree / _resolve_in_root(tree, str(Path(real).parent)).lstrip("/") / src.name
        if not src.exists() and not src.is_symlink():
            raise NixremoteError(f"{path} not found in {root}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target = os.readlink(src)
            if not dst.exists() and not dst.is_symlink():
                dst.symlink_to(target)
            current = target if target.startswith("/") else f"{Path(real).parent}/{target}"
            continue
        if not dst.exists():
            shutil.copy2(src, dst)
            st = src.stat()
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                dst.chmod(stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
        return
