# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Point-in-time copies of a data directory: the files ZooKeeper needs to start with the
tree as it was at a given zxid, and nothing after it.

The copy holds the newest snapshot whose content does not reach past the zxid (a
snapshot is fuzzy up to its digest zxid, so a snapshot taken just before the target may
already hold later changes), the logs from it on cut after the last record at or below
the zxid (``txnlog.cut_log``), and the epoch files.  Later snapshots and logs are left
out: ZooKeeper would otherwise load them.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import fsio
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import (
    DEFAULT_LIMIT, FormatError)
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.txnlog import cut_log
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid


def _copy(src, dst):
    tmp = dst + ".tmp"
    shutil.copyfile(src, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dst)


def truncate_files(paths, zxid, snap_dir, log_dir=None, limit=DEFAULT_LIMIT):
    """Write the files for the state at ``zxid`` into ``snap_dir`` (and ``log_dir``),
    the ``version-2`` directories of a new dataDir (and dataLogDir).

    ``paths`` are the source files (as for ``datadir.verify_files``).  The target
    directories are created; they must not hold snapshots or logs already.  Raises
    FormatError when the files cannot give that state.  Returns the verification
    report of the source with a ``written`` list.
    """
    rep = datadir.verify_files(paths, limit=limit, target_zxid=zxid)
    if not rep["restorable"]:
        raise FormatError("cannot restore the state at %s: %s" % (hexzxid(zxid), "; ".join(rep["reasons"])))
    log_dir = log_dir or snap_dir
    for d in sorted({snap_dir, log_dir}):
        if not os.path.isdir(d):
            os.makedirs(d)
        busy = [n for n in os.listdir(d) if datadir.classify(n)[0] in ("snapshot", "log", "epoch")]
        if busy:
            raise FormatError("%s already holds ZooKeeper files (%s)" % (d, ", ".join(sorted(busy)[:5])))
    chosen = rep["restorable_set"]
    written = []
    dst = os.path.join(snap_dir, chosen["snapshot"])
    _copy(chosen["snapshot_path"], dst)
    written.append({"path": dst, "action": "copied"})
    for src in chosen["log_paths"]:
        dst = os.path.join(log_dir, os.path.basename(src))
        res = cut_log(src, dst=dst, zxid=zxid, limit=limit)
        written.append({"path": dst, "action": "cut", "records": res["records"],
                        "last_zxid": hexzxid(res["last_zxid"]), "dropped_bytes": res["dropped_bytes"]})
    for p in paths:
        if datadir.classify(os.path.basename(p))[0] == "epoch":
            dst = os.path.join(snap_dir, os.path.basename(p))
            _copy(p, dst)
            written.append({"path": dst, "action": "copied"})
    for d in sorted({snap_dir, log_dir}):
        fsio.fsync_dir(d)
    rep["written"] = written
    return rep


def truncate_data_dir(data_dir, data_log_dir, zxid, dst_data_dir, dst_data_log_dir=None,
                      limit=DEFAULT_LIMIT):
    """truncate_files() from a dataDir/dataLogDir pair into a new pair."""
    paths, problems, _snap, _log = datadir.data_dir_files(data_dir, data_log_dir)
    if problems:
        raise FormatError("; ".join(problems))
    return truncate_files(paths, zxid, datadir.version_dir(dst_data_dir),
                          datadir.version_dir(dst_data_log_dir or dst_data_dir), limit=limit)
