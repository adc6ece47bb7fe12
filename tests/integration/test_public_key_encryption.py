"""Backups encrypted to public keys on a real ensemble: the backup and log-shipping jobs hold
only X25519 public keys (made with openssl), restores hold the private keys.

Every result is checked against the servers (the tree digest read with a plain client), the
backup host's files and the lab's file systems.
"""
import json
import os
import subprocess

import pytest

import zklive
from lab import workload
from lab.workload import AUTH, CREDENTIAL
from lab.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab

RESTORE = os.path.join(REPO, "playbooks", "restore.yml")
BACKUP = os.path.join(REPO, "playbooks", "backup.yml")
SHIP = os.path.join(REPO, "playbooks", "ship_logs.yml")
ROOT = "/srv/backups"


def client(lab):
    return workload.client(lab, auth_data=[CREDENTIAL])


def digest(lab):
    return zklive.synced_digest(client(lab))


def write(lab, path, value):
    zk = client(lab)
    try:
        zk.create(path, value)
    finally:
        zk.stop()
        zk.close()


def openssl_identity(tmp_path, name):
    """(private PEM, public PEM) of a new X25519 key, made the way the docs say."""
    key = str(tmp_path / (name + ".key"))
    subprocess.run(["openssl", "genpkey", "-algorithm", "X25519", "-out", key], check=True)
    pub = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"], check=True, capture_output=True,
                         text=True).stdout
    with open(key) as f:
        return f.read(), pub


def body(pem):
    """The base64 line of a PEM: what would show if the key leaked anywhere."""
    return pem.splitlines()[1]


def backup(lab, playbook=BACKUP, **extra):
    ev = {"zookeeper_backup_install_packages": False, "zookeeper_backup_force": True}
    ev.update(extra)
    res = run_playbook(lab, playbook, extra_vars=ev)
    assert res.rc == 0, res.output()
    return res


def restore(lab, **extra):
    ev = {"zookeeper_auth": AUTH, "zookeeper_restore_timeout": 60, "zookeeper_restore_confirm": lab.name}
    ev.update(extra)
    return run_playbook(lab, RESTORE, extra_vars=ev)


def stored(lab):
    """{backup id: side manifest} on the backup host."""
    host = lab.backup_hosts[0]
    out = {}
    for bid in host.sh("ls %s/%s" % (ROOT, lab.name)).stdout.split():
        if "-full-" in bid or "-logs-" in bid:
            out[bid] = json.loads(host.sh("cat %s/%s/%s/manifest.json" % (ROOT, lab.name, bid)).stdout)
    return out


def first_bytes(lab, bid, manifest):
    return lab.backup_hosts[0].sh("head -c 8 %s/%s/%s/%s" % (ROOT, lab.name, bid, manifest["archive"]["file"])).stdout


def leaked(lab, needle):
    """Files below the lab (every host's own directories, the controller's playbook runs)
    that hold ``needle``."""
    # grep exits 2 on files it cannot read (sockets); the public keys, which must be found,
    # show that it searched.
    res = subprocess.run(["grep", "-rlF", "--", needle, lab.dir], capture_output=True, text=True, check=False)
    return res.stdout.split()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return {n: openssl_identity(d, n) for n in ("alice", "bob", "mallory")}


@pytest.fixture(scope="module")
def encrypted(lab3, keys):
    """lab3 with the sample tree, a full backup and a log chunk encrypted to alice and bob
    (no symmetric key), and a write after them that no backup holds."""
    zk = client(lab3)
    workload.sample_tree(zk)
    zk.stop()
    zk.close()
    recipients = [keys["alice"][1], keys["bob"][1]]
    backup(lab3, zookeeper_backup_encryption_recipients=recipients)
    write(lab3, "/after-the-full-backup", b"shipped")
    backup(lab3, SHIP, zookeeper_backup_encryption_recipients=recipients)
    at_shipping = digest(lab3)
    write(lab3, "/never-shipped", b"lost")
    return {"digest": at_shipping, "ids": sorted(stored(lab3))}


def test_a_recipients_only_backup_holds_nothing_that_decrypts(lab3, keys, encrypted):
    backups = stored(lab3)
    assert len(backups) == 2 and {m["kind"] for m in backups.values()} == {"full", "logs"}
    for bid, m in backups.items():
        enc = m["archive"]["encryption"]
        assert enc["scheme"] == "zkops-stream-v2" and enc["version"] == 2
        assert [r["type"] for r in enc["recipients"]] == ["x25519", "x25519"]
        assert m["archive"]["file"].endswith(".enc") and first_bytes(lab3, bid, m) == "ZKOPSENC"
    # Neither private key is anywhere: not on a member, not on the backup host, not in the
    # backup jobs' runs; only the public keys went out.
    for name in ("alice", "bob"):
        assert leaked(lab3, body(keys[name][0])) == []
        assert leaked(lab3, body(keys[name][1]))


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_each_recipient_restores_with_its_identity(lab3, keys, encrypted, who):
    lab3.wipe_members()
    res = restore(lab3, zookeeper_backup_identities=[keys[who][0]])
    assert res.rc == 0, res.output()
    assert digest(lab3) == encrypted["digest"]
    zk = client(lab3)
    try:
        assert zk.get("/after-the-full-backup")[0] == b"shipped"
        assert not zk.exists("/never-shipped")
    finally:
        zk.stop()
        zk.close()
    assert body(keys[who][0]) not in res.stdout + res.stderr


def test_a_wrong_identity_is_refused_naming_the_key_ids(lab3, keys, encrypted):
    write(lab3, "/before-the-refused-restore", b"x")
    before = digest(lab3)
    res = restore(lab3, zookeeper_backup_identities=[keys["mallory"][0]])
    assert res.rc != 0, res.output()
    out = res.stdout
    assert "encrypted for other keys" in out, res.output()
    m = stored(lab3)[encrypted["ids"][0]]
    for r in m["archive"]["encryption"]["recipients"]:
        assert r["key_id"] in out
    assert body(keys["mallory"][0]) not in res.stdout + res.stderr
    lab3.wait_quorum()
    assert digest(lab3) == before


def test_a_plain_backup_is_refused_by_a_restore_holding_an_identity(lab3, keys, encrypted):
    """Someone who can write to the backup host, without any key, puts a plain full backup
    there (made here by a backup run without encryption): a restore holding an identity
    does not restore it."""
    res = backup(lab3)
    plain = [bid for bid in stored(lab3) if bid not in encrypted["ids"]]
    assert len(plain) == 1 and stored(lab3)[plain[0]]["archive"]["encryption"] is None
    write(lab3, "/before-the-downgrade", b"x")
    before = digest(lab3)
    res = restore(lab3, zookeeper_backup_identities=[keys["alice"][0]], zookeeper_restore_backup_id=plain[0])
    assert res.rc != 0, res.output()
    assert "not encrypted" in res.stdout, res.output()
    lab3.wait_quorum()
    assert digest(lab3) == before
