"""zk_tree_export from a member's data files, and exports pushed to a backup host.

Real ansible-playbook runs against the module's lab (3 members, 1 backup host): the live
export runs on the controller, the files export on a member (Debian's python3 and
paramiko), pushing through the SSH transport of zk_backup with the lab's key and strict
host keys.
"""
import json
import os
import pathlib
import shutil

import pytest
from kazoo.security import make_digest_acl_credential

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tf
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zp
from zktree_helpers import client, create_all, spec, wipe

pytestmark = pytest.mark.lab

ALICE = make_digest_acl_credential("alice", "secret")
MIXED = ((31, "digest", ALICE), (1, "world", "anyone"))
AUTH = [("digest", "alice:secret")]
ROOT = "/srv/backups"
HOUR = 3600000


def build(zk, holder):
    """Every kind a files export tells apart: containers, TTL znodes, sequential ones."""
    wipe(zk, "/ft")
    create_all(zk, [
        spec("/ft", b"files"),
        spec("/ft/bin", bytes(range(256)) * 4),
        spec("/ft/utf", "\u00e9t\u00e9 \u2603".encode("utf-8"), MIXED),
        spec("/ft/big", os.urandom(300000)),
        spec("/ft/box", b"container", MIXED, td.CONTAINER),
        spec("/ft/box/item", b"in the box"),
        spec("/ft/never-used", b"", kind=td.CONTAINER),
        spec("/ft/ttl", b"ttl", kind=td.TTL, ttl=HOUR),
        spec("/ft/ttl/child", b"c"),
        spec("/ft/q"),
    ])
    for i in range(3):
        zk.create("/ft/q/job-", b"%d" % i, sequence=True)
    zp.call(zk, zp.CreateTTL("/ft/q/lease-", b"", MIXED, 2 * HOUR, True))
    holder.create("/ft/eph", b"held by a session", ephemeral=True)


def run(playbook, text, **kw):
    res = playbook(text, **kw)
    assert "Traceback" not in res.stderr, res.output()
    return res


def files_task(name, **extra):
    args = dict(source="files")
    args.update(extra)
    return "    - name: %s\n      register: %s\n      zkops.zookeeper.zk_tree_export: %s\n" % (
        name, name, json.dumps(args))


def exports_play(lab, dest, ensemble):
    """The live export on the controller; the files export pushed from zk2, and zk_verify's
    replay of zk2's files at the export's zxid."""
    live = dict(hosts=lab.connect_string, dest=dest, auth=[{"credential": "alice:secret"}])
    return (
        "- hosts: localhost\n  gather_facts: false\n"
        "  vars:\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
        "  tasks:\n    - name: live\n      zkops.zookeeper.zk_tree_export: %s\n"
        "- hosts: zk2\n  gather_facts: false\n  tasks:\n%s"
        "    - name: replay\n      zkops.zookeeper.zk_verify:\n        deep: true\n"
        "        config_file: /etc/zookeeper/conf/zoo.cfg\n"
        "        target_zxid: \"{{ files.zxid }}\"\n"
        % (json.dumps(live), files_task("files", backup_hosts=["backup1"], ensemble=ensemble,
                                        ssh_private_key_file="/root/.ssh/id_ed25519")))


def stored(lab, ensemble):
    d = lab.hosts["backup1"].path(os.path.join(ROOT, ensemble))
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_files_export_matches_live_keeps_kinds_and_pushes_verified(lab3, playbook, tmp_path):
    ensemble = "tree-files"
    zk = client(lab3, AUTH)
    holder = client(lab3)
    try:
        build(zk, holder)
        lab3.wait_zxid_agree()
        dest = str(tmp_path / "live.zktree.gz")
        # Check mode: both exports computed, the backup host's key checked, nothing stored.
        res = run(playbook, exports_play(lab3, dest, ensemble), check=True)
        assert res.rc == 0, res.output()
        planned = res.result("files", "zk2")
        assert planned["changed"] and not planned["pushed"] and planned["backup_id"] is None
        assert planned["destinations"][0]["path"].endswith("/<backup id>")
        assert not os.path.exists(dest) and stored(lab3, ensemble) == []
        res = run(playbook, exports_play(lab3, dest, ensemble))
        assert res.rc == 0, res.output()
        live, files, rep = res.result("live"), res.result("files", "zk2"), res.result("replay", "zk2")

        # One quiet ensemble, two sources, one digest.
        assert live["digest"] == files["digest"] and live["count"] == files["count"]
        assert not live["kinds_exact"] and live["typed_digest"] is None
        # The files export is exact: its typed digest is the replay's, and differs from
        # the digest that cannot tell containers and TTL znodes apart.
        assert files["kinds_exact"] and files["typed_digest"] == rep["typed_digest"]
        assert files["digest"] == rep["digest"] and files["typed_digest"] != files["digest"]
        assert files["zxid_start"] == files["zxid_end"] == int(files["zxid"], 16)
        # zk2 serves: the export asked it what it had applied (all of it, quiet as it is).
        assert files["source"]["applied_zxid"] == files["zxid"]
        assert files["ephemeral_skipped"] == live["ephemeral_skipped"] == 1
        assert files["sequential"] == live["sequential"] == 4
        assert files["changed"] and files["pushed"] and files["bytes"] > 300000

        # Stored and verified on the backup host, as zk_backup stores archives.
        d, = files["destinations"]
        assert d["verified"] and d["path"] == os.path.join(ROOT, ensemble, files["backup_id"])
        assert stored(lab3, ensemble) == [files["backup_id"]]
        b1 = lab3.hosts["backup1"]
        out = b1.sh("cd %s && sha256sum -c SHA256SUMS" % d["path"])
        assert out.returncode == 0 and "tree.zktree.gz: OK" in out.stdout
        catalog = ("- hosts: localhost\n  gather_facts: false\n"
                   "  vars:\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
                   "  tasks:\n    - name: catalog\n      zkops.zookeeper.zk_backup_catalog: %s\n"
                   % json.dumps(dict(backup_host=b1.ip, ensemble=ensemble, verify=True,
                                     ssh_private_key_file=os.path.join(lab3.dir, "id_ed25519"),
                                     ssh_known_hosts_file=lab3.known_hosts)))
        res = run(playbook, catalog)
        assert res.rc == 0, res.output()
        listed = res.result("catalog")["backups"]
        assert [(b["id"], b["kind"], b["verified"]) for b in listed] == [
            (files["backup_id"], "tree", True)]
        assert listed[0]["digest"]["typed_digest"] == files["typed_digest"]

        # A second run changes nothing: same local file, nothing pushed.
        res = run(playbook, exports_play(lab3, dest, ensemble))
        assert res.rc == 0, res.output()
        again = res.result("files", "zk2")
        assert not res.result("live")["changed"] and not again["changed"]
        assert not again["pushed"] and again["destinations"][0]["backup_id"] == files["backup_id"]
        assert stored(lab3, ensemble) == [files["backup_id"]]

        # Imported back from the backup host, containers and TTL znodes are recreated as
        # such: a new files export has the same typed digest.
        src = str(tmp_path / "pushed.zktree.gz")
        shutil.copy(b1.path(os.path.join(d["path"], "tree.zktree.gz")), src)
        assert tf.read_summary(src)[1]["typed_digest"] == files["typed_digest"]
        wipe(zk, "/ft")
        imp = dict(hosts=lab3.connect_string, src=src, auth=[{"credential": "alice:secret"}])
        res = run(playbook, "- hosts: localhost\n  gather_facts: false\n"
                  "  vars:\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
                  "  tasks:\n    - name: import\n      zkops.zookeeper.zk_tree_import: %s\n"
                  % json.dumps(imp))
        assert res.rc == 0, res.output()
        assert res.result("import")["verified"] and res.result("import")["counts"]["create"] > 10
        lab3.wait_zxid_agree()
        res = run(playbook, "- hosts: zk3\n  gather_facts: false\n  tasks:\n"
                  + files_task("after", dest="/tmp/after.zktree.gz"))
        assert res.rc == 0, res.output()
        after = res.result("after", "zk3")
        assert after["typed_digest"] == files["typed_digest"], after
        assert after["count"] == files["count"] and after["zxid"] > files["zxid"]
    finally:
        holder.stop()
        holder.close()
        zk.stop()
        zk.close()


def test_a_wrong_host_key_is_refused_before_anything_moves(lab3, playbook, tmp_path):
    ensemble = "tree-wrong-key"
    b1 = lab3.hosts["backup1"]
    lines = pathlib.Path(lab3.known_hosts).read_text().splitlines()
    other = [x for x in lines if x.startswith("zk1,")][0].split(" ", 1)[1]
    forged = tmp_path / "known_hosts"
    forged.write_text("".join(("%s,%s %s\n" % (b1.name, b1.ip, other)) if x.startswith("backup1,")
                              else x + "\n" for x in lines))
    dest = str(tmp_path / "never.zktree.gz")
    args = dict(hosts=lab3.connect_string, root="/", dest=dest, backup_hosts=[b1.ip],
                ensemble=ensemble, ssh_private_key_file=os.path.join(lab3.dir, "id_ed25519"),
                ssh_known_hosts_file=str(forged))
    res = run(playbook, "- hosts: localhost\n  gather_facts: false\n"
              "  vars:\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
              "  tasks:\n    - name: push\n      zkops.zookeeper.zk_tree_export: %s\n"
              "      ignore_errors: true\n" % json.dumps(args))
    r = res.result("push")
    assert res.tasks("push")[0]["status"] in ("failed", "ignored"), r
    assert "host key verification failed" in r["msg"] and "nothing was exported or sent" in r["msg"]
    assert not os.path.exists(dest) and os.listdir(str(tmp_path)) == ["known_hosts"]
    assert stored(lab3, ensemble) == []
