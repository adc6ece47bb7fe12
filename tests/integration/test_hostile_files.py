"""Hostile files on the lab, through the real playbooks, ZooKeeper, sshd and paramiko: a
decompression bomb on the backup host, symbolic links planted in the members' data
directories for the restore's clean-up and for the backup to follow.

Each test leaves the lab serving with its data as it found it.
"""
import hashlib
import json
import os
import tarfile

import pytest

import zklive
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import compression
from lab import workload
from lab.workload import AUTH, CREDENTIAL
from lab.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab

RESTORE = os.path.join(REPO, "playbooks", "restore.yml")
BACKUP = os.path.join(REPO, "playbooks", "backup.yml")
MIB = 1 << 20


def digest(lab):
    return zklive.synced_digest(workload.client(lab, auth_data=[CREDENTIAL]))


def pids(lab):
    return {h.name: h.zk_pid() for h in lab.members}


def backup(lab):
    return run_playbook(lab, BACKUP, extra_vars={"zookeeper_backup_install_packages": False,
                                                 "zookeeper_backup_force": True})


def restore(lab, **extra):
    ev = {"zookeeper_restore_confirm": lab.name}
    ev.update(extra)
    return run_playbook(lab, RESTORE, extra_vars=ev)


@pytest.fixture(scope="module")
def sample(lab3):
    zk = workload.client(lab3, auth_data=[CREDENTIAL])
    workload.sample_tree(zk)
    zk.stop()
    zk.close()
    res = backup(lab3)
    assert res.rc == 0, res.output()
    return digest(lab3)


def newest_backup(host, lab):
    root = host.path("/srv/backups/%s" % lab.name)
    ids = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "manifest.json")))
    return os.path.join(root, ids[-1])


def bomb(codec, name, size):
    """A tar stream of one member ``name`` claiming ``size`` zero bytes, compressed with
    ``codec`` in pieces (never held whole in memory)."""
    comp = compression.compressor(codec, level=19 if codec == "zstd" else 9 if codec == "gzip" else None)
    info = tarfile.TarInfo(name)
    info.size = size
    parts = [comp.compress(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))]
    zeros = b"\0" * MIB
    for _i in range(size // MIB):
        parts.append(comp.compress(zeros))
    parts.append(comp.compress(b"\0" * 1024))
    parts.append(comp.flush())
    return b"".join(parts)


def staged_bytes(lab):
    out = {}
    for h in lab.members:
        r = h.sh("find %s/.zkops-restore -type f -printf '%%s\\n' 2>/dev/null | paste -sd+ | bc; true"
                 % lab.data_dir)
        out[h.name] = int(r.stdout.strip() or 0)
    return out


def test_a_decompression_bomb_on_the_backup_host_writes_nothing(lab3, sample):
    """Whoever can write to the backup host swaps the newest archive for a few KB that
    expand to 256 MiB of one member the manifest lists (and fixes SHA256SUMS so that the
    backup host's check passes). Every member refuses it from the tar header: nothing is
    staged, no member is stopped, the data is unchanged."""
    backup_host = lab3.backup_hosts[0]
    bdir = newest_backup(backup_host, lab3)
    with open(os.path.join(bdir, "manifest.json")) as f:
        side = json.load(f)
    archive = os.path.join(bdir, side["archive"]["file"])
    codec = side["archive"]["compression"]
    victim = max(side["files"], key=lambda f: f["size"])["path"]
    evil = bomb(codec, victim, 256 * MIB)
    assert len(evil) < 100000 or codec == "none"
    sums = os.path.join(bdir, "SHA256SUMS")
    saved = {}
    for p in (archive, sums):
        with open(p, "rb") as f:
            saved[p] = f.read()
    lines = saved[sums].decode().splitlines()
    fixed = "\n".join(("%s  %s" % (hashlib.sha256(evil).hexdigest(), side["archive"]["file"]))
                      if line.endswith(" " + side["archive"]["file"]) else line for line in lines) + "\n"
    before = pids(lab3)
    try:
        with open(archive, "wb") as f:
            f.write(evil)
        with open(sums, "w") as f:
            f.write(fixed)
        res = restore(lab3, zookeeper_auth=AUTH, zookeeper_restore_timeout=60)
    finally:
        for p, data in saved.items():
            with open(p, "wb") as f:
                f.write(data)
    assert res.rc != 0, res.output()
    assert "is 268435456 bytes in the archive" in res.stdout and "refused before writing" in res.stdout, \
        res.output()
    assert pids(lab3) == before
    assert set(staged_bytes(lab3).values()) == {0}
    assert digest(lab3) == sample


def test_cleanup_leaves_what_symlinks_in_the_restore_area_point_to(lab3, sample):
    """The ZooKeeper user plants, in every member's restore area, a restore id that is a
    link to a directory outside the data directory, and links inside a real restore id.
    The restore's clean-up (as root) removes the links, never what they point to."""
    area = "%s/.zkops-restore" % lab3.data_dir
    for h in lab3.members:
        h.sh("mkdir -p /root/outside/staged/version-2 /root/outside/failed /root/outside/pre-restore && "
             "for p in keep.txt staged/version-2/precious failed/precious pre-restore/precious; do "
             "echo precious > /root/outside/$p; done && "
             "mkdir -p {a}/20200101T000000Z-bbbbbb && "
             "ln -sfn /root/outside {a}/20200101T000000Z-aaaaaa && "
             "ln -sfn /root/outside/staged {a}/20200101T000000Z-bbbbbb/staged && "
             "ln -sfn /root/outside/failed {a}/20200101T000000Z-bbbbbb/failed && "
             "chown -hR zookeeper:zookeeper {a}".format(a=area))
    try:
        res = restore(lab3, zookeeper_restore_mode="cleanup", zookeeper_restore_keep_pre_restore=0)
        assert res.rc == 0, res.output()
        for h in lab3.members:
            listing = h.sh("cd /root/outside && find . -type f | sort").stdout.split()
            assert listing == ["./failed/precious", "./keep.txt", "./pre-restore/precious",
                               "./staged/version-2/precious"], (h.name, listing)
            left = h.sh("ls -A %s/20200101T000000Z-bbbbbb 2>/dev/null; true" % area).stdout.split()
            assert left == [], (h.name, left)
    finally:
        for h in lab3.members:
            h.sh("rm -rf /root/outside; rm -f %s/20200101T000000Z-aaaaaa; rm -rf %s/20200101T000000Z-bbbbbb"
                 % (area, area))
    assert digest(lab3) == sample


def test_a_backup_does_not_follow_a_symlink_in_version_2(lab3, sample):
    """A log name in every member's version-2 that links to a root-only file: the backup
    fails, naming the link, and nothing of the file reaches the backup host."""
    # The highest zxid a name can hold for ZooKeeper (Long.parseLong in hex: a signed 64-bit
    # value), so the link is the newest log and part of every backup's file set.
    name = "log.7fffffff00000001"
    backup_host = lab3.backup_hosts[0]
    before = sorted(os.listdir(backup_host.path("/srv/backups/%s" % lab3.name)))
    for h in lab3.members:
        h.sh("printf 'root:SECRET-MARKER-hash:19000::::::\\n' > /root/shadow-like && chmod 600 /root/shadow-like && "
             "ln -sfn /root/shadow-like %s/version-2/%s" % (lab3.data_log_dir, name))
    try:
        res = backup(lab3)
    finally:
        for h in lab3.members:
            h.sh("rm -f %s/version-2/%s /root/shadow-like" % (lab3.data_log_dir, name))
    assert res.rc != 0, res.output()
    assert "%s is a symbolic link" % name in res.stdout and "nothing was sent" in res.stdout, res.output()
    assert "SECRET-MARKER" not in res.stdout
    assert sorted(os.listdir(backup_host.path("/srv/backups/%s" % lab3.name))) == before
    grep = backup_host.sh("grep -rl SECRET-MARKER /srv/backups; true").stdout.strip()
    assert grep == ""
