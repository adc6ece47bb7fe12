"""run_report and catalog: where reports go, and that they never look like backups or debris."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog as C
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import reports as R


class _Attr(object):
    def __init__(self, entry):
        st = entry.stat(follow_symlinks=False)
        self.filename = entry.name
        self.st_mode, self.st_size, self.st_mtime = st.st_mode, st.st_size, st.st_mtime


class LocalSftp(object):
    """The SFTP calls catalog and run_report make, on the local file system."""

    def listdir_attr(self, path):
        return [_Attr(e) for e in os.scandir(path)]

    def listdir(self, path):
        return os.listdir(path)

    def open(self, path, mode="rb"):
        return open(path, mode)

    def stat(self, path):
        return os.stat(path)

    def mkdir(self, path, mode=0o777):
        os.mkdir(path, mode)

    def posix_rename(self, a, b):
        os.rename(a, b)

    def remove(self, path):
        os.unlink(path)


class LocalSession(object):
    label = "local"
    timeout = 10

    def __init__(self):
        self.sftp = LocalSftp()

    def run(self, command, timeout=None):
        p = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, check=False)
        return p.returncode, p.stdout, p.stderr


def backup_dir(root, ensemble, bid, with_report=False):
    d = os.path.join(root, ensemble, bid)
    os.makedirs(d)
    data = b"archive bytes"
    with open(os.path.join(d, "archive.tar"), "wb") as f:
        f.write(data)
    manifest = {"kind": "full", "created": "2025-03-01T02:15:00Z", "zxid": {"last": "0x10000002a"},
                "archive": {"file": "archive.tar", "bytes": len(data)}}
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    sums = {n: hashlib.sha256(pathlib.Path(os.path.join(d, n)).read_bytes()).hexdigest()
            for n in ("archive.tar", "manifest.json")}
    with open(os.path.join(d, "SHA256SUMS"), "w") as f:
        f.write("".join("%s  %s\n" % (v, k) for k, v in sorted(sums.items())))
    return d


def test_paths():
    assert R.path_of("/srv/backups", "prod-zk", "backup", "20250301T021500Z-full-3fa2c1") == \
        "/srv/backups/prod-zk/20250301T021500Z-full-3fa2c1/report.json"
    assert R.path_of("/srv/backups", "prod-zk", "restore", "20250301T030000Z-0a1b2c") == \
        "/srv/backups/prod-zk/restores/20250301T030000Z-0a1b2c.json"
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(R.ReportError):
            R.path_of("/srv/backups", "prod-zk", "restore", bad)
    with pytest.raises(R.ReportError):
        R.path_of("/srv/backups", "../etc", "backup", "x")


def test_a_backup_report_leaves_the_backup_complete_and_verified(tmp_path):
    root = str(tmp_path)
    session = LocalSession()
    d = backup_dir(root, "zk", "20250301T021500Z-full-aaaaaa")
    backup_dir(root, "zk", "20250302T021500Z-full-bbbbbb")
    doc = R.document("backup", "20250301T021500Z-full-aaaaaa", "zk", {"bytes_sent": 13}, now=1740795300)
    data = R.encode(doc)
    path = R.path_of(root, "zk", "backup", "20250301T021500Z-full-aaaaaa")
    assert R.store(session, root, path, data) == hashlib.sha256(data).hexdigest()
    assert sorted(os.listdir(d)) == ["SHA256SUMS", "archive.tar", "manifest.json", "report.json"]
    assert R.read(session, path) == doc and doc["written"] == "2025-03-01T02:15:00Z"
    backups, debris = C.list_backups(session, root, "zk")
    assert debris == [] and [b["report"] for b in backups] == [path, None]
    assert C.verify(session, backups[0])["verified"] is True
    # No backup, no report.
    with pytest.raises(Exception, match="no such backup"):
        R.store(session, root, R.path_of(root, "zk", "backup", "20250303T000000Z-full-cccccc"), data)


def test_restore_reports_are_listed_and_never_debris(tmp_path):
    root = str(tmp_path)
    session = LocalSession()
    backup_dir(root, "zk", "20250301T021500Z-full-aaaaaa")
    for rid in ("20250301T030000Z-000001", "20250302T030000Z-000002"):
        doc = R.document("restore", rid, "zk", {"result": "verified"})
        R.store(session, root, R.path_of(root, "zk", "restore", rid), R.encode(doc))
    # Leftovers of an interrupted write are not reports.
    open(os.path.join(root, "zk", "restores", ".x.json.1234.tmp"), "w").close()
    backups, debris = C.list_backups(session, root, "zk")
    assert [b["id"] for b in backups] == ["20250301T021500Z-full-aaaaaa"] and debris == []
    found = C.restore_reports(session, root, "zk")
    assert [os.path.basename(p) for p, _size, _mtime in found] == [
        "20250301T030000Z-000001.json", "20250302T030000Z-000002.json"]
    assert R.read(session, found[0][0])["report"] == {"result": "verified"}
    shutil.rmtree(os.path.join(root, "zk", "restores"))
    assert C.restore_reports(session, root, "zk") == []
