"""The format readers against each release's own tools, on files that release wrote.

For each ZooKeeper release the lab runs (Debian's 3.8.0 and those of lab/zkdist.py), a
member of that release writes every transaction type and a few hundred znodes of varied
sizes, with a low snapCount so that it rolls several snapshots (compressed as the release
can) and logs.  With the server stopped, the release's own SnapshotFormatter reads each
snapshot and its TxnLogToolkit (LogFormatter on 3.5, whose TxnLogToolkit is the same
dump) each log, and the collection's readers (formats.snapshot, formats.txnlog) must
agree: the same node paths and count, data lengths and stats (and the data itself from
3.6, whose SnapshotFormatter dumps it), that the tool prints no snapshot digest (none of the lab's does),
and the same records, zxid by zxid.  The relocated releases (3.5.9,
3.7.2) run the tools under their shaded class names.

ZKOPS_ZK_VERSIONS picks the releases, as for test_versions.py.
"""
import glob
import os
import time

import pytest

import zkjava
import zklive
from lab import zkdist
from lab.lab import DEBIAN_VERSION, Lab
from test_versions import COMPRESSION, VERSIONS, skip_unless_runnable
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datatree
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import snapshot
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txnlog
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.release import release_tuple as release

pytestmark = pytest.mark.lab

DATA = "/var/lib/zookeeper/version-2"
# The releases whose snapshots hold a digest.
DIGEST_SINCE = (3, 6)


def zxid_of(path):
    return int(os.path.basename(path).split(".")[1], 16)


def log_tool(version):
    return zkjava.LOG_FORMATTER if release(version) < (3, 6) else zkjava.TXN_LOG_TOOLKIT


@pytest.fixture(scope="module", params=VERSIONS)
def files(request):
    """(version, snapshots, logs) written by one member of the release, server stopped."""
    version = request.param
    skip_unless_runnable(version)
    lab = Lab(name="f" + version.replace(".", ""), members=1, backups=0, zk_versions=version,
              snap_count=100, snapshot_compression=COMPRESSION[version],
              java_opts="-Dznode.container.checkIntervalMs=200")
    lab.up()
    try:
        zk = zklive.client(lab.connect_string)
        try:
            gone = zklive.every_txn_type(zk, lab.connect_string, "/kinds", big=300_000)
            for i in range(400):
                # Empty, small and a few larger values, so data lengths differ.
                zk.create("/sizes/n%03d" % i, b"x" * ((i * 37) % 3000 if i % 5 else 0),
                          makepath=True)
            zklive.wait_gone(zk, gone)
        finally:
            zk.stop()
            zk.close()
        h = lab.members[0]
        d = h.path(DATA)
        # The server writes snapshots in a thread of their own: stop it once the newest is
        # whole, so that no snapshot is cut by the stop.
        deadline = time.time() + 30
        while not snapshot.read_snapshot(max(glob.glob(d + "/snapshot.*"), key=zxid_of)).valid:
            assert time.time() < deadline, "the newest snapshot stayed incomplete"
            time.sleep(0.2)
        h.stop_zk()
        assert not h.zk_running()
        snaps = sorted(glob.glob(d + "/snapshot.*"), key=zxid_of)
        logs = sorted(glob.glob(d + "/log.*"), key=zxid_of)
        yield version, snaps, logs
    finally:
        lab.down()


def test_tools_are_the_releases_own(files):
    version = files[0]
    cp = zkjava.classpath(version)
    if version == DEBIAN_VERSION:
        assert cp.startswith("/usr/share/java/zookeeper.jar:")
    else:
        assert cp.startswith(os.path.join(zkdist.version_dir(version), ""))
        assert "log4j" not in cp
    out, _x = zkjava.run("org.apache.zookeeper.Version", version=version)
    assert out.decode().startswith(version + "-"), out


def test_snapshots_agree_with_the_releases_snapshot_formatter(files):
    version, snaps, _logs = files
    # snapCount 100 and about 700 transactions: several snapshots, the newest compressed
    # as the release was told to (the first, of an empty tree, is written plain).
    assert len(snaps) >= 3, snaps
    want = COMPRESSION[version]
    assert snapshot.read_snapshot(snaps[-1]).compression == want, snaps
    biggest = digests = 0
    for p in snaps:
        ours = {}
        info = snapshot.read_snapshot(p, nodes=ours)
        assert info.valid, (p, info.findings)
        dump = zkjava.snapshot_dump(p, version=version, data=False)
        java = dump["nodes"]
        assert set(java) == set(ours), (p, sorted(set(java) ^ set(ours))[:10])
        assert len(java) == info.node_count, p
        for path, n in ours.items():
            st = datatree.STAT.unpack(n[2])
            j = java[path]
            assert j["length"] == len(n[0] or b""), path
            assert (j["czxid"], j["mzxid"], j["version"], j["cversion"], j["aversion"],
                    j["owner"], j["pzxid"]) == (st[0], st[1], st[4], st[5], st[6], st[7], st[8]), path
        if release(version) >= DIGEST_SINCE:
            assert info.digest is not None, p
            digests += bool(info.digest[0])
        else:
            assert info.digest is None, p
        # No release of the lab prints the snapshot's digest ("Target zxid digest is: ..."):
        # its SnapshotFormatter reads snapshots without it. A release that starts printing it
        # fails here, and its digest is then compared with ours.
        assert dump["digest"] is None, (p, dump["digest"], info.digest)
        if release(version) >= (3, 6):
            # -d (3.6+): the data itself.
            data = zkjava.snapshot_nodes(p, version=version)
            assert {path: j["data"] for path, j in data.items()} == \
                {path: n[0] or b"" for path, n in ours.items()}, p
        biggest = max(biggest, len(ours))
    # The newest snapshot holds most of the tree written.
    assert biggest > 300
    assert digests >= (2 if release(version) >= DIGEST_SINCE else 0)


def test_logs_agree_with_the_releases_log_tool(files):
    version, _snaps, logs = files
    assert len(logs) >= 3, logs
    total = 0
    ops = set()
    for p in logs:
        ours = txnlog.scan_log(p, keep_txns=True)
        assert ours["valid"], (p, ours["findings"])
        java = zkjava.log_records(p, version=version, tool=log_tool(version))
        assert len(java) == len(ours["txns"]) == ours["records"], p
        for t, j in zip(ours["txns"], java):
            # The op's name as each release spells it: "createTtl" until 3.8, "createTTL"
            # in 3.9.
            assert (t.zxid, t.client_id & (2 ** 64 - 1), t.cxid & 0xFFFFFFFF, t.op.lower()) == \
                (j["zxid"], j["session"], j["cxid"] & 0xFFFFFFFF, j["op"].lower()), (p, t, j)
            ops.add(j["op"])
        zxids = [t.zxid for t in ours["txns"]]
        assert zxids == sorted(zxids) and len(set(zxids)) == len(zxids), p
        total += len(java)
    assert total > 400
    for op in ("createSession", "create", "setData", "setACL", "delete", "multi", "closeSession"):
        assert op in ops, (op, sorted(ops))
    assert {"createContainer", "createttl"} <= {o if o == "createContainer" else o.lower() for o in ops}, sorted(ops)
