"""The disaster-recovery drill of `make demo`: backup, disaster, restore, verification.

``drill(lab)`` works on a running lab that holds sample data (lab.workload.sample_tree):
it runs the collection's real playbooks by their FQCN, as an operator would,

  1. ansible-playbook zkops.zookeeper.backup      a full backup, with the tree digest
  2. the disaster                                 every member loses its data
  3. ansible-playbook zkops.zookeeper.restore     the whole ensemble, fenced and verified
  4. the verification                             the live tree against the one backed up

and returns (and prints) a short summary.  It raises AssertionError when anything does
not hold.
"""
import json
import time

import zklive
from lab import workload
from lab.ansible import run_playbook

# The identity the sample tree's digest ACLs grant (the digest must read every ACL).
SAMPLE_CREDENTIAL = workload.CREDENTIAL[1]


def _client(lab, credential):
    return workload.client(lab, auth_data=[("digest", credential)])


def _tree(lab, credential):
    zk = _client(lab, credential)
    try:
        zk.sync("/")
        return zklive.live_digest(zk)
    finally:
        zk.stop()
        zk.close()


def _play(lab, name, extra_vars):
    t0 = time.time()
    res = run_playbook(lab, name, extra_vars=extra_vars)
    if res.rc != 0:
        raise AssertionError("ansible-playbook %s failed\n%s" % (name, res.output()))
    return res, time.time() - t0


def drill(lab, credential=SAMPLE_CREDENTIAL, out=print):
    """Run the drill on ``lab``; returns the summary (a string)."""
    lines = []

    def say(text):
        lines.append(text)
        out(text)

    before = _tree(lab, credential)
    say("drill on ensemble %s (%d members): %d znodes, tree digest %s"
        % (lab.name, len(lab.members), before["count"], before["digest"][:16]))

    res, took = _play(lab, "zkops.zookeeper.backup", {"zookeeper_backup_deep": True,
                                                      "zookeeper_backup_force": True})
    summary = res.result("zkops.zookeeper.backup : Summary", res.tasks("zkops.zookeeper.backup : Summary")[0]["host"])
    backup = summary["msg"]
    say("1. backup   %s from %s, zxid %s, %s bytes sent, %.1f s"
        % (backup["backup_id"], backup["source_member"], backup["zxid"]["last"], backup["bytes_sent"], took))

    lab.wipe_members()
    after = _tree(lab, credential)
    say("2. disaster every member's data wiped: the ensemble now serves %d znodes" % after["count"])
    if after["digest"] == before["digest"]:
        raise AssertionError("the disaster changed nothing")

    res, took = _play(lab, "zkops.zookeeper.restore", {
        "zookeeper_restore_confirm": lab.name, "zookeeper_auth": [{"credential": credential}]})
    restored = res.result("zkops.zookeeper.restore : Summary",
                          res.tasks("zkops.zookeeper.restore : Summary")[0]["host"])["msg"]
    say("3. restore  %s of %s on every member, serving at zxid %s, %.1f s"
        % (restored["restore_id"], " + ".join(restored["backups"]), restored["zxid"], took))

    now = _tree(lab, credential)
    same = now["digest"] == before["digest"] and now["count"] == before["count"]
    modes = sorted(h.mode() for h in lab.members)
    markers = set()
    for h in lab.members:
        m = json.loads(h.sh("cat %s/version-2/zkops-restore.json" % lab.data_dir).stdout)
        markers.add((m["restore_id"], bool(m.get("confirmed"))))
    say("4. verify   %d znodes, digest %s %s the backed-up tree; members %s; restore marker %s"
        % (now["count"], now["digest"][:16], "equals" if same else "DIFFERS FROM", ", ".join(modes),
           "confirmed on every member" if markers == {(restored["restore_id"], True)} else "MISSING"))
    if not same or markers != {(restored["restore_id"], True)} or modes.count("leader") != 1:
        raise AssertionError("the drill failed:\n" + "\n".join(lines))
    say("drill passed")
    return "\n".join(lines)
