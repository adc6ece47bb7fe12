"""Whatever a restore removes or chowns, and whatever a backup reads, is reached without
following symbolic links planted in the data directories."""
import io
import json
import os
import pathlib

import pytest

import zkarchives as H
import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as A
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import contents as B
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import fetch as F
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import layout as L
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import stage as S
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import swap as SW

OWNER = (os.getuid(), os.getgid())


@pytest.fixture
def member(tmp_path):
    data, log = tmp_path / "data", tmp_path / "log"
    for d in (data / "version-2", log / "version-2"):
        d.mkdir(parents=True)
    (data / "version-2" / "snapshot.0").write_bytes(b"old snapshot")
    (log / "version-2" / "log.1").write_bytes(b"old log")
    return L.Layout(str(data), str(log))


@pytest.fixture
def outside(tmp_path):
    """A directory outside the data directories with files that must survive."""
    d = tmp_path / "outside"
    (d / "staged" / "version-2").mkdir(parents=True)
    (d / "failed").mkdir()
    (d / "pre-restore").mkdir()
    for p in ("keep.txt", "staged/version-2/precious", "failed/precious", "pre-restore/precious"):
        (d / p).write_text("precious\n")
    return d


def files_below(d):
    return sorted(str(p.relative_to(d)) for p in pathlib.Path(d).rglob("*"))


def test_cleanup_does_not_follow_a_symlinked_restore_id(member, outside):
    before = files_below(outside)
    area = pathlib.Path(L.Layout.area(member.data_dir))
    area.mkdir()
    os.symlink(str(outside), str(area / "20200101T000000Z-aaaaaa"))
    log_area = pathlib.Path(L.Layout.area(member.data_log_dir))
    log_area.mkdir()
    os.symlink(str(outside), str(log_area / "20200101T000000Z-aaaaaa"))
    assert SW.plan_cleanup(member, keep=0) == []
    SW.cleanup(member, keep=0)
    assert files_below(outside) == before


def test_cleanup_removes_links_inside_a_restore_id_as_links(member, outside):
    before = files_below(outside)
    for root in (member.data_dir, member.data_log_dir):
        rdir = pathlib.Path(member.restore_dir(root, "r1"))
        rdir.mkdir(parents=True)
        for part in (L.STAGED, L.FAILED):
            os.symlink(str(outside / part), str(rdir / part))
        # A link deeper down, inside a real directory of the area.
        (rdir / L.PRE_RESTORE).mkdir()
        os.symlink(str(outside), str(rdir / L.PRE_RESTORE / L.VERSION_DIR))
    removed = SW.cleanup(member, keep=0)
    assert {(d["part"], d["dir"]) for d in removed} == {
        (p, w) for p in (L.STAGED, L.FAILED, L.PRE_RESTORE) for w in ("data", "datalog")}
    assert files_below(outside) == before
    assert member.restore_ids() == []


def test_remove_tree_refuses_a_linked_directory_on_the_way(member, outside):
    before = files_below(outside)
    area = pathlib.Path(L.Layout.area(member.data_dir))
    area.mkdir()
    os.symlink(str(outside), str(area / "r1"))
    with pytest.raises(L.LayoutError, match="symbolic link"):
        L.remove_tree(str(area / "r1" / L.STAGED), member.data_dir)
    with pytest.raises(L.LayoutError, match="symbolic link"):
        S.Stager(member, "r1", OWNER).discard()
    assert files_below(outside) == before


def test_set_owner_tree_refuses_links_and_changes_only_what_it_opened(member, outside, tmp_path):
    victim = outside / "keep.txt"
    os.chmod(str(victim), 0o600)
    staged = pathlib.Path(member.part_version_dir(member.data_dir, "r1", L.STAGED))
    staged.mkdir(parents=True)
    (staged / "snapshot.1").write_bytes(b"s")
    os.symlink(str(victim), str(staged / "log.1"))
    with pytest.raises(L.LayoutError, match="symbolic link"):
        L.set_owner_tree(str(staged.parent), OWNER, root=member.data_dir)
    assert oct(victim.stat().st_mode & 0o777) == oct(0o600)
    os.unlink(str(staged / "log.1"))
    L.set_owner_tree(str(staged.parent), OWNER, root=member.data_dir)
    assert oct((staged / "snapshot.1").stat().st_mode & 0o777) == oct(L.FILE_MODE)
    # The parts between the data directory and the tree are not followed either.
    rdir = pathlib.Path(member.restore_dir(member.data_dir, "r1"))
    os.rename(str(rdir), str(tmp_path / "moved"))
    os.symlink(str(tmp_path / "moved"), str(rdir))
    with pytest.raises(L.LayoutError, match="symbolic link"):
        L.set_owner_tree(str(staged.parent), OWNER, root=member.data_dir)


def test_swap_chowns_the_directory_it_opened(member, tmp_path):
    src = F.local_source(H.write_backup(str(tmp_path / "b"), H.member_files()))
    S.Stager(member, "r1", OWNER).run([src])
    os.chmod(member.data_dir, 0o700)
    SW.swap(member, "r1", OWNER, server_id=4)
    assert oct(os.stat(member.data_dir).st_mode & 0o777) == oct(L.DIR_MODE)
    myid = os.path.join(member.data_dir, "myid")
    assert not os.path.islink(myid) and pathlib.Path(myid).read_text() == "4\n"


def test_myid_link_is_never_replaced_nor_followed(member, tmp_path):
    target = tmp_path / "elsewhere-myid"
    os.symlink(str(target), os.path.join(member.data_dir, "myid"))
    assert SW._ensure_myid(member.data_dir, 5, OWNER) is False
    assert not target.exists()


def test_extraction_failure_empties_without_following_links(tmp_path, outside):
    """A destination that gained a link to elsewhere while the extraction ran is emptied
    of the link only."""
    from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import extract as X
    before = files_below(outside)
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(str(outside), str(dest / "planted"))
    X._empty(str(dest))
    assert os.listdir(str(dest)) == [] and files_below(outside) == before


@pytest.fixture
def dirs(tmp_path):
    data, logs = tmp_path / "data", tmp_path / "txnlog"
    (data / "version-2").mkdir(parents=True)
    (logs / "version-2").mkdir(parents=True)
    return str(data), str(logs), str(data / "version-2"), str(logs / "version-2")


def _member_files(snap_dir, log_dir):
    files = H.member_files()
    for name, data in files.items():
        W.write(os.path.join(snap_dir if name.startswith("data/") else log_dir, name.rsplit("/", 1)[1]), data)


@pytest.mark.parametrize("name", ["log.%x" % (H.E + 100), "snapshot.%x" % (H.E + 50), "currentEpoch"])
def test_a_backup_refuses_a_data_file_that_is_a_link(dirs, tmp_path, name):
    data, logs, snap_dir, log_dir = dirs
    _member_files(snap_dir, log_dir)
    secret = tmp_path / "root-only"
    secret.write_bytes(b"root:$6$secret-hash:19000:0:99999:7:::\n")
    os.chmod(str(secret), 0o600)
    where = log_dir if name.startswith("log.") else snap_dir
    if os.path.exists(os.path.join(where, name)):
        os.unlink(os.path.join(where, name))
    os.symlink(str(secret), os.path.join(where, name))
    with pytest.raises(B.SourceError, match="%s is a symbolic link.*never follows a link.*nothing was sent" % name):
        B.plan_full(data, logs)


def test_a_file_replaced_by_a_link_after_planning_is_not_read(tmp_path):
    secret = tmp_path / "root-only"
    secret.write_bytes(b"secret")
    real = tmp_path / "log.1"
    real.write_bytes(b"genuine")
    part = A.FilePart(str(real), 0, 6)
    real.unlink()
    os.symlink(str(secret), str(real))
    w = A.ArchiveWriter(A.Encoder(io.BytesIO().write))
    with pytest.raises(A.ArchiveError, match="cannot read"):
        w.add("datalog/version-2/log.1", [part])


def test_a_link_planted_during_the_extraction_is_not_written_through(tmp_path, outside):
    """After the first member, a link appears where the next file goes (and the staging
    directory itself is swapped for a link): the write neither follows it nor lands outside."""
    from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import extract as X
    path = H.write_backup(str(tmp_path / "b"), H.member_files())
    with open(os.path.join(str(tmp_path / "b"), "manifest.json")) as f:
        side = json.load(f)
    names = sorted(f["path"] for f in side["files"])
    dest = tmp_path / "both"
    victim = outside / "keep.txt"

    class Planting(io.RawIOBase):
        def __init__(self, raw):
            super(Planting, self).__init__()
            self.raw = raw
            self.done = False

        def readable(self):
            return True

        def read(self, n=-1):
            data = self.raw.read(n)
            if not self.done and (dest / "version-2" / names[0].rsplit("/", 1)[1]).exists():
                self.done = True
                os.symlink(str(victim), str(dest / "version-2" / names[1].rsplit("/", 1)[1]))
                os.rename(str(dest), str(tmp_path / "moved"))
                os.symlink(str(outside), str(dest))
            return data

        def readinto(self, b):
            data = self.read(len(b))
            b[:len(data)] = data
            return len(data)

    with A.open_stream(path) as stream:
        with pytest.raises(X.ExtractError, match="cannot create"):
            X.extract(Planting(stream), {"data": str(dest), "datalog": str(dest)}, str(tmp_path / "work"),
                      expect=side)
    assert victim.read_text() == "precious\n"
    assert not (outside / "version-2").exists()
