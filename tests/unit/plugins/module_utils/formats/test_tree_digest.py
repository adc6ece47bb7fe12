"""tree_digest: the digest is exactly the one docs/tree-digest.md specifies.

The reference below is written from the document alone, so that a faster implementation
cannot drift from the specification unnoticed.
"""
import hashlib
import struct

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td

WORLD = ((31, "world", "anyone"),)
MIXED = ((31, "world", "anyone"), (1, "digest", "alice:HQBdbHXUuvZQBTBGTvsHGThB3Rs="),
         (3, "digest", "alice:HQBdbHXUuvZQBTBGTvsHGThB3Rs="))
NODES = [
    ("/", b"", WORLD, td.PERSISTENT, 0),
    ("/app", None, MIXED, td.PERSISTENT, 0),
    ("/app/\u00e9t\u00e9", "d\u00e9j\u00e0 vu".encode("utf-8"), WORLD, td.PERSISTENT, 0),
    ("/app/c", b"container", WORLD, td.CONTAINER, 0),
    ("/app/t", b"ttl", MIXED, td.TTL, 60000),
    ("/app/e", b"ephemeral", WORLD, td.EPHEMERAL, 0),
    ("/app-x", bytes(range(256)), WORLD, td.PERSISTENT, 0),
    ("/zookeeper", b"", WORLD, td.PERSISTENT, 0),
    ("/zookeeper/quota", b"", WORLD, td.PERSISTENT, 0),
]
CODE = {td.PERSISTENT: 0, td.EPHEMERAL: 1, td.CONTAINER: 2, td.TTL: 3}


def u32(n):
    return struct.pack(">I", n)


def reference(nodes, include_ephemeral=False):
    per = {}
    for path, data, acl, kind, ttl in nodes:
        if path == "/zookeeper" or path.startswith("/zookeeper/"):
            continue
        if kind == td.EPHEMERAL and not include_ephemeral:
            continue
        entries = sorted((s.encode(), i.encode(), p) for p, s, i in acl)
        acl_bytes = u32(len(entries)) + b"".join(
            u32(p) + u32(len(s)) + s + u32(len(i)) + i for s, i, p in entries)
        data = data or b""
        body = u32(len(data)) + data + acl_bytes
        visible = hashlib.sha256(bytes((1 if kind == td.EPHEMERAL else 0,)) + body).digest()
        if kind == td.TTL:
            typed = hashlib.sha256(bytes((3,)) + struct.pack(">q", ttl) + body).digest()
        else:
            typed = hashlib.sha256(bytes((CODE[kind],)) + body).digest()
        per[path.encode("utf-8")] = (visible, typed)
    out = []
    for which in (0, 1):
        h = hashlib.sha256()
        for p in sorted(per):
            h.update(u32(len(p)) + p + per[p][which])
        out.append(h.hexdigest())
    return dict(count=len(per), digest=out[0], typed_digest=out[1])


def test_digest_follows_the_specification():
    for include in (False, True):
        d = td.TreeDigest(include_ephemeral=include, typed=True)
        for path, data, acl, kind, ttl in reversed(NODES):
            d.add(path, data, acl, kind, ttl)
        got = d.result()
        want = reference(NODES, include)
        assert (got["count"], got["digest"], got["typed_digest"]) == (
            want["count"], want["digest"], want["typed_digest"])
    # Pinned, so that a change of the definition itself is noticed too.
    assert reference(NODES)["digest"] == "bd518ec5e42401cbf1a634871faea296ba0ce5ccf58a5574f55f01f4cc888b3a"


def test_canonical_acl_bytes_given_once_give_the_same_digest():
    a = td.TreeDigest(typed=True)
    b = td.TreeDigest(typed=True)
    for path, data, acl, kind, ttl in NODES:
        a.add(path, data, acl, kind, ttl)
        b.add(path, data, None, kind, ttl, acl_bytes=td.encode_acl(acl))
    assert a.result() == b.result()
