"""Authenticated backups on a real ensemble: whoever can write to the backup host, without
the key, can neither plant a backup a restore picks nor pass an old or foreign archive off
as a newer backup.  Every attack leaves the backup host consistent (SHA256SUMS rewritten to
match), so only the authentication stops it.

- Downgrade: a newer plain full backup, taken without the key: the restore with the key
  (the real restore playbook) restores the older authentic backup and names the planted
  one; naming it is refused; with allow_unauthenticated it is restored.
- Substitution: an older authentic backup under a newer id (as it is, or its manifest
  edited), another ensemble's backup moved under this one, a manifest without the
  archive's SHA-256, an edited last zxid: never planned, refused by zk_restore; with
  allow_unauthenticated the archive of another backup behind an edited manifest is refused
  by the manifest inside it.
- Signing: a restore holding only the verify key accepts what the signing key signed and
  refuses an unsigned or wrongly signed backup.

The modules run on the members against the lab's sshd; results are checked against the
servers (tree digest, znodes) and the files on the backup host.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess

import pytest

import zkbackup as Z
from lab import Lab
from lab.ansible import REPO, run_playbook
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity as A

pytestmark = pytest.mark.lab

BACKUP = "zkops.zookeeper.backup"
RESTORE = os.path.join(REPO, "playbooks", "restore.yml")
EV = {"zookeeper_backup_keep_last": 50, "zookeeper_backup_install_packages": False,
      "zookeeper_backup_force": True, "zookeeper_backup_max_attempts": 1}
KEY = base64.b64encode(os.urandom(32)).decode()

BACKUP_PLAY = """
- hosts: %(member)s
  gather_facts: false
  tasks:
    - name: backup
      zkops.zookeeper.zk_backup:
        ensemble: "{{ ens }}"
        force: true
        backup_hosts: "{{ targets }}"
        encryption_key: "{{ key | default(omit) }}"
        signing_key: "{{ sk | default(omit) }}"
"""

PLAN_PLAY = """
- hosts: %(member)s
  gather_facts: false
  tasks:
    - name: plan
      zkops.zookeeper.zk_restore_plan:
        ensemble: "{{ ens }}"
        backup_hosts: "{{ targets }}"
        backup_id: "{{ bid | default(omit) }}"
        encryption_key: "{{ key | default(omit) }}"
        verify_keys: "{{ vks | default([]) }}"
        allow_unauthenticated: "{{ allow | default(false) }}"
      ignore_errors: true
"""

STAGE_PLAY = """
- hosts: %(member)s
  gather_facts: false
  tasks:
    - name: stage
      zkops.zookeeper.zk_restore:
        state: staged
        restore_id: "{{ rid }}"
        backup_host: "{{ targets[0] }}"
        ensemble: "{{ ens }}"
        backup_id: "{{ bid }}"
        encryption_key: "{{ key | default(omit) }}"
        verify_keys: "{{ vks | default([]) }}"
        allow_unauthenticated: "{{ allow | default(false) }}"
      ignore_errors: true
    - name: unstage
      zkops.zookeeper.zk_restore:
        state: rolled_back
        restore_id: "{{ rid }}"
"""


def pem_pair(tmp):
    priv = os.path.join(tmp, "signing-%s.pem" % os.urandom(3).hex())
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", priv], check=True)
    pub = subprocess.run(["openssl", "pkey", "-in", priv, "-pubout"], check=True, capture_output=True,
                         text=True).stdout
    with open(priv) as f:
        return f.read(), pub


@pytest.fixture(scope="module")
def alab(tmp_path_factory):
    lab = Lab(name="authenticity", members=3, backups=1)
    lab.up()
    Z.seed(lab)
    lab.signing, lab.verify = pem_pair(str(tmp_path_factory.mktemp("keys")))
    yield lab
    lab.down()


def variables(lab, **kw):
    ev = {"ens": lab.name, "targets": [b.name for b in lab.backup_hosts]}
    ev.update((k, v) for k, v in kw.items() if v is not None)
    return ev


def backup(lab, key=None, sk=None, ensemble=None):
    """zk_backup run directly on a follower; returns its result."""
    member = lab.followers()[0]
    res = run_playbook(lab, BACKUP_PLAY % {"member": member.name},
                       extra_vars=variables(lab, key=key, sk=sk, ens=ensemble))
    assert res.rc == 0, res.output()
    return res.result("backup")


def outcome(res, name):
    """The result of task ``name``, with ``failed`` from its status (its errors are ignored)."""
    rec, = res.tasks(name)
    return dict(rec["result"], failed=rec["status"] in ("failed", "ignored"))


def plan(lab, **kw):
    member = lab.followers()[0]
    res = run_playbook(lab, PLAN_PLAY % {"member": member.name}, extra_vars=variables(lab, **kw))
    assert res.rc == 0, res.output()
    return outcome(res, "plan")


def stage(lab, bid, **kw):
    """zk_restore state=staged of ``bid`` on a follower, then its staging removed."""
    member = lab.followers()[0]
    res = run_playbook(lab, STAGE_PLAY % {"member": member.name},
                       extra_vars=variables(lab, bid=bid, rid="auth-%s" % os.urandom(3).hex(), **kw))
    assert res.rc == 0, res.output()
    return outcome(res, "stage")


def bdir(lab, bid, ensemble=None):
    return os.path.join(lab.backup_hosts[0].path(Z.ROOT), ensemble or lab.name, bid)


def resum(d):
    """Rewrite SHA256SUMS of a backup directory to match its files, as sha256sum would."""
    with open(os.path.join(d, "SHA256SUMS")) as f:
        names = [line.split(None, 1)[1].strip() for line in f if line.strip()]
    lines = []
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            lines.append("%s  %s\n" % (hashlib.sha256(f.read()).hexdigest(), n))
    with open(os.path.join(d, "SHA256SUMS"), "w") as f:
        f.write("".join(lines))


def edit(d, change):
    """Rewrite the manifest of the backup in ``d`` as ``change(manifest)`` returns it."""
    man = Z.sidecar(d)
    man = change(man)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        f.write(json.dumps(man, indent=1, sort_keys=True) + "\n")
    resum(d)


def newer_id(bid, kind="full"):
    """A backup id later than any the lab took (the year 2999)."""
    return "2999" + bid[4:16] + "-%s-%s" % (kind, os.urandom(3).hex())


def write(lab, path, data=b"x"):
    zk = Z.client(lab)
    try:
        zk.create(path, data)
    finally:
        zk.stop()
        zk.close()


def exists(lab, path):
    zk = Z.client(lab)
    try:
        return zk.exists(path) is not None
    finally:
        zk.stop()
        zk.close()


def clear(lab):
    base = os.path.join(lab.backup_hosts[0].path(Z.ROOT), lab.name)
    if os.path.isdir(base):
        shutil.rmtree(base)


def restore_role(lab, **extra):
    ev = {"zookeeper_restore_confirm": lab.name, "zookeeper_restore_timeout": 60}
    ev.update(extra)
    return run_playbook(lab, RESTORE, extra_vars=ev)


def test_backups_carry_a_mac_and_a_signature_and_no_key_shows(alab):
    clear(alab)
    r = backup(alab, key=KEY, sk=alab.signing)
    assert [a["scheme"] for a in r["authentication"]] == ["hmac-sha256", "ed25519"]
    side = Z.sidecar(bdir(alab, r["backup_id"]))
    assert side["archive"]["sha256"] and side["archive"]["bytes"] == r["archive"]["bytes"]
    keys = A.Keys([base64.b64decode(KEY)], [A.parse_verify_key(alab.verify)])
    assert A.judge(side, keys)[0] is True
    assert A.judge(side, A.Keys(verify=[A.parse_verify_key(alab.verify)]))[0] is True
    assert A.judge(side, A.Keys([base64.b64decode(KEY)]))[0] is True
    # Log shipping authenticates its chunks the same way.
    write(alab, "/auth-shipped")
    member = alab.followers()[0]
    play = BACKUP_PLAY.replace("force: true", "kind: logs") % {"member": member.name}
    res = run_playbook(alab, play, extra_vars=variables(alab, key=KEY, sk=alab.signing))
    assert res.rc == 0, res.output()
    chunk = res.result("backup")
    assert "-logs-" in chunk["backup_id"], chunk
    assert A.judge(Z.sidecar(bdir(alab, chunk["backup_id"])), keys)[0] is True
    assert KEY not in res.stdout + res.stderr and alab.signing.splitlines()[1] not in res.stdout + res.stderr


def test_a_planted_plain_full_backup_is_not_restored_and_naming_it_is_refused(alab):
    clear(alab)
    res = run_playbook(alab, BACKUP, extra_vars=dict(EV, zookeeper_backup_encryption_key=KEY,
                                                     zookeeper_backup_signing_key=alab.signing))
    assert res.rc == 0, res.output()
    genuine = Z.backup_dirs(alab.backup_hosts[0], alab.name)
    assert len(genuine) == 1
    genuine_id = os.path.basename(genuine[0])
    digest = Z.live_digest(alab)["digest"]
    # Someone without the key writes a newer, consistent, plain full backup.
    write(alab, "/planted", b"by someone without the key")
    planted = backup(alab)["backup_id"]
    assert not planted.endswith(genuine_id) and Z.sidecar(bdir(alab, planted)).get("authentication") is None
    changed = Z.live_digest(alab)["digest"]
    assert changed != digest

    res = restore_role(alab, zookeeper_backup_encryption_key=KEY, zookeeper_backup_verify_keys=[alab.verify])
    assert res.rc == 0, res.output()
    p = [r for r in res.records if r.get("action") == "zkops.zookeeper.zk_restore_plan"
         and r["status"] == "ok"][0]["result"]
    assert p["plan"]["backup_ids"] == [genuine_id]
    assert [n["id"] for n in p["plan"]["not_authenticated"]] == [planted]
    assert "carries no authentication" in p["plan"]["not_authenticated"][0]["reason"]
    summary = res.result("Summary", res.tasks("Summary")[0]["host"])["msg"]
    assert [n["id"] for n in summary["not_authenticated"]] == [planted]
    alab.wait_quorum(timeout=60)
    assert Z.live_digest(alab)["digest"] == digest and not exists(alab, "/planted")

    # Named explicitly: refused, saying why and what would accept it; nothing changes.
    res = restore_role(alab, zookeeper_backup_encryption_key=KEY, zookeeper_restore_backup_id=planted)
    assert res.rc != 0
    said = " ".join((res.stdout + res.stderr).split())
    assert "backup %s is refused: it carries no authentication" % planted in said, said
    assert "allow_unauthenticated" in said
    alab.wait_quorum(timeout=60)
    assert Z.live_digest(alab)["digest"] == digest

    # A backup written before the key was set is restored when that is allowed.
    res = restore_role(alab, zookeeper_backup_encryption_key=KEY, zookeeper_restore_backup_id=planted,
                       zookeeper_restore_allow_unauthenticated=True)
    assert res.rc == 0, res.output()
    alab.wait_quorum(timeout=60)
    assert exists(alab, "/planted") and Z.live_digest(alab)["digest"] == changed


def test_substituted_backups_are_never_planned_and_refused_by_name(alab):
    clear(alab)
    old = backup(alab, key=KEY)["backup_id"]
    write(alab, "/auth-between")
    new = backup(alab, key=KEY)["backup_id"]

    # 1. The older authentic backup copied as it is under a newer id.
    moved = newer_id(new)
    shutil.copytree(bdir(alab, old), bdir(alab, moved))
    # 2. The same, its manifest edited to claim the newer id and time (SHA256SUMS rewritten).
    claimed = newer_id(new)
    shutil.copytree(bdir(alab, old), bdir(alab, claimed))
    edit(bdir(alab, claimed), lambda m: dict(m, backup_id=claimed, created="2999-01-01T00:00:00Z"))
    # 3. Another ensemble's backup, taken with the same key, moved under this ensemble.
    foreign = backup(alab, key=KEY, ensemble="other-zk")["backup_id"]
    shutil.move(bdir(alab, foreign, "other-zk"), bdir(alab, foreign))
    # 4. The newest authentic backup's manifest without the archive's SHA-256.
    nosum = newer_id(new)
    shutil.copytree(bdir(alab, new), bdir(alab, nosum))

    def drop_sum(m):
        m = dict(m, backup_id=nosum, created="2999-01-02T00:00:00Z")
        del m["archive"]["sha256"]
        return m
    edit(bdir(alab, nosum), drop_sum)
    # 5. Its last zxid edited (a point-in-time restore would trim by it).
    edit(bdir(alab, new), lambda m: dict(m, zxid=dict(m["zxid"], last="0x%x" % (int(m["zxid"]["last"], 16) + 5))))

    r = plan(alab, key=KEY)
    assert not r.get("failed"), r
    refused = dict((n["id"], n["reason"]) for n in r["plan"]["not_authenticated"])
    assert r["plan"]["backup_ids"] == [old]
    assert set(refused) == {moved, claimed, foreign, nosum, new}
    assert "manifest is that of backup %s" % old in refused[moved]
    assert "does not verify" in refused[claimed] and "does not verify" in refused[nosum]
    assert "does not verify" in refused[new]
    assert "stored under ensemble %s but its manifest is of ensemble other-zk" % alab.name in refused[foreign]
    # Without the key the planner is fooled: what the key is for.
    assert plan(alab)["plan"]["backup_ids"] == [nosum]

    for bid in (moved, claimed, foreign, new):
        r = stage(alab, bid, key=KEY)
        assert r.get("failed") and "allow_unauthenticated" in r["msg"] and bid in r["msg"], r
    r = stage(alab, old, key=KEY)
    assert not r.get("failed") and r["authentication"] == [
        {"backup_id": old, "authenticated": True, "reason": r["authentication"][0]["reason"]}], r


def test_another_archive_behind_an_edited_manifest_is_refused_by_the_manifest_inside(alab):
    clear(alab)
    old = backup(alab, key=KEY)["backup_id"]
    write(alab, "/auth-inner")
    new = backup(alab, key=KEY)["backup_id"]
    # The older archive in the newer backup's place, the manifest's size and hash made to
    # match it: only accepted because unauthenticated backups are allowed.
    d_old, d_new = bdir(alab, old), bdir(alab, new)
    name = Z.sidecar(d_new)["archive"]["file"]
    shutil.copyfile(os.path.join(d_old, name), os.path.join(d_new, name))
    with open(os.path.join(d_new, name), "rb") as f:
        data = f.read()

    def point(m):
        m = dict(m, archive=dict(m["archive"], bytes=len(data), sha256=hashlib.sha256(data).hexdigest()))
        m.pop("authentication", None)
        return m
    edit(d_new, point)
    r = stage(alab, new, key=KEY)
    assert r.get("failed") and "allow_unauthenticated" in r["msg"], r
    r = stage(alab, new, key=KEY, allow=True)
    assert r.get("failed"), r
    # The encryption header names the backup it belongs to, so the archive is refused as
    # soon as it is opened (a plain archive is refused by the manifest inside it: unit tests).
    assert "belongs elsewhere" in r["msg"] and old in r["msg"], r
    # Nothing of it stays on the member.
    member = alab.followers()[0]
    left = member.sh("find /var/lib/zookeeper -path '*zkops-restore*' -name staged", check=False).stdout
    assert left.strip() == ""


def test_a_restore_holding_the_verify_key_refuses_unsigned_and_wrongly_signed_backups(alab, tmp_path):
    clear(alab)
    signed = backup(alab, sk=alab.signing)["backup_id"]
    write(alab, "/auth-unsigned")
    unsigned = backup(alab)["backup_id"]
    other_sk, _other_vk = pem_pair(str(tmp_path))
    wrong = backup(alab, sk=other_sk)["backup_id"]
    # A forged signature claiming the right key id.
    forged = newer_id(wrong)
    shutil.copytree(bdir(alab, wrong), bdir(alab, forged))
    kid = A.public_key_id(A.parse_verify_key(alab.verify))

    def claim(m):
        m = dict(m, backup_id=forged)
        m["authentication"] = [dict(m["authentication"][0], key_id=kid)]
        return m
    edit(bdir(alab, forged), claim)

    r = plan(alab, vks=[alab.verify])
    assert r["plan"]["backup_ids"] == [signed], r
    refused = dict((n["id"], n["reason"]) for n in r["plan"]["not_authenticated"])
    assert set(refused) == {unsigned, wrong, forged}
    assert "no authentication" in refused[unsigned]
    assert "only by keys not given" in refused[wrong]
    assert "ed25519 signature of key id %s does not verify" % kid in refused[forged]
    for bid in (unsigned, wrong, forged):
        r = stage(alab, bid, vks=[alab.verify])
        assert r.get("failed") and "allow_unauthenticated" in r["msg"], r
    # A forged signature is refused even when unauthenticated backups are allowed.
    r = stage(alab, forged, vks=[alab.verify], allow=True)
    assert r.get("failed") and "does not verify" in r["msg"], r
    r = stage(alab, signed, vks=[alab.verify])
    assert not r.get("failed") and r["authentication"][0]["authenticated"] is True, r
    # A verify key that is not one: a clear message, no traceback.
    r = plan(alab, vks=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"])
    assert r.get("failed") and "PEM" in r["msg"] and "Traceback" not in json.dumps(r), r
