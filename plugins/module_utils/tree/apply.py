# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Execute an import Plan (tree_plan) against a live ensemble through a KazooClient.

Writes go in transactions (multi) packed up to a byte and an operation budget below the
server's request limit (jute.maxbuffer), several in flight; each transaction is all or
nothing.  Order: creates (parents first) and data updates, data written after oversized
creates, deletes (children first), sequence counters, and last the ACLs (setACL has no
place in a multi), so that no ACL can block the import's own work.  An optional rate
limit (operations per second) protects a production ensemble.

A parent's sequence counter goes up by one with every child created (deletes do not
move it; tree_walk.sequence_counter derives it from cversion and numChildren); the
counter of a restored parent is moved past its highest restored sequential suffix by
creating and deleting a placeholder child as often as needed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as tree_digest
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import walk as tree_walk
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zp

if zk_client.HAS_KAZOO:
    from kazoo.exceptions import RuntimeInconsistency
else:  # pragma: no cover
    RuntimeInconsistency = None

BUMP_CHILD = "zkops-sequence-counter"
_WORLD = ((31, "world", "anyone"),)
_HEAD = 9   # MultiHeader bytes per operation


class ApplyError(Exception):
    """A write failed; ``path`` names the znode, ``applied`` counts what was done."""

    def __init__(self, msg, path=None, applied=None):
        super(ApplyError, self).__init__(msg)
        self.path = path
        self.applied = applied or {}


class Prepared(object):
    """An operation serialized once: its size is known and it is not serialized again."""
    __slots__ = ("type", "payload", "path", "what")

    def __init__(self, op, what):
        self.type = op.type
        self.payload = bytes(op.serialize())
        self.path = op.path
        self.what = what

    def serialize(self):
        return self.payload

    @property
    def size(self):
        return _HEAD + len(self.payload)


def pack_batches(ops, max_bytes, max_ops):
    """Group prepared operations into transactions of at most ``max_bytes`` and
    ``max_ops`` each (an operation larger than ``max_bytes`` goes alone)."""
    batch = []
    size = _HEAD  # the closing MultiHeader
    for op in ops:
        if batch and (size + op.size > max_bytes or len(batch) >= max_ops):
            yield batch
            batch = []
            size = _HEAD
        batch.append(op)
        size += op.size
    if batch:
        yield batch


def create_op(step):
    rec = step.record
    data = b"" if step.data_after else rec.data
    if rec.kind == tree_digest.CONTAINER:
        return zp.CreateContainer(rec.path, data, step.acl)
    if rec.kind == tree_digest.TTL:
        return zp.CreateTTL(rec.path, data, step.acl, rec.ttl, False)
    return zp.Create(rec.path, data, step.acl, zp.FLAG_PERSISTENT)


def _join(parent, name):
    return parent.rstrip("/") + "/" + name


class Applier(object):
    def __init__(self, client, batch_bytes=512 * 1024, batch_ops=1000, rate_limit=None,
                 window=8, chroot="", progress=None):
        self.client = client
        # A progress.Tracker counting the operations applied, or None.
        self.progress = progress
        self.batch_bytes = int(batch_bytes)
        self.batch_ops = max(1, int(batch_ops))
        self.rate_limit = float(rate_limit) if rate_limit else None
        self.window = max(1, int(window))
        self.chroot = chroot.rstrip("/")
        self.done = collections.Counter()
        self.transactions = 0
        self._t0 = None
        self._ops_sent = 0

    def _p(self, path):
        if not self.chroot:
            return path
        return self.chroot if path == "/" else self.chroot + path

    # --- pacing ----------------------------------------------------------------------
    def _pace(self, n):
        self._ops_sent += n
        if self.rate_limit:
            ahead = self._ops_sent / self.rate_limit - (time.time() - self._t0)
            if ahead > 0:
                time.sleep(ahead)

    # --- transactions -------------------------------------------------------------------
    def _transactions(self, ops):
        """Run prepared ops in packed transactions, ``window`` in flight."""
        inflight = collections.deque()
        try:
            for batch in pack_batches(ops, self.batch_bytes, self.batch_ops):
                self._pace(len(batch))
                inflight.append((batch, zp.call_async(self.client, zp.Multi(batch))))
                self.transactions += 1
                while len(inflight) >= self.window:
                    self._settle(*inflight.popleft())
            while inflight:
                self._settle(*inflight.popleft())
        finally:
            # Wait for what is in flight, so the counts say what really happened.
            while inflight:
                batch, res = inflight.popleft()
                try:
                    self._settle(batch, res)
                except ApplyError:
                    pass

    def _settle(self, batch, res):
        try:
            results = res.get(timeout=120)
        except Exception as exc:
            raise ApplyError("a transaction of %d operations starting at %s failed: %s"
                             % (len(batch), batch[0].path,
                                zk_client.explain_zk_error(exc, batch[0].path)),
                             batch[0].path, dict(self.done))
        for op, result in zip(batch, results):
            if isinstance(result, Exception) and not isinstance(result, RuntimeInconsistency):
                raise ApplyError("%s of %s failed: %s; the transaction holding it (%d "
                                 "operations) was not applied"
                                 % (op.what, op.path, zk_client.explain_zk_error(result, op.path),
                                    len(batch)), op.path, dict(self.done))
        if any(isinstance(r, Exception) for r in results):
            raise ApplyError("a transaction of %d operations starting at %s failed"
                             % (len(batch), batch[0].path), batch[0].path, dict(self.done))
        for op in batch:
            self.done[op.what] += 1
        if self.progress is not None:
            self.progress.add(len(batch))

    def _singles(self, requests, what):
        """Pipelined single requests (setACL, setData) ``window * 64`` in flight."""
        inflight = collections.deque()
        limit = self.window * 64

        def settle(path, res):
            try:
                res.get(timeout=120)
            except Exception as exc:
                raise ApplyError("%s of %s failed: %s" % (what, path,
                                                          zk_client.explain_zk_error(exc, path)),
                                 path, dict(self.done))
            self.done[what] += 1
            if self.progress is not None:
                self.progress.add(1)

        try:
            for req in requests:
                self._pace(1)
                inflight.append((req.path, zp.call_async(self.client, req)))
                while len(inflight) >= limit:
                    settle(*inflight.popleft())
            while inflight:
                settle(*inflight.popleft())
        finally:
            while inflight:
                path, res = inflight.popleft()
                try:
                    settle(path, res)
                except ApplyError:
                    pass

    # --- the plan -------------------------------------------------------------------------
    def apply(self, plan, max_sequence_bump=None):
        self._t0 = time.time()
        p = self._p
        ops = []
        for step in plan.creates:
            op = create_op(step)
            ops.append(Prepared(op._replace(path=p(op.path)), "create"))
        for path, data, version in plan.data_updates:
            ops.append(Prepared(zp.SetData(p(path), data, version), "update_data"))
        self._transactions(ops)

        late = [zp.SetData(p(c.path), c.record.data, -1) for c in plan.creates if c.data_after]
        if late:
            self._singles(late, "write_data")

        if plan.deletes:
            self._transactions(Prepared(zp.Delete(p(path), -1), "delete")
                               for path in plan.deletes)

        if plan.sequence_bumps:
            self.move_sequence_counters(plan.sequence_targets, plan.sequence_bumps,
                                        max_sequence_bump)

        acl_requests = [zp.SetACL(p(path), acl, -1) for path, acl in plan.deferred_acls]
        acl_requests += [zp.SetACL(p(path), acl, -1) for path, acl in plan.acl_updates]
        if acl_requests:
            self._singles(acl_requests, "set_acl")
        return dict(self.done, transactions=self.transactions,
                    seconds=round(time.time() - self._t0, 3))

    def move_sequence_counters(self, targets, parents, max_sequence_bump=None):
        """Raise the sequence counter of every parent in ``parents`` to its target."""
        pending = []
        for parent in sorted(parents):
            pending.append((parent, zp.call_async(self.client, zp.GetData(self._p(parent)))))
        ops = []
        for parent, res in pending:
            try:
                stat = res.get(timeout=60)[1]
            except Exception as exc:
                raise ApplyError("reading the sequence counter of %s failed: %s"
                                 % (parent, zk_client.explain_zk_error(exc, parent)),
                                 parent, dict(self.done))
            need = targets[parent] - tree_walk.sequence_counter(stat.cversion,
                                                                stat.numChildren)
            if need <= 0:
                continue
            if max_sequence_bump is not None and need > max_sequence_bump:
                raise ApplyError("the sequence counter of %s must move by %d, more than "
                                 "max_sequence_bump (%d)" % (parent, need, max_sequence_bump),
                                 parent, dict(self.done))
            child = self._p(_join(parent, BUMP_CHILD))
            create = Prepared(zp.Create(child, b"", _WORLD, zp.FLAG_PERSISTENT),
                              "sequence_step")
            delete = Prepared(zp.Delete(child, -1), "sequence_cleanup")
            for _step in range(need):
                ops.append(create)
                ops.append(delete)
            self.done["sequence_parent"] += 1
        # A pair split over two transactions still works: a session's requests are
        # applied in order.
        self._transactions(ops)
