"""Tree exports stored on the backup hosts, imported by their id, on one lab (one member, two
backup hosts), with the playbooks as a site runs them:

- the export playbook pushes an export encrypted with the backup key: what the backup hosts
  store holds none of the znodes' bytes, and is an encrypted file, not a gzip stream;
- a subtree is deleted; the import playbook, by the export's id, previews (check mode, diff:
  nothing written) then puts it back: the subtree's digest is the one before;
- again with ``latest`` while the first backup host is cut off: the second one serves, and the
  first is named with its reason;
- one byte of the export flipped on the first backup host: refused there, taken from the second;
- a wrong key: refused on every host, each named with its reason, nothing changed.
"""
import gzip
import json
import zlib

import pytest

import zklive
from lab import Lab
from lab.ansible import run_playbook
from zktree_helpers import WORLD, client, create_all, delete_paths, spec

pytestmark = pytest.mark.lab

KEY = "0ZbWB5jEc1v0v6Hcx7GRqZ0pL0GKb8sN8Ff6lB0e3mA="
WRONG = "m7E0wJ9mDq3kQ5y2m2x1l7d9h2c5T8b1q3s6u9w0a4E="
SECRET = b"the settlement service password is hunter2-7f3a"
SUBTREE = "/app/config"
REGISTER = "Register the result as zookeeper_tree_import"


@pytest.fixture(scope="module")
def slab():
    lab = Lab(name="tree-stored", members=1, backups=2)
    lab.up()
    yield lab
    lab.down()


def site_vars(lab, **kw):
    ev = {"zookeeper_backup_ssh_private_key_file": lab.key,
          "zookeeper_backup_ssh_known_hosts_file": lab.known_hosts,
          "zookeeper_backup_ssh_connect_timeout": 3,
          "zookeeper_backup_encryption_key": KEY}
    ev.update(kw)
    return ev


def digest(lab, root):
    zk = client(lab)
    try:
        zk.sync(root)
        return zklive.live_digest_pipelined(zk, root)
    finally:
        zk.stop()
        zk.close()


def delete_subtree(lab):
    zk = client(lab)
    try:
        delete_paths(zk, list(_walk(zk, SUBTREE)))
        assert not zk.exists(SUBTREE)
    finally:
        zk.stop()
        zk.close()


def _walk(zk, path):
    yield path
    for c in zk.get_children(path):
        yield from _walk(zk, path + "/" + c)


def imported(lab, export_id, check=False, **kw):
    ev = site_vars(lab, zookeeper_tree_import_export_id=export_id, zookeeper_tree_root=SUBTREE,
                   zookeeper_tree_import_mode="missing_only", zookeeper_tree_confirm=lab.name, **kw)
    res = run_playbook(lab, "zkops.zookeeper.tree_import", extra_vars=ev, check=check, diff=check)
    print("import %s%s: rc %d in %.1f s" % (export_id, " (check)" if check else "", res.rc, res.duration))
    return res


def result(res):
    assert res.rc == 0, res.output()
    return res.result(REGISTER)["ansible_facts"]["zookeeper_tree_import"]


def failure(res):
    assert res.rc != 0, res.output()
    failed = [r for r in res.failed() if r["result"].get("msg")]
    assert failed, res.output()
    return failed[-1]["result"]


def test_encrypted_exports_on_the_backup_hosts_imported_by_id(slab, tmp_path):
    zk = client(slab)
    try:
        create_all(zk, [spec("/app"), spec(SUBTREE, b"config")]
                   + [spec("%s/setting-%03d" % (SUBTREE, i), b"value %d" % i) for i in range(200)]
                   + [spec(SUBTREE + "/payments", SECRET, WORLD)])
    finally:
        zk.stop()
        zk.close()
    before = digest(slab, SUBTREE)

    # The export, pushed to both backup hosts, encrypted.
    res = run_playbook(slab, "zkops.zookeeper.tree_export", extra_vars=site_vars(
        slab, zookeeper_tree_push=True, zookeeper_tree_root="/app",
        zookeeper_tree_dest=str(tmp_path / "app.zktree.gz")))
    print("export: rc %d in %.1f s" % (res.rc, res.duration))
    assert res.rc == 0, res.output()
    export = res.result("Register the result as zookeeper_tree_export")["ansible_facts"]["zookeeper_tree_export"]
    export_id = export["backup_id"]
    assert export["pushed"] and [d["host"] for d in export["destinations"]] == [h.ip for h in slab.backup_hosts]
    stored = [h.path("/srv/backups/%s/%s/tree.zktree.gz.enc" % (slab.name, export_id)) for h in slab.backup_hosts]
    for path in stored:
        with open(path, "rb") as f:
            data = f.read()
        assert data.startswith(b"ZKOPSENC") and SECRET not in data and b"setting-007" not in data
        with pytest.raises((OSError, EOFError, zlib.error)):
            gzip.decompress(data)
    # The local file (dest) is the plain export, as before.
    with open(str(tmp_path / "app.zktree.gz"), "rb") as f:
        assert SECRET in gzip.decompress(f.read())
    # The catalog lists it with the id an import takes.
    listed = catalog(slab)
    assert [(e["id"], e["root"], e["znodes"], e["encrypted"], e["authenticated"], e["verified"])
            for e in listed["exports"]] == [(export_id, "/app", 203, True, True, True)]

    # Deleted; the preview writes nothing, the import puts it back.
    delete_subtree(slab)
    out = result(imported(slab, export_id, check=True))
    assert out["counts"]["create"] == 202 and out["fetched"]["export_id"] == export_id
    assert out["fetched"]["host"] == slab.backup_hosts[0].ip and out["fetched"]["encrypted"]
    assert out["fetched"]["authenticated"] is True and out["fetched"]["passed"] == []
    assert not client_exists(slab, SUBTREE)
    out = result(imported(slab, export_id))
    assert out["verified"] and out["changed"]
    assert digest(slab, SUBTREE) == before

    # The newest export, the first backup host cut off.
    delete_subtree(slab)
    b1, b2 = slab.backup_hosts
    b1.cut_off()
    try:
        out = result(imported(slab, "latest"))
    finally:
        b1.reconnect()
    assert out["fetched"]["export_id"] == export_id and out["fetched"]["host"] == b2.ip
    assert [p["host"] for p in out["fetched"]["passed"]] == [b1.ip]
    assert out["fetched"]["passed"][0]["reason"].startswith("cannot be reached")
    assert digest(slab, SUBTREE) == before

    # One byte changed on the first backup host: refused there, taken from the second.
    with open(stored[0], "r+b") as f:
        f.seek(300)
        byte = f.read(1)
        f.seek(300)
        f.write(bytes([byte[0] ^ 0x40]))
    delete_subtree(slab)
    out = result(imported(slab, export_id))
    assert out["fetched"]["host"] == b2.ip
    assert "is not the one its manifest records" in out["fetched"]["passed"][0]["reason"]
    assert digest(slab, SUBTREE) == before

    # A wrong key: every host named with why; nothing changed.
    delete_subtree(slab)
    r = failure(imported(slab, export_id, zookeeper_backup_encryption_key=WRONG))
    assert r["msg"].startswith("no backup host holds a good copy of export %s" % export_id), r["msg"]
    for h in (b1, b2):
        assert "%s its copy is not authenticated by the keys given" % h.ip in r["msg"], r["msg"]
    assert KEY not in r["msg"] and WRONG not in r["msg"]
    assert not client_exists(slab, SUBTREE)


def catalog(lab):
    args = {"backup_host": lab.backup_hosts[0].ip, "ensemble": lab.name, "encryption_key": KEY,
            "ssh_private_key_file": lab.key, "ssh_known_hosts_file": lab.known_hosts}
    res = run_playbook(lab, "- hosts: localhost\n  gather_facts: false\n"
                       "  vars:\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
                       "  tasks:\n    - name: catalog\n      zkops.zookeeper.zk_backup_catalog: %s\n"
                       % json.dumps(args))
    assert res.rc == 0, res.output()
    return res.result("catalog")


def client_exists(lab, path):
    zk = client(lab)
    try:
        return zk.exists(path) is not None
    finally:
        zk.stop()
        zk.close()
