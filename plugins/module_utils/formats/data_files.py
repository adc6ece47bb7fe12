# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a member keeps on disk, from file names and sizes only.

ZooKeeper writes into ``<dataDir>/version-2``: ``snapshot.<zxid>`` (optionally ``.gz`` or
``.snappy``), ``acceptedEpoch`` and ``currentEpoch``; and into ``<dataLogDir>/version-2``:
``log.<zxid>`` transaction logs, preallocated and sparse.  The zxid in a snapshot's name
is the last transaction applied when the snapshot started; in a log's name the first
transaction it holds.  The contents of snapshots and logs are not read here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import stat

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod

VERSION_DIR = "version-2"
SNAPSHOT_RE = re.compile(r"^snapshot\.([0-9a-fA-F]+)(?:\.(gz|snappy))?$")
LOG_RE = re.compile(r"^log\.([0-9a-fA-F]+)$")
EPOCH_FILES = (("currentEpoch", "current_epoch"), ("acceptedEpoch", "accepted_epoch"))


def version_dir(path):
    """The ``version-2`` directory under a dataDir or dataLogDir (given either way)."""
    if os.path.basename(os.path.normpath(path)) == VERSION_DIR:
        return os.path.normpath(path)
    return os.path.join(path, VERSION_DIR)


def _entry(directory, name, match, kind):
    path = os.path.join(directory, name)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    z = zxid_mod.from_file_suffix(match.group(1))
    e = dict(zxid_mod.describe(z), name=name, path=path, kind=kind, size=st.st_size,
             allocated=getattr(st, "st_blocks", 0) * 512, mtime=int(st.st_mtime),
             zxid_int=z)
    if kind == "snapshot":
        e["compression"] = match.group(2) or None
    return e


def list_files(directory, pattern, kind):
    """The files of one kind in ``directory``, oldest zxid first; raises OSError."""
    out = []
    for name in os.listdir(directory):
        m = pattern.match(name)
        if m:
            e = _entry(directory, name, m, kind)
            if e is not None:
                out.append(e)
    out.sort(key=lambda e: (e["zxid_int"], e["name"]))
    return out


def read_epoch(path):
    """The number in an epoch file, or None when it is missing or unreadable."""
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (IOError, OSError, ValueError):
        return None


def listing(data_dir, data_log_dir=None):
    """Snapshots, logs and epoch files of a member.

    Returns a dict; problems (a missing or unreadable directory) are listed in
    ``problems`` rather than raised, so that a report still shows the rest.
    """
    data_log_dir = data_log_dir or data_dir
    snap_dir = version_dir(data_dir)
    log_dir = version_dir(data_log_dir)
    out = {"data_dir": data_dir, "data_log_dir": data_log_dir,
           "snapshot_dir": snap_dir, "log_dir": log_dir,
           "snapshots": [], "logs": [], "problems": []}
    for key, directory, pattern, kind in (("snapshots", snap_dir, SNAPSHOT_RE, "snapshot"),
                                          ("logs", log_dir, LOG_RE, "log")):
        try:
            out[key] = list_files(directory, pattern, kind)
        except OSError as exc:
            out["problems"].append("cannot list %s: %s" % (directory, exc.strerror or exc))
    for name, key in EPOCH_FILES:
        path = os.path.join(snap_dir, name)
        exists = os.path.exists(path)
        out[key] = read_epoch(path) if exists else None
        if exists and out[key] is None:
            out["problems"].append("%s does not hold a number" % path)
    for e in out["snapshots"] + out["logs"]:
        del e["zxid_int"]
    out["snapshot_count"] = len(out["snapshots"])
    out["log_count"] = len(out["logs"])
    out["snapshot_bytes"] = sum(e["size"] for e in out["snapshots"])
    out["log_bytes"] = sum(e["size"] for e in out["logs"])
    out["log_bytes_allocated"] = sum(e["allocated"] for e in out["logs"])
    out["newest_snapshot"] = out["snapshots"][-1] if out["snapshots"] else None
    out["newest_log"] = out["logs"][-1] if out["logs"] else None
    return out
