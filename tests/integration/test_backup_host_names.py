"""What a backup host holds is reached by plain names only, and what a backup stores in clear
holds no secret of the member's zoo.cfg; a lab with one backup host.

- zk_backup_catalog with ``ensemble: "."`` or ``".."`` and a prune: refused before the backup
  host is reached, nothing deleted (before, every ensemble directory looked like an
  incomplete backup and was deleted).
- A foreign directory in an ensemble's directory, older than debris_max_age: listed as
  unknown and left; the collection's own debris goes (check mode first: nothing goes).
- A backup of a member whose zoo.cfg holds DigestAuthenticationProvider.superDigest and a
  store password continued over two lines: the manifest's copy has neither; with
  encryption, the side manifest (in clear) has no zoo.cfg text at all, and the encrypted
  archive's manifest has the redacted one.
- A manifest planted on the backup host naming an archive file outside the backup, or a
  backup id that is not its directory's: zk_restore fails cleanly, naming the host and the
  backup, with no traceback and nothing staged on the member.
"""
import base64
import json
import os

import pytest

import zkbackup as Z
from lab import Lab
from lab.ansible import run_playbook

pytestmark = pytest.mark.lab

SUPER = "super:SUPERDIGEST0secret0D/InIHSb7yEEbrWz8b9l71RjZJU="
SECRET_LINES = ("DigestAuthenticationProvider.superDigest=%s\n"
                "ssl.trustStore.password=FIRSTHALF0secret\\\n"
                "    SECONDHALF0secret\n" % SUPER)
NEEDLES = ("SUPERDIGEST0secret", "FIRSTHALF0secret", "SECONDHALF0secret")
ZOO_CFG = "/etc/zookeeper/conf/zoo.cfg"


@pytest.fixture(scope="module")
def nlab():
    lab = Lab(name="host-names", members=3, backups=1)
    lab.up()
    Z.seed(lab, parents=4, children=10)
    yield lab
    lab.down()


def edir(lab):
    return os.path.join(lab.backup_hosts[0].path(Z.ROOT), lab.name)


def backup(lab, member="zk1", key=None):
    play = """
- hosts: %s
  gather_facts: false
  tasks:
    - name: backup
      zkops.zookeeper.zk_backup:
        ensemble: %s
        force: true
        backup_hosts: [%s]
""" % (member, lab.name, lab.backup_hosts[0].ip)
    if key:
        play += '        encryption_key: "%s"\n' % key
    res = run_playbook(lab, play)
    assert res.rc == 0, res.output()
    return res.result("backup")


def catalog(lab, check=False, **args):
    args.setdefault("backup_host", lab.backup_hosts[0].ip)
    args.setdefault("ssh_known_hosts_file", "/root/.ssh/known_hosts")
    res = run_playbook(lab, """
- hosts: zk1
  gather_facts: false
  tasks:
    - name: catalog
      zkops.zookeeper.zk_backup_catalog: %s
""" % json.dumps(args), check=check)
    return res, (res.result("catalog") if res.records else None)


def tree(path):
    out = []
    for d, dirs, files in os.walk(path):
        out.extend(os.path.relpath(os.path.join(d, n), path) for n in dirs + files)
    return sorted(out)


def test_dot_names_are_refused_and_foreign_directories_survive_a_prune(nlab):
    taken = backup(nlab)
    host = nlab.backup_hosts[0]
    root = host.path(Z.ROOT)
    ens = edir(nlab)
    # A foreign directory beside the backups, another one beside the ensembles, the debris of
    # an interrupted push; all three days old, older than debris_max_age.
    os.makedirs(os.path.join(ens, "photos", "2024"))
    with open(os.path.join(ens, "photos", "2024", "a.jpg"), "w") as f:
        f.write("not a backup")
    os.makedirs(os.path.join(root, "other-team", "data"))
    partial = "." + taken["backup_id"] + ".partial-0a0b0c0d"
    os.makedirs(os.path.join(ens, partial))
    host.sh("find %s -mindepth 1 -exec touch -h -d '3 days ago' {} +" % Z.ROOT)
    before = tree(root)

    for bad in (".", "..", "%s/.." % nlab.name, "../srv"):
        res, out = catalog(nlab, ensemble=bad, prune=True, keep_last=1, debris_max_age=1)
        assert res.rc != 0 and res.failed(), res.output()
        assert "is not a plain name" in out["msg"] and "nothing was looked at" in out["msg"], out["msg"]
        assert "Traceback" not in res.stdout + res.stderr
    res, out = catalog(nlab, ensemble=nlab.name, backup_id="../%s" % nlab.name)
    assert res.rc != 0 and "is not a plain name" in out["msg"]
    assert tree(root) == before

    # Check mode: the debris would go, the foreign directories are unknown; nothing changes.
    res, out = catalog(nlab, check=True, prune=True, keep_last=5, debris_max_age=1)
    assert res.rc == 0, res.output()
    assert out["changed"] and [p["path"] for p in out["pruned"]] == ["%s/%s/%s" % (Z.ROOT, nlab.name, partial)]
    assert sorted(u["path"] for u in out["unknown"]) == sorted(["%s/other-team/data" % Z.ROOT,
                                                                "%s/%s/photos" % (Z.ROOT, nlab.name)])
    assert tree(root) == before
    # The real prune: only the debris goes; again, nothing to do.
    res, out = catalog(nlab, prune=True, keep_last=5, debris_max_age=1)
    assert res.rc == 0, res.output()
    assert out["changed"] and len(out["pruned"]) == 1 and not os.path.exists(os.path.join(ens, partial))
    assert tree(root) == [p for p in before if partial not in p]
    assert [b["id"] for b in out["backups"] if b["ensemble"] == nlab.name] == [taken["backup_id"]]
    res, out = catalog(nlab, prune=True, keep_last=5, debris_max_age=1)
    assert res.rc == 0 and not out["changed"] and out["pruned"] == []
    assert os.path.isfile(os.path.join(ens, "photos", "2024", "a.jpg"))
    assert os.path.isdir(os.path.join(root, "other-team", "data"))


def _with_secrets(lab):
    originals = {}
    for m in lab.members:
        path = m.path(ZOO_CFG)
        with open(path) as f:
            originals[path] = f.read()
        with open(path, "a") as f:
            f.write(SECRET_LINES)
    return originals


def _restore(originals):
    for path, text in originals.items():
        with open(path, "w") as f:
            f.write(text)


def test_no_secret_of_zoo_cfg_in_the_manifests_and_none_of_it_in_clear_when_encrypted(nlab, tmp_path):
    originals = _with_secrets(nlab)
    try:
        plain = backup(nlab)
        key = base64.b64encode(os.urandom(32)).decode()
        enc = backup(nlab, key=key)
    finally:
        _restore(originals)
    d = os.path.join(edir(nlab), plain["backup_id"])
    side = Z.sidecar(d)
    text = side["zoo_cfg"]["text"]
    assert "DigestAuthenticationProvider.superDigest=********" in text
    assert "ssl.trustStore.password=********" in text and "server.1=" in text
    inner = Z.extract(d, str(tmp_path / "plain"))
    for needle in NEEDLES:
        assert needle not in text and needle not in inner["zoo_cfg"]["text"], needle
        # Nowhere in what the backup host holds.
        assert nlab.backup_hosts[0].sh("grep -rlF %s %s; true" % (needle, Z.ROOT)).stdout.strip() == ""

    # Encrypted: the side manifest, in clear, carries no zoo.cfg text; the encrypted one does.
    d = os.path.join(edir(nlab), enc["backup_id"])
    side = Z.sidecar(d)
    assert side["archive"]["encryption"] and side["zoo_cfg"] == {"path": ZOO_CFG, "text": None}
    with open(os.path.join(d, "manifest.json")) as f:
        assert "tickTime" not in f.read()
    inner = Z.extract(d, str(tmp_path / "enc"), key=base64.b64decode(key))
    assert "DigestAuthenticationProvider.superDigest=********" in inner["zoo_cfg"]["text"]
    assert not any(n in inner["zoo_cfg"]["text"] for n in NEEDLES)
    # The catalog and the restore planner read it as before.
    res, out = catalog(nlab, ensemble=nlab.name)
    assert res.rc == 0 and enc["backup_id"] in [b["id"] for b in out["backups"] if b["verified"]]


def _plant(lab, source_id, new_id, archive_file, **fields):
    """A copy of a stored backup under ``new_id`` with manifest fields changed and its
    checksums recomputed, as anyone who can write to the backup host can do."""
    ens = edir(lab)
    host = lab.backup_hosts[0]
    host.sh("cp -a %s/%s/%s %s/%s/%s" % (Z.ROOT, lab.name, source_id, Z.ROOT, lab.name, new_id))
    path = os.path.join(ens, new_id, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    manifest.update(fields)
    with open(path, "w") as f:
        json.dump(manifest, f)
    host.sh("cd %s/%s/%s && rm -f report.json && sha256sum %s manifest.json > SHA256SUMS"
            % (Z.ROOT, lab.name, new_id, archive_file))


RESTORE = """
- hosts: zk2
  gather_facts: false
  tasks:
    - name: restore
      zkops.zookeeper.zk_restore:
        state: staged
        restore_id: planted-1
        backup_host: %(host)s
        ensemble: %(ensemble)s
        backup_ids: [%(bid)s]
        ssh_known_hosts_file: /root/.ssh/known_hosts
"""


def test_a_planted_manifest_is_a_clean_failure_of_the_restore(nlab):
    taken = backup(nlab)
    arch = Z.sidecar(os.path.join(edir(nlab), taken["backup_id"]))["archive"]
    cases = {
        "20250101T000000Z-full-0000a1": dict(archive=dict(arch, file="../../../../etc/shadow")),
        "20250101T000000Z-full-0000a2": dict(backup_id="../../../etc"),
        "20250101T000000Z-full-0000a3": dict(archive=dict(arch, file=".")),
    }
    member = nlab.hosts["zk2"]
    data_before = member.sh("ls -a /var/lib/zookeeper").stdout
    for bid, fields in sorted(cases.items()):
        _plant(nlab, taken["backup_id"], bid, arch["file"], **fields)
        res = run_playbook(nlab, RESTORE % {"host": nlab.backup_hosts[0].ip, "ensemble": nlab.name, "bid": bid})
        out = res.result("restore")
        assert res.rc != 0 and res.failed(), res.output()
        msg = out["msg"]
        assert "%s: backup %s: " % (nlab.backup_hosts[0].ip, bid) in msg, msg
        assert "cannot be restored; choose another backup" in msg, msg
        assert "Traceback" not in res.stdout + res.stderr and "MODULE FAILURE" not in res.stdout
        # A fail_json, not a crash (ansible-core notes that a fail_json carries no traceback).
        assert out.get("exception") in (None, "(traceback unavailable)") and "module_stderr" not in out, out
        assert member.sh("ls -a /var/lib/zookeeper").stdout == data_before
    # The catalog lists them as failing, never as backups to plan from.
    res, out = catalog(nlab, ensemble=nlab.name)
    listed = dict((b["id"], b) for b in out["backups"])
    for bid in cases:
        assert listed[bid]["verified"] is False and listed[bid]["kind"] is None, listed[bid]
    for bid in cases:
        nlab.backup_hosts[0].sh("rm -rf %s/%s/%s" % (Z.ROOT, nlab.name, bid))
