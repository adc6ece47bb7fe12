"""Names that become paths on a backup host: ensembles and backup ids are plain names, checked
before any path is built; pruning deletes only backups and the debris the collection leaves,
recognised by name, and leaves any other directory alone (listed as unknown).  The backup
host is a local directory (test_run_report.LocalSession)."""
import json
import os
import time

import pytest

from test_run_report import LocalSession as _ReadingSession, backup_dir

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as A
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog as C
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import names as N
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import fetch as F


class LocalSession(_ReadingSession):
    def __init__(self):
        super(LocalSession, self).__init__()
        self.sftp.rename = os.rename


BAD = [".", "..", "", "a/b", "../x", "/abs", ".hidden", "-x", "a b", "x\n", "é", "a" * 129, None]
BID = "20250301T021500Z-full-3fa2c1"
DAY = 86400


@pytest.mark.parametrize("bad", BAD)
def test_every_name_that_is_not_plain_is_refused(bad):
    assert not N.is_ensemble(bad) and not N.is_backup_id(bad)
    with pytest.raises(N.NameRefused, match="not a plain name"):
        N.ensemble(bad)
    with pytest.raises(N.NameRefused, match="not a plain name"):
        N.backup_id(bad)
    with pytest.raises(F.FetchError, match="not a plain name"):
        F.backup_path("/srv/backups", bad, BID)
    with pytest.raises(F.FetchError, match="not a plain name"):
        F.backup_path("/srv/backups", "prod-zk", bad)


def test_plain_names_and_the_collection_debris():
    assert N.ensemble("prod-zk.eu_1") == "prod-zk.eu_1" and N.backup_id(BID) == BID
    assert N.has_id_format(BID) and N.has_id_format("20250301T021500Z-tree-00ff")
    assert not N.has_id_format("photos") and not N.has_id_format("20250301-full-3fa2c1")
    assert N.debris_kind("." + BID + ".partial-0a1b2c3d") == "partial"
    assert N.debris_kind("." + BID + ".deleting-0a1b2c3d") == "deleting"
    for other in (".cache", ".x.partial-", ".x.partial-zz", BID, "..partial-00", "./.partial-00"):
        assert N.debris_kind(other) is None, other


@pytest.mark.parametrize("kind", ["full", "incremental", "tree"])
def test_a_new_backup_id_has_the_id_format_and_is_a_plain_name(kind):
    bid = N.new_backup_id(kind, now=1740795300)
    assert bid.startswith("20250301T021500Z-%s-" % kind), bid
    assert N.has_id_format(bid) and N.is_backup_id(bid) and N.backup_id(bid) == bid
    assert len(bid.rsplit("-", 1)[1]) == 6
    assert F.backup_path("/srv/backups", "prod-zk", BID) == "/srv/backups/prod-zk/" + BID


def _age(path, days):
    t = time.time() - days * DAY
    os.utime(path, (t, t))


def _store(root):
    """An ensemble 'zk' with a backup, every kind of debris and foreign directories, all old."""
    backup_dir(root, "zk", BID)
    edir = os.path.join(root, "zk")
    for name in ("photos", ".cache", "." + BID + ".partial-00aa", ".20250302T000000Z-full-bbbbbb.deleting-01",
                 "20250303T000000Z-full-cccccc"):
        os.mkdir(os.path.join(edir, name))
    for name in os.listdir(edir):
        _age(os.path.join(edir, name), 3)
    _age(edir, 3)
    return edir


def test_dot_and_dotdot_are_refused_before_anything_is_listed(tmp_path):
    root = str(tmp_path / "backups")
    _store(root)
    session = LocalSession()
    for bad in (".", "..", "zk/..", "../backups"):
        with pytest.raises(N.NameRefused):
            C.list_backups(session, root, bad)
        with pytest.raises(N.NameRefused):
            C.restore_reports(session, root, bad)
    # Listing every ensemble never yields a name that is not plain.
    os.mkdir(os.path.join(root, ".hidden"))
    os.mkdir(os.path.join(root, "with space"))
    assert C.ensembles(session, root) == ["zk"]


def test_foreign_directories_are_unknown_and_survive_a_prune(tmp_path):
    root = str(tmp_path / "backups")
    edir = _store(root)
    session = LocalSession()
    unknown = []
    backups, debris = C.list_backups(session, root, "zk", unknown=unknown)
    assert [b["id"] for b in backups] == [BID]
    assert sorted((os.path.basename(d["path"]), d["kind"]) for d in debris) == [
        ("." + BID + ".partial-00aa", "partial"), (".20250302T000000Z-full-bbbbbb.deleting-01", "deleting"),
        ("20250303T000000Z-full-cccccc", "incomplete")]
    assert sorted(os.path.basename(u["path"]) for u in unknown) == [".cache", "photos"]
    assert all("left alone" in u["reason"] for u in unknown)
    # Everything is three days old: the prune deletes the debris only.
    for d in C.plan_debris(debris + unknown, 24):
        C.delete(session, d["path"])
    assert sorted(os.listdir(edir)) == [".cache", BID, "photos"]
    # delete() itself refuses what is not a backup nor debris.
    for path in (os.path.join(edir, ".cache"), os.path.join(root, "."), root + "/zk/../zk", "/"):
        with pytest.raises(C.SshError, match="refusing to delete"):
            C.delete(session, path)
    assert sorted(os.listdir(edir)) == [".cache", BID, "photos"]


def test_a_manifest_that_is_not_its_directory_is_listed_as_failing(tmp_path):
    root = str(tmp_path / "backups")
    d = backup_dir(root, "zk", BID)
    with open(os.path.join(d, "manifest.json")) as f:
        original = json.load(f)
    for field, value, why in (("backup_id", "../../etc", "names backup"),
                              ("archive", {"file": "../../etc/shadow"}, "not a plain file name"),
                              ("archive", "x", "no readable archive section")):
        manifest = dict(original)
        manifest[field] = value
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(manifest, f)
        (b,), _debris = C.list_backups(LocalSession(), root, "zk")
        assert b["verified"] is False and b["kind"] is None and why in b["problems"][0], b


def _plant(root, ensemble, bid, **fields):
    d = os.path.join(root, ensemble, bid)
    os.makedirs(d)
    manifest = {"format": A.FORMAT, "backup_id": bid, "kind": "full",
                "archive": {"file": "archive.tar", "bytes": 1}}
    manifest.update(fields)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return d


@pytest.mark.parametrize("fields,why", [
    ({"archive": {"file": "../../../etc/shadow"}}, "archive file name '../../../etc/shadow' is not a plain file name"),
    ({"archive": {"file": "a/b"}}, "is not a plain file name"),
    ({"archive": {"file": ".."}}, "is not a plain file name"),
    ({"backup_id": "../x"}, "its manifest names backup '../x'"),
    ({"backup_id": None}, "its manifest names backup None"),
])
def test_a_planted_manifest_is_a_clean_refusal_naming_host_and_backup(tmp_path, fields, why):
    root = str(tmp_path)
    _plant(root, "zk", BID, **fields)
    with pytest.raises(F.FetchError) as exc:
        F.remote_source(LocalSession(), root, "zk", BID)
    msg = str(exc.value)
    assert msg.startswith("local: backup %s: " % BID) and why in msg, msg
    assert "choose another backup" in msg
