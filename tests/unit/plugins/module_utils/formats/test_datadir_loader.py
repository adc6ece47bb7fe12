"""datadir.Loader: the replay built while the files are verified (each file read once) gives
exactly what the separate reads give: the same report, the same tree, the same result, on
whole and on damaged files."""
import json
import os
import struct

import pytest

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datatree as D
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import snapshot
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import replay as tree_replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as T
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree.export import ExportError

E = 0x100000000


class Careful(datadir.Loader):
    """The reads as they were: the snapshot verified alone, the logs scanned alone, and
    the replay left to replay.replay()."""

    def read_snapshot(self, path):
        return snapshot.read_snapshot(path, limit=self.limit)

    def begin(self, snapshot_path, log_paths, target_zxid):
        self.begun = True

    def feeder(self, path):
        return None

    def finish(self, log_paths, target_zxid):
        return None


def creates(first, last, epoch=E, prefix="/n"):
    return [W.txn(epoch + i, T.CREATE, W.create("%s%x" % (prefix, epoch + i), b"v", pcv=-1))
            for i in range(first, last + 1)]


def snap(d, zxid, digest_zxid=None, extra=(), sessions=None, wrong=False):
    """A snapshot; with ``digest_zxid`` it records ZooKeeper's digest of the tree at that
    zxid (replayed from the logs already written), or a wrong one."""
    p = os.path.join(d, "snapshot.%x" % zxid)

    def write(value):
        digest = (digest_zxid, 2, value) if digest_zxid else None
        return W.write(p, W.snapshot_stream(W.basic_tree(extra=extra), digest=digest,
                                            sessions=sessions))
    write(0)
    if digest_zxid and not wrong:
        logs = sorted(os.path.join(d, n) for n in os.listdir(d) if n.startswith("log."))
        tree, _res = replay.replay(p, logs, target_zxid=digest_zxid)
        write(tree.zk_digest)
    return p


def log(d, raws, padding=128):
    return W.write(os.path.join(d, "log.%x" % T.peek_header(raws[0])[2]),
                   W.log_bytes(raws, padding=padding))


def epochs(d, current=1, accepted=1):
    W.write(os.path.join(d, "currentEpoch"), b"%d" % current)
    W.write(os.path.join(d, "acceptedEpoch"), b"%d" % accepted)


def damage(path, at, byte=b"\xff"):
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(byte)


def plain(d):
    log(d, creates(1, 5))
    log(d, creates(6, 9))
    snap(d, E + 3, E + 4)
    epochs(d)


def wrong_digest(d):
    log(d, creates(1, 5))
    log(d, creates(6, 9))
    snap(d, E + 3, E + 4, wrong=True)
    epochs(d)


def two_snapshots(d):
    log(d, creates(1, 4))
    log(d, creates(5, 12))
    snap(d, E + 2, E + 2)
    snap(d, E + 6, E + 7)
    epochs(d)


def sessions_and_ephemerals(d):
    snap(d, E + 2, sessions={0x55: 30000})
    raws = [W.txn(E + 1, T.CREATE, W.create("/n1", b"v", pcv=-1)),
            W.txn(E + 2, T.CREATE, W.create("/n2", b"v", pcv=-1)),
            W.txn(E + 3, T.CREATE_SESSION, W.create_session(4000), client=0x66),
            W.txn(E + 4, T.CREATE, W.create("/e1", b"e", ephemeral=True, pcv=-1), client=0x66),
            W.txn(E + 5, T.MULTI, W.multi([(T.CREATE, W.create("/m", b"", pcv=-1)),
                                           (T.CREATE, W.create("/m/x", b"1", acl=W.MIXED, pcv=-1)),
                                           (T.SET_DATA, W.set_data("/a", b"A2", 1))])),
            W.txn(E + 6, T.MULTI, W.multi([(T.ERROR, W.error(-101)), (T.ERROR, W.error(0))])),
            W.txn(E + 7, T.CREATE, W.create("/e2", b"e", ephemeral=True, pcv=-1), client=0x66),
            W.txn(E + 8, T.SET_ACL, W.set_acl("/m", W.READ, 1)),
            W.txn(E + 9, T.DELETE, W.delete("/n1")),
            W.txn(E + 10, T.CLOSE_SESSION, W.close_session(["/e1"]), client=0x66)]
    log(d, raws)
    epochs(d)


def kinds(d):
    W.kinds_data_dir(d)


def new_epoch(d):
    snap(d, E + 2)
    log(d, creates(1, 4))
    log(d, creates(1, 3, epoch=2 * E))
    epochs(d, 2, 2)


def damaged_newest_snapshot(d):
    two_snapshots(d)
    damage(os.path.join(d, "snapshot.%x" % (E + 6)), 40)


def truncated_newest_snapshot(d):
    two_snapshots(d)
    p = os.path.join(d, "snapshot.%x" % (E + 6))
    with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) - 30)


def damaged_log_before_the_end(d):
    snap(d, E + 2)
    raws = creates(1, 8)
    W.write(os.path.join(d, "log.%x" % (E + 1)),
            W.log_bytes(raws[:5], padding=0) + W.record(raws[5], crc=7) + W.record(raws[6]))
    epochs(d)


def damaged_second_log(d):
    snap(d, E + 2)
    log(d, creates(1, 4))
    raws = creates(5, 9)
    W.write(os.path.join(d, "log.%x" % (E + 5)),
            W.log_bytes(raws[:2], padding=0) + W.record(raws[2], crc=7))
    epochs(d)


def torn_last_record(d):
    snap(d, E + 2)
    raws = creates(1, 6)
    W.write(os.path.join(d, "log.%x" % (E + 1)),
            W.log_bytes(raws[:5], padding=0) + W.record(raws[5])[:-7])
    epochs(d)


def gap(d):
    snap(d, E + 2)
    log(d, creates(1, 4))
    log(d, creates(7, 9))
    epochs(d)


def repeated_zxids(d):
    # A later log that repeats transactions of an earlier one (ZooKeeper applies them
    # again: the creates fail, their parents' cversion moves).
    snap(d, E + 2)
    log(d, creates(1, 6))
    log(d, creates(4, 9, prefix="/r"))
    epochs(d)


def not_depth_first(d):
    # Every parent precedes its children (ZooKeeper would load it), but not depth-first.
    nodes = [("", b"", -1, W.stat(pzxid=2, cversion=2)),
             ("/a", b"", 1, W.stat(czxid=1)),
             ("/b", b"", 1, W.stat(czxid=2)),
             ("/a/x", b"", 1, W.stat(czxid=2)),
             ("/zookeeper", b"", -1, W.stat())]
    W.write(os.path.join(d, "snapshot.%x" % (E + 2)), W.snapshot_stream(nodes))
    snap(d, E + 1)
    log(d, creates(1, 4))
    epochs(d)


DIRS = [plain, wrong_digest, two_snapshots, sessions_and_ephemerals, kinds, new_epoch, damaged_newest_snapshot,
        truncated_newest_snapshot, damaged_log_before_the_end, damaged_second_log, torn_last_record,
        gap, repeated_zxids, not_depth_first]
TARGETS = [dict(), dict(target_zxid=E + 3), dict(target_zxid=E + 5), dict(target_zxid=E + 6),
           dict(target_zxid=E + 7), dict(target_zxid=E + 9), dict(target_zxid=E + 40),
           dict(target_time=W.T0 + E + 5), dict(target_zxid=2 * E + 2)]


@pytest.fixture(params=DIRS, ids=[f.__name__ for f in DIRS])
def data_dir(request, tmp_path):
    v = tmp_path / "data" / "version-2"
    v.mkdir(parents=True)
    request.param(str(v))
    return str(tmp_path / "data")


def careful(monkeypatch, fn, *args, **kw):
    with monkeypatch.context() as m:
        m.setattr(datadir, "Loader", Careful)
        return fn(*args, **kw)


def report_text(rep):
    return json.dumps(rep, sort_keys=True, default=repr)


def tree_state(tree):
    return (tree.nodes, tree.sessions, tree.ephemerals, tree.zk_digest, tree.last_zxid,
            sorted(tree.acl_lists().values()))


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: ",".join("%s=%x" % i for i in t.items()) or "end")
def test_deep_verification_reads_once_and_reports_the_same(data_dir, target, monkeypatch):
    for scope in ("restorable", "all"):
        fast = datadir.verify_data_dir(data_dir, deep=True, scope=scope, **target)
        slow = careful(monkeypatch, datadir.verify_data_dir, data_dir, deep=True, scope=scope, **target)
        assert report_text(fast) == report_text(slow)
        # The replay adds to what the verification alone finds, and changes nothing of it.
        plain_rep = datadir.verify_data_dir(data_dir, scope=scope, **target)
        for key in ("files", "restorable_set", "restorable_until", "last_zxid", "gaps", "epochs"):
            assert plain_rep[key] == fast[key]
        for key in ("reasons", "warnings"):
            assert fast[key][:len(plain_rep[key])] == plain_rep[key]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: ",".join("%s=%x" % i for i in t.items()) or "end")
def test_export_replay_reads_once_and_gives_the_same_tree(data_dir, target, monkeypatch):
    try:
        tree, zxid, about = tree_replay.replay_data_dir(data_dir, **target)
    except ExportError as exc:
        with pytest.raises(ExportError) as slow_exc:
            careful(monkeypatch, tree_replay.replay_data_dir, data_dir, **target)
        assert str(slow_exc.value) == str(exc)
        return
    slow_tree, slow_zxid, slow_about = careful(monkeypatch, tree_replay.replay_data_dir, data_dir,
                                               **target)
    assert zxid == slow_zxid
    assert tree_state(tree) == tree_state(slow_tree)
    assert replay.summarize(tree) == replay.summarize(slow_tree)
    assert not slow_about["read_once"]
    for key in ("verify_seconds", "replay_seconds", "read_once"):
        about.pop(key)
        slow_about.pop(key)
    assert about == slow_about


def test_each_file_is_read_once(tmp_path, monkeypatch):
    v = tmp_path / "data" / "version-2"
    v.mkdir(parents=True)
    two_snapshots(str(v))
    opened = []
    real_open = open

    def counting_open(path, *args, **kw):
        if os.path.basename(str(path)).startswith(("snapshot.", "log.")):
            opened.append(os.path.basename(str(path)))
        return real_open(path, *args, **kw)
    monkeypatch.setattr("builtins.open", counting_open)
    tree, zxid, about = tree_replay.replay_data_dir(str(tmp_path / "data"))
    assert about["read_once"] and zxid == E + 12 and about["applied"] == 6
    assert sorted(opened) == ["log.100000005", "snapshot.100000006"]


def test_the_logs_scanned_before_the_snapshot_is_chosen_are_read_again(tmp_path):
    # A target at the newest snapshot's end: choosing a snapshot scans the logs first (is
    # anything logged after the target?), before the replay knows which logs it needs.
    v = tmp_path / "data" / "version-2"
    v.mkdir(parents=True)
    two_snapshots(str(v))
    tree, zxid, about = tree_replay.replay_data_dir(str(tmp_path / "data"), target_zxid=E + 7)
    assert about["snapshot"] == "snapshot.100000002" and not about["read_once"]
    slow, _res = replay.replay(str(v / "snapshot.100000002"),
                               [str(v / "log.100000001"), str(v / "log.100000005")],
                               target_zxid=E + 7)
    assert zxid == E + 7 and tree_state(tree) == tree_state(slow)


def test_an_unappliable_transaction_leaves_the_verification_alone(tmp_path, monkeypatch):
    v = tmp_path / "data" / "version-2"
    v.mkdir(parents=True)
    plain(str(v))

    def broken(self, txn):
        raise ValueError("cannot apply")
    monkeypatch.setattr(D.DataTree, "apply", broken)
    rep = datadir.verify_data_dir(str(tmp_path / "data"), deep=False, loader=datadir.Loader())
    assert rep["restorable"], rep["reasons"]
    with pytest.raises(ValueError, match="cannot apply"):
        datadir.verify_data_dir(str(tmp_path / "data"), deep=True)


@pytest.mark.parametrize("cut", [30, 200, 400, 600, 700])
@pytest.mark.parametrize("compression", [None, "gz"])
def test_loading_read_has_the_findings_of_the_verifying_read(tmp_path, cut, compression):
    extra = [("/a/b/c%d" % i, b"x" * i, 1, W.stat(czxid=3 + i)) for i in range(20)]
    stream = W.snapshot_stream(W.basic_tree(extra=extra), digest=(9, 2, 0), last_zxid=9)
    name = "snapshot.9" + (".gz" if compression else "")
    variants = {"whole": stream, "cut": stream[:cut], "flipped": stream[:cut] + bytes([stream[cut] ^ 0x40]) + stream[cut + 1:]}
    for label, data in variants.items():
        p = W.write(str(tmp_path / ("%s-%s" % (label, name))), W.compress(data, compression))
        verified = snapshot.read_snapshot(p)
        tree, loaded = replay.read_tree(p, depth_first=True)
        assert loaded.to_dict() == verified.to_dict(), label
        assert loaded.findings == verified.findings
        if verified.valid:
            ref, _info = replay.load_snapshot(p)
            assert tree_state(tree) == tree_state(ref)


CLIENT = struct.Struct(">qqqqiiiqiiq")


@pytest.mark.parametrize("owner", [0, 1234, -1, D.CONTAINER_OWNER, D.ttl_owner(5000), D.ttl_owner(0),
                                   -0x100000000000000 | (1 << 45)])
@pytest.mark.parametrize("cversion,children", [(0, 0), (3, 2), (0x7FFFFFFF, 3), (-0x80000000, 1),
                                               (-5, 0), (0x40000000, 0)])
def test_client_view_is_the_stat_field_by_field(owner, cversion, children):
    fields = (0x100000001, -2, 1700000000000, 3, -7, cversion, 9, owner, 0x1FFFFFFFF)
    stat = D.STAT.pack(*fields)
    for data in (None, b"", b"abc"):
        kind, ttl, raw = D.client_view(stat, data, children)
        assert (kind, ttl) == D.kind_of(owner) and raw == D.client_stat(stat, data, children)
        want_cv = ((2 * cversion - children + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        want_owner = owner if D.kind_of(owner)[0] == td.EPHEMERAL else 0
        assert CLIENT.unpack(raw) == (fields[0], fields[1], fields[2], fields[3], fields[4], want_cv,
                                      fields[6], want_owner, len(data or b""), children, fields[8])
