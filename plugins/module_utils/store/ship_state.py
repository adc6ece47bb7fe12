# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The log-shipping state of an ensemble on a backup host: the last zxid stored there.

``<root>/<ensemble>/log-shipping.json`` holds ``{"ensemble", "last_zxid", "backup_id",
"updated"}``: every transaction up to ``last_zxid`` is in a complete, verified backup on
that host (a full backup's logs or a shipped chunk).  It is written after each backup is
renamed into place, by a write to a temporary name over SFTP, flushed on the host
(``sync`` of the file), an atomic rename and a flush of the directory
(ssh_push.durable_rename()), so a crash of the host leaves the old state or the new one; it only
moves forward: two shippers racing can make chunks overlap, never leave a gap.
When the file is missing it is rebuilt from the backups' manifests.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import json
import os
import posixpath

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push as ssh_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport.ssh import SshError

STATE_FILE = "log-shipping.json"


def read(session, ensemble_dir):
    """The state dict (``last_zxid`` as int), or None when there is none."""
    path = posixpath.join(ensemble_dir, STATE_FILE)
    try:
        with session.sftp.open(path, "rb") as f:
            data = f.read()
    except IOError:
        return None
    try:
        state = json.loads(data.decode("utf-8"))
        state["last_zxid"] = zxid_mod.from_record(state.get("last_zxid"))
    except (ValueError, TypeError, AttributeError) as exc:
        raise SshError(session.label, "%s is unreadable (%s): move it aside; it is rebuilt from the backups"
                       % (path, exc))
    return state


def write(session, ensemble_dir, ensemble, last_zxid, backup_id):
    """Advance the state to ``last_zxid`` (never backwards); returns the zxid stored."""
    current = read(session, ensemble_dir)
    if current is not None and current.get("last_zxid") is not None and current["last_zxid"] >= last_zxid:
        return current["last_zxid"]
    state = {"ensemble": ensemble, "last_zxid": zxid_mod.to_hex(last_zxid), "backup_id": backup_id,
             "updated": times.iso_now()}
    path = posixpath.join(ensemble_dir, STATE_FILE)
    tmp = posixpath.join(ensemble_dir, ".%s.tmp-%s" % (STATE_FILE, binascii.hexlify(os.urandom(4)).decode("ascii")))
    sftp = session.sftp
    try:
        with sftp.open(tmp, "wb") as f:
            f.write((json.dumps(state, indent=1, sort_keys=True) + "\n").encode("utf-8"))
        ssh_push.durable_rename(session, tmp, path)
    except (IOError, SshError) as exc:
        try:
            sftp.remove(tmp)
        except IOError:
            pass
        raise SshError(session.label, "cannot update %s: %s" % (path, getattr(exc, "reason", exc)))
    return last_zxid


def from_backups(backups):
    """The last zxid covered by any complete physical backup (full or logs) in ``backups``
    (catalog entries); logical tree exports do not count."""
    last = None
    for b in backups:
        if b.get("kind") not in ("full", "logs"):
            continue
        z = zxid_mod.from_record((b.get("zxid") or {}).get("last"))
        if b.get("complete") and z is not None and (last is None or z > last):
            last = z
    return last
