# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put staged data in place, take it out again, confirm it, clean up after it.

Everything here is renames inside the data directories (restore/layout.py), so each step
is quick and leaves either the old or the new ``version-2`` in place, never a mixture:

- ``swap``: the live ``version-2`` becomes the pre-restore copy, the staged one goes live.
- ``rollback``: restored data that is live goes to ``failed``, the pre-restore copy goes
  live again.  Idempotent, and safe after a swap that stopped half-way (each data
  directory is handled on its own).
- ``confirm``: the restore was verified: its marker says so (with the digest seen).
- ``cleanup``: remove what the retention does not keep: staged copies of other restores,
  restored data taken out by a rollback, and pre-restore copies beyond the newest
  ``keep`` of confirmed or rolled-back restores.  The pre-restore copy of a restore that
  is live and not confirmed is never removed.

The server must be stopped for ``swap`` and ``rollback`` (the caller checks).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import layout as L


class SwapError(Exception):
    pass


def _is_ours(version_dir, rid):
    m = L.read_marker(version_dir)
    return bool(m) and m.get("restore_id") == rid


def _check_plain_dir(path):
    if os.path.islink(path):
        raise SwapError("%s is a symbolic link: a restore replaces a data directory's version-2 only when it "
                        "is a plain directory; point dataDir/dataLogDir at the real directory" % path)


def swapped(layout, rid):
    """True when the restored data of ``rid`` is live in every data directory."""
    return all(_is_ours(layout.live(root), rid) for _w, root in layout.roots())


def plan_swap(layout, rid):
    """What swap() would do: [{root, live_exists, staged}] (raises when it cannot)."""
    out = []
    for which, root in layout.roots():
        live = layout.live(root)
        staged = layout.part_version_dir(root, rid, L.STAGED)
        _check_plain_dir(live)
        if _is_ours(live, rid):
            out.append({"dir": which, "root": root, "action": "none"})
            continue
        if not os.path.isdir(staged):
            raise SwapError("nothing is staged for restore %s in %s: stage it first (state staged)" % (rid, root))
        out.append({"dir": which, "root": root, "action": "swap", "live_exists": os.path.isdir(live),
                    "before": L.files_of(live), "after": L.files_of(staged)})
    return out


def swap(layout, rid, owner, server_id=None):
    """Put the staged copy of ``rid`` in place; returns (changed, details)."""
    steps = plan_swap(layout, rid)
    changed = False
    state = layout.read_state(rid) or {"restore_id": rid}
    roots_before = state.setdefault("roots_before", {})
    for step in steps:
        if step["action"] == "none":
            continue
        root = step["root"]
        if root not in roots_before:
            st = os.lstat(root)
            roots_before[root] = {"uid": st.st_uid, "gid": st.st_gid, "mode": st.st_mode & 0o7777}
            layout.write_state(rid, state)
        live = layout.live(root)
        pre = layout.part(root, rid, L.PRE_RESTORE)
        staged_part = layout.part(root, rid, L.STAGED)
        if not os.path.isdir(pre):
            os.mkdir(pre, 0o700)
        if os.path.isdir(live):
            os.rename(live, os.path.join(pre, L.VERSION_DIR))
        os.rename(os.path.join(staged_part, L.VERSION_DIR), live)
        os.rmdir(staged_part)
        for d in (root, pre, layout.restore_dir(root, rid)):
            L.fsync_dir(d)
        _own_root(root, owner)
        changed = True
    myid = _ensure_myid(layout.data_dir, server_id, owner)
    if changed or state.get("phase") == "staged":
        state.update(phase="restored", swapped=times.iso_now())
        layout.write_state(rid, state)
    return changed, {"steps": steps, "myid_written": myid}


def _own_root(root, owner):
    L.own_dir(root, owner, L.DIR_MODE)


def _ensure_myid(data_dir, server_id, owner):
    """Write dataDir/myid when it is missing (never replaces one, link or file)."""
    path = os.path.join(data_dir, "myid")
    if server_id is None or os.path.lexists(path):
        return False
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w") as f:
        f.write("%d\n" % server_id)
        f.flush()
        if owner is not None:
            os.fchown(f.fileno(), owner[0], owner[1])
        os.fchmod(f.fileno(), 0o644)
    return True


def plan_rollback(layout, rid):
    out = []
    for which, root in layout.roots():
        live = layout.live(root)
        pre_v = layout.part_version_dir(root, rid, L.PRE_RESTORE)
        ours = _is_ours(live, rid)
        step = {"dir": which, "root": root, "take_out": ours,
                "put_back": os.path.isdir(pre_v), "before": L.files_of(live), "after": L.files_of(pre_v)}
        if not ours and os.path.isdir(pre_v) and os.path.lexists(live):
            raise SwapError("%s is not the data of restore %s, yet its pre-restore copy %s is still there: "
                            "look at both before moving anything by hand" % (live, rid, pre_v))
        if not ours and not step["put_back"]:
            step["after"] = step["before"]
        out.append(step)
    return out


def rollback(layout, rid):
    """Put the member back on its pre-restore data; returns (changed, steps)."""
    steps = plan_rollback(layout, rid)
    state = layout.read_state(rid)
    before = (state or {}).get("roots_before") or {}
    changed = False
    for step in steps:
        root = step["root"]
        live = layout.live(root)
        if step["take_out"]:
            failed = layout.part(root, rid, L.FAILED)
            if os.path.lexists(failed):
                L.remove_tree(failed, root)
            os.mkdir(failed, 0o700)
            os.rename(live, os.path.join(failed, L.VERSION_DIR))
            changed = True
        if step["put_back"]:
            os.rename(layout.part_version_dir(root, rid, L.PRE_RESTORE), live)
            os.rmdir(layout.part(root, rid, L.PRE_RESTORE))
            changed = True
        changed = _restore_root(root, before.get(root)) or changed
        staged = layout.part(root, rid, L.STAGED)
        if os.path.lexists(staged):
            L.remove_tree(staged, root)
            changed = True
        L.fsync_dir(root)
    if state is not None and (changed or state.get("phase") not in ("rolled_back",)):
        state.update(phase="rolled_back", rolled_back=times.iso_now())
        layout.write_state(rid, state)
    return changed, steps


def _restore_root(root, before):
    """Give a data directory back the owner and mode it had before the swap."""
    if not before:
        return False
    return L.own_dir(root, (before["uid"], before["gid"]), before["mode"])


def confirm(layout, rid, verification):
    """Record in the live markers that restore ``rid`` was verified; returns changed."""
    changed = False
    for _which, root in layout.roots():
        live = layout.live(root)
        marker = L.read_marker(live)
        if not marker or marker.get("restore_id") != rid:
            raise SwapError("the data in %s is not that of restore %s: nothing to confirm" % (live, rid))
        if marker.get("confirmed"):
            continue
        st = os.lstat(os.path.join(live, L.MARKER))
        marker.update(confirmed=times.iso_now(), verification=verification)
        L.write_marker(live, marker, owner=(st.st_uid, st.st_gid))
        changed = True
    state = layout.read_state(rid)
    if state is not None and state.get("phase") != "confirmed":
        state.update(phase="confirmed", confirmed=times.iso_now(), verification=verification)
        layout.write_state(rid, state)
    return changed


def plan_cleanup(layout, keep=1, current=None):
    """[{restore_id, dir, part, path, reason}] that cleanup() would remove."""
    live_ids = set()
    for _which, root in layout.roots():
        m = L.read_marker(layout.live(root))
        if m and m.get("restore_id"):
            live_ids.add(m["restore_id"])
    ids = layout.restore_ids()
    states = {}
    for rid in ids:
        try:
            states[rid] = layout.read_state(rid) or {}
        except L.LayoutError:
            states[rid] = {}
    # Pre-restore copies count toward ``keep`` newest first; the one of a live restore
    # that is not confirmed is always kept.
    kept = 0
    doomed = []
    for rid in sorted(ids, reverse=True):
        phase = states[rid].get("phase")
        for which, root in layout.roots():
            rdir = layout.restore_dir(root, rid)
            staged, pre, failed = (os.path.join(rdir, p) for p in (L.STAGED, L.PRE_RESTORE, L.FAILED))
            if os.path.lexists(staged) and rid != current:
                doomed.append(_item(rid, which, L.STAGED, staged, "a staged copy that was never put in place"))
            if os.path.lexists(failed):
                doomed.append(_item(rid, which, L.FAILED, failed, "restored data taken out by a rollback"))
            if os.path.lexists(pre):
                if rid in live_ids and phase != "confirmed":
                    continue
                if rid == current:
                    continue
                if which == "data":
                    kept += 1
                if kept > keep or (which != "data" and _pre_doomed(doomed, rid)):
                    doomed.append(_item(rid, which, L.PRE_RESTORE, pre,
                                        "pre-restore copy beyond the newest %d kept" % keep))
    return doomed


def _pre_doomed(doomed, rid):
    return any(d["restore_id"] == rid and d["part"] == L.PRE_RESTORE and d["dir"] == "data" for d in doomed)


def _item(rid, which, part, path, reason):
    return {"restore_id": rid, "dir": which, "part": part, "path": path, "reason": reason}


def cleanup(layout, keep=1, current=None, check_mode=False):
    """Remove what plan_cleanup() lists; returns the list with the bytes freed."""
    doomed = plan_cleanup(layout, keep, current)
    if check_mode:
        return doomed
    for d in doomed:
        d["bytes"] = L.remove_tree(d["path"], layout.root(d["dir"]))
    for rid in layout.restore_ids():
        if rid == current:
            continue
        for _which, root in layout.roots():
            _remove_if_empty(root, rid)
    return doomed


def _remove_if_empty(root, rid):
    """Remove the restore directory of ``rid`` below ``root`` when only its state file is
    left (reached without following links)."""
    try:
        area = L.open_dir(root, [L.AREA])
    except (OSError, L.LayoutError):
        return
    try:
        try:
            rfd = L.open_dir(root, [L.AREA, rid])
        except (OSError, L.LayoutError):
            return
        try:
            rest = [n for n in os.listdir(rfd) if n != L.STATE]
            if rest:
                return
            if L.STATE in os.listdir(rfd):
                os.unlink(L.STATE, dir_fd=rfd)
        finally:
            os.close(rfd)
        os.rmdir(rid, dir_fd=area)
    finally:
        os.close(area)
