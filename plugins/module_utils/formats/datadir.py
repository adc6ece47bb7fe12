# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files of a ZooKeeper data directory (dataDir, and dataLogDir when separate), and
what of them a server can restore from (``persistence/FileTxnSnapLog.java``).

``verify_files(paths)`` takes any set of files (a data directory's, or an archive's
once extracted) by path and classifies them by name, by data_files' rule (ZooKeeper's):

    snapshot.<hex zxid>[.gz|.snappy]   snapshots
    log.<hex zxid>                     transaction logs
    currentEpoch, acceptedEpoch        the member's epochs (decimal text)

The restorable set is what ZooKeeper loads on start: the newest valid snapshot, the
newest log that began at or before it and every log after that.  It is restorable when
the logs continue the snapshot without a gap up to at least the snapshot's digest zxid
(a snapshot is fuzzy: only snapshot plus logs up to there is consistent), no record they
need is damaged, and the epoch files agree with the last zxid.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import (
    DEFAULT_LIMIT, FormatError)
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import data_files
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import replay as _replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.snapshot import read_snapshot
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.txnlog import (
    LogReader, follows, scan_log)
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import epoch as epoch_of
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

VERSION_DIR = data_files.VERSION_DIR
EPOCH_FILES = data_files.EPOCH_NAMES

# The names of data files have one rule, data_files'.
classify = data_files.classify
version_dir = data_files.version_dir
read_epoch = data_files.read_epoch


def list_dir(path):
    if not os.path.isdir(path):
        return []
    return sorted(os.path.join(path, n) for n in os.listdir(path)
                  if os.path.isfile(os.path.join(path, n)))


def zxid_at_time(log_paths, target_time, limit=DEFAULT_LIMIT):
    """The zxid of the last transaction before the first one logged after
    ``target_time`` (ms since the epoch), or None when the first is already later."""
    last = None
    for path in log_paths:
        for txn in LogReader(path, limit=limit):
            if txn.time > target_time:
                return last
            last = txn.zxid
    return last


def _fmt_findings(findings):
    out = []
    for f in findings:
        where = " (offset %d)" % f["offset"] if f.get("offset") is not None else ""
        out.append("%s%s" % (f["message"], where))
    return out


def _log_entry(scan):
    e = {k: scan[k] for k in ("name", "path", "type", "size", "zxid", "records", "end_offset",
                              "end", "valid")}
    e["first_zxid"] = hexzxid(scan["first_zxid"])
    e["last_zxid"] = hexzxid(scan["last_zxid"])
    e["first_time"] = scan["first_time"]
    e["last_time"] = scan["last_time"]
    e["gaps"] = scan["gaps"]
    e["errors"] = _fmt_findings(f for f in scan["findings"] if f["severity"] == "error")
    e["warnings"] = _fmt_findings(f for f in scan["findings"] if f["severity"] == "warning")
    e["checked"] = True
    return e


def _snap_entry(info):
    d = info.to_dict()
    d.pop("findings")
    d["errors"] = _fmt_findings(f for f in info.findings if f["severity"] == "error")
    d["warnings"] = _fmt_findings(f for f in info.findings if f["severity"] == "warning")
    d["checked"] = True
    return d


class Loader:
    """The replay of the restorable set, made while verify_files() verifies it, so that
    every file is read once.

    The read that verifies the chosen snapshot also loads it (replay.read_tree, with
    the depth-first check of the verifying read: the same findings); the scans that
    verify the logs after it apply their transactions to it (replay.Replayer), as far
    as the replay reads them in the same order.  ``finish()`` reads what no scan fed
    and returns the tree and result of ``replay.replay()`` over the same files and
    target, or None when it cannot tell that they are the same (then replay() it).
    Memory: one tree, as the replay needs; never more.
    """

    def __init__(self, limit=DEFAULT_LIMIT, zk_digest=True):
        self.limit = limit
        self.zk_digest = zk_digest
        self.loaded = None          # (path, tree, info) of the last snapshot read
        self.begun = False
        self.replayer = None
        self.chain = []             # the logs the replay reads, in order
        self.fed = 0                # how many of them the scans applied
        self.failed = False
        self.read_once = False

    def read_snapshot(self, path):
        """Verify a snapshot (SnapshotInfo); load it while no replay has begun."""
        if self.begun:
            return read_snapshot(path, limit=self.limit)
        self.loaded = None          # one tree at a time
        tree, info = _replay.read_tree(path, self.zk_digest, self.limit, depth_first=True)
        if info.valid:
            self.loaded = (path, tree, info)
        return info

    def begin(self, snapshot_path, log_paths, target_zxid):
        """The snapshot is chosen; the replay reads ``log_paths`` after it, up to
        ``target_zxid`` (None: to the end)."""
        self.begun = True
        loaded, self.loaded = self.loaded, None
        if loaded is not None and loaded[0] == snapshot_path:
            self.replayer = _replay.Replayer(loaded[1], loaded[2], target_zxid,
                                             zk_digest=self.zk_digest)
            self.chain = list(log_paths)

    def drop(self):
        self.loaded = self.replayer = None

    def feeder(self, path):
        """A _Feed for the scan of ``path`` when the replay reads that log next, else None."""
        rp = self.replayer
        if (rp is None or rp.done or self.failed or self.fed >= len(self.chain)
                or self.chain[self.fed] != path):
            return None
        return _Feed(self, rp)

    def scanned(self, path, scan, feed):
        """The scan of ``path`` that ``feed`` fed has ended."""
        self.fed += 1
        if self.failed:
            return
        try:
            self.replayer.end_log(path, None if not feed.reading else [
                f for f in scan["findings"] if f["severity"] == "error"])
        except FormatError:
            self.failed = True       # replay() raises it again

    def finish(self, log_paths, target_zxid):
        """(tree, result) of replay.replay(snapshot, ``log_paths``, ``target_zxid``) from
        what the verification read, or None.  ``read_once`` then tells whether no log
        needed a second read."""
        rp, self.replayer = self.replayer, None
        if rp is None or self.failed or list(log_paths[:self.fed]) != self.chain[:self.fed]:
            return None
        self.read_once = rp.done or self.fed == len(log_paths)
        try:
            rp.read_logs(log_paths[self.fed:], self.limit)
        except FormatError:
            return None
        if target_zxid != rp.target_zxid:
            # Replayed to another target: the same transactions exactly when the zxids
            # only went up and the replay ended at ``target_zxid`` (a replay to that
            # target applies everything up to the first transaction at or above it).
            if not rp.increasing or rp.tree.last_zxid != target_zxid:
                return None
            rp.target_zxid = target_zxid
            rp.stopped = "target_zxid" if rp.applied else None
        return rp.tree, rp.result()


class _Feed:
    """on_txn of one log's scan: applies its transactions until the replay stops reading."""

    def __init__(self, loader, replayer):
        self.loader = loader
        self.replayer = replayer
        self.reading = True

    def __call__(self, txn):
        if not self.reading:
            return
        try:
            self.reading = self.replayer.take(txn)
        except Exception:  # the verification goes on; replay() meets the error itself
            self.loader.failed = True
            self.reading = False


class _Files:
    """The files given, classified by name, with their checks done once and cached."""

    def __init__(self, paths, limit, loader=None):
        self.limit = limit
        self.loader = loader
        self.entries = {}
        self.snaps, self.logs, self.epochs = [], [], {}
        self.scans, self.infos = {}, {}
        self.unreadable = set()
        for p in paths:
            name = os.path.basename(p)
            kind, z = classify(name)
            try:
                size = os.path.getsize(p)
            except OSError:
                size = None
            e = self.entries[p] = {
                "name": name, "path": p, "type": kind, "size": size,
                "zxid": hexzxid(z) if kind in ("snapshot", "log") else None,
                "checked": False, "valid": None, "errors": [], "warnings": []}
            if kind == "snapshot":
                self.snaps.append((z, p))
                if not data_files.is_canonical(name):
                    e["warnings"].append("unusual name: ZooKeeper reads it as the snapshot %s" % hexzxid(z))
            elif kind == "log":
                self.logs.append((z, p))
                if not data_files.is_canonical(name):
                    e["warnings"].append("unusual name: ZooKeeper reads it as the log %s" % hexzxid(z))
            elif kind == "epoch":
                self.epochs[z] = p
        self.snaps.sort(key=lambda t: t[0], reverse=True)
        self.logs.sort(key=lambda t: t[0])

    def name(self, p):
        return self.entries[p]["name"]

    def _merge(self, p, checked):
        e = self.entries[p]
        warnings = e["warnings"] + checked.pop("warnings")
        e.update(checked)
        e["warnings"] = warnings

    def scan(self, p):
        if p not in self.scans:
            feed = self.loader.feeder(p) if self.loader is not None else None
            self.scans[p] = scan_log(p, limit=self.limit, on_txn=feed)
            if feed is not None:
                self.loader.scanned(p, self.scans[p], feed)
            self._merge(p, _log_entry(self.scans[p]))
        return self.scans[p]

    def snapshot(self, p):
        if p not in self.infos:
            if self.loader is not None:
                self.infos[p] = self.loader.read_snapshot(p)
            else:
                self.infos[p] = read_snapshot(p, limit=self.limit)
            self._merge(p, _snap_entry(self.infos[p]))
        return self.infos[p]


def _choose_snapshot(files, target):
    """The newest valid snapshot not newer than the target and not fuzzy past it:
    (zxid, path, info) or None; and the names of newer damaged ones."""
    damaged = []
    for z, p in files.snaps:
        if target is not None and z > target:
            files.entries[p]["note"] = "newer than the target"
            continue
        info = files.snapshot(p)
        if info.unreadable:
            files.unreadable.add(info.unreadable)
            damaged.append(files.name(p))
            continue
        if not info.valid:
            damaged.append(files.name(p))
            continue
        # The content may hold one transaction past the recorded end (see formats/replay.py):
        # at the target itself only when nothing was logged after it.
        if target is not None and (info.end_zxid > target or (
                info.end_zxid == target and _logged_after(files, target))):
            files.entries[p]["note"] = "its content may reach past the target (%s)" % hexzxid(info.end_zxid)
            continue
        return (z, p, info), damaged
    return None, damaged


def _logged_after(files, zxid):
    for z, p in files.logs:
        runs = files.scan(p)["runs"]
        if runs and runs[-1][1] > zxid:
            return True
    return False


def _walk_logs(files, s_zxid, s_path, target):
    """Follow the zxids from the snapshot through the logs ZooKeeper would read.

    Returns (needed log paths, last zxid reached, gaps, damage) where damage is None or
    (log path, finding, last whole zxid before it).
    """
    # FileTxnLog.getLogFiles: the newest log that began at or before the snapshot, and
    # every later one.
    start = 0
    for z, _x in files.logs:
        if z > s_zxid:
            break
        start = max(start, z)
    cand = [p for z, p in files.logs if z >= start and (target is None or z <= max(target, start))]
    if files.loader is not None:
        files.loader.begin(s_path, cand, target)
    cur = s_zxid
    needed, gaps, overlaps, damage = [], [], [], None
    for i, p in enumerate(cand):
        sc = files.scan(p)
        needed.append(p)
        for a, b in sc["runs"]:
            if target is not None and a > target:
                break
            if b <= cur:
                continue
            if a > cur and not follows(cur, a):
                gaps.append({"after": hexzxid(cur), "before": hexzxid(a), "file": files.name(p),
                             "kind": "intra-epoch" if epoch_of(a) == epoch_of(cur) else "inter-epoch"})
                if damage is None:
                    damage = (p, None, cur)
            elif a <= cur and i > 0:
                overlaps.append("%s repeats zxids %s to %s of an earlier log"
                                % (files.name(p), hexzxid(a), hexzxid(cur)))
            cur = b
        if not sc["valid"] and damage is None and (target is None or cur < target):
            err = [f for f in sc["findings"] if f["severity"] == "error"][0]
            damage = (p, err, cur)
    return needed, cur, gaps, overlaps, damage


def verify_files(paths, limit=DEFAULT_LIMIT, scope="restorable", deep=False, target_zxid=None,
                 target_time=None, include_ephemeral=False, zk_digest=True, loader=None):
    """Verify a set of files (paths) and find what can be restored from them.

    ``scope`` 'restorable' checks what a restore needs (snapshots from the newest down
    to the first valid one, the logs from there on); 'all' checks every file.
    ``target_zxid``/``target_time`` (ms since the epoch) ask for the state at that point
    instead of the latest.  ``deep`` replays the restorable set and adds the znode count
    and the digests.  Returns a JSON-friendly dict: ``restorable`` says whether a server
    can start from these files with the state they describe, ``reasons`` why not, and
    ``restorable_until`` the last zxid a point-in-time restore could still reach when
    damage or a gap stops the logs.

    A ``Loader`` given as ``loader`` builds the replay of the restorable set while the
    files are verified: each file is read once, and the whole tree is in memory.
    Without one, ``deep`` replays with replay.replay_summary() once the files are
    verified: memory follows what the logs touch, not the tree.
    """
    files = _Files(paths, limit, loader)
    rep = {
        "files": [], "restorable": False, "reasons": [], "warnings": [],
        "restorable_set": None, "restorable_until": None, "last_zxid": None,
        "snapshot_zxid": None, "gaps": [], "epochs": {}, "target_zxid": None,
        "target_time": target_time, "unreadable_here": [],
    }
    reasons, warnings = rep["reasons"], rep["warnings"]

    target_zxid = _resolve_target(files, target_zxid, target_time, limit, reasons)
    rep["target_zxid"] = hexzxid(target_zxid)

    chosen, damaged_snaps = _choose_snapshot(files, target_zxid)
    last = None
    needed = []
    if files.snaps and chosen is not None:
        needed, last = _check_chain(rep, files, chosen, damaged_snaps, target_zxid)
    else:
        _why_no_snapshot(files, reasons)
    _check_epochs(rep, files.epochs, last)

    if scope == "all":
        _check_the_rest(files, chosen, needed, reasons, warnings)

    rep["restorable"] = chosen is not None and not reasons
    rep["unreadable_here"] = sorted(files.unreadable)
    rep["files"] = [files.entries[p] for p in sorted(files.entries, key=lambda q: (
        files.entries[q]["type"], files.entries[q]["name"]))]

    if deep and (rep["restorable"] or rep["restorable_until"]):
        upto = target_zxid if rep["restorable"] else zxid_mod.from_record(rep["restorable_until"])
        _deep(rep, chosen[1], needed, upto, include_ephemeral, zk_digest, limit, loader)
    elif loader is not None and chosen is None:
        loader.drop()
    return rep


def verdict(what, rep):
    """The message for a report that is not restorable.  When a library missing on this
    host kept files from being read, the files were not judged: the message says that this
    host cannot read them, not that they cannot be restored."""
    hint = ""
    if rep.get("restorable_until"):
        hint = " A point-in-time restore can still reach %s." % rep["restorable_until"]
    here = rep.get("unreadable_here") or []
    others = [r for r in rep["reasons"] if r not in here]
    if here and not others:
        return ("this host cannot read %s: %s; the files were not judged damaged: read them "
                "on a host that has the library" % (what, "; ".join(here)))
    if here:
        return ("%s cannot be restored: %s; besides, this host cannot read some of them: %s.%s"
                % (what, "; ".join(others), "; ".join(here), hint))
    return "%s cannot be restored: %s.%s" % (what, "; ".join(rep["reasons"]), hint)


def _resolve_target(files, target_zxid, target_time, limit, reasons):
    """The target zxid: the lower of ``target_zxid`` and the last logged transaction at
    or before ``target_time``."""
    if target_time is not None:
        z = zxid_at_time([p for _x, p in files.logs], target_time, limit)
        if z is None:
            reasons.append("no logged transaction is at or before the target time %d" % target_time)
        elif target_zxid is None or z < target_zxid:
            target_zxid = z
    return target_zxid


def _why_no_snapshot(files, reasons):
    """The reasons when no snapshot can start the restore."""
    if not files.snaps:
        reasons.append("no snapshot, but transaction logs: ZooKeeper refuses to start "
                       "(\"No snapshot found, but there are log entries\")" if files.logs
                       else "no snapshot and no transaction log: nothing to restore")
    elif files.unreadable:
        reasons.extend(sorted(files.unreadable))
    else:
        reasons.append("no usable snapshot: " + "; ".join(
            "%s: %s" % (files.name(p), (files.entries[p]["errors"] or [files.entries[p].get("note")])[0])
            for _x, p in files.snaps))


def _check_chain(rep, files, chosen, damaged_snaps, target_zxid):
    """Follow the logs from the chosen snapshot to the target (or their end) and record
    the restorable set, its gaps and damage in ``rep``: (the logs needed, the last zxid
    reached)."""
    reasons, warnings = rep["reasons"], rep["warnings"]
    s_zxid, s_path, info = chosen
    if files.unreadable:
        reasons.extend(sorted(files.unreadable))
    elif damaged_snaps:
        warnings.append("newer snapshots are damaged (%s); ZooKeeper falls back to %s as well"
                        % (", ".join(damaged_snaps), files.name(s_path)))
    needed, cur, gaps, overlaps, damage = _walk_logs(files, s_zxid, s_path, target_zxid)
    warnings.extend(overlaps)
    rep["gaps"] = gaps
    for g in gaps:
        reasons.append("transactions missing between %s and %s (%s gap, before %s)"
                       % (g["after"], g["before"], g["kind"], g["file"]))
    if damage is not None and damage[1] is not None:
        p, err, at = damage
        reasons.append("%s is damaged at offset %s: %s; the logs are whole up to %s"
                       % (files.name(p), err["offset"], err["message"], hexzxid(at)))
    last = cur if damage is None else damage[2]
    if target_zxid is not None:
        if damage is None and cur < target_zxid:
            reasons.append("the target zxid %s is past the last logged transaction %s"
                           % (hexzxid(target_zxid), hexzxid(cur)))
        last = _last_at_or_below(files, needed, s_zxid, min(last, target_zxid))
    end = info.end_zxid
    if last < end:
        reasons.append("the logs reach only %s, but snapshot %s is consistent only once "
                       "replayed to %s" % (hexzxid(last), files.name(s_path), hexzxid(end)))
    elif damage is not None:
        rep["restorable_until"] = hexzxid(last)
    rep["snapshot_zxid"] = hexzxid(s_zxid)
    rep["last_zxid"] = hexzxid(last)
    rep["restorable_set"] = {
        "snapshot": files.name(s_path), "snapshot_path": s_path,
        "logs": [files.name(p) for p in needed], "log_paths": needed,
        "first_zxid": hexzxid(s_zxid), "last_zxid": hexzxid(last),
    }
    for p in [s_path] + needed:
        for w in files.entries[p]["warnings"]:
            warnings.append("%s: %s" % (files.name(p), w))
    return needed, last


def _check_the_rest(files, chosen, needed, reasons, warnings):
    """scope 'all': read every other file too and warn of the damaged ones."""
    for _x, p in files.snaps:
        files.snapshot(p)
        if files.infos[p].unreadable and files.infos[p].unreadable not in reasons + warnings:
            warnings.append(files.infos[p].unreadable)
    for _x, p in files.logs:
        files.scan(p)
    used = set(needed) | ({chosen[1]} if chosen else set())
    for p, e in sorted(files.entries.items()):
        if p in files.infos and files.infos[p].unreadable:
            continue
        if p not in used and e["errors"]:
            warnings.append("%s (not needed for the restore) is damaged: %s" % (e["name"], e["errors"][0]))


def _deep(rep, snapshot_path, log_paths, target, include_ephemeral, zk_digest, limit, loader):
    """Replay the restorable set and add what the tree holds."""
    try:
        got = loader.finish(log_paths, target) if loader is not None else None
        if got is not None:
            tree, res = got
            summary = _replay.summarize(tree, include_ephemeral=include_ephemeral)
            del tree, got
        else:
            summary, res = _replay.replay_summary(
                snapshot_path, log_paths, target_zxid=target, zk_digest=zk_digest,
                limit=limit, include_ephemeral=include_ephemeral)
    except FormatError as exc:
        rep["reasons"].append("replay failed: %s" % exc)
        rep["restorable"] = False
        return
    res.pop("snapshot_info")
    rep["replay"] = res
    rep.update(summary)
    zd = res["zk_digest"]
    if zd and zd["mismatches"]:
        rep["warnings"].append("ZooKeeper's own digest differs from the replay at %d of %d checked "
                               "points (first at %s)" % (len(zd["mismatches"]), zd["checked"],
                                                         zd["mismatches"][0]["zxid"]))
    expect = rep["last_zxid"] if rep["restorable"] else rep["restorable_until"]
    if res["last_zxid"] != expect:
        rep["reasons"].append("the replay ended at %s, not at %s" % (res["last_zxid"], expect))
        rep["restorable"] = False


def _last_at_or_below(files, needed, floor, bound):
    """The highest zxid at or below ``bound`` that the needed logs hold (or ``floor``)."""
    best = floor
    for p in needed:
        for a, b in files.scans[p]["runs"]:
            if a <= bound:
                best = max(best, min(b, bound))
    return best


def _check_epochs(rep, epochs, last):
    """QuorumPeer.loadDataBase: currentEpoch must not be older than the last zxid's
    epoch, and acceptedEpoch not older than currentEpoch."""
    values = {}
    for name in EPOCH_FILES:
        p = epochs.get(name)
        if p is None:
            values[name] = None
            continue
        try:
            values[name] = read_epoch(p)
        except (OSError, ValueError) as exc:
            values[name] = None
            rep["reasons"].append("%s is unreadable: %s; ZooKeeper refuses to start" % (name, exc))
    rep["epochs"] = {"current": values["currentEpoch"], "accepted": values["acceptedEpoch"]}
    if last is None:
        return
    cur, acc = values["currentEpoch"], values["acceptedEpoch"]
    e = epoch_of(last)
    for name in EPOCH_FILES:
        if name not in epochs:
            rep["warnings"].append("no %s file: ZooKeeper creates it from the last zxid's epoch (%d)"
                                   % (name, e))
    if cur is not None and cur < e:
        rep["reasons"].append("currentEpoch %d is older than the epoch %d of the last zxid %s: "
                              "ZooKeeper refuses to start" % (cur, e, hexzxid(last)))
    if cur is not None and acc is not None and acc < cur:
        rep["reasons"].append("acceptedEpoch %d is less than currentEpoch %d: ZooKeeper refuses to start"
                              % (acc, cur))


def data_dir_files(data_dir, data_log_dir=None):
    """(paths, findings) of a dataDir and its dataLogDir, with ZooKeeper's own checks
    of a separate dataLogDir (FileTxnSnapLog.checkLogDir/checkSnapDir)."""
    snap_dir = version_dir(data_dir)
    log_dir = version_dir(data_log_dir or data_dir)
    problems = []
    if not os.path.isdir(snap_dir):
        problems.append("%s does not exist or is not a directory" % snap_dir)
    snap_files = list_dir(snap_dir)
    if os.path.realpath(snap_dir) == os.path.realpath(log_dir):
        return snap_files, problems, snap_dir, log_dir
    if not os.path.isdir(log_dir):
        problems.append("%s does not exist or is not a directory" % log_dir)
    log_files = list_dir(log_dir)
    paths = []
    for p in snap_files:
        kind = classify(os.path.basename(p))[0]
        if kind == "log":
            problems.append("the snapshot directory %s holds the log %s: ZooKeeper refuses to start "
                            "(\"Snapshot directory has log files\")" % (snap_dir, os.path.basename(p)))
        else:
            paths.append(p)
    for p in log_files:
        kind = classify(os.path.basename(p))[0]
        if kind == "snapshot":
            problems.append("the log directory %s holds the snapshot %s: ZooKeeper refuses to start "
                            "(\"Log directory has snapshot files\")" % (log_dir, os.path.basename(p)))
        elif kind == "log":
            paths.append(p)
    return paths, problems, snap_dir, log_dir


def verify_data_dir(data_dir, data_log_dir=None, **kw):
    """verify_files() over a dataDir (and dataLogDir); adds the directories' own checks."""
    paths, problems, snap_dir, log_dir = data_dir_files(data_dir, data_log_dir)
    rep = verify_files(paths, **kw)
    rep["snap_dir"] = snap_dir
    rep["log_dir"] = log_dir
    if problems:
        rep["reasons"] = problems + rep["reasons"]
        rep["restorable"] = False
    return rep
