"""The demo behind `make demo`: a lab ensemble with sample data, a report on it, and a
disaster-recovery drill (backup, every member wiped, restore, verification), with the
collection's playbooks run by FQCN as an operator would run them."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab import Lab, labs  # noqa: E402
from lab.ansible import collections_path, run_playbook  # noqa: E402

sys.path.insert(0, collections_path())
from lab.workload import bulk_load, client, sample_tree  # noqa: E402
from demo_drill import drill  # noqa: E402


def step(msg):
    print("\n==> %s" % msg, flush=True)


def run(lab, playbook, **kw):
    """ansible-playbook zkops.zookeeper.<playbook>, its output shown, failure fatal."""
    print("    $ ansible-playbook zkops.zookeeper.%s %s" % (
        playbook, " ".join("-e %s=%s" % kv for kv in (kw.get("extra_vars") or {}).items())))
    res = run_playbook(lab, "zkops.zookeeper." + playbook, **kw)
    if res.rc != 0:
        print(res.output())
        raise SystemExit("demo: playbook %s failed (rc=%d)" % (playbook, res.rc))
    return res


def report(lab):
    res = run(lab, "info")
    info = res.results("Read each member's status and the ensemble view")
    print("    %-6s %-9s %-12s %-8s %s" % ("member", "mode", "zxid", "znodes", "snapshots/logs"))
    for name in sorted(info):
        m = info[name]["member"]
        print("    %-6s %-9s %-12s %-8s %s/%s" % (
            name, m["mode"], m["zxid"], m["znode_count"], m["disk"]["snapshot_count"],
            m["disk"]["log_count"]))
    ens = next(iter(info.values()))["ensemble"]
    print("    leader %s, %s of %s voters serving, quorum %s" % (
        ens["leader"], ens["serving_voter_count"], ens["voter_count"],
        "holds" if ens["quorum"] else "LOST"))
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--keep", action="store_true", help="leave the lab running")
    ap.add_argument("--znodes", type=int, default=20000, help="bulk znodes to load")
    a = ap.parse_args()

    for old in labs():
        if old.name == "demo":
            old.down()
    t0 = time.time()
    step("Building a 3-member ZooKeeper ensemble and a backup host (network namespaces)")
    lab = Lab(name="demo", members=3, backups=1, persistent=True)
    lab.up()
    try:
        print("    members: %s" % ", ".join("%s %s" % (h.name, h.ip) for h in lab.members))
        print("    backup host: %s" % ", ".join("%s %s" % (h.name, h.ip)
                                                for h in lab.backup_hosts))
        step("Loading sample data: a Kafka-like tree and %d bulk znodes" % a.znodes)
        zk = client(lab)
        n = sample_tree(zk) + bulk_load(zk, a.znodes)
        zk.stop()
        zk.close()
        print("    %d znodes created" % n)

        step("Reporting on the ensemble with zkops.zookeeper.info")
        report(lab)

        step("Disaster-recovery drill: backup, every member wiped, restore, verification")
        print("    ansible-playbook zkops.zookeeper.backup, then zkops.zookeeper.restore")
        drill(lab, out=lambda line: print("    " + line, flush=True))

        print("\nDemo finished in %.0f s." % (time.time() - t0))
        if a.keep:
            print("The lab keeps running: ANSIBLE_CONFIG=%s ansible-playbook "
                  "zkops.zookeeper.info\nRemove it with: make lab-clean" % lab.ansible_cfg)
    finally:
        if not a.keep:
            lab.down()


if __name__ == "__main__":
    main()
