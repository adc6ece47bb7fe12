# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lay down the data a member is restored to, next to its live data (the staged copy).

The staged copy is complete and verified before anything of the member is touched, and
the server may keep running meanwhile: putting it in place later (restore/swap.py) is a
rename.  Steps:

1. Read the archives (restore/fetch.py) and unpack them (restore/extract.py), checking
   every file against its manifest and the archive's bytes against the SHA-256 the
   backup host verified.
2. For a point in time: take the full backup's files and the shipped log chunks after
   it (a chunk overlapping what comes before it is trimmed to the transactions after),
   and cut the logs at the target (formats/surgery.py); the snapshot chosen does not reach past
   the target.
3. Write the epoch files so that they agree with the data: both hold the epoch of the
   last zxid restored.  (A restored ensemble then elects a new epoch right after it, and
   a client that has seen a later zxid of the ensemble before the restore is refused, so
   it notices the rollback, rather than resuming a session on older data.)
4. Verify the staged files as ZooKeeper would load them (formats/datadir.py): restorable, no
   gap, epochs; with ``deep`` replay them for the znode count and the tree digest.
5. Write the restore marker, set owner and modes (the ZooKeeper user, 0750/0640),
   flush every file to stable storage, record the files with their SHA-256 in the
   restore's state file.

Any failure removes what was staged: nothing partial is left looking complete.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import hashlib
import os
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import contents as backup_source
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress as progress_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import extract as restore_extract
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import layout as L
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import surgery
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import FormatError
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

SPACE_MARGIN = 1.1
COPY_CHUNK = 1 << 20


class StageError(Exception):
    pass


def sha256_file(path, sync=False):
    """The SHA-256 of a file; with ``sync`` the file is also flushed to stable storage."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            data = f.read(COPY_CHUNK)
            if not data:
                break
            h.update(data)
        if sync:
            os.fsync(f.fileno())
    return h.hexdigest()


def file_list(version_dirs, sync=False):
    """[{name, part, size, sha256}] of the staged files (the marker left out), and the
    digest of that list: two members with the same list digest hold the same files.
    With ``sync`` every file and directory is flushed to stable storage on the way."""
    out = []
    for part, vdir in version_dirs:
        for e in L.files_of(vdir):
            out.append({"name": e["name"], "part": part, "size": e["size"],
                        "sha256": sha256_file(os.path.join(vdir, e["name"]), sync)})
        if sync:
            L.fsync_dir(vdir)
    out.sort(key=lambda e: (e["part"], e["name"]))
    h = hashlib.sha256()
    for e in out:
        h.update(("%s/%s %d %s\n" % (e["part"], e["name"], e["size"], e["sha256"])).encode("utf-8"))
    return out, h.hexdigest()


def _free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def check_space(layout, sources, point_in_time):
    """Raise StageError unless the data directories' file systems can hold the staged copy."""
    need = 0
    for s in sources:
        need += int(((s.manifest or {}).get("totals") or {}).get("bytes") or 0)
    if point_in_time:
        need *= 2          # the archives are unpacked once, then cut into the staged copy
    need = int(need * SPACE_MARGIN)
    seen = set()
    for _which, root in layout.roots():
        dev = os.stat(root).st_dev
        if dev in seen:
            continue
        seen.add(dev)
        free = _free(root)
        if free < need:
            raise StageError("%s has %d MB free, the staged copy needs about %d MB: free some space (old "
                             "pre-restore copies: state cleaned) and retry; nothing was changed"
                             % (root, free // 1000000, need // 1000000))
    return need


def _write_parts(dst, parts):
    """Write a file made of bytes and FileParts (backup_source's entries)."""
    with open(dst, "xb") as out:
        for part in parts:
            if isinstance(part, (bytes, bytearray)):
                out.write(part)
                continue
            with open(part.path, "rb") as f:
                f.seek(part.offset)
                left = part.length
                while left > 0:
                    data = f.read(min(COPY_CHUNK, left))
                    if not data:
                        raise StageError("%s ended early while it was copied" % part.path)
                    out.write(data)
                    left -= len(data)
        out.flush()
        os.fsync(out.fileno())


def _continue_chain(chunk_dir, cur, out_dir):
    """The logs of one shipped chunk, trimmed to the transactions after ``cur``; returns
    (paths, new cur).  A chunk wholly before ``cur`` gives nothing."""
    try:
        plan = backup_source.plan_logs(chunk_dir, cur)
    except (backup_source.SourceError, FormatError) as exc:
        raise StageError("a shipped log chunk does not continue the backup at %s: %s" % (hexzxid(cur), exc))
    if plan.empty:
        return [], cur
    os.makedirs(out_dir)
    paths = []
    for m in plan.entries:
        dst = os.path.join(out_dir, m.name.rsplit("/", 1)[-1])
        _write_parts(dst, m.parts)
        paths.append(dst)
    return paths, plan.last_zxid


def _unpack(source, dest, work, on_read=None):
    """Unpack one archive into ``dest`` (its version-2 receives every part)."""
    stream = source.open(on_read)
    try:
        inner, _written = restore_extract.extract(stream, {"data": dest, "datalog": dest}, work, expect=source.manifest)
        checked = source.check()
        source.check_inner(inner)
        return checked
    finally:
        source.close()


def _version_files(vdir):
    return [os.path.join(vdir, e["name"]) for e in L.files_of(vdir)]


class Stager:
    """Stage restore ``rid`` below the data directories of ``layout``."""

    def __init__(self, layout, rid, owner, limit=None, progress=None):
        self.layout = layout
        self.rid = L.check_restore_id(rid)
        self.owner = owner
        self.limit = limit
        # A progress.Tracker: the stages, and the archives' bytes read.
        self.progress = progress if progress is not None else progress_mod.Tracker(None, "restore staging")
        self.staged = [(which, layout.part(root, rid, L.STAGED)) for which, root in layout.roots()]
        self.fetched = []
        # With a number: the lowest epoch the staged epoch files may hold (epoch()).
        self.epoch_floor = None

    def epoch(self, data_epoch):
        """The epoch the staged epoch files hold: the data's, or with ``epoch_floor`` (a
        restore of the whole ensemble) the highest of it, the floor and the member's own
        epoch files, so that the restored ensemble begins an epoch after every one its
        history and its backups know, and its zxids are new to the backup hosts."""
        if self.epoch_floor is None:
            return data_epoch
        out = max(data_epoch, int(self.epoch_floor))
        for _which, root in self.layout.roots():
            for name in datadir.EPOCH_FILES:
                try:
                    with open(os.path.join(self.layout.live(root), name)) as f:
                        out = max(out, int(f.read().strip()))
                except (IOError, OSError, ValueError):
                    pass
        return out

    def staged_version_dirs(self):
        return [(which, os.path.join(d, L.VERSION_DIR)) for which, d in self.staged]

    def snap_dir(self):
        return os.path.join(self.staged[0][1], L.VERSION_DIR)

    def log_dir(self):
        return os.path.join(self.staged[-1][1], L.VERSION_DIR)

    def existing(self):
        """The state of this restore when its staged copy is complete, else None."""
        state = self.layout.read_state(self.rid)
        if state and state.get("phase") == "staged" and all(
                os.path.isdir(v) for _w, v in self.staged_version_dirs()):
            return state
        return None

    def discard(self):
        for which, d in self.staged:
            if os.path.lexists(d):
                L.remove_tree(d, self.layout.root(which))
        work = os.path.join(self.layout.restore_dir(self.layout.data_dir, self.rid), "work")
        if os.path.lexists(work):
            L.remove_tree(work, self.layout.data_dir)

    def run(self, sources, target_zxid=None, target_time=None, deep=False, describe=None):
        """Stage from ``sources`` (ArchiveSources: the full backup first, then shipped
        chunks in order; none for an empty data directory).  Returns the state dict."""
        self.layout.make_area(self.rid)
        self.discard()          # debris of an interrupted staging of the same restore
        t0 = time.time()
        pit = target_zxid is not None or target_time is not None or len(sources) > 1
        try:
            if sources:
                check_space(self.layout, sources, pit)
            if not sources:
                for _which, v in self.staged_version_dirs():
                    os.makedirs(v)
            elif not pit:
                self._fetch_stage(sources)
                self._plain(sources[0])
            else:
                self._fetch_stage(sources)
                target_zxid = self._point_in_time(sources, target_zxid, target_time)
            self.progress.stage("replay and check as ZooKeeper loads" if deep else "check as ZooKeeper loads")
            rep = self._verify(bool(sources), deep)
            self.progress.stage("flush to disk")
            state = self._finish(rep, sources, target_zxid, target_time, describe, t0)
        except BaseException:
            self.discard()
            raise
        return state

    # --- laying down ------------------------------------------------------------------
    def _fetch_stage(self, sources):
        sizes = [s.size for s in sources]
        self.progress.stage("fetch and unpack", total=sum(sizes) if None not in sizes else None, unit="bytes")

    def _plain(self, source):
        dests = {"data": self.staged[0][1], "datalog": self.staged[-1][1]}
        work = os.path.join(self.layout.restore_dir(self.layout.data_dir, self.rid), "extract")
        stream = source.open(self.progress.add)
        try:
            inner, _written = restore_extract.extract(stream, dests, work, expect=source.manifest)
            self.fetched.append(dict(source.check(), backup_id=source.backup_id))
            source.check_inner(inner)
        finally:
            source.close()
        # The epoch files are written from the data later (_verify); removed without following links.
        for which, _d in self.staged:
            fd = L.open_dir(self.layout.root(which), [L.AREA, self.rid, L.STAGED, L.VERSION_DIR])
            try:
                for name in datadir.EPOCH_FILES:
                    try:
                        os.unlink(name, dir_fd=fd)
                    except OSError as exc:
                        if exc.errno != errno.ENOENT:
                            raise
            finally:
                os.close(fd)

    def _point_in_time(self, sources, target_zxid, target_time):
        work = os.path.join(self.layout.restore_dir(self.layout.data_dir, self.rid), "work")
        os.mkdir(work, 0o700)
        paths = []
        cur = None
        for i, src in enumerate(sources):
            dest = os.path.join(work, "%02d" % i)
            self.fetched.append(dict(_unpack(src, dest, os.path.join(work, "x%02d" % i), self.progress.add),
                                     backup_id=src.backup_id))
            vdir = os.path.join(dest, L.VERSION_DIR)
            if i == 0:
                files = [p for p in _version_files(vdir)
                         if datadir.classify(os.path.basename(p))[0] in ("snapshot", "log")]
                paths.extend(files)
                last = (src.manifest.get("zxid") or {}).get("last")
                cur = zxid_mod.from_record(last)
                if cur is None:
                    raise StageError("the manifest of %s gives no last zxid" % src.backup_id)
                continue
            more, cur = _continue_chain(dest, cur, os.path.join(work, "t%02d" % i))
            paths.extend(more)
        self.progress.stage("cut at the target")
        logs = sorted((p for p in paths if datadir.classify(os.path.basename(p))[0] == "log"),
                      key=lambda p: datadir.classify(os.path.basename(p))[1])
        if target_time is not None:
            z = datadir.zxid_at_time(logs, target_time)
            if z is None:
                raise StageError("no transaction of these backups was logged at or before the target time")
            target_zxid = z if target_zxid is None else min(z, target_zxid)
        if target_zxid is None:
            target_zxid = cur
        try:
            surgery.truncate_files(paths, target_zxid, self.snap_dir(), self.log_dir())
        except FormatError as exc:
            raise StageError(str(exc))
        L.remove_tree(work, self.layout.data_dir)
        return target_zxid

    # --- checks and bookkeeping ---------------------------------------------------------
    def _staged_paths(self):
        out = []
        for _which, v in self.staged_version_dirs():
            out.extend(_version_files(v))
        return out

    def _verify(self, has_data, deep):
        if not has_data:
            return None
        kw = {"deep": deep}
        if self.limit:
            kw["limit"] = self.limit
        rep = datadir.verify_files(self._staged_paths(), **kw)
        if not rep["restorable"]:
            if rep["unreadable_here"] and set(rep["reasons"]) <= set(rep["unreadable_here"]):
                raise StageError("this host cannot read the restored files: %s"
                                 % "; ".join(rep["unreadable_here"]))
            raise StageError("the restored files would not give a working member: %s"
                             % "; ".join(rep["reasons"]))
        # The epoch files are written below, from the data.
        rep["warnings"] = [w for w in rep["warnings"] if not w.startswith(("no currentEpoch", "no acceptedEpoch"))]
        last = zxid_mod.from_record(rep["last_zxid"])
        epoch = str(self.epoch(zxid_mod.epoch(last))) + "\n"
        for name in datadir.EPOCH_FILES:
            p = os.path.join(self.snap_dir(), name)
            with open(p, "x") as f:
                f.write(epoch)
                f.flush()
                os.fsync(f.fileno())
        return rep

    def _finish(self, rep, sources, target_zxid, target_time, describe, t0):
        marker = {
            "restore_id": self.rid,
            "staged": times.iso_now(),
            "source": describe or ("empty" if not sources else "archive"),
            "backup_ids": [s.backup_id for s in sources],
            "target_zxid": hexzxid(target_zxid),
            "target_time": target_time,
            "last_zxid": rep["last_zxid"] if rep else None,
            "snapshot_zxid": rep["snapshot_zxid"] if rep else None,
            "epoch": self.epoch(zxid_mod.epoch(zxid_mod.from_record(rep["last_zxid"]))) if rep else None,
            "expected": None,
        }
        if rep and rep.get("digest"):
            marker["expected"] = {"digest": rep["digest"], "typed_digest": rep.get("typed_digest"),
                                  "znode_count": rep.get("znode_count"), "zxid": rep["last_zxid"],
                                  "znodes": rep.get("znodes"), "ephemeral_znodes": rep.get("ephemeral_znodes"),
                                  "digest_version": rep.get("digest_version"), "source": "replay"}
        # Flushed now, while the servers still run: the staged copy is durable before the live
        # data is moved aside, and no write-back of it competes with the servers' start.
        files, set_digest = file_list(self.staged_version_dirs(), sync=True)
        marker["set_digest"] = set_digest
        for _which, v in self.staged_version_dirs():
            L.write_marker(v, marker)
        for which, d in self.staged:
            L.set_owner_tree(d, self.owner, root=self.layout.root(which))
        state = dict(marker, phase="staged", files=files, fetched=self.fetched,
                     warnings=(rep or {}).get("warnings", []),
                     staged_seconds=round(time.time() - t0, 3))
        self.layout.write_state(self.rid, state)
        return state


def remove_staged(layout, rid):
    """Remove the staged copy of ``rid`` (and its work files), if any."""
    Stager(layout, rid, None).discard()
