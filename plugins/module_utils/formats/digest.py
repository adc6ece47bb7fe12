# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canonical digest of a znode tree, defined once for every producer.

The replay of snapshot + transaction logs, the live-tree export, the tree import and the
restore verification all compute this digest; two trees are the same exactly when their
digests are.  The specification lives in docs/tree-digest.md; keep the two in step.

Two digests are computed side by side:

``digest``        path, data, ACL and the *client-visible* kind of every znode
                  (``persistent`` or ``ephemeral``).  ZooKeeper reports container and TTL
                  znodes to clients as persistent, so this is the digest that a live
                  export and a replay of data files can both compute and compare.
``typed_digest``  the same, but with the exact kind (persistent, ephemeral, container,
                  ttl) and the TTL in milliseconds.  Only producers that know the exact
                  kind (data files, exports made from data files) can compute it;
                  ``None`` otherwise.

Excluded always: the ``/zookeeper`` subtree (the server's own quota and config nodes).
Ephemeral znodes are left out unless ``include_ephemeral`` is set.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import heapq
import struct
import tempfile

DIGEST_VERSION = 1

PERSISTENT = "persistent"
EPHEMERAL = "ephemeral"
CONTAINER = "container"
TTL = "ttl"
KINDS = (PERSISTENT, EPHEMERAL, CONTAINER, TTL)

_KIND_CODE = {PERSISTENT: 0, EPHEMERAL: 1, CONTAINER: 2, TTL: 3}
_U32 = struct.Struct(">I")
_ACL = struct.Struct(">I")
_TTL = struct.Struct(">q")
_RUN_HEAD = struct.Struct(">IQ")   # a sorted run's entry: path length, order added

SYSTEM_ROOT = "/zookeeper"


def is_system_path(path):
    """True for /zookeeper and everything below it."""
    return path == SYSTEM_ROOT or path.startswith(SYSTEM_ROOT + "/")


def encode_acl(acl):
    """Canonical bytes of an ACL list: entries sorted by (scheme, id, perms).

    ``acl`` is an iterable of ``(perms, scheme, id)`` tuples (str or bytes for the
    scheme and id).
    """
    entries = []
    for perms, scheme, ident in acl or ():
        if not isinstance(scheme, bytes):
            scheme = scheme.encode("utf-8")
        if not isinstance(ident, bytes):
            ident = ident.encode("utf-8")
        entries.append((scheme, ident, int(perms)))
    entries.sort()
    parts = [_U32.pack(len(entries))]
    for scheme, ident, perms in entries:
        parts.append(_ACL.pack(perms))
        parts.append(_U32.pack(len(scheme)))
        parts.append(scheme)
        parts.append(_U32.pack(len(ident)))
        parts.append(ident)
    return b"".join(parts)


_HEADS = dict((k, bytes((c,))) for k, c in _KIND_CODE.items())
_EPHEMERAL_HEAD = _HEADS[EPHEMERAL]
_PERSISTENT_HEAD = _HEADS[PERSISTENT]


def node_hashes(data, acl_bytes, kind, ttl=0):
    """Return (visible_hash, typed_hash) of one znode's content (not its path).

    ``data`` is bytes (None counts as empty), ``acl_bytes`` the result of encode_acl().
    """
    if not data:
        data = b""
    length = _U32.pack(len(data))
    if kind == EPHEMERAL:
        vh = hashlib.sha256(b"".join((_EPHEMERAL_HEAD, length, data, acl_bytes))).digest()
        return vh, vh
    vh = hashlib.sha256(b"".join((_PERSISTENT_HEAD, length, data, acl_bytes))).digest()
    if kind == PERSISTENT:
        return vh, vh
    if kind == TTL:
        head = _HEADS[TTL] + _TTL.pack(int(ttl))
    else:
        head = _HEADS[kind]
    return vh, hashlib.sha256(b"".join((head, length, data, acl_bytes))).digest()


def _counted_hashes(path, data, acl, kind, ttl, acl_bytes, include_ephemeral):
    """node_hashes() of a znode the digest counts, None for one it excludes (the system
    znodes, and ephemerals unless ``include_ephemeral``); ValueError for an unknown kind."""
    if kind not in _KIND_CODE:
        raise ValueError("unknown znode kind %r for %s" % (kind, path))
    if path.startswith(SYSTEM_ROOT) and is_system_path(path):
        return None
    if kind == EPHEMERAL and not include_ephemeral:
        return None
    if acl_bytes is None:
        acl_bytes = encode_acl(acl)
    return node_hashes(data, acl_bytes, kind, ttl)


class TreeDigest:
    """Accumulates znodes in any order; ``result()`` sorts by path and hashes.

    Memory: one (path, two 32-byte hashes) entry per znode, about 200 bytes in CPython
    for a 50-character path; the data itself is not kept.
    """

    def __init__(self, include_ephemeral=False, typed=True):
        self.include_ephemeral = include_ephemeral
        self.typed = typed
        self._nodes = {}

    def add(self, path, data, acl, kind=PERSISTENT, ttl=0, acl_bytes=None):
        """Add one znode.  Returns False when the znode does not count (excluded)."""
        hashes = _counted_hashes(path, data, acl, kind, ttl, acl_bytes, self.include_ephemeral)
        if hashes is None:
            return False
        self._nodes[path] = hashes
        return True

    def discard(self, path):
        self._nodes.pop(path, None)

    def __len__(self):
        return len(self._nodes)

    def result(self):
        """{'count', 'digest', 'typed_digest', 'version'} of what was added."""
        visible = hashlib.sha256()
        typed = hashlib.sha256() if self.typed else None
        for path in sorted(self._nodes, key=_path_key):
            p = path.encode("utf-8")
            head = _U32.pack(len(p)) + p
            vh, th = self._nodes[path]
            visible.update(head + vh)
            if typed is not None:
                typed.update(head + th)
        return {
            "version": DIGEST_VERSION,
            "count": len(self._nodes),
            "digest": visible.hexdigest(),
            "typed_digest": typed.hexdigest() if typed is not None else None,
        }


def _path_key(path):
    return path.encode("utf-8")


def in_subtree(path, root):
    """True when ``path`` is ``root`` or below it."""
    if root in ("", "/"):
        return True
    return path == root or path.startswith(root.rstrip("/") + "/")


class SortedTreeDigest:
    """TreeDigest's result, equal byte for byte (a path added again replaces the earlier
    one, as there), with memory bounded by ``run`` znodes whatever the tree's size: every
    ``run`` znodes added are sorted by path and written to a temporary file in
    ``spill_dir`` (the system's temporary directory by default, as TMPDIR says; about
    ``80 + len(path)`` bytes per znode, removed as soon as the result is made), and
    ``result()`` merges the runs in path order.  A tree of at most ``run`` znodes never
    touches the disk.  No discard().
    """

    def __init__(self, include_ephemeral=False, typed=True, run=131072, spill_dir=None):
        self.include_ephemeral = include_ephemeral
        self.typed = typed
        self.run = max(1, int(run))
        self.spill_dir = spill_dir
        self._buf = []
        self._runs = []
        self._seq = 0
        self._result = None

    def add(self, path, data, acl, kind=PERSISTENT, ttl=0, acl_bytes=None):
        """Add one znode.  Returns False when the znode does not count (excluded)."""
        if self._result is not None:
            raise ValueError("the digest is made: no znode can be added to it")
        hashes = _counted_hashes(path, data, acl, kind, ttl, acl_bytes, self.include_ephemeral)
        if hashes is None:
            return False
        vh, th = hashes
        self._seq += 1
        self._buf.append((path.encode("utf-8"), self._seq, vh + th))
        if len(self._buf) >= self.run:
            self._spill()
        return True

    def _spill(self):
        buf, self._buf = self._buf, []
        buf.sort()
        f = tempfile.TemporaryFile(prefix="zkops-digest-", dir=self.spill_dir)
        try:
            write = f.write
            pack = _RUN_HEAD.pack
            for p, seq, h in buf:
                write(pack(len(p), seq))
                write(p)
                write(h)
            f.flush()
            f.seek(0)
        except BaseException:
            f.close()
            raise
        self._runs.append(f)

    @staticmethod
    def _read_run(f):
        read = f.read
        unpack = _RUN_HEAD.unpack
        size = _RUN_HEAD.size
        while True:
            head = read(size)
            if not head:
                return
            n, seq = unpack(head)
            p = read(n)
            h = read(64)
            if len(p) != n or len(h) != 64:
                raise IOError("a temporary run of the tree digest is truncated")
            yield p, seq, h

    def close(self):
        """Drop what was added and remove the temporary files (result() does it too)."""
        runs, self._runs = self._runs, []
        for f in runs:
            f.close()
        self._buf = []

    def result(self):
        """{'count', 'digest', 'typed_digest', 'version'} of what was added (made once)."""
        if self._result is not None:
            return dict(self._result)
        visible = hashlib.sha256()
        typed = hashlib.sha256() if self.typed else None
        count = 0
        try:
            self._buf.sort()
            if self._runs:
                items = heapq.merge(self._buf, *[self._read_run(f) for f in self._runs])
            else:
                items = iter(self._buf)
            pack = _U32.pack
            last = next(items, None)
            while last is not None:
                item = next(items, None)
                if item is not None and item[0] == last[0]:
                    last = item            # added again: the later one counts
                    continue
                p, _seq, h = last
                head = pack(len(p)) + p
                visible.update(head + h[:32])
                if typed is not None:
                    typed.update(head + h[32:])
                count += 1
                last = item
        finally:
            self.close()
        self._result = {
            "version": DIGEST_VERSION,
            "count": count,
            "digest": visible.hexdigest(),
            "typed_digest": typed.hexdigest() if typed is not None else None,
        }
        return dict(self._result)
