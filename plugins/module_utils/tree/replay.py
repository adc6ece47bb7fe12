# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Export sources computed from a member's own data files instead of a running ensemble.

``ReplaySource`` adapts a replayed tree (datatree.DataTree) to the exporter
(tree_export.export): it hands over the znodes of the exported subtree parents first
(sorted by path), with their exact kinds (container and TTL znodes, with their TTL),
the Stat a client would read (datatree.client_stat) and the sequential origin decided
by the same rule as the live walk (tree_walk.created_sequential).

``DataDirSource`` is a ReplaySource over a member's dataDir (and dataLogDir): when the
export starts it finds what a server would load (datadir: the newest valid snapshot and
the logs after it), replays that as the server does (replay) up to the end of the logs,
a target zxid or a target time, and checks the replay against ZooKeeper's own digests
where the files carry them.  The export is then the tree at exactly
that zxid, and the servers do no work for it.  Pure Python, no kazoo.

A serving member logs a transaction before the leader commits it, so the newest records
of its log may still be dropped by a new leader.  ``applied_zxid()`` asks the member's own
server (one ``srvr``) for the zxid it has applied, which is committed: an export of a
serving member's files stops there.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import bisect
import collections
import struct
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datatree
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import walk as tree_walk
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import (
    DEFAULT_LIMIT, FormatError)
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree.export import ExportError
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

_U32 = struct.Struct(">I")
# The character after '/': every path below P sorts in [P + '/', P + '0').
_AFTER_SLASH = chr(ord("/") + 1)


def child_counts(nodes):
    """{path: number of children} of the nodes of a tree (paths without children
    are absent)."""
    counts = collections.Counter(p[:p.rfind("/")] or "/" for p in nodes)
    if "/" in nodes:
        counts["/"] -= 1           # the root is not its own child
    return counts


def subtree_paths(paths, root, exclude):
    """The paths of ``root``'s subtree in sorted ``paths``, without the ``exclude``d
    subtrees, in sorted order (parents first)."""
    def span(prefix):
        return (bisect.bisect_left(paths, prefix + "/"),
                bisect.bisect_left(paths, prefix + _AFTER_SLASH))

    if root == "/":
        ranges = [(0, len(paths))]
    else:
        at = bisect.bisect_left(paths, root)
        if at == len(paths) or paths[at] != root:
            return None
        lo, hi = span(root)
        ranges = [(at, at + 1), (lo, hi)]
    cuts = []
    for e in exclude:
        at = bisect.bisect_left(paths, e)
        if at < len(paths) and paths[at] == e:
            cuts.append((at, at + 1))
        cuts.append(span(e))
    out = []
    for lo, hi in ranges:
        for c_lo, c_hi in sorted(cuts):
            if c_hi <= lo or c_lo >= hi or c_lo == c_hi:
                continue
            out.extend(paths[lo:c_lo])
            lo = max(lo, c_hi)
        if lo < hi:
            out.extend(paths[lo:hi])
    return out


class ReplaySource(object):
    """The znodes of a replayed tree at ``zxid`` (a DataTree) for tree_export.export."""
    kinds_exact = True
    consistent = True

    def __init__(self, tree, zxid, root="/", exclude=(), about=None):
        self.tree = tree
        self.zxid = zxid
        self.root = root
        self.exclude = [e.rstrip("/") or "/" for e in exclude]
        self.about = dict(about or {})

    def describe(self):
        out = dict(type="files", zxid=hexzxid(self.zxid))
        out.update(self.about)
        return out

    def start(self):
        return self.zxid

    def run(self, emit):
        t0 = getattr(self, "started", None) or time.time()
        tree = self.tree
        nodes = tree.nodes
        if tree_walk.excluded(self.root, self.exclude):
            raise ExportError("the root %s is excluded from the export" % self.root)
        paths = subtree_paths(sorted(nodes), self.root, self.exclude)
        if paths is None:
            raise ExportError("the root %s does not exist in the tree at %s"
                              % (self.root, hexzxid(self.zxid)))
        counts = child_counts(nodes)
        count_of = counts.get
        acl_lists = tree.acl_lists()
        acl_of = acl_lists.get
        client_view = datatree.client_view
        created_sequential = tree_walk.created_sequential
        counters = {}

        def counter(parent):
            c = counters.get(parent)
            if c is None:
                node = nodes[parent]
                c = counters[parent] = tree_walk.stat_sequence_counter(
                    datatree.client_stat(node[2], node[0], count_of(parent, 0)))
            return c

        root = self.root
        for path in paths:
            data, acl, stat = nodes[path]
            kind, ttl, cstat = client_view(stat, data, count_of(path, 0))
            acl_list = acl_of(id(acl))
            if acl_list is None:
                acl_list = acl_lists[id(acl)] = _decode_acl(acl)
            sequential = False
            if path[-10:].isdigit() and path != root:
                sequential = created_sequential(path, counter(path[:path.rfind("/")] or "/"))
            emit(path, data, acl_list, kind, ttl, cstat, sequential, acl)
        return dict(nodes=len(paths), vanished=0, zxid_start=self.zxid, zxid_end=self.zxid,
                    seconds=round(time.time() - t0, 3))


def _decode_acl(acl_bytes):
    """(perms, scheme, id) tuples of canonical ACL bytes (tree_digest.encode_acl) for a
    tree built without DataTree.acl(); the order is the canonical one."""
    entries = []
    off = 4
    for _entry in range(_U32.unpack_from(acl_bytes, 0)[0]):
        perms = _U32.unpack_from(acl_bytes, off)[0]
        slen = _U32.unpack_from(acl_bytes, off + 4)[0]
        off += 8
        scheme = acl_bytes[off:off + slen].decode("utf-8")
        off += slen
        ilen = _U32.unpack_from(acl_bytes, off)[0]
        off += 4
        entries.append((perms, scheme, acl_bytes[off:off + ilen].decode("utf-8")))
        off += ilen
    return tuple(entries)


class DataDirSource(ReplaySource):
    """A member's data files, replayed when the export starts (start())."""

    def __init__(self, data_dir, data_log_dir=None, root="/", exclude=(), target_zxid=None,
                 target_time=None, limit=DEFAULT_LIMIT, applied=None):
        super(DataDirSource, self).__init__(None, None, root, exclude)
        self.data_dir = data_dir
        self.data_log_dir = data_log_dir
        # The serving member's applied (committed) zxid: nothing above it is exported.
        self.applied = applied
        if applied is not None and (target_zxid is None or target_zxid > applied):
            target_zxid = applied
        self.target_zxid = target_zxid
        self.target_time = target_time
        self.limit = limit
        self.warnings = []
        self.started = None

    def start(self):
        if self.tree is None:
            self.started = time.time()
            self.tree, self.zxid, self.about = replay_data_dir(
                self.data_dir, self.data_log_dir, self.target_zxid, self.target_time,
                self.limit, self.warnings)
            self.about["applied_zxid"] = hexzxid(self.applied)
        return self.zxid


def replay_data_dir(data_dir, data_log_dir=None, target_zxid=None, target_time=None,
                    limit=DEFAULT_LIMIT, warnings=None):
    """Replay a member's data files as a server would load them: (DataTree, zxid,
    description).  Raises ExportError saying why the files give no consistent tree."""
    t0 = time.time()
    where = data_dir + (" and %s" % data_log_dir
                        if data_log_dir and data_log_dir != data_dir else "")
    # The verification loads the snapshot and applies the logs as it reads them: every
    # file is read once (datadir.Loader).
    loader = datadir.Loader(limit)
    rep = datadir.verify_data_dir(data_dir, data_log_dir, scope="restorable", limit=limit,
                                  target_zxid=target_zxid, target_time=target_time,
                                  loader=loader)
    if not rep["restorable"]:
        loader.drop()
        hint = ""
        if rep.get("restorable_until"):
            hint = ("; the files are whole up to %s: give that (or an earlier) target_zxid"
                    % rep["restorable_until"])
        raise ExportError("the data files in %s give no consistent tree: %s%s"
                          % (where, "; ".join(rep["reasons"]), hint))
    if warnings is not None:
        warnings.extend(rep["warnings"])
    rs = rep["restorable_set"]
    zxid = zxid_mod.from_record(rep["last_zxid"])
    t1 = time.time()
    try:
        got = loader.finish(rs["log_paths"], zxid)
        read_once = got is not None and loader.read_once
        if got is None:
            got = replay.replay(rs["snapshot_path"], rs["log_paths"], target_zxid=zxid,
                                limit=limit)
    except FormatError as exc:
        raise ExportError("the replay of the data files in %s failed: %s" % (where, exc))
    tree, res = got
    if res["last_zxid"] != rep["last_zxid"]:
        raise ExportError("the replay of the data files in %s ended at %s, not at %s as "
                          "their verification found; nothing was exported"
                          % (where, res["last_zxid"], rep["last_zxid"]))
    zk = res["zk_digest"] or {}
    if zk.get("mismatches"):
        first = zk["mismatches"][0]
        raise ExportError(
            "ZooKeeper's own digest of the tree at %s differs from the replay of the data "
            "files in %s (%d of %d checks): the export would not hold the tree the server "
            "had. Export from the running ensemble (source: live) instead"
            % (first["zxid"], where, len(zk["mismatches"]), zk["checked"]))
    about = dict(data_dir=data_dir, data_log_dir=data_log_dir or data_dir,
                 snapshot=rs["snapshot"], logs=rs["logs"],
                 target_zxid=rep["target_zxid"], target_time=target_time,
                 last_time=res["last_time"], applied=res["applied"],
                 zk_digest_checks=zk.get("checked", 0), read_once=read_once,
                 verify_seconds=round(t1 - t0, 3), replay_seconds=round(time.time() - t1, 3))
    return tree, zxid, about


def applied_zxid(cfg, timeout=5.0):
    """(zxid, note): the zxid the local server of ``cfg`` (a zoo_cfg.ZooCfg) has applied,
    every transaction up to it committed; None when it does not serve (stopped: its files
    are all there is), with a note when that could not be told."""
    me = member.local_id(cfg)
    ep = cfg.client_endpoint(me, local=True)
    if ep is None:
        return None, ("%s gives no plain client port to ask the server which transactions it "
                      "has committed" % (cfg.path or "zoo.cfg"))
    st = member.query(ep[0], ep[1], me, timeout=timeout, extra=())
    if st.get("serving") and st.get("zxid"):
        return zxid_mod.from_record(st["zxid"]), None
    if st.get("reachable") and st.get("error"):
        return None, "the server could not tell which transactions it has committed: %s" % st["error"]
    return None, None
