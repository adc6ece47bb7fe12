# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a backup of one member holds: the files to archive and the zxids they cover.

``plan_full`` takes the restorable set of a member's data directories (the newest valid
snapshot, the log that began before it and every later log; formats/datadir.py), cuts every log
after its last whole record, or after the last record not above ``ceiling`` (the last
zxid the member has committed, for a hot backup), and checks that the logs continue
the snapshot without a gap.  Only real bytes are archived: the zero-filled preallocated
tail of a log is never read.

``plan_logs`` takes the transaction records after zxid ``after`` (the last one already
shipped) and up to ``ceiling``.  Each log file they come from gives one archive entry
``log.<hex first zxid>``: a log header followed by those records, byte for byte, which is
a valid ZooKeeper transaction log on its own.

Both return a ``Plan``: archive entries (name, parts, metadata) for archive/tarball.py, and the
zxid and time ranges for the manifest.  Nothing here writes anything.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as archive_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive.tarball import FilePart
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import FormatError
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.snapshot import read_snapshot
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.txn import peek_header
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txnlog
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

DATA_PREFIX = "data/version-2/"
LOG_PREFIX = "datalog/version-2/"
LOG_HEADER = txnlog.HEADER.pack(txnlog.MAGIC, txnlog.VERSION, 0)


class SourceError(Exception):
    pass


class Entry:
    """One file of the archive: ``name``, ``parts`` (bytes / FilePart), ``meta``."""

    def __init__(self, name, parts, meta):
        self.name = name
        self.parts = parts
        self.meta = meta

    @property
    def size(self):
        return sum(len(p) if isinstance(p, bytes) else p.length for p in self.parts)


class Plan:
    def __init__(self, kind):
        self.kind = kind
        self.entries = []
        self.snapshot_zxid = None
        self.snapshot_path = None
        self.log_paths = []
        self.base_zxid = None          # logs: the last zxid before this chunk
        self.first_zxid = None
        self.last_zxid = None
        self.first_time = None
        self.last_time = None
        self.epochs = {"current": None, "accepted": None}
        self.apparent_bytes = 0        # what the source files occupy (apparent size)
        self.allocated_bytes = 0       # what the source files occupy on disk
        self.records = 0
        self.warnings = []

    @property
    def raw_bytes(self):
        return sum(m.size for m in self.entries)

    @property
    def empty(self):
        return not self.entries

    def zxids(self):
        return {"snapshot": hexzxid(self.snapshot_zxid), "base": hexzxid(self.base_zxid),
                "first": hexzxid(self.first_zxid), "last": hexzxid(self.last_zxid)}

    def summary(self):
        return {"kind": self.kind, "files": [dict(m.meta, path=m.name, size=m.size) for m in self.entries],
                "zxid": self.zxids(), "time_range": {"first": self.first_time, "last": self.last_time},
                "epochs": dict(self.epochs), "raw_bytes": self.raw_bytes,
                "apparent_bytes": self.apparent_bytes, "allocated_bytes": self.allocated_bytes,
                "records": self.records}


def _account(plan, path):
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SourceError("%s vanished while the backup was planned (%s): retry" % (path, exc.strerror))
    plan.apparent_bytes += st.st_size
    plan.allocated_bytes += getattr(st, "st_blocks", 0) * 512 or st.st_size
    return st


def _check_plain_file(path):
    """Raise SourceError unless ``path`` is a regular file, not a symbolic link: a backup
    ships the member's own files and never follows a link, which could name any file of
    the host (a root-only one included)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise SourceError("%s vanished while the backup was planned (%s): retry" % (path, exc.strerror))
    if stat.S_ISLNK(st.st_mode):
        raise SourceError("%s is a symbolic link: a backup copies only the member's own files and never follows "
                          "a link; replace the link by the file it names (or remove it) and retry; nothing was "
                          "sent" % path)
    if not stat.S_ISREG(st.st_mode):
        raise SourceError("%s is not a regular file: remove it or move it out of the data directory and retry; "
                          "nothing was sent" % path)


def source_files(data_dir, data_log_dir=None):
    """(snapshots [(zxid, path)] newest first, logs [(zxid, path)] oldest first,
    epoch files {name: path}) of a member; raise SourceError for unusable directories."""
    paths, problems, _snap_dir, _log_dir = datadir.data_dir_files(data_dir, data_log_dir)
    if problems:
        raise SourceError("; ".join(problems))
    snaps, logs, epochs = [], [], {}
    for p in paths:
        kind, z = datadir.classify(os.path.basename(p))
        if kind in ("snapshot", "log", "epoch"):
            _check_plain_file(p)
        if kind == "snapshot":
            snaps.append((z, p))
        elif kind == "log":
            logs.append((z, p))
        elif kind == "epoch":
            epochs[z] = p
    snaps.sort(reverse=True)
    logs.sort()
    return snaps, logs, epochs


class _LogScan:
    """The records of one log up to ``ceiling``: offsets, zxids, times; raises on damage."""

    def __init__(self, path, ceiling, after=None):
        self.path = path
        self.first = self.last = self.first_time = self.last_time = None
        self.start_offset = None       # of the first record above ``after``
        self.zxids = []                # (first, last) runs are enough; keep the list small
        self.count = 0
        reader = txnlog.LogReader(path, decode=False, stop_after=ceiling)
        prev_end = txnlog.HEADER_SIZE
        try:
            for raw in reader:
                _cid, _cxid, z, t, _type = peek_header(raw)
                if after is not None and z <= after:
                    prev_end = reader.end_offset
                    continue
                if self.start_offset is None:
                    self.start_offset = prev_end
                if self.first is None:
                    self.first, self.first_time = z, t
                self.last, self.last_time = z, t
                self.count += 1
                self._track(z)
                prev_end = reader.end_offset
        except (IOError, OSError) as exc:
            raise SourceError("cannot read %s: %s" % (path, exc))
        if reader.errors:
            err = reader.errors[0]
            raise SourceError("%s is damaged at offset %s: %s. The member's own data is unusable from "
                              "there; back up another member" % (path, err["offset"], err["message"]))
        self.end_offset = reader.end_offset
        self.size = reader.size

    def _track(self, z):
        if self.zxids and txnlog.follows(self.zxids[-1][1], z):
            self.zxids[-1][1] = z
        else:
            self.zxids.append([z, z])


def _continue(cur, runs, path):
    """Walk the zxid runs of one log from ``cur``; return the new cur or raise on a gap."""
    for a, b in runs:
        if b <= cur:
            continue
        if a > cur and not txnlog.follows(cur, a):
            raise SourceError("transactions are missing between %s and %s (before %s): the member's logs "
                              "have a gap; back up another member"
                              % (hexzxid(cur), hexzxid(a), os.path.basename(path)))
        cur = b
    return cur


def _choose_snapshot(snaps, ceiling, warnings):
    for z, p in snaps:
        if ceiling is not None and z > ceiling:
            continue
        try:
            info = read_snapshot(p)
        except (IOError, OSError) as exc:
            warnings.append("%s is unreadable (%s); using an older snapshot" % (os.path.basename(p), exc))
            continue
        except FormatError as exc:
            warnings.append("%s is not a valid snapshot (%s); using an older snapshot" % (os.path.basename(p), exc))
            continue
        if info.unreadable:
            warnings.append("%s could not be checked (%s); it is copied as it is" % (info.name, info.unreadable))
            return z, p, z
        if not info.valid:
            warnings.append("%s is not a valid snapshot (%s; a snapshot being written looks like this); "
                            "using an older snapshot" % (info.name, info.errors[0]["message"]))
            continue
        return z, p, info.end_zxid
    return None


def _read_epochs(plan, epochs):
    entries = []
    for key, name in (("current", "currentEpoch"), ("accepted", "acceptedEpoch")):
        p = epochs.get(name)
        if p is None:
            continue
        try:
            with archive_mod.open_plain(p) as f:
                content = f.read(64)
            plan.epochs[key] = datadir.read_epoch(p)
        except (IOError, OSError, ValueError) as exc:
            raise SourceError("cannot read %s: %s" % (p, exc))
        entries.append(Entry(DATA_PREFIX + name, [content], {"role": "epoch", "source": p}))
    return entries


def plan_full(data_dir, data_log_dir=None, ceiling=None):
    """The full backup of a member's data directories (see the module docstring)."""
    plan = Plan("full")
    snaps, logs, epochs = source_files(data_dir, data_log_dir)
    if not snaps:
        raise SourceError("no snapshot in %s: %s" % (
            datadir.version_dir(data_dir),
            "ZooKeeper would refuse to start from these logs" if logs else "nothing to back up"))
    chosen = _choose_snapshot(snaps, ceiling, plan.warnings)
    if chosen is None:
        raise SourceError("no valid snapshot in %s (%s)" % (datadir.version_dir(data_dir), "; ".join(plan.warnings)))
    s_zxid, s_path, s_end = chosen
    plan.snapshot_zxid, plan.snapshot_path = s_zxid, s_path
    # A snapshot written after the ceiling was read (a hot backup under writes) can hold
    # transactions above it. The member applied every transaction of its snapshot, so they
    # are committed: the logs are taken up to the snapshot's last zxid at least.
    if ceiling is not None and s_end is not None and s_end > ceiling:
        ceiling = s_end
    st = _account(plan, s_path)
    plan.entries.append(Entry(DATA_PREFIX + os.path.basename(s_path), [FilePart(s_path, 0, st.st_size)],
                              {"role": "snapshot", "source": s_path, "zxid": hexzxid(s_zxid),
                               "source_size": st.st_size}))
    start = 0
    for z, _p in logs:
        if z <= s_zxid:
            start = z
    cur = s_zxid
    taken = set()
    for listing in (1, 2):
        for z, p in logs:
            if p in taken or z < start or (ceiling is not None and z > ceiling):
                continue
            scan = _LogScan(p, ceiling)
            if scan.count == 0:
                continue
            cur = _continue(cur, scan.zxids, p)
            taken.add(p)
            _account(plan, p)
            plan.log_paths.append(p)
            plan.records += scan.count
            if plan.first_zxid is None:
                plan.first_zxid, plan.first_time = scan.first, scan.first_time
            plan.last_time = scan.last_time
            plan.entries.append(Entry(LOG_PREFIX + os.path.basename(p), [FilePart(p, 0, scan.end_offset)],
                                      {"role": "log", "source": p, "source_size": scan.size,
                                       "first_zxid": hexzxid(scan.first), "last_zxid": hexzxid(scan.last)}))
        if cur >= s_end or listing == 2:
            break
        # ZooKeeper starts a new log as it starts a snapshot: a log that appeared after the
        # listing above can hold transactions the snapshot read since already has. List
        # again and take the logs that are new.
        _snaps, logs, epochs = source_files(data_dir, data_log_dir)
    plan.last_zxid = cur
    if cur < s_end:
        raise SourceError("the logs reach only %s, but the snapshot %s is consistent only from %s on: "
                          "the member's logs are incomplete; back up another member"
                          % (hexzxid(cur), os.path.basename(s_path), hexzxid(s_end)))
    plan.entries.extend(_read_epochs(plan, epochs))
    current = plan.epochs["current"]
    if current is not None and current < zxid_mod.epoch(cur):
        raise SourceError("currentEpoch %s is older than the epoch of the last zxid %s: the member is "
                          "changing epochs; retry" % (current, hexzxid(cur)))
    return plan


def plan_logs(data_log_dir, after, ceiling=None):
    """The transaction records after zxid ``after`` (see the module docstring)."""
    plan = Plan("logs")
    plan.base_zxid = after
    logs = _logs_only(data_log_dir)
    start = None
    for z, _p in logs:
        if z <= after:
            start = z
    cur = after
    for z, p in logs:
        if start is not None and z < start:
            continue
        if ceiling is not None and z > ceiling:
            break
        scan = _LogScan(p, ceiling, after=after)
        if scan.count == 0:
            continue
        if plan.first_zxid is None:
            if not txnlog.follows(after, scan.first):
                raise SourceError("the member's logs no longer hold the transactions right after %s (its oldest "
                                  "log begins at %s): the shipped logs cannot continue from here. Take a full "
                                  "backup, which starts a new chain" % (hexzxid(after), hexzxid(scan.first)))
            plan.first_zxid, plan.first_time = scan.first, scan.first_time
        cur = _continue(cur, scan.zxids, p)
        plan.last_time = scan.last_time
        plan.records += scan.count
        _account(plan, p)
        plan.log_paths.append(p)
        plan.entries.append(Entry(
            LOG_PREFIX + "log.%x" % scan.first,
            [LOG_HEADER, FilePart(p, scan.start_offset, scan.end_offset - scan.start_offset)],
            {"role": "log", "source": p, "source_size": scan.size, "source_offset": scan.start_offset,
             "first_zxid": hexzxid(scan.first), "last_zxid": hexzxid(scan.last)}))
    plan.last_zxid = cur if plan.entries else after
    return plan


def _logs_only(data_log_dir):
    log_dir = datadir.version_dir(data_log_dir)
    if not os.path.isdir(log_dir):
        raise SourceError("%s does not exist or is not a directory" % log_dir)
    logs = []
    for p in datadir.list_dir(log_dir):
        kind, z = datadir.classify(os.path.basename(p))
        if kind == "log":
            logs.append((z, p))
    logs.sort()
    return logs
