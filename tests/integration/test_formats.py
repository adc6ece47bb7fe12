"""The format readers against files written by real ZooKeeper servers.

One lab (3 members, separate dataLogDir, gzip snapshots, a low snapCount so that there
are many snapshots and logs) runs a workload with every transaction type.  Then:

* our snapshot and log readers agree with ZooKeeper's SnapshotFormatter and
  TxnLogToolkit on every file;
* our replay agrees with the snapshot a server writes after it replayed the same files
  itself, node by node and stat by stat, and with ZooKeeper's own digests;
* our replay's tree digest equals the digest of the live tree at the same zxid, also
  for a copy of a member's files taken while it was writing;
* every single-byte change of a small real snapshot and a small real log is detected
  or harmless for a stated reason;
* a data directory cut at a zxid starts under real servers with the tree of that zxid;
* zk_verify runs on the members through ansible-playbook, in check mode too, and fails
  on a damaged directory with the reason.
"""
import glob
import gzip
import os
import pathlib
import re
import shutil
import time

import pytest

import zkjava
import zklive
from lab import Lab
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datatree
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import snapshot
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import surgery
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txnlog
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.txn import op_name

pytestmark = pytest.mark.lab

DATA = "/var/lib/zookeeper"
TXNLOG = "/srv/zookeeper-txnlog"


def member_files(h):
    return sorted(glob.glob(h.path(DATA + "/version-2") + "/*") + glob.glob(h.path(TXNLOG + "/version-2") + "/*"))


def copy_files(h, dst):
    """Copy a member's version-2 files, reading each file front to back as cp does."""
    os.makedirs(dst, exist_ok=True)
    for p in member_files(h):
        if os.path.basename(p) in ("currentEpoch", "acceptedEpoch") or datadir.classify(os.path.basename(p))[0] in ("snapshot", "log"):
            shutil.copyfile(p, os.path.join(dst, os.path.basename(p)))
    return sorted(os.path.join(dst, n) for n in os.listdir(dst))


def stop_all(lab):
    for h in lab.members:
        h.stop_zk()
    for h in lab.members:
        deadline = time.time() + 20
        while h.zk_running() and time.time() < deadline:
            time.sleep(0.1)


def start_all(lab):
    for h in lab.members:
        h.start_zk()
    lab.wait_quorum()


SNAPSHOT_NAME = re.compile(r"^snapshot\.[0-9a-f]+(\.gz|\.snappy)?$")


def whole_new_snapshot(leader, known, timeout=60.0, settle=1.0):
    """The path of a snapshot the leader wrote that is not in ``known``, once it is whole.
    The server writes a snapshot under its final name as it goes: a copy taken as soon as the
    name appears can hold half of it. Whole here: its size has not changed for ``settle``
    seconds (the server's own state, not this project's reader, decides)."""
    deadline = time.time() + timeout
    seen = {}
    while time.time() < deadline:
        # Snapshot names only: a release that writes to a temporary name first (and renames
        # it) leaves that name out.
        new = sorted(p for p in glob.glob(leader.path(DATA + "/version-2") + "/snapshot.*")
                     if os.path.basename(p) not in known and SNAPSHOT_NAME.match(os.path.basename(p)))
        if new:
            try:
                size = os.path.getsize(new[0])
            except OSError:
                size = None
            if size is not None:
                first = seen.setdefault((new[0], size), time.time())
                if time.time() - first >= settle:
                    return new[0]
        time.sleep(0.1)
    raise AssertionError("the new leader %s wrote no whole snapshot within %ss (seen: %s)"
                         % (leader.name, timeout, sorted(seen)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formats")
    # The server deletes empty containers and expired TTL nodes quickly.  With the lab's
    # tickTime of 500 ms a session lasts at most 10 s unless maxSessionTimeout says more.
    lab = Lab(name="formats", members=3, backups=0, snap_count=40, snapshot_compression="gz",
              separate_datalog=True, java_opts="-Dznode.container.checkIntervalMs=200",
              extra_cfg={"maxSessionTimeout": 60000})
    lab.up()
    try:
        w = {"lab": lab, "tmp": str(tmp)}
        # A long session: an expiry under load would be a transaction in the middle of
        # the workload's quiesced walks.
        zk = zklive.client(lab.connect_string, timeout=30)
        # Phase 1: small nodes, then every transaction type.  A member rolls its log
        # after at most snapCount (40) transactions, so 100 small creates fill at least
        # one whole log with small records only: the small real log of the byte-change
        # test, whatever the timing.
        for i in range(100):
            zk.create("/small/n%02d" % i, b"%d" % i, makepath=True)
        gone = zklive.every_txn_type(zk, lab.connect_string, "/fmt")
        zklive.wait_gone(zk, gone)
        w["z1"], w["d1"] = zklive.quiesced_digest(lab, zk)
        # Phase 2: a continuous writer; a member's files are copied meanwhile.
        writer = zklive.Writer(zk, "/load")
        writer.start()
        time.sleep(1.0)
        w["live_copy"] = copy_files(lab.followers()[0], str(tmp / "live"))
        time.sleep(0.5)
        writer.stop()
        zklive.every_txn_type(zk, lab.connect_string, "/fmt2", big=900_000)
        zklive.wait_gone(zk, ["/fmt2/ctr-gone", "/fmt2/ttl-gone"])
        w["z2"], w["d2"] = zklive.quiesced_digest(lab, zk)
        # The session ends before the members stop: one left to expire (or to come back
        # as a new session) after the restart would write transactions later tests see.
        zk.stop()
        zk.close()
        # Its close is one more transaction, which changes no znode (the session owns no
        # ephemeral node): the quiet files end there.
        closed = lab.wait_zxid_agree()
        assert closed == w["z2"] + 1, "another transaction than the close: %x -> %x" % (w["z2"], closed)
        w["z2"] = closed
        # Quiet copies of every member, then a restart: the new leader writes a snapshot
        # of what ZooKeeper itself replayed from those files.
        stop_all(lab)
        w["quiet"] = {h.name: copy_files(h, str(tmp / "quiet" / h.name)) for h in lab.members}
        start_all(lab)
        leader = lab.leader()
        fresh = whole_new_snapshot(leader, {os.path.basename(p) for p in w["quiet"][leader.name]})
        w["fresh"] = shutil.copyfile(fresh, str(tmp / os.path.basename(fresh)))
        w["leader"] = leader.name
        yield w
    finally:
        lab.down()


def test_workload_has_every_transaction_type(world):
    seen = set()
    for p in world["quiet"][world["leader"]]:
        if datadir.classify(os.path.basename(p))[0] == "log":
            for t in txnlog.scan_log(p, keep_txns=True)["txns"]:
                seen.add(t.op)
                if t.type == 14:
                    seen.update("multi:" + str(op) for op, _x in t.record.ops)
    for op in ("create", "create2", "createContainer", "createTtl", "delete", "deleteContainer",
               "setData", "setACL", "multi", "createSession", "closeSession", "error",
               "multi:1", "multi:2", "multi:5", "multi:13", "multi:19", "multi:21", "multi:-1"):
        assert op in seen, (op, sorted(seen))


def test_snapshots_agree_with_snapshot_formatter(world):
    snaps = [p for p in world["quiet"][world["leader"]] if "snapshot." in p] + [world["fresh"]]
    assert len(snaps) >= 4
    for p in snaps:
        ours = {}
        info = snapshot.read_snapshot(p, nodes=ours)
        assert info.valid, info.findings
        java = zkjava.snapshot_nodes(p)
        assert set(java) == set(ours), p
        for path, n in ours.items():
            st = datatree.STAT.unpack(n[2])
            j = java[path]
            assert j["data"] == (n[0] or b""), path
            assert (j["czxid"], j["mzxid"], j["version"], j["cversion"], j["aversion"], j["owner"], j["pzxid"]) == \
                (st[0], st[1], st[4], st[5], st[6], st[7], st[8]), path


def test_logs_agree_with_txn_log_toolkit(world):
    logs = [p for p in world["quiet"][world["leader"]] if "/log." in p]
    assert len(logs) >= 4
    total = 0
    for p in logs:
        ours = txnlog.scan_log(p, keep_txns=True)
        assert ours["valid"] and ours["end"] == "padding", ours["findings"]
        java = zkjava.log_records(p)
        assert len(java) == len(ours["txns"]) == ours["records"], p
        for t, j in zip(ours["txns"], java):
            assert (t.zxid, t.client_id & (2 ** 64 - 1), t.cxid & 0xFFFFFFFF, t.op) == \
                (j["zxid"], j["session"], j["cxid"] & 0xFFFFFFFF, j["op"]), (p, t)
            rec = t.record
            if t.op in ("create", "create2", "createContainer", "createTtl", "setData"):
                assert j["text"].startswith(rec.path + ","), (j, rec.path)
            if t.op in ("delete", "deleteContainer", "setACL"):
                assert j["text"].startswith("'" + rec.path), (j, rec.path)     # jute's toString
            if t.op in ("create", "create2", "setData") and rec.data:
                try:
                    text = rec.data.decode("utf-8")
                except UnicodeDecodeError:
                    text = None
                if text is not None:
                    assert j["text"].startswith("%s,%s," % (rec.path, text))
            if t.op == "multi":
                assert _multi_names(j["text"]) == [op_name(op) for op, _x in rec.ops], j
        total += len(java)
    assert total > 200


def _multi_names(text):
    # TxnLogToolkit prints "create:<raw bytes>;setData:<raw bytes>...".
    return re.findall(r"(?:^|;)(createContainer|createTtl|create2|create|deleteContainer|delete|"
                      r"setData|check|error):", text)


def test_replay_equals_what_zookeeper_replayed(world):
    """The leader's startup snapshot holds what ZooKeeper made of its own files."""
    files = world["quiet"][world["leader"]]
    rep = datadir.verify_files(files, deep=True)
    assert rep["restorable"], rep["reasons"]
    assert rep["last_zxid"] == "0x%x" % world["z2"]
    zd = rep["replay"]["zk_digest"]
    assert zd["checked"] > 0 and zd["mismatches"] == [], zd
    tree, res = replay.replay(rep["restorable_set"]["snapshot_path"], rep["restorable_set"]["log_paths"])
    java = zkjava.snapshot_nodes(world["fresh"])
    assert set(java) == set(tree.nodes)
    for path, n in tree.nodes.items():
        st = datatree.STAT.unpack(n[2])
        j = java[path]
        assert (j["data"], j["czxid"], j["mzxid"], j["version"], j["cversion"], j["aversion"], j["owner"], j["pzxid"]) == \
            (n[0] or b"", st[0], st[1], st[4], st[5], st[6], st[7], st[8]), path
    # Every kind is there, with its TTL.
    kinds = {p: datatree.kind_of(datatree.owner_of(n[2])) for p, n in tree.nodes.items()}
    assert kinds["/fmt/ctr"] == ("container", 0) and kinds["/fmt/ttl"] == ("ttl", 3600_000)
    assert kinds["/fmt/mttl"] == ("ttl", 7200_000) and kinds["/fmt/mctr"] == ("container", 0)
    assert "/fmt/ctr-gone" not in tree.nodes and "/fmt/eph" not in tree.nodes
    assert len(tree.nodes["/fmt/big"][0]) == 1_000_000
    # What the deep verification reported (the streamed replay, which keeps only what the
    # logs touch) is what the whole tree gives, and so is a streamed replay whose digest
    # sorts in runs of 7 znodes (every run on disk).
    res.pop("snapshot_info")
    for include_ephemeral in (False, True):
        whole = replay.summarize(tree, include_ephemeral=include_ephemeral)
        summary, res2 = replay.replay_summary(rep["restorable_set"]["snapshot_path"],
                                              rep["restorable_set"]["log_paths"],
                                              include_ephemeral=include_ephemeral, run=7)
        res2.pop("snapshot_info")
        assert (summary, res2) == (whole, res)
    assert {k: rep[k] for k in whole if k != "include_ephemeral"} == \
        {k: v for k, v in replay.summarize(tree).items() if k != "include_ephemeral"}
    assert rep["replay"] == res and res["applied"] > 0 and res["zk_digest"]["checked"] > 0


def test_replay_digest_equals_live_digest_on_every_member(world):
    for name, files in world["quiet"].items():
        rep = datadir.verify_files(files, deep=True)
        assert rep["restorable"], (name, rep["reasons"])
        assert rep["digest"] == world["d2"]["digest"], name
        assert rep["znode_count"] == world["d2"]["count"]
        assert rep["typed_digest"] != rep["digest"]          # containers and TTL nodes
        at1 = datadir.verify_files(files, deep=True, target_zxid=world["z1"])
        assert at1["restorable"], at1["reasons"]
        assert at1["last_zxid"] == "0x%x" % world["z1"]
        assert at1["digest"] == world["d1"]["digest"], name
        assert at1["replay"]["zk_digest"]["mismatches"] == []


def test_copy_taken_while_writing(world):
    rep = datadir.verify_files(world["live_copy"], deep=True)
    assert rep["restorable"], rep["reasons"]
    assert rep["replay"]["zk_digest"]["mismatches"] == []
    last = int(rep["last_zxid"], 16)
    assert world["z1"] < last < world["z2"]
    # The same state from the quiet files of another member, cut at the same zxid.
    other = [n for n in world["quiet"] if n != world["leader"]][0]
    ref = datadir.verify_files(world["quiet"][other], deep=True, target_zxid=last)
    assert ref["restorable"] and ref["last_zxid"] == rep["last_zxid"]
    assert ref["digest"] == rep["digest"] and ref["znode_count"] == rep["znode_count"]


def _small_real_files(world):
    files = world["quiet"][world["leader"]]
    # The smallest snapshot with some znodes of its own, and a log of a few KB.
    snaps = sorted((snapshot.read_snapshot(p).stream_size, p) for p in files if "snapshot." in p)
    snap = [p for s, p in snaps if snapshot.read_snapshot(p).node_count >= 12][0]
    logs = []
    for p in files:
        if "/log." in p:
            sc = txnlog.scan_log(p)
            if sc["records"] >= 10 and sc["end_offset"] < 8000:
                logs.append((sc["end_offset"], p))
    return snap, sorted(logs)[0][1]


def test_every_single_byte_change_is_detected_or_harmless(world):
    snap_gz, log = _small_real_files(world)
    tmp = world["tmp"]
    # The plain snapshot is the uncompressed stream: what ZooKeeper writes without compression.
    plain = os.path.join(tmp, os.path.basename(snap_gz)[:-3])
    with open(plain, "wb") as f:
        f.write(gzip.decompress(pathlib.Path(snap_gz).read_bytes()))
    cut = os.path.join(tmp, "cut", os.path.basename(log))
    os.makedirs(os.path.dirname(cut), exist_ok=True)
    txnlog.cut_log(log, dst=cut)
    with open(cut, "ab") as f:
        f.write(bytes(256))                       # some of the zero padding
    outcomes = {}
    outcomes["snapshot"] = _flip_all(plain, _snapshot_content, os.path.join(tmp, "flip-snap"))
    outcomes["snapshot.gz"] = _flip_all(snap_gz, _snapshot_content, os.path.join(tmp, "flip-gz"))
    outcomes["log"] = _flip_all(cut, _log_content, os.path.join(tmp, "flip-log"))
    for what, out in outcomes.items():
        assert not out["silent"], (what, out["silent"][:5])
    # Nothing in a plain snapshot is harmless: the seals cover every byte, header included ...
    assert out_offsets(outcomes["snapshot"]) == [] and outcomes["snapshot"]["error"] == 2 * os.path.getsize(plain)
    # ... gzip header fields no checksum covers (FTEXT flag, MTIME, XFL, OS), and bits the
    # inflater never reads: the padding after an empty stored block (a flush) or after the
    # last block's end code.  For each of those the decompressed stream, which is what
    # ZooKeeper reads, is byte for byte the original.
    gz = pathlib.Path(snap_gz).read_bytes()
    stream = gzip.decompress(gz)
    for off, x, _why in outcomes["snapshot.gz"]["harmless"]:
        if off not in range(3, 10):
            b = bytearray(gz)
            b[off] ^= x
            assert gzip.decompress(bytes(b)) == stream, off
    # ... and the log's dbid and zero padding past its end (ZooKeeper never reads it).
    end = txnlog.scan_log(cut)["end_offset"]
    harmless = set(out_offsets(outcomes["log"]))
    assert set(range(8, 16)) <= harmless <= set(range(8, 16)) | set(range(end, end + 256))
    for what, out in outcomes.items():
        print("%s: %d changes detected as damage, %d stop reading with a warning, %d harmless (%s)" % (
            what, out["error"], out["warned"], len(out["harmless"]),
            sorted({why for _o, _x, why in out["harmless"]})))
    sizes = {k: (os.path.getsize(p)) for k, p in (("snapshot", plain), ("snapshot.gz", snap_gz), ("log", cut))}
    assert sizes["snapshot"] > 500 and sizes["log"] > 1000


def out_offsets(out):
    return [o for o, _x, _why in out["harmless"]]


def _snapshot_content(path):
    nodes = {}
    info = snapshot.read_snapshot(path, nodes=nodes)
    return info.findings, (nodes, info.sessions, info.digest, info.last_processed_zxid)


def _log_content(path):
    sc = txnlog.scan_log(path, keep_txns=True)
    return sc["findings"], [(t.zxid, t.type, t.offset) for t in sc["txns"]] + [sc["records"]]


def _flip_all(path, content, tmpdir):
    """Change every byte (two ways) and sort the outcomes."""
    os.makedirs(tmpdir, exist_ok=True)
    data = pathlib.Path(path).read_bytes()
    target = os.path.join(tmpdir, os.path.basename(path))
    _x, ref = content(path)
    out = {"error": 0, "warned": 0, "harmless": [], "silent": []}
    for i in range(len(data)):
        for x in (0xFF, 0x01):
            b = bytearray(data)
            b[i] ^= x
            with open(target, "wb") as f:
                f.write(b)
            findings, got = content(target)
            errors = [f for f in findings if f["severity"] == "error"]
            if errors:
                out["error"] += 1
            elif got == ref:
                why = [f["message"] for f in findings] or ["not covered by any checksum and unused"]
                out["harmless"].append((i, x, why[0]))
            elif any(f.get("offset") is not None and f["offset"] <= i for f in findings):
                out["warned"] += 1        # reading stops at or before the change, and says so
            else:
                out["silent"].append((i, x, findings))
    return out


def test_truncated_data_dir_starts_with_the_tree_of_that_zxid(world):
    lab = world["lab"]
    src = world["quiet"][world["leader"]]
    ref = datadir.verify_files(src, deep=True, target_zxid=world["z1"])
    assert ref["digest"] == world["d1"]["digest"]
    stop_all(lab)
    for h in lab.members:
        for d in (DATA, TXNLOG):
            v = h.path(d + "/version-2")
            os.rename(v, v + ".before")
        surgery.truncate_files(src, world["z1"], h.path(DATA + "/version-2"), h.path(TXNLOG + "/version-2"))
        h.sh("chown -R zookeeper:zookeeper %s/version-2 %s/version-2" % (DATA, TXNLOG))
    start_all(lab)
    zk = zklive.client(lab.connect_string, timeout=30)
    try:
        zxid, live = zklive.quiesced_digest(lab, zk)
        assert live["digest"] == world["d1"]["digest"] == ref["digest"]
        assert live["count"] == ref["znode_count"]
        assert zk.exists("/fmt/big") and not zk.exists("/fmt2")
    finally:
        zk.stop()
        zk.close()


def test_zk_verify_through_ansible(world, tmp_path):
    from lab.ansible import run_playbook
    lab = world["lab"]
    # A damaged copy of a member's data: one byte changed in a log record the restore needs.
    h = lab.members[0]
    bad = h.path("/srv/damaged")
    shutil.copytree(h.path(DATA + "/version-2"), bad + "/data/version-2")
    shutil.copytree(h.path(TXNLOG + "/version-2"), bad + "/log/version-2")
    rep = datadir.verify_data_dir(bad + "/data", bad + "/log")
    victim = rep["restorable_set"]["log_paths"][-1]
    with open(victim, "r+b") as f:
        f.seek(16 + 12 + 30)
        b = f.read(1)
        f.seek(16 + 12 + 30)
        f.write(bytes([b[0] ^ 0x55]))
    play = """
- hosts: zookeeper
  gather_facts: false
  tasks:
    - name: verify
      zkops.zookeeper.zk_verify:
        config_file: /etc/zookeeper/conf/zoo.cfg
        deep: true
    - name: verify damaged
      zkops.zookeeper.zk_verify:
        data_dir: /srv/damaged/data
        data_log_dir: /srv/damaged/log
      when: inventory_hostname == '%s'
      ignore_errors: true
""" % h.name
    zk = zklive.client(lab.connect_string, timeout=30)
    try:
        _zxid, live = zklive.quiesced_digest(lab, zk)
    finally:
        zk.stop()
        zk.close()
    for check in (True, False):
        res = run_playbook(lab, play, check=check)
        results = res.results("verify")
        assert set(results) == {m.name for m in lab.members}, res.output()
        for name, r in results.items():
            assert r.get("failed") is not True, r.get("msg")
            assert r["restorable"] and r["changed"] is False
            assert r["digest"] == live["digest"], name
            assert r["replay"]["zk_digest"]["mismatches"] == []
        rec = res.tasks("verify damaged", host=h.name)
        assert len(rec) == 1 and rec[0]["status"] == "ignored", rec     # it failed
        dam = rec[0]["result"]
        assert dam["restorable"] is False, dam
        assert "cannot be restored" in dam["msg"] and "checksum mismatch" in dam["msg"]
        assert os.path.basename(victim) in dam["msg"]
