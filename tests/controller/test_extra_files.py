"""``--extra-files DIR``: the tree listed in the plan, packed on the controller, copied by the
installer into /persist with owners and modes kept, and nothing that leaves the tree.

Real files in temporary directories (this test runs as root, so owners can be anyone's)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import attrs
import pytest

from helpers.diskplans import INFO
from helpers.keys import KEYS
from nixremote.controller.filetree_scan import pack_tree, scan_tree
from nixremote.core.converter import dumps_plan, loads_plan
from nixremote.core.errors import InvalidInputError, InvalidValueError, PlanError, SafetyError
from nixremote.core.filetree import FileTree, TreeEntry
from nixremote.core.layout import default_layout
from nixremote.core.plan import build_plan
from nixremote.core.summary import plan_lines
from nixremote.installers.filetree_apply import apply_tree


def make_tree(root: Path) -> Path:
    """etc/ssh/ssh_host_ed25519_key 0600 root, home/alice 0700 owned 1000:100, a script 0755,
    a relative symlink inside the tree."""
    (root / "etc/ssh").mkdir(parents=True)
    key = root / "etc/ssh/ssh_host_ed25519_key"
    key.write_text("PRIVATE\n")
    key.chmod(0o600)
    (root / "home/alice").mkdir(parents=True)
    (root / "home/alice").chmod(0o700)
    (root / "home/alice/notes.txt").write_text("hello\n")
    os.chown(root / "home/alice", 1000, 100)
    os.chown(root / "home/alice/notes.txt", 1000, 100)
    script = root / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (root / "home/alice/key").symlink_to("../../etc/ssh/ssh_host_ed25519_key")
    return root


def test_scan_lists_every_entry_with_mode_owner_and_hash(tmp_path: Path) -> None:
    tree = scan_tree(make_tree(tmp_path / "src"))
    by_path = {e.path: e for e in tree.entries}
    assert list(by_path) == [
        "etc",
        "etc/ssh",
        "etc/ssh/ssh_host_ed25519_key",
        "home",
        "home/alice",
        "home/alice/key",
        "home/alice/notes.txt",
        "run.sh",
    ]
    assert by_path["etc/ssh/ssh_host_ed25519_key"].mode == 0o600
    assert by_path["home/alice"].uid == 1000 and by_path["home/alice"].mode == 0o700
    assert by_path["home/alice/key"].target == "../../etc/ssh/ssh_host_ed25519_key"
    assert by_path["run.sh"].mode == 0o755 and by_path["run.sh"].size == 10
    assert tree.destination == "/persist"


@pytest.mark.parametrize(
    "target",
    ["/etc/passwd", "../outside", "../../..", "sub/../../x", "link/x"],
)
def test_symlinks_out_of_the_tree_are_refused(tmp_path: Path, target: str) -> None:
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "link").symlink_to("sub")
    (root / "bad").symlink_to(target)
    with pytest.raises(InvalidInputError, match=r"^--extra-files .*(leaves the tree|symlink)"):
        scan_tree(root)


def test_a_fifo_and_a_missing_directory_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"is not a directory|No such file"):
        scan_tree(tmp_path / "nope")
    root = tmp_path / "src"
    root.mkdir()
    os.mkfifo(root / "pipe")
    with pytest.raises(InvalidInputError, match="neither a file, a directory nor a symlink"):
        scan_tree(root)


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a//b", "a/./b", "a\nb", ""])
def test_hostile_paths_in_a_plan_are_refused(path: str) -> None:
    with pytest.raises(InvalidValueError):
        TreeEntry(path=path, kind="dir")


def test_a_listing_with_something_below_a_symlink_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="not listed before it as a directory"):
        FileTree(
            source="/src",
            entries=(
                TreeEntry(path="etc", kind="symlink", target="x"),
                TreeEntry(path="etc/passwd", kind="file", sha256="0" * 64),
            ),
        )


def test_the_plan_round_trips_and_shows_the_tree(tmp_path: Path) -> None:
    tree = scan_tree(make_tree(tmp_path / "src"))
    plan = build_plan(INFO, default_layout(INFO), authorized_keys=[KEYS[0]], extra_files=tree)

    assert loads_plan(dumps_plan(plan)) == plan
    assert '"extraFiles"' in dumps_plan(plan)
    lines = plan_lines(plan)
    assert any(line.startswith("extra:     8 entries") for line in lines)
    assert "  0700 1000:100 /persist/home/alice/" in lines
    assert "  0600 0:0 /persist/etc/ssh/ssh_host_ed25519_key (8 bytes)" in lines


def test_pack_and_apply_keep_owners_and_modes(tmp_path: Path) -> None:
    tree = scan_tree(make_tree(tmp_path / "src"))
    archive = tmp_path / "extra.tar"
    archive.write_bytes(pack_tree(tree))
    dest = tmp_path / "mnt-persist"
    dest.mkdir()
    assert apply_tree(tree, archive, dest) == 8
    key = dest / "etc/ssh/ssh_host_ed25519_key"
    assert key.read_text() == "PRIVATE\n" and stat.S_IMODE(key.stat().st_mode) == 0o600
    alice = (dest / "home/alice").stat()
    assert (alice.st_uid, alice.st_gid, stat.S_IMODE(alice.st_mode)) == (1000, 100, 0o700)
    assert (dest / "home/alice/notes.txt").stat().st_uid == 1000
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o755
    assert os.readlink(dest / "home/alice/key") == "../../etc/ssh/ssh_host_ed25519_key"
    # a rerun writes the same tree again
    assert apply_tree(tree, archive, dest) == 8
    assert sorted(p.name for p in (dest / "etc/ssh").iterdir()) == ["ssh_host_ed25519_key"]


def test_a_changed_source_is_refused_when_packing(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    tree = scan_tree(src)
    (src / "run.sh").write_text("#!/bin/sh\nrm -rf /\n")
    with pytest.raises(PlanError, match=r"changed since the plan listed it \(run.sh\)"):
        pack_tree(tree)


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_the_installer_refuses_an_archive_that_is_not_the_plans(tmp_path: Path) -> None:
    import hashlib

    tree = FileTree(
        source="/src",
        entries=(
            TreeEntry(path="a", kind="file", size=2, sha256=hashlib.sha256(b"ok").hexdigest()),
        ),
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    archive = tmp_path / "x.tar"
    for members, why in (
        ([("a", b"no")], "differs from the file the plan lists"),
        ([("a", b"ok"), ("../evil", b"x")], "is not listed"),
        ([], "a is missing"),
    ):
        archive.write_bytes(_tar(members))
        with pytest.raises(SafetyError, match=why):
            apply_tree(tree, archive, dest)
        assert list(dest.iterdir()) == []  # checked whole before anything is written


def test_nothing_is_written_through_a_symlink_already_there(tmp_path: Path) -> None:
    import hashlib

    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "etc").symlink_to(outside)
    tree = FileTree(
        source="/src",
        entries=(
            TreeEntry(path="etc", kind="dir", mode=0o755),
            TreeEntry(path="etc/x", kind="file", size=2, sha256=hashlib.sha256(b"ok").hexdigest()),
        ),
    )
    archive = tmp_path / "x.tar"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        d = tarfile.TarInfo("etc")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
        f = tarfile.TarInfo("etc/x")
        f.size = 2
        tar.addfile(f, io.BytesIO(b"ok"))
    archive.write_bytes(buf.getvalue())
    with pytest.raises(SafetyError, match=r"cannot write .*etc"):
        apply_tree(tree, archive, dest)
    assert list(outside.iterdir()) == []


def test_the_installers_keys_phase_copies_the_tree_and_keeps_a_given_host_key(
    tmp_path: Path,
) -> None:
    """The installer's step before the host keys: the plan's tree into <root>/persist from the
    archive the controller sent, which is then removed; a host key pair the tree brings is kept
    (and reported) by the keys phase rather than replaced."""
    import subprocess

    from nixremote.installers.phases import Installer, InstallerConfig

    src = tmp_path / "src"
    (src / "etc/ssh").mkdir(parents=True)
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            str(src / "etc/ssh/ssh_host_ed25519_key"),
        ],
        check=True,
    )
    tree = scan_tree(src)
    root = tmp_path / "mnt"
    layout = attrs.evolve(default_layout(INFO), mount_root=str(root))
    plan = build_plan(INFO, layout, authorized_keys=[KEYS[0]], extra_files=tree)
    archive = tmp_path / "run" / "extra-files.tar"
    archive.parent.mkdir()
    archive.write_bytes(pack_tree(tree))
    installer = Installer(
        plan, config=InstallerConfig(extra_files_archive=archive, state_file=tmp_path / "s.json")
    )
    installer.phase_keys()
    key = root / "persist/etc/ssh/ssh_host_ed25519_key"
    assert key.read_bytes() == (src / "etc/ssh/ssh_host_ed25519_key").read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not archive.exists()
    # the rsa key and the initrd's were generated beside it
    assert (root / "persist/etc/ssh/ssh_host_rsa_key").is_file()
    # without the archive, a plan with extra files is refused
    with pytest.raises(PlanError, match=r"extra-files\.tar is missing"):
        installer.extra_files()
