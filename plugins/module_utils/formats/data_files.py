# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names of ZooKeeper's data files, and what a member keeps on disk by name and size.

This module is the one rule for those names, ZooKeeper's own (``persistence/Util.java``
``getZxidFromName``, ``FileTxnLog.getLogFiles``, ``SnapStream.getStreamMode``):

    snapshot.<zxid>[.<anything>]   a snapshot; a last part ``gz`` or ``snappy`` (any case)
                                   names its compression, e.g. ``snapshot.1f.gz``
    log.<zxid>[.<anything>]        a transaction log, e.g. ``log.100.bak`` too: ZooKeeper
                                   loads every file whose second dot-separated part is hex
    currentEpoch, acceptedEpoch    the member's epochs (decimal text on the first line)
    version-2                      the directory of all of them, under dataDir and dataLogDir

``<zxid>`` is what Java's ``Long.parseLong(part, 16)`` accepts: ASCII hex digits of either
case with an optional sign, within a signed 64-bit long; so ``snapshot.0x10``, ``log.``,
``log.xyz`` are foreign.  A negative zxid, which ZooKeeper never writes, is foreign too.
Every other name (``acceptedEpoch.tmp`` included) is foreign: ZooKeeper ignores it.  A
directory is never a data file, whatever its name.

ZooKeeper writes ``snapshot.<hex zxid>`` (optionally ``.gz`` or ``.snappy``),
``acceptedEpoch`` and ``currentEpoch`` into ``<dataDir>/version-2``, and ``log.<hex zxid>``
transaction logs, preallocated and sparse, into ``<dataLogDir>/version-2``.  The zxid in a
snapshot's name is the last transaction applied when the snapshot started; in a log's name
the first transaction it holds.  The contents of snapshots and logs are not read here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import stat

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod

VERSION_DIR = "version-2"
SNAPSHOT_PREFIX = "snapshot"
LOG_PREFIX = "log"
CURRENT_EPOCH = "currentEpoch"
ACCEPTED_EPOCH = "acceptedEpoch"
EPOCH_NAMES = (CURRENT_EPOCH, ACCEPTED_EPOCH)
EPOCH_FILES = ((CURRENT_EPOCH, "current_epoch"), (ACCEPTED_EPOCH, "accepted_epoch"))
COMPRESSIONS = ("gz", "snappy")
_HEX_LONG = re.compile(r"^[+-]?[0-9a-fA-F]+$")
_CANONICAL_SNAPSHOT = re.compile(r"^snapshot\.[0-9a-f]+(\.gz|\.snappy)?$")
_DECIMAL_LONG = re.compile(r"^[+-]?[0-9]+$")
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


def _parts(name):
    """Java's ``name.split("\\.")``: the dot-separated parts, trailing empty ones dropped."""
    parts = name.split(".")
    while len(parts) > 1 and not parts[-1]:
        parts.pop()
    return parts


def _long(text, pattern, base):
    """Java's ``Long.parseLong(text, base)`` over ASCII digits, or None."""
    if not pattern.match(text):
        return None
    value = int(text, base)
    if value < _LONG_MIN or value > _LONG_MAX:
        return None
    return value


def zxid_from_name(name, prefix):
    """Util.getZxidFromName: the hex zxid after ``prefix.``, or -1."""
    parts = _parts(name)
    if len(parts) >= 2 and parts[0] == prefix:
        z = _long(parts[1], _HEX_LONG, 16)
        if z is not None:
            return z
    return -1


def classify(name):
    """('snapshot'|'log', zxid) or ('epoch', name) or ('other', None) for a file name."""
    for prefix in (SNAPSHOT_PREFIX, LOG_PREFIX):
        if name.startswith(prefix + "."):
            z = zxid_from_name(name, prefix)
            if z >= 0:
                return prefix, z
            return "other", None
    if name in EPOCH_NAMES:
        return "epoch", name
    return "other", None


def compression_of(name):
    """SnapStream.getStreamMode: the last dot-separated part of the name decides."""
    parts = _parts(name)
    if len(parts) > 1:
        ext = parts[-1].lower()
        if ext in COMPRESSIONS:
            return ext
    return None


def is_canonical(name):
    """Whether a snapshot's or log's name is one ZooKeeper writes: ``snapshot.<lower-case
    hex>`` with an optional ``.gz``/``.snappy``, ``log.<hex zxid>`` without leading zeros;
    ``log.100.bak``, ``snapshot.1F`` or ``log.0100`` are read but unusual."""
    kind, z = classify(name)
    if kind == "snapshot":
        return bool(_CANONICAL_SNAPSHOT.match(name))
    if kind == "log":
        return name == "%s.%x" % (LOG_PREFIX, z)
    return False


def version_dir(path):
    """The ``version-2`` directory below a dataDir or dataLogDir (the path itself if it is one)."""
    if os.path.basename(os.path.normpath(path)) == VERSION_DIR:
        return path
    return os.path.join(path, VERSION_DIR)


def read_epoch(path):
    """QuorumPeer.readLongFromFile: the first line as a decimal long.

    Raises OSError when the file cannot be read, ValueError when it holds no number.
    """
    with open(path, "rb") as f:
        text = f.read(64).decode("ascii", "replace")
    line = re.split(r"\r\n|\r|\n", text, 1)[0]
    value = _long(line, _DECIMAL_LONG, 10)
    if value is None:
        raise ValueError("%s holds %r, not a number" % (os.path.basename(path), line))
    return value


def _entry(directory, name, kind, z):
    path = os.path.join(directory, name)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    e = dict(zxid_mod.describe(z), name=name, path=path, kind=kind, size=st.st_size,
             allocated=getattr(st, "st_blocks", 0) * 512, mtime=int(st.st_mtime),
             zxid_int=z)
    if kind == "snapshot":
        e["compression"] = compression_of(name)
    return e


def list_files(directory, kind):
    """The regular files of one kind ('snapshot' or 'log') in ``directory``, oldest zxid
    first; raises OSError."""
    out = []
    for name in os.listdir(directory):
        k, z = classify(name)
        if k == kind:
            e = _entry(directory, name, kind, z)
            if e is not None:
                out.append(e)
    out.sort(key=lambda e: (e["zxid_int"], e["name"]))
    return out


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
    for key, directory, kind in (("snapshots", snap_dir, "snapshot"), ("logs", log_dir, "log")):
        try:
            out[key] = list_files(directory, kind)
        except OSError as exc:
            out["problems"].append("cannot list %s: %s" % (directory, exc.strerror or exc))
    for name, key in EPOCH_FILES:
        path = os.path.join(snap_dir, name)
        exists = os.path.exists(path)
        out[key] = None
        if exists:
            try:
                out[key] = read_epoch(path)
            except (IOError, OSError, ValueError):
                pass
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
