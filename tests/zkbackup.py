# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test support for backups: a writing client, the live tree's digest, restoring archives by replay."""
import glob
import json
import os
import threading
import time

from kazoo.client import KazooClient

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as archive
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.digest import EPHEMERAL, PERSISTENT, TreeDigest

ROOT = "/srv/backups"


def client(lab):
    zk = KazooClient(hosts=lab.connect_string, timeout=15)
    zk.start(timeout=20)
    return zk


def seed(lab, parents=20, children=50):
    """A varied tree: batches of creates, then updates, deletes and an ACL change."""
    from kazoo.security import make_digest_acl, OPEN_ACL_UNSAFE
    zk = client(lab)
    try:
        zk.ensure_path("/app")
        for p in range(parents):
            t = zk.transaction()
            t.create("/app/p%03d" % p, b"parent %d" % p)
            for c in range(children):
                t.create("/app/p%03d/c%03d" % (p, c), (b"value-%d-%d " % (p, c)) * 5)
            t.commit()
        for p in range(0, parents, 3):
            zk.set("/app/p%03d" % p, b"updated")
            zk.delete("/app/p%03d/c000" % p)
        acl = [make_digest_acl("admin", "pw", all=True)] + list(OPEN_ACL_UNSAFE)
        zk.create("/app/locked", b"secret-ish", acl=acl)
        return zk.exists("/app").pzxid
    finally:
        zk.stop()
        zk.close()


def bulk(lab, megabytes=3):
    """Incompressible data under /bulk (once), so that a slowed-down push takes seconds."""
    zk = client(lab)
    try:
        if zk.exists("/bulk"):
            return
        zk.create("/bulk", b"")
        for batch in range(megabytes * 2):
            t = zk.transaction()
            for i in range(50):
                t.create("/bulk/b%03d-%02d" % (batch, i), os.urandom(10240))
            t.commit()
    finally:
        zk.stop()
        zk.close()


class Writer(threading.Thread):
    """Creates znodes under /load as fast as it can; remembers the czxid of each."""

    def __init__(self, lab, prefix="/load"):
        super(Writer, self).__init__(daemon=True)
        self.zk = client(lab)
        self.prefix = prefix
        self.zk.ensure_path(prefix)
        self.halt = threading.Event()
        self.zxids = []
        self.error = None

    def run(self):
        n = 0
        try:
            while not self.halt.is_set():
                _path, stat = self.zk.create("%s/w%07d" % (self.prefix, n), b"w" * 64, include_data=True)
                self.zxids.append(stat.czxid)
                n += 1
        except Exception as exc:  # reported by stop()
            self.error = exc

    @property
    def last_zxid(self):
        return self.zxids[-1] if self.zxids else None

    def wait_for(self, count, timeout=30):
        deadline = time.time() + timeout
        while len(self.zxids) < count and time.time() < deadline and self.error is None:
            time.sleep(0.02)
        assert len(self.zxids) >= count, "the writer wrote only %d znodes (%s)" % (len(self.zxids), self.error)

    def stop(self):
        self.halt.set()
        self.join(30)
        self.zk.stop()
        self.zk.close()
        assert self.error is None, self.error
        return self.last_zxid


def live_digest(lab, max_czxid=None):
    """The digest of the live tree; with ``max_czxid``, of the znodes created up to it (right
    only while nothing but creates happened after it)."""
    zk = client(lab)
    digest = TreeDigest()
    try:
        todo = ["/"]
        while todo:
            path = todo.pop()
            data, stat = zk.get(path)
            if max_czxid is not None and stat.czxid > max_czxid:
                continue
            acls, _stat = zk.get_acls(path)
            kind = EPHEMERAL if stat.ephemeralOwner else PERSISTENT
            digest.add(path, data, [(a.perms, a.id.scheme, a.id.id) for a in acls], kind=kind)
            for child in zk.get_children(path):
                todo.append(path.rstrip("/") + "/" + child)
        return digest.result()
    finally:
        zk.stop()
        zk.close()


def backup_dirs(host, ensemble, complete=True):
    """Backup directories on a lab backup host (complete ones, or the hidden debris)."""
    base = os.path.join(host.path(ROOT), ensemble)
    if not os.path.isdir(base):
        return []
    names = sorted(os.listdir(base))
    if complete:
        # restores/ holds the reports of restores, not a backup.
        return [os.path.join(base, n) for n in names if not n.startswith(".") and n != "restores"
                and os.path.isdir(os.path.join(base, n))]
    return [os.path.join(base, n) for n in names if n.startswith(".")]


def flip_byte(path, offset=100):
    """Invert the byte at ``offset`` of the file ``path`` in place (a second call restores it)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def sidecar(backup_dir):
    with open(os.path.join(backup_dir, "manifest.json")) as f:
        return json.load(f)


def extract(backup_dir, dest, key=None):
    """Check and unpack one stored backup below ``dest``; return its manifest."""
    man = sidecar(backup_dir)
    path = os.path.join(backup_dir, man["archive"]["file"])
    return archive.read(archive.open_stream(path, key=key), dest=dest)


def restore_digest(backup_dirs_in_order, work, key=None):
    """Replay a full backup and log chunks (directories in order): (digest dict, last zxid)."""
    logs = []
    snapshot = None
    for i, d in enumerate(backup_dirs_in_order):
        dest = os.path.join(work, "r%d" % i)
        man = extract(d, dest, key)
        if man["kind"] == "full":
            snaps = glob.glob(os.path.join(dest, "data", "version-2", "snapshot.*"))
            assert len(snaps) == 1
            snapshot = snaps[0]
        logs += glob.glob(os.path.join(dest, "datalog", "version-2", "log.*"))
    logs.sort(key=lambda p: int(os.path.basename(p).split(".")[1], 16))
    tree, res = replay.replay(snapshot, logs)
    return replay.summarize(tree), res["last_zxid"]
