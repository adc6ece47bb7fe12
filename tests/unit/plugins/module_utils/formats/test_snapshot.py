"""snapshot: plain, gzip and snappy streams, every seal, the structure, the trailers."""
import gzip

import pytest

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import snapshot
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.datatree import zk_node_digest

SESSIONS = {0x1000: 30000, 0x2000: 4000}
ACLS = {1: W.OPEN, 2: ((31, "digest", "u:abc="), (1, "world", "anyone"))}


def nodes():
    return W.basic_tree(extra=[
        ("/e", b"eph", 2, W.stat(czxid=3, owner=0x2000)),
        ("/c", None, 1, W.stat(czxid=4, owner=-0x8000000000000000)),
    ])


def write(tmp_path, stream, name="snapshot.5", compression=None):
    if compression:
        name += "." + compression
    return W.write(str(tmp_path / name), W.compress(stream, compression))


@pytest.mark.parametrize("compression", [None, "gz", "snappy"])
@pytest.mark.parametrize("trailer", ["none", "digest", "digest+last", "last"])
def test_reads_every_variant(tmp_path, compression, trailer):
    if compression == "snappy":
        pytest.importorskip("snappy")
    digest = (5, 2, 12345) if "digest" in trailer else None
    last = 5 if "last" in trailer else None
    p = write(tmp_path, W.snapshot_stream(nodes(), ACLS, SESSIONS, digest, last), compression=compression)
    store = {}
    info = snapshot.read_snapshot(p, nodes=store)
    assert info.valid, info.findings
    assert info.zxid == 5 and info.compression == compression
    assert info.sessions == SESSIONS and info.acl_count == 2
    assert info.node_count == 7 and info.data_bytes == 5 + 256 + 3
    assert info.digest == digest and info.last_processed_zxid == last
    assert info.seals == 1 + (digest is not None) + (last is not None)
    assert sorted(store) == ["/", "/a", "/a/b", "/c", "/e", "/zookeeper", "/zookeeper/quota"]
    assert store["/a/b"][0] == bytes(range(256)) and store["/c"][0] is None
    assert store["/e"][1] == ACLS[2] and store["/"][1] == snapshot.OPEN_ACL_UNSAFE
    assert len(store["/e"][2]) == 60
    # Verification alone keeps no tree and agrees.
    v = snapshot.read_snapshot(p)
    assert v.valid and v.node_count == 7 and v.seals == info.seals


def test_zookeeper_digest_skips_the_zookeeper_subtree(tmp_path):
    p = write(tmp_path, W.snapshot_stream(nodes(), ACLS, SESSIONS))
    store = {}
    info = snapshot.read_snapshot(p, nodes=store, zk_digest=True)
    expect = sum(zk_node_digest(k, v[0], v[2]) for k, v in store.items()) & (2 ** 64 - 1)
    assert info.zk_digest == expect
    assert zk_node_digest("/zookeeper/quota", b"", bytes(60)) == 0
    assert zk_node_digest("/zookeeper", b"", bytes(60)) != 0


def test_small_chunks_give_the_same_result(tmp_path, monkeypatch):
    big = W.basic_tree(extra=[("/x%d" % i, bytes([i % 256]) * (i * 37 % 5000), 1, W.stat(czxid=i)) for i in range(300)])
    p = write(tmp_path, W.snapshot_stream(big, ACLS, SESSIONS, (5, 2, 1)))
    ref = {}
    snapshot.read_snapshot(p, nodes=ref)
    monkeypatch.setattr(snapshot, "CHUNK", 7)
    small = {}
    info = snapshot.read_snapshot(p, nodes=small)
    assert info.valid and small == ref and len(ref) == 305


def findings(tmp_path, stream, **kw):
    info = snapshot.read_snapshot(write(tmp_path, stream, **kw))
    assert not info.valid
    return info.errors[0]["message"]


def test_seal_mismatch_is_detected_in_every_seal(tmp_path):
    s = W.snapshot_stream(nodes(), ACLS, SESSIONS, (5, 2, 9), 5)
    # Damage inside the data: the first seal disagrees.
    i = s.index(b"hello")
    assert "seal after the tree: checksum mismatch" in findings(tmp_path, s[:i] + b"j" + s[i + 1:])
    # Damage in the digest: the second seal disagrees.
    j = len(s) - 21 - 13 - 1
    assert "seal after the digest: checksum mismatch" in findings(tmp_path, s[:j] + b"\x01" + s[j + 1:])
    # Damage in the last zxid: the third.
    k = len(s) - 14
    assert "last processed zxid: checksum mismatch" in findings(tmp_path, s[:k] + b"\x01" + s[k + 1:])


def test_structure_errors(tmp_path):
    orphan = W.basic_tree(extra=[("/x/y", b"", 1, W.stat())])
    assert "does not precede it" in findings(tmp_path, W.snapshot_stream(orphan, ACLS))
    info = snapshot.read_snapshot(write(tmp_path, W.snapshot_stream(orphan, ACLS)), nodes={})
    assert "is not in the snapshot" in info.errors[0]["message"]
    missing_acl = W.basic_tree(extra=[("/x", b"", 9, W.stat())])
    # As ZooKeeper does on load, an unknown ACL id (a setACL during a fuzzy snapshot) is no
    # error: a real server's snapshot showed one.
    info = snapshot.read_snapshot(write(tmp_path, W.snapshot_stream(missing_acl, ACLS)), nodes={})
    assert info.valid and [f["severity"] for f in info.findings] == ["warning"], info.findings
    assert "ACL 9, which is not in the snapshot's ACL cache" in info.findings[0]["message"]
    s = W.snapshot_stream(nodes(), ACLS)
    assert "ends inside" in findings(tmp_path, s[:-20])
    assert "unexpected data after" in findings(tmp_path, s + bytes(5000))
    assert "not a snapshot" in findings(tmp_path, b"ZKSX" + s[4:])
    assert 'not followed by the string "/"' in findings(tmp_path, W.snapshot_stream(nodes(), ACLS, seal="x"))
    first = [("/a", b"", 1, W.stat())]
    assert "not the root" in findings(tmp_path, W.snapshot_stream(first, ACLS))


def test_dbid_is_only_a_warning(tmp_path):
    info = snapshot.read_snapshot(write(tmp_path, W.snapshot_stream(nodes(), ACLS, dbid=3)))
    assert info.valid and "dbid is 3" in info.findings[0]["message"]


def test_damaged_gzip_and_snappy(tmp_path):
    s = W.snapshot_stream(nodes(), ACLS, SESSIONS)
    gz = gzip.compress(s)
    p = W.write(str(tmp_path / "snapshot.5.gz"), gz[:-10])
    info = snapshot.read_snapshot(p)
    assert not info.valid and "gzip" in info.errors[0]["message"]
    p = W.write(str(tmp_path / "snapshot.6.gz"), gz[:-4] + b"\x00\x00\x00\x00")   # wrong size
    assert not snapshot.read_snapshot(p).valid
    pytest.importorskip("snappy")
    sn = W.snappy_frame(s, block=100)
    p = W.write(str(tmp_path / "snapshot.7.snappy"), sn[:-5])
    assert "ends inside" in snapshot.read_snapshot(p).errors[0]["message"]
    p = W.write(str(tmp_path / "snapshot.8.snappy"), b"\x82SNAPPX\x00" + sn[8:])
    assert "not a snappy-java stream" in snapshot.read_snapshot(p).errors[0]["message"]
    # snappy-java reads concatenated streams.
    p = W.write(str(tmp_path / "snapshot.9.snappy"), W.snappy_frame(s[:1000]) + W.snappy_frame(s[1000:]))
    assert snapshot.read_snapshot(p).valid


def test_missing_snappy_library_is_reported_as_such(tmp_path, monkeypatch):
    monkeypatch.setattr(snapshot, "_snappy_decompressor", lambda: None)
    p = W.write(str(tmp_path / "snapshot.5.snappy"), b"\x82SNAPPY\x00" + bytes(8))
    info = snapshot.read_snapshot(p)
    assert info.unreadable and "python-snappy" in info.unreadable


def test_compression_from_name():
    assert snapshot.compression_of("snapshot.1a") is None
    assert snapshot.compression_of("snapshot.1a.gz") == "gz"
    assert snapshot.compression_of("snapshot.1a.SNAPPY") == "snappy"
