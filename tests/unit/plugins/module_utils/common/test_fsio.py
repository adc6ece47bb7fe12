"""fsync_dir: the one directory fsync that the restore layout, point-in-time copies and
tree exports share; it closes what it opens, also when the fsync fails."""
import os

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import fsio
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import surgery
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import layout
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import export


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_fsync_dir_syncs_a_directory_and_closes_it(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    before = _open_fds()
    fsio.fsync_dir(str(tmp_path))
    assert _open_fds() == before


def test_fsync_dir_of_a_missing_directory_raises(tmp_path):
    with pytest.raises(OSError):
        fsio.fsync_dir(str(tmp_path / "missing"))


def test_a_failing_fsync_still_closes_the_directory(tmp_path, monkeypatch):
    def failing(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fsio.os, "fsync", failing)
    before = _open_fds()
    with pytest.raises(OSError):
        fsio.fsync_dir(str(tmp_path))
    assert _open_fds() == before


def test_one_owner():
    assert layout.fsync_dir is fsio.fsync_dir
    assert surgery.fsio is fsio and export.fsio is fsio
    assert not hasattr(surgery, "_fsync_dir") and not hasattr(export, "_fsync_dir")


def test_write_atomic_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "m.prom"
    path.write_bytes(b"old\n")
    fsio.write_atomic(str(path), b"new\n")
    assert path.read_bytes() == b"new\n"
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert os.listdir(str(tmp_path)) == ["m.prom"]


def test_write_atomic_failing_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.prom"
    path.write_bytes(b"old\n")

    def refuse(_src, _dst):
        raise OSError("rename refused")
    monkeypatch.setattr(os, "rename", refuse)
    with pytest.raises(OSError):
        fsio.write_atomic(str(path), b"new\n")
    assert path.read_bytes() == b"old\n"
    assert os.listdir(str(tmp_path)) == ["m.prom"]
