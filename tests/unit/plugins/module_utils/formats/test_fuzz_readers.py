"""Property-based tests of the readers of untrusted bytes: the archive reader (tar stream and
decompression), the manifest parser and the tree-export reader.

Whatever the input (random, mutated or truncated), a reader gives back exactly what was
written, or refuses with its own error: never another exception, never a write outside the
directory it was given, never more bytes than the manifest promises.

The runs are deterministic (derandomized) and small, so the unit stage stays fast; set
ZKOPS_FUZZ_EXAMPLES to a larger number for a longer search, and ZKOPS_FUZZ_RANDOM=1 for a
random one.
"""
import hashlib
import io
import json
import os
import shutil
import tempfile
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as A
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import compression
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import extract as X
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tf

EXAMPLES = int(os.environ.get("ZKOPS_FUZZ_EXAMPLES", "60"))
# ZKOPS_FUZZ_RANDOM=1: a random search (not the fixed examples of the unit stage).
FUZZ = settings(max_examples=EXAMPLES, derandomize=not os.environ.get("ZKOPS_FUZZ_RANDOM"), deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NAMES = ["data/version-2/snapshot.100000002", "data/version-2/currentEpoch", "data/version-2/acceptedEpoch",
         "datalog/version-2/log.100000001", "datalog/version-2/log.100000009"]
files_st = st.dictionaries(st.sampled_from(NAMES), st.binary(max_size=3000), min_size=1, max_size=4)


def build(files, codec):
    """(archive bytes, side manifest) as a backup writes them."""
    out = io.BytesIO()
    enc = A.Encoder(out.write, codec)
    w = A.ArchiveWriter(enc)
    # A fixed clock: the same files give the same bytes (hypothesis replays examples).
    with mock.patch.object(A, "time", mock.Mock(time=lambda: 1700000000)):
        for name in sorted(files):
            w.add(name, [files[name]])
        manifest = w.finish({"backup_id": "b1", "kind": "full"})
    data = out.getvalue()
    side = dict(manifest, archive={"file": A.archive_name(codec, False), "bytes": len(data),
                                   "sha256": hashlib.sha256(data).hexdigest(), "compression": codec,
                                   "raw_bytes": enc.raw_bytes})
    return data, side


@st.composite
def mutations(draw, data):
    """``data`` changed: bytes flipped, cut short, bytes inserted or removed."""
    out = bytearray(data)
    for _i in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "cut", "insert", "delete", "zero"]))
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        if how == "flip":
            out[at] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del out[at:]
        elif how == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=600))
        elif how == "delete":
            del out[at:at + draw(st.integers(1, 600))]
        else:
            n = draw(st.integers(1, 600))
            out[at:at + n] = bytes(len(out[at:at + n]))
    return bytes(out)


def tree_files(root):
    out = {}
    for base, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(base, n)
            assert not os.path.islink(p)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def extract_checked(blob, codec, side, files):
    """Extract ``blob``; assert the outcome is the exact files or an ExtractError, and that
    nothing outside the destinations, nor more than the manifest promises, was written."""
    top = tempfile.mkdtemp(prefix="zkfuzz-")
    try:
        dests = {"data": os.path.join(top, "snap"), "datalog": os.path.join(top, "log")}
        stream = A.DecodedStream(io.BytesIO(blob), codec)
        try:
            X.extract(stream, dests, os.path.join(top, "work"), expect=side)
        except X.ExtractError:
            assert all(os.listdir(d) == [] for d in dests.values())
            ok = False
        else:
            ok = True
        assert sorted(os.listdir(top)) == ["log", "snap"]
        got = {}
        for part, d in dests.items():
            for rel, data in tree_files(d).items():
                got["%s/%s" % (part, rel)] = data
        assert sum(len(v) for v in got.values()) <= side["totals"]["bytes"]
        assert stream.bytes <= side["archive"]["raw_bytes"] + 1
        if ok:
            assert got == files
        return ok
    finally:
        shutil.rmtree(top)


@FUZZ
@given(files=files_st, codec=st.sampled_from(compression.available()), data=st.data())
def test_archive_reader_mutated_archives(files, codec, data):
    blob, side = build(files, codec)
    assert extract_checked(blob, codec, side, files)
    extract_checked(data.draw(mutations(blob)), codec, side, files)


@FUZZ
@given(files=files_st, codec=st.sampled_from(compression.available()), data=st.data())
def test_archive_reader_mutated_tar_streams(files, codec, data):
    """The tar stream mutated, then compressed properly: the tar reader itself is tried."""
    tar, side = build(files, "none")
    bad = data.draw(mutations(tar))
    comp = compression.compressor(codec)
    extract_checked(comp.compress(bad) + comp.flush(), codec, side, files)


def header_offsets(tar):
    """Offsets of the tar headers of a stream the writer made (pax headers included)."""
    out, pos = [], 0
    while pos + A.BLOCK <= len(tar) and tar[pos:pos + A.BLOCK] != A.ZERO_BLOCK:
        out.append(pos)
        size = int(tar[pos + 124:pos + 136].rstrip(b"\0 ") or b"0", 8)
        pos += A.BLOCK + size + (-size % A.BLOCK)
    return out


@FUZZ
@given(files=files_st, data=st.data())
def test_archive_reader_mutated_headers_with_valid_checksums(files, data):
    """Tar header fields changed (type, size, name, magic...) with the checksum made right
    again, so that the reader's checks after the checksum are tried."""
    tar, side = build(files, "none")
    out = bytearray(tar)
    offsets = header_offsets(tar)
    for _i in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.sampled_from(offsets))
        field = data.draw(st.sampled_from([(0, 100), (124, 136), (156, 157), (257, 265), (345, 500)]))
        pos = data.draw(st.integers(field[0], field[1] - 1))
        out[at + pos] = data.draw(st.sampled_from(b"0123456789xSgL12 /.\0ab"))
        out[at + 148:at + 156] = b"        "
        out[at + 148:at + 156] = b"%06o\0 " % sum(out[at:at + A.BLOCK])
    extract_checked(bytes(out), "none", side, files)


@FUZZ
@given(files=files_st, codec=st.sampled_from(compression.available()), cut=st.integers(0, 100))
def test_archive_reader_truncated_archives(files, codec, cut):
    blob, side = build(files, codec)
    short = blob[:len(blob) * cut // 100]
    if short != blob:
        assert not extract_checked(short, codec, side, files)


@FUZZ
@given(codec=st.sampled_from(compression.available()), blob=st.binary(max_size=4000))
def test_archive_reader_random_bytes(codec, blob):
    stream = A.DecodedStream(io.BytesIO(blob), codec)
    try:
        A.read(stream)
    except A.ArchiveError:
        pass
    else:
        raise AssertionError("random bytes were read as an archive")


@FUZZ
@given(files=files_st, data=st.data())
def test_archive_reader_against_a_different_manifest(files, data):
    """The genuine archive checked against a side manifest that promises other files or
    sizes is refused (the files are the same when it promises exactly them)."""
    blob, side = build(files, "none")
    other = data.draw(files_st)
    _blob2, side2 = build(other, "none")
    side2["archive"] = dict(side["archive"], raw_bytes=side2["archive"]["raw_bytes"])
    ok = extract_checked(blob, "none", side2, files)
    assert ok == (other == files)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30)


@FUZZ
@given(files=files_st, data=st.data())
def test_manifest_parser_mutated_manifests(files, data):
    _blob, side = build(files, "none")
    text = data.draw(mutations(A.manifest_bytes(side)))
    try:
        got = A.parse_manifest(text)
    except A.ArchiveError:
        return
    # Whatever it accepts is a manifest the reader can use without surprises.
    assert got["format"] == A.FORMAT
    for f in got.get("files", []):
        A.check_name(f["path"])
        assert isinstance(f["size"], int) and f["size"] >= 0 and len(f["sha256"]) == 64


@FUZZ
@given(doc=json_values, extra=st.dictionaries(st.sampled_from(["files", "format_version", "archive", "totals"]),
                                              json_values, max_size=3))
def test_manifest_parser_random_json(doc, extra):
    for candidate in (doc, dict(extra, format=A.FORMAT)):
        try:
            A.parse_manifest(json.dumps(candidate).encode())
        except A.ArchiveError:
            pass


@FUZZ
@given(blob=st.binary(max_size=2000))
def test_manifest_parser_random_bytes(blob):
    try:
        A.parse_manifest(blob)
    except A.ArchiveError:
        pass


def test_manifest_parser_deep_nesting_and_huge_numbers():
    for text in (b"[" * 100000 + b"]" * 100000, b'{"format": "%s", "format_version": %s}' % (
            A.FORMAT.encode(), b"9" * 5000)):
        try:
            A.parse_manifest(text)
        except A.ArchiveError:
            pass


# --- the tree export -------------------------------------------------------------------

WORLD = ((31, "world", "anyone"),)
node_st = st.fixed_dictionaries({
    "name": st.text(alphabet="abcz-_.\u00e9", min_size=1, max_size=8),
    "data": st.none() | st.binary(max_size=200),
    "acl": st.sampled_from([WORLD, ((1, "digest", "u:x"), (31, "world", "anyone"))]),
    "kind": st.sampled_from([td.PERSISTENT, td.CONTAINER, td.TTL]),
})


def export(nodes):
    with mock.patch.object(tf, "utc_now", lambda: "2026-01-01T00:00:00.000000Z"):
        return _export(nodes)


def _export(nodes):
    buf = io.BytesIO()
    w = tf.TreeWriter(buf, {"root": "/"}, kinds_exact=True)
    seen = set()
    written = []
    w.add("/", b"", WORLD, td.PERSISTENT, 0, 0, None)
    written.append(("/", b"", WORLD, td.PERSISTENT))
    for n in nodes:
        path = "/" + n["name"]
        if path in seen or n["name"] in (".", ".."):
            continue
        seen.add(path)
        ttl = 1000 if n["kind"] == td.TTL else 0
        w.add(path, n["data"], n["acl"], n["kind"], ttl, 0, None)
        written.append((path, n["data"], n["acl"], n["kind"]))
    w.finish()
    return buf.getvalue(), written


def read_tree(blob):
    reader = tf.TreeReader(io.BytesIO(blob))
    return [(r.path, r.data, r.acl, r.kind) for r in reader]


@FUZZ
@given(nodes=st.lists(node_st, max_size=6), data=st.data())
def test_tree_reader_mutated_exports(nodes, data):
    blob, written = export(nodes)
    assert read_tree(blob) == written
    try:
        got = read_tree(data.draw(mutations(blob)))
    except tf.FormatError:
        return
    assert got == written


@FUZZ
@given(blob=st.binary(max_size=3000))
def test_tree_reader_random_bytes(blob):
    for candidate in (blob, _gzip(blob), _gzip(tf.MAGIC + b"\0\x01" + blob)):
        try:
            read_tree(candidate)
        except tf.FormatError:
            pass


def _gzip(data):
    import gzip
    return gzip.compress(data, mtime=0)


@FUZZ
@given(header=json_values, trailer=json_values, nodes=st.lists(node_st, max_size=3))
def test_tree_reader_frames_with_random_json(header, trailer, nodes):
    """Well-framed exports whose header and trailer are any JSON value."""
    import struct
    raw = tf.MAGIC + struct.pack(">H", tf.FORMAT_VERSION)
    raw += _frame(tf.FRAME_HEADER, json.dumps(header).encode())
    for n in nodes:
        raw += b"".join(tf.record_parts(("/" + n["name"]).encode("utf-8"), n["data"],
                                        tf.encode_acl_entries(n["acl"]), tf.KIND_CODES[n["kind"]],
                                        0, 0, None)[0])
    raw += _frame(tf.FRAME_TRAILER, json.dumps(trailer).encode())
    try:
        read_tree(_gzip(raw))
    except tf.FormatError:
        pass


def _frame(kind, payload):
    import struct
    return struct.pack(">BI", kind, len(payload)) + payload


def test_tree_reader_deeply_nested_header():
    import struct
    deep = b"[" * 100000 + b"]" * 100000
    raw = tf.MAGIC + struct.pack(">H", tf.FORMAT_VERSION) + _frame(tf.FRAME_HEADER, deep)
    try:
        read_tree(_gzip(raw))
    except tf.FormatError:
        pass


@FUZZ
@given(header=json_values, nodes=st.lists(node_st, max_size=3), root=st.none() | st.sampled_from(["/", "/a", "/b"]))
def test_tree_import_reads_any_header_or_refuses(header, nodes, root):
    """A complete, well-framed export whose header is any JSON object: the import reads it
    or refuses with its own errors."""
    from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import importer as ti
    if not isinstance(header, dict):
        header = {"root": header}
    with mock.patch.object(tf, "utc_now", lambda: "2026-01-01T00:00:00.000000Z"):
        buf = io.BytesIO()
        w = tf.TreeWriter(buf, header, kinds_exact=True)
        w.add("/", b"", WORLD, td.PERSISTENT, 0, 0, None)
        w.finish()
    fd, path = tempfile.mkstemp(prefix="zkfuzz-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
        try:
            ti.read_export(path, root, [])
        except (ti.TreeImportError, tf.FormatError):
            pass
    finally:
        os.unlink(path)
