# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Walk a live znode tree fast: many reads in flight, batched, over several members.

For every znode the walk reads its children, data, stat and ACL.  Children and data of
many znodes travel in one multiRead request (ZooKeeper 3.6+; single getData and
getChildren requests on older servers); ACLs, which have no batched read, go as single
getACL requests pipelined on the same session, sent before the multiRead so that their
answers are in when the multiRead answer arrives (answers come in request order).  The
batches are spread over a Pool of sessions (zk_pipeline), one or more per member.

Every znode is handed to ``on_node`` once its reads are complete; a znode's parent is
always handed over before it.  A znode that disappears while the walk runs is counted
as vanished, not reported.  The walk fails (WalkError, naming the path) when a znode
cannot be read (no READ permission), or when the server masks a digest ACL because the
session lacks ADMIN permission on the znode (unless ``allow_masked_acl``).

With ``partial`` the walk reads what the session may read instead: a znode it may not
read is skipped with its whole subtree and named in ``WalkStats.unreadable``, a znode
whose digest ACL the server hides is walked (its ACL as shown) and named in
``WalkStats.acl_hidden``.  What such a walk hands over is the readable part of the tree,
whose digest cannot be compared with one of the whole tree.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import struct
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as tree_digest
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import pipeline as zk_pipeline
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zk_protocol

if zk_client.HAS_KAZOO:
    from kazoo.exceptions import NoAuthError, NoNodeError
else:  # pragma: no cover
    NoAuthError = NoNodeError = None

_STAT = struct.Struct("!qqqqiiiqiiq")
_CVERSION = struct.Struct("!i")
_EPHEMERAL_OWNER = struct.Struct("!q")
_CVERSION_AT = 36
_OWNER_AT = 44
_NUM_CHILDREN_AT = 56
# A partial walk names at most this many znodes whose digest ACL the server hid (it counts
# them all): on a secured ensemble they may be most of the tree.
ACL_HIDDEN_LISTED = 20
FORCED_MULTI_READ = ("the server does not know multiRead (ZooKeeper before 3.6 answers "
                     "UNIMPLEMENTED): leave multi_read unset, so that the walk probes the "
                     "server, or set it to false")


class WalkError(Exception):
    """A znode could not be read; ``path`` names it."""

    def __init__(self, msg, path=None):
        super(WalkError, self).__init__(msg)
        self.path = path


def stat_cversion(raw):
    return _CVERSION.unpack_from(raw, _CVERSION_AT)[0]


def sequence_counter(cversion, num_children):
    """The parent's sequence counter: the suffix its next sequential child gets.

    The server counts child creates internally and shows clients
    ``cversion = 2 * creates - numChildren`` (DataNode.copyStat: every create but those
    of the children still present has a delete), so the counter is
    ``(cversion + numChildren) / 2``.  Deleting a child does not move it.
    """
    return (cversion + num_children) // 2


def stat_sequence_counter(raw):
    return sequence_counter(stat_cversion(raw), stat_num_children(raw))


def stat_ephemeral_owner(raw):
    return _EPHEMERAL_OWNER.unpack_from(raw, _OWNER_AT)[0]


def stat_num_children(raw):
    return _CVERSION.unpack_from(raw, _NUM_CHILDREN_AT)[0]


def sequence_suffix(name):
    """The counter of a sequential znode name (its 10-digit suffix), or None."""
    tail = name[-10:]
    if len(tail) == 10 and tail.isdigit():
        return int(tail)
    return None


def created_sequential(name, counter):
    """Whether a child called ``name`` (or its path) of a parent whose sequence counter
    is ``counter`` counts as created sequential: a 10-digit suffix below the counter.

    The one rule for every export source (docs/tree-export-format.md, "Sequential
    origin").  A path serves as well as the name: ten digits at its end hold no '/'.
    """
    tail = name[-10:]
    return len(tail) == 10 and tail.isdigit() and int(tail) < counter


def is_masked_digest(acl):
    """True when the server replaced a digest ACL's hash by 'x' (no ADMIN permission)."""
    for _perms, scheme, ident in acl:
        if scheme == "digest" and ident.endswith(":x"):
            return True
    return False


class AclCache(object):
    """Raw jute ACL bytes -> (acl tuple, canonical digest bytes, masked); most znodes
    share a handful of ACLs, so each distinct ACL is decoded once."""

    def __init__(self):
        self._cache = {}

    def get(self, raw):
        hit = self._cache.get(raw)
        if hit is None:
            acl = zk_protocol.read_acl_vector(raw, 0)[0]
            hit = (acl, tree_digest.encode_acl(acl), is_masked_digest(acl))
            self._cache[raw] = hit
        return hit


class LiveNode(object):
    """One znode as read: ``stat`` is the raw jute Stat (68 bytes)."""
    __slots__ = ("path", "data", "stat", "acl", "acl_bytes", "sequential")

    def __init__(self, path, data, stat, acl, acl_bytes, sequential):
        self.path = path
        self.data = data
        self.stat = stat
        self.acl = acl
        self.acl_bytes = acl_bytes
        self.sequential = sequential

    @property
    def ephemeral_owner(self):
        return stat_ephemeral_owner(self.stat)

    @property
    def sequence_counter(self):
        return stat_sequence_counter(self.stat)


class _WalkMultiRead(zk_protocol.MultiRead):
    """multiRead whose getData results keep the stat as raw bytes."""

    @classmethod
    def deserialize(cls, buf, offset):
        return [item[1] for item in cls.iter_results(buf, offset, raw_stat=True)]


class _RawGetData(zk_protocol.GetData):
    @classmethod
    def deserialize(cls, buf, offset):
        data, offset = zk_protocol.ser.read_buffer(buf, offset)
        return data, bytes(buf[offset:offset + zk_protocol.STAT_SIZE])


class WalkStats(object):
    def __init__(self):
        self.nodes = 0
        self.vanished = 0
        self.requests = 0
        self.zxid_start = None
        self.zxid_end = None
        self.seconds = 0.0
        self.multi_read = None
        self.multi_read_note = None
        self.sessions = 0
        self.lost_sessions = 0
        self.root_missing = False
        self.unreadable = []
        self.acl_hidden = []
        self.acl_hidden_count = 0

    @property
    def partial(self):
        return bool(self.unreadable or self.acl_hidden_count)

    def as_dict(self):
        return dict(nodes=self.nodes, vanished=self.vanished, requests=self.requests,
                    zxid_start=self.zxid_start, zxid_end=self.zxid_end,
                    seconds=round(self.seconds, 3), multi_read=self.multi_read,
                    multi_read_note=self.multi_read_note,
                    sessions=self.sessions, lost_sessions=self.lost_sessions,
                    root_missing=self.root_missing, partial=self.partial,
                    unreadable=sorted(self.unreadable),
                    acl_hidden=sorted(self.acl_hidden),
                    acl_hidden_count=self.acl_hidden_count)


def excluded(path, exclude):
    """True when ``path`` is one of ``exclude`` or below one."""
    for e in exclude:
        if path == e or path.startswith(e.rstrip("/") + "/"):
            return True
    return False


def _join(parent, name):
    return parent + name if parent.endswith("/") else parent + "/" + name


class Walker(object):
    """Walks the subtree at ``root`` through a connected zk_pipeline.Pool."""

    def __init__(self, pool, root="/", exclude=(), multi_read=None, batch=64, window=1024,
                 allow_masked_acl=False, chroot="", missing_root_ok=False, partial=False):
        self.pool = pool
        self.root = root
        self.exclude = set(e.rstrip("/") or "/" for e in exclude)
        self.multi_read = multi_read
        self.batch = max(1, int(batch))
        self.window = max(self.batch + 2, int(window))
        self.allow_masked_acl = allow_masked_acl
        self.chroot = chroot.rstrip("/")
        self.acls = AclCache()
        self.stats = WalkStats()
        self.missing_root_ok = missing_root_ok
        self.partial = partial
        self._t0 = None

    def _server(self, path):
        if not self.chroot:
            return path
        return self.chroot if path == "/" else self.chroot + path

    # --- zxid window -----------------------------------------------------------------
    def sync(self):
        """sync() every session (followers catch up with the leader); return max zxid."""
        tokens = {}
        for s in self.pool.sessions:
            tok = object()
            tokens[tok] = s
            s.submit(zk_protocol.Sync(self._server("/")), tok)
        deadline = time.time() + max(s.connect_timeout for s in self.pool.sessions) + 5
        while tokens and time.time() < deadline:
            for answer in self.pool.poll(0.5):
                tok, exc = answer[0], answer[3]
                if tokens.pop(tok, None) is not None and exc is not None:
                    raise WalkError(zk_client.explain_zk_error(exc, "/"), "/")
        if tokens:
            raise WalkError("no answer to sync from %s"
                            % ", ".join(s.endpoint for s in tokens.values()))
        return self.pool.last_zxid

    # --- the walk ----------------------------------------------------------------------
    def prepare(self):
        """Probe for multiRead and sync every session; return the starting zxid."""
        if self.stats.zxid_start is None:
            self._t0 = time.time()
            if self.multi_read is None:
                self.multi_read, note = zk_pipeline.multi_read_support(self.pool)
            else:
                note = "multi_read set to %s, not probed" % bool(self.multi_read)
            self.stats.multi_read = self.multi_read
            self.stats.multi_read_note = note
            self.stats.zxid_start = self.sync()
        return self.stats.zxid_start

    def run(self, on_node):
        """Walk; call ``on_node(LiveNode)`` per znode; return WalkStats."""
        self.prepare()
        t0 = self._t0
        if excluded(self.root, self.exclude):
            raise WalkError("the root %s is excluded from the walk" % self.root, self.root)
        self._pending = [(self.root, False)]
        self._acl_wait = {}
        self._partial = {}
        self._on_node = on_node
        while self._pending or self.pool.outstanding():
            self._send()
            try:
                answers = self.pool.poll(1.0)
            except zk_pipeline.PipelineError as exc:
                if exc.reason == "unimplemented" and self.multi_read:
                    raise WalkError(FORCED_MULTI_READ, self.root)
                raise
            for token, request, result, exc, _zxid in answers:
                self._done(token, request, result, exc)
        self.stats.zxid_end = self.sync()
        self.stats.requests = sum(s.requests for s in self.pool.sessions)
        self.stats.sessions = len(self.pool.sessions)
        self.stats.lost_sessions = self.pool.lost
        self.stats.seconds = time.time() - t0
        return self.stats

    def _send(self):
        pending = self._pending
        for s in self.pool.sessions:
            if not pending:
                return
            room = self.window - len(s.outstanding)
            while pending and room > self.batch:
                if self.multi_read:
                    take = min(self.batch, len(pending))
                    group = pending[-take:]
                    del pending[-take:]
                    ops = []
                    for path, seq in group:
                        sp = self._server(path)
                        s.submit(zk_protocol.GetACLRaw(sp), ("a", path))
                        ops.append(zk_protocol.GetChildren(sp))
                        ops.append(zk_protocol.GetData(sp))
                    s.submit(_WalkMultiRead(ops), ("m", group))
                    room -= take + 1
                else:
                    path, seq = pending.pop()
                    sp = self._server(path)
                    s.submit(zk_protocol.GetACLRaw(sp), ("a", path))
                    s.submit(_RawGetData(sp), ("d", path))
                    s.submit(zk_protocol.GetChildren(sp), ("c", (path, seq)))
                    room -= 3

    def _done(self, token, request, result, exc):
        kind, what = token
        if kind == "a":
            self._acl_wait[what] = exc if exc is not None else result[0]
        elif kind == "m":
            if getattr(exc, "code", None) == zk_pipeline.UNIMPLEMENTED:
                raise WalkError(FORCED_MULTI_READ, what[0][0])
            if exc is not None:
                raise WalkError("multiRead of %d znodes starting at %s failed: %s"
                                % (len(what), what[0][0], zk_client.explain_zk_error(exc)),
                                what[0][0])
            i = 0
            for path, seq in what:
                self._complete(path, seq, result[i], result[i + 1])
                i += 2
        elif kind == "d":
            self._partial[what] = exc if exc is not None else result
        elif kind == "c":
            path, seq = what
            self._complete(path, seq, exc if exc is not None else result,
                           self._partial.pop(path))

    def _complete(self, path, seq, children, data_stat):
        acl_raw = self._acl_wait.pop(path, None)
        for value in (data_stat, children, acl_raw):
            if isinstance(value, Exception):
                if isinstance(value, NoNodeError):
                    if path == self.root:
                        if self.missing_root_ok:
                            self.stats.root_missing = True
                            return
                        raise WalkError("the root %s does not exist" % path, path)
                    self.stats.vanished += 1
                    return
                if isinstance(value, NoAuthError):
                    if self.partial:
                        # Neither the znode nor anything below it can be read.
                        self.stats.unreadable.append(path)
                        return
                    raise WalkError(
                        "not authorised to read %s: its ACL does not grant this session "
                        "READ; add to 'auth' an identity that its ACL grants" % path, path)
                raise WalkError(zk_client.explain_zk_error(value, path), path)
        if acl_raw is None:
            raise WalkError("internal error: the ACL of %s did not arrive before its data"
                            % path, path)
        data, stat = data_stat
        acl, acl_bytes, masked = self.acls.get(acl_raw)
        if masked and self.partial:
            self.stats.acl_hidden_count += 1
            if len(self.stats.acl_hidden) < ACL_HIDDEN_LISTED:
                self.stats.acl_hidden.append(path)
        elif masked and not self.allow_masked_acl:
            raise WalkError(
                "the server hid the digest ACL of %s (shown as 'user:x') because this "
                "session lacks ADMIN permission on it; a copy would restore an unusable "
                "ACL. Add an identity with ADMIN on it to 'auth'" % path, path)
        self.stats.nodes += 1
        self._on_node(LiveNode(path, data, stat, acl, acl_bytes, seq))
        if children:
            counter = stat_sequence_counter(stat)
            exclude = self.exclude
            pending = self._pending
            for name in children:
                child = _join(path, name)
                if exclude and child in exclude:
                    continue
                pending.append((child, created_sequential(name, counter)))


def walk(pool, root, on_node, **kw):
    """Convenience: Walker(pool, root, **kw).run(on_node)."""
    return Walker(pool, root, **kw).run(on_node)
