# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Export a znode tree: a source of znodes feeds the export file writer (tree_format).

A source has ``kinds_exact`` (whether it tells container and TTL znodes from persistent
ones), ``describe()`` (what goes into the header), ``start()`` (returns the zxid the
export starts at) and ``run(emit)``, which calls ``emit(path, data, acl, kind, ttl,
stat, sequential, acl_bytes)`` once per znode, parents first, and returns statistics.
``LiveSource`` walks a running ensemble (tree_walk); tree_replay's sources replay a
member's data files.  A source whose tree is from one exact zxid says so with
``consistent = True`` (nothing can change while it is exported).

``export()`` applies the ephemeral policy and writes to any binary stream;
``export_file()`` writes a local file atomically and keeps an existing export that
already holds the same tree (the same digest), so a repeated export changes nothing.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import struct
import tempfile

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import fsio
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as tree_digest
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tree_format
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import walk as tree_walk

EPHEMERAL_POLICIES = ("skip", "persistent")
DEFAULT_EXCLUDE = ("/zookeeper",)

KINDS_NOTE = ("a running ensemble reports container and TTL znodes as persistent "
              "(DataTree.getClientEphemeralOwner), so this export records them as "
              "persistent and has no typed digest; an export made from a member's data "
              "files keeps their kinds")

_ZXIDS = struct.Struct("!qq")   # czxid, mzxid
_PZXID = struct.Struct("!q")


class ExportError(Exception):
    pass


def normalize_root(root):
    root = (root or "/").strip()
    if not root.startswith("/"):
        raise ExportError("root must be an absolute znode path, not %r" % root)
    if root != "/":
        root = root.rstrip("/")
    if "//" in root:
        raise ExportError("root %r has an empty path component" % root)
    return root


def normalize_exclude(exclude):
    """The exclusion list: absolute paths, /zookeeper always among them."""
    out = []
    for e in list(exclude or ()) + list(DEFAULT_EXCLUDE):
        e = normalize_root(e)
        if e == "/":
            raise ExportError("'/' cannot be excluded (that would exclude everything)")
        if e not in out:
            out.append(e)
    return out


class LiveSource(object):
    """The znodes of a running ensemble, read by a tree_walk.Walker over a Pool."""
    kinds_exact = False

    def __init__(self, pool, root, exclude, hosts=None, **walk_options):
        self.pool = pool
        self.hosts = hosts
        self.walker = tree_walk.Walker(pool, root, exclude, chroot=getattr(pool, "chroot", ""),
                                       **walk_options)

    def describe(self):
        return dict(type="live", hosts=self.hosts,
                    members=[s.endpoint for s in self.pool.sessions],
                    kinds_note=KINDS_NOTE)

    def start(self):
        return self.walker.prepare()

    def run(self, emit):
        def on_node(n):
            owner = tree_walk.stat_ephemeral_owner(n.stat)
            emit(n.path, n.data, n.acl, tree_digest.EPHEMERAL if owner else
                 tree_digest.PERSISTENT, 0, n.stat, n.sequential, n.acl_bytes)
        return self.walker.run(on_node).as_dict()


class CountedSource(object):
    """A source whose znodes are counted by a progress.Tracker as they are exported: stage
    ``read`` while the source starts (a files source replays the data files then), stage
    ``export`` while it hands over its znodes."""

    def __init__(self, source, tracker):
        self._source = source
        self._tracker = tracker

    def __getattr__(self, name):
        return getattr(self._source, name)

    def start(self):
        self._tracker.stage("read the data files" if self._source.kinds_exact else "sync with the leader")
        zxid = self._source.start()
        self._tracker.stage("export", unit="znodes")
        return zxid

    def run(self, emit):
        tick = self._tracker.add

        def counted(*args, **kwargs):
            tick()
            emit(*args, **kwargs)
        return self._source.run(counted)


class _NullStream(object):
    """Counts what would be written (check mode)."""

    def __init__(self):
        self.size = 0

    def write(self, b):
        self.size += len(b)
        return len(b)

    def flush(self):
        pass


def export(source, stream, root, exclude, ephemeral_policy="skip", compresslevel=6):
    """Export from ``source`` into ``stream``; return a summary (header and trailer
    fields, counts, statistics)."""
    if ephemeral_policy not in EPHEMERAL_POLICIES:
        raise ExportError("ephemeral_policy must be one of %s" % ", ".join(EPHEMERAL_POLICIES))
    zxid_start = source.start()
    header = dict(root=root, exclude=list(exclude), ephemeral_policy=ephemeral_policy,
                  source=source.describe(), zxid_start=zxid_start)
    writer = tree_format.TreeWriter(stream, header, kinds_exact=source.kinds_exact,
                                    compresslevel=compresslevel)
    counts = dict(ephemeral_skipped=0, ephemeral_kept=0, sequential=0,
                  modified_during_export=0)
    add = writer.add
    persistent = tree_digest.PERSISTENT
    ephemeral = tree_digest.EPHEMERAL
    keep = ephemeral_policy == "persistent"
    start = zxid_start if zxid_start is not None else 1 << 62
    fuzzy = not getattr(source, "consistent", False)

    def emit(path, data, acl, kind, ttl, stat, sequential, acl_bytes=None):
        flags = 0
        if kind == ephemeral:
            if not keep:
                counts["ephemeral_skipped"] += 1
                return
            counts["ephemeral_kept"] += 1
            kind = persistent
            flags = tree_format.WAS_EPHEMERAL
        if sequential:
            flags |= tree_format.SEQUENTIAL
            counts["sequential"] += 1
        if fuzzy and stat is not None and isinstance(stat, bytes):
            if _ZXIDS.unpack_from(stat, 0)[1] > start or _PZXID.unpack_from(stat, 60)[0] > start:
                counts["modified_during_export"] += 1
        add(path, data, acl, kind, ttl, flags, stat, acl_bytes)

    try:
        stats = source.run(emit)
    except BaseException:
        writer.abort()
        raise
    trailer = writer.finish(zxid_end=stats.get("zxid_end"), vanished=stats.get("vanished", 0),
                            **counts)
    summary = dict(header=writer.header, trailer=trailer, walk=stats,
                   bytes_uncompressed=writer.bytes_in)
    summary.update(counts)
    return summary


def same_tree(path, root, exclude, ephemeral_policy, trailer):
    """True when the export file at ``path`` is complete and holds the same tree."""
    try:
        header, old = tree_format.read_summary(path)
    except (tree_format.FormatError, OSError, ValueError):
        return False
    return (header.get("root") == root and header.get("exclude") == list(exclude)
            and header.get("ephemeral_policy") == ephemeral_policy
            and old.get("digest") == trailer["digest"]
            and old.get("typed_digest") == trailer["typed_digest"]
            and old.get("count") == trailer["count"])


def export_file(source, dest, root, exclude, ephemeral_policy="skip", compresslevel=6,
                check_mode=False, mode=0o600):
    """Export into the local file ``dest`` (atomically: a temporary file in the same
    directory, renamed when complete).  Returns the summary with ``changed``.

    In check mode nothing is written (``dest`` may be None): the summary says whether
    ``dest`` would change."""
    if check_mode:
        sink = _NullStream()
        summary = export(source, sink, root, exclude, ephemeral_policy, compresslevel=1)
        summary["changed"] = dest is not None and not (os.path.exists(dest) and same_tree(
            dest, root, exclude, ephemeral_policy, summary["trailer"]))
        summary["bytes"] = None
        return summary
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory):
        raise ExportError("the directory of dest (%s) does not exist" % directory)
    if os.path.isdir(dest):
        raise ExportError("dest %s is a directory; give the path of a file" % dest)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), suffix=".partial",
                               dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            summary = export(source, f, root, exclude, ephemeral_policy, compresslevel)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(dest) and same_tree(dest, root, exclude, ephemeral_policy,
                                              summary["trailer"]):
            os.unlink(tmp)
            summary["changed"] = False
            summary["bytes"] = os.path.getsize(dest)
            return summary
        os.rename(tmp, dest)
        tmp = None
        fsio.fsync_dir(directory)
        summary["changed"] = True
        summary["bytes"] = os.path.getsize(dest)
        return summary
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
