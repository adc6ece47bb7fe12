"""tree_format: the export file round-trips every field, and damage is detected."""
import gzip
import io
import os
import struct

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tf

WORLD = ((31, "world", "anyone"),)
DIGEST = ((1, "digest", "alice:HQBdbHXUuvZQBTBGTvsHGThB3Rs="), (31, "world", "anyone"))
STAT = struct.pack(">qqqqiiiqiiq", 5, 6, 1700000000000, 1700000000001, 2, 3, 1, 0, 4, 0, 7)

NODES = [
    dict(path="/", data=b"", acl=WORLD),
    dict(path="/app", data=None, acl=DIGEST, stat=STAT),
    dict(path="/app/bin", data=bytes(range(256)) * 3, acl=WORLD),
    dict(path="/app/\u00e9t\u00e9", data="d\u00e9j\u00e0 vu \u2713".encode("utf-8"), acl=WORLD),
    dict(path="/app/c", data=b"container", acl=WORLD, kind=td.CONTAINER),
    dict(path="/app/t", data=b"ttl", acl=WORLD, kind=td.TTL, ttl=60000),
    dict(path="/app/q-0000000007", data=b"", acl=WORLD, flags=tf.SEQUENTIAL),
    dict(path="/app/was-eph", data=b"e", acl=WORLD, flags=tf.WAS_EPHEMERAL),
]


def write(nodes, kinds_exact=True, header=None):
    buf = io.BytesIO()
    w = tf.TreeWriter(buf, header or {"root": "/"}, kinds_exact=kinds_exact)
    for n in nodes:
        w.add(n["path"], n["data"], n["acl"], n.get("kind", td.PERSISTENT), n.get("ttl", 0),
              n.get("flags", 0), n.get("stat"))
    trailer = w.finish(note="x")
    return buf.getvalue(), trailer


def test_round_trip_keeps_every_field():
    raw, trailer = write(NODES)
    reader = tf.TreeReader(io.BytesIO(raw))
    assert reader.header["root"] == "/" and reader.header["format_version"] == 1
    assert reader.header["kinds_exact"] is True
    recs = list(reader)
    assert [r.path for r in recs] == [n["path"] for n in NODES]
    for r, n in zip(recs, NODES):
        assert r.data == n["data"]
        assert r.acl == n["acl"]
        assert r.kind == n.get("kind", td.PERSISTENT)
        assert r.ttl == n.get("ttl", 0)
        assert r.flags & ~tf.KIND_EXACT == n.get("flags", 0)
        assert r.kind_exact
    assert recs[1].stat["cversion"] == 3 and recs[1].stat["pzxid"] == 7
    assert recs[0].stat is None
    assert reader.trailer["note"] == "x" and reader.trailer["count"] == len(NODES)


def test_trailer_digest_is_the_canonical_tree_digest():
    trailer = write(NODES)[1]
    d = td.TreeDigest(typed=True)
    for n in NODES:
        d.add(n["path"], n["data"], n["acl"], n.get("kind", td.PERSISTENT), n.get("ttl", 0))
    want = d.result()
    assert trailer["digest"] == want["digest"]
    assert trailer["typed_digest"] == want["typed_digest"]
    assert trailer["count"] == len(NODES) == want["count"]


def test_live_source_has_no_typed_digest_and_refuses_exact_kinds():
    raw, trailer = write(NODES[:4], kinds_exact=False)
    assert trailer["typed_digest"] is None
    reader = tf.TreeReader(io.BytesIO(raw))
    assert not any(r.kind_exact for r in reader)
    w = tf.TreeWriter(io.BytesIO(), {}, kinds_exact=False)
    with pytest.raises(ValueError):
        w.add("/c", b"", WORLD, td.CONTAINER)


def test_writes_to_a_stream_that_only_writes():
    class Sink:
        def __init__(self):
            self.parts = []

        def write(self, b):
            self.parts.append(bytes(b))
            return len(b)

        def flush(self):
            pass

    sink = Sink()
    w = tf.TreeWriter(sink, {"root": "/"})
    for i in range(5000):
        w.add("/n%05d" % i, os.urandom(40), WORLD)
    w.finish()
    recs = list(tf.TreeReader(io.BytesIO(b"".join(sink.parts))))
    assert len(recs) == 5000


def test_truncated_file_is_detected():
    raw = write(NODES)[0]
    for cut in (len(raw) // 2, len(raw) - 30):
        with pytest.raises(tf.FormatError, match="truncated"):
            list(tf.TreeReader(io.BytesIO(raw[:cut])))


def test_missing_trailer_is_detected():
    buf = io.BytesIO()
    w = tf.TreeWriter(buf, {})
    w.add("/a", b"x", WORLD)
    w.abort()
    with pytest.raises(tf.FormatError, match="no trailer"):
        list(tf.TreeReader(io.BytesIO(buf.getvalue())))


def _recompress(raw, edit):
    inner = gzip.decompress(raw)
    return gzip.compress(edit(inner))


def test_changed_data_is_detected_by_the_digest():
    raw = write(NODES)[0]
    bad = _recompress(raw, lambda b: b.replace(b"container", b"CONTAINER"))
    with pytest.raises(tf.FormatError, match="digest"):
        list(tf.TreeReader(io.BytesIO(bad)))
    # Without verification the damage goes through: verification is what catches it.
    assert len(list(tf.TreeReader(io.BytesIO(bad), verify=False))) == len(NODES)


def test_count_mismatch_and_bad_magic_and_version():
    raw = write(NODES)[0]
    bad = _recompress(raw, lambda b: b.replace(b'"count":8', b'"count":9'))
    with pytest.raises(tf.FormatError, match="counts 9"):
        list(tf.TreeReader(io.BytesIO(bad)))
    with pytest.raises(tf.FormatError, match="not a zkops tree export"):
        tf.TreeReader(io.BytesIO(gzip.compress(b"PK\x03\x04 something else")))
    with pytest.raises(tf.FormatError, match="version 9"):
        tf.TreeReader(io.BytesIO(_recompress(raw, lambda b: b[:6] + b"\x00\x09" + b[8:])))
    with pytest.raises(tf.FormatError):
        tf.TreeReader(io.BytesIO(b"not gzip at all"))


def test_scan_reads_the_trailer_without_decoding(tmp_path):
    raw, trailer = write(NODES)
    p = tmp_path / "x.zktree.gz"
    p.write_bytes(raw)
    header, got = tf.read_summary(str(p))
    assert got["digest"] == trailer["digest"] and header["root"] == "/"


def test_collection_version_follows_galaxy_yml():
    here = os.path.dirname(os.path.abspath(__file__))
    galaxy = os.path.join(here, "..", "..", "..", "..", "..", "galaxy.yml")
    with open(galaxy) as f:
        version = [line.split(":", 1)[1].strip() for line in f if line.startswith("version:")]
    assert version == [tf.COLLECTION_VERSION]


def test_pack_stat_accepts_tuples_dicts_and_raw():
    t = struct.unpack(">qqqqiiiqiiq", STAT)
    assert tf.pack_stat(t) == STAT
    assert tf.pack_stat(dict(zip(tf.STAT_FIELDS, t))) == STAT
    assert tf.pack_stat(STAT) == STAT
    with pytest.raises(ValueError):
        tf.pack_stat(b"short")


def test_background_compression_writes_the_same_bytes():
    outs = []
    for threaded in (True, False):
        buf = io.BytesIO()
        w = tf.TreeWriter(buf, {"root": "/", "created": "fixed"}, threaded=threaded)
        for i in range(3000):
            w.add("/n%05d" % i, b"v%d" % (i * 7919) * (i % 13), WORLD)
        w.finish()
        outs.append(buf.getvalue())
    assert outs[0][:2] == b"\x1f\x8b"
    plain = [gzip.decompress(o) for o in outs]
    # Identical up to the trailer, which holds the time the export finished.
    ends = [p.rindex(b'{"count":') for p in plain]
    assert plain[0].startswith(tf.MAGIC) and plain[0][:ends[0]] == plain[1][:ends[1]]


def test_a_failing_stream_fails_the_export_with_its_own_error():
    class Full:
        def write(self, b):
            raise IOError(28, "No space left on device")

    w = tf.TreeWriter(Full(), {"root": "/"})
    with pytest.raises(IOError, match="No space left"):
        for i in range(50000):
            w.add("/n%05d" % i, os.urandom(100), WORLD)
        w.finish()
    w.abort()
