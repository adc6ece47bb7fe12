"""Benchmark: the outage of restore.yml against a naive hand restore, on one ensemble.

Builds a lab (3 members, 1 backup host, dataLogDir apart, 1 GB heaps), loads --znodes
znodes, takes a full backup with the backup playbook (deep, so the manifest holds the tree
digest), then, in the same run, alternates for --rounds rounds (a znode is written before
each one, so that every round has something to undo):

  naive        what an operator does by hand with the files already unpacked on every
               member: stop every member at once, replace version-2 below dataDir and
               dataLogDir by a copy of the restored files (cp -a, chown -R), start every
               member at once (the files: those restore.yml lays down, the backup's
               restorable set, staged once by zk_restore and kept aside)
  restore.yml  ansible-playbook zkops.zookeeper.restore (ensemble mode): the plan and the
               backup verified on the backup host, the archive fetched, unpacked and
               verified on every member, the recorded digest, then the fence, the swap,
               the start, the wait, the live digest check

A monitor polls `srvr` on every member every 20 ms.  The outage is the time from the
first moment a member stops serving to the first moment every member serves at one zxid
(the restored state).  For restore.yml it also reports the time from the first member
stopped until the live digest was confirmed (the playbook's check task reported), and the
whole playbook's duration.  Writes bench/results/restore.json.  Needs root (the lab).
From the repository root:

  .venv/bin/python bench/bench_restore.py [--znodes 500000] [--rounds 2]
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

from lab import Lab  # noqa: E402
from lab import workload  # noqa: E402
from lab.ansible import run_playbook  # noqa: E402
from lab.lab import four_letter, parse_srvr  # noqa: E402

SERVING = ("leader", "follower", "observer", "standalone")
DIGEST_CHECK = "zkops.zookeeper.restore : Judge the live tree against the digest the backup promises"
RESTORED_FILES = "/var/tmp/bench-restored"


class Monitor:
    """Polls srvr on every member; remembers when the first one stopped serving and when all
    served again at one zxid after that."""

    def __init__(self, lab, results_file=None, interval=0.02):
        self.lab = lab
        self.results_file = results_file
        self.interval = interval
        self.first_down = None
        self.all_up = None
        self.zxid = None
        self.digest_confirmed = None
        self.timeline = []
        self.member_up = {}
        self._seen = 0
        self._down = set()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _poll(self, host):
        # An empty answer now and then is no outage (LAB.md): ask up to three times.
        text = ""
        for _attempt in range(3):
            text = four_letter(host.ip, self.lab.client_port, "srvr", timeout=0.5)
            if text:
                break
        st = parse_srvr(text) if text else {}
        return st.get("Mode") in SERVING, st.get("zxid")

    def _run(self):
        while not self._stop.is_set():
            now = time.time()
            states = [self._poll(h) for h in self.lab.members]
            if self.first_down is None:
                if not all(s[0] for s in states):
                    self.first_down = now
                    self._down = set(h.name for h, s in zip(self.lab.members, states) if not s[0])
            else:
                for h, st in zip(self.lab.members, states):
                    if not st[0]:
                        self._down.add(h.name)
                    elif h.name in self._down and h.name not in self.member_up:
                        self.member_up[h.name] = now
                if self.all_up is None and all(s[0] for s in states) and same_state(s[1] for s in states):
                    self.all_up = time.time()
                    self.zxid = "0x%x" % max(s[1] for s in states)
            self._tasks()
            self._stop.wait(self.interval)

    def _tasks(self):
        """Note when each task of the playbook reported (its results file grows line by line)."""
        if not self.results_file or not os.path.exists(self.results_file):
            return
        with open(self.results_file) as f:
            lines = f.read().splitlines()
        now = time.time()
        for line in lines[self._seen:]:
            try:
                task = json.loads(line)["task"]
            except (ValueError, KeyError):
                continue
            if not self.timeline or self.timeline[-1][1] != task:
                self.timeline.append((now, task))
            if task == DIGEST_CHECK and self.digest_confirmed is None:
                self.digest_confirmed = now
        self._seen = len(lines)

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(10)

    @property
    def outage(self):
        if self.first_down is None or self.all_up is None:
            return None
        return self.all_up - self.first_down


def jvm_started(host):
    """When the member's ZooKeeper JVM started (seconds since the epoch)."""
    out = host.sh("p=$(cat /run/zookeeper/zookeeper.pid); cut -d' ' -f22 /proc/$p/stat; "
                  "cut -d' ' -f1 /proc/uptime; getconf CLK_TCK; date +%s.%N").stdout.split()
    ticks, uptime, hz, now = int(out[0]), float(out[1]), int(out[2]), float(out[3])
    return now - (uptime - ticks / float(hz))


def loads(lab, mon):
    """Per member: seconds from its JVM's start to serving."""
    return {h.name: round(mon.member_up[h.name] - jvm_started(h), 2) for h in lab.members if h.name in mon.member_up}


def same_state(zxids):
    """True when the members report one state: the same last zxid, where a leader that has
    committed nothing in its new epoch yet (counter 0) agrees with any follower."""
    zxids = list(zxids)
    if None in zxids:
        return False
    return len(set(z for z in zxids if z & 0xFFFFFFFF)) <= 1


def parallel(fn, items):
    errors = []

    def run(item):
        try:
            fn(item)
        except Exception as exc:  # reported below
            errors.append("%s: %s" % (item, exc))
    threads = [threading.Thread(target=run, args=(i,)) for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("; ".join(errors))


def naive(lab):
    """Stop all, copy the restored files in, start all (the monitor times it)."""
    data, log = "%s/version-2" % lab.data_dir, "%s/version-2" % lab.data_log_dir
    parallel(lambda h: h.stop_zk(), lab.members)
    parallel(lambda h: h.sh(
        "rm -rf %(d)s %(l)s && cp -a %(src)s/data %(d)s && cp -a %(src)s/datalog %(l)s && "
        "chown -R zookeeper:zookeeper %(d)s %(l)s" % {"d": data, "l": log, "src": RESTORED_FILES},
        timeout=600), lab.members)
    parallel(lambda h: h.start_zk(), lab.members)


STAGE = """
- name: Lay down the files a restore of the newest backup puts in place, on every member
  hosts: zookeeper
  gather_facts: false
  tasks:
    - name: Plan
      zkops.zookeeper.zk_restore_plan:
        backup_hosts: [%(backup)s]
        ensemble: %(ensemble)s
      run_once: true
      register: plan
    - name: Stage
      zkops.zookeeper.zk_restore:
        state: staged
        restore_id: bench-files
        backup_host: %(backup)s
        ensemble: %(ensemble)s
        backup_ids: "{{ plan.plan.backup_ids }}"
"""


def keep_restored_files(lab):
    """The very files restore.yml puts in place (the backup's restorable set, as staged),
    copied aside on every member for the naive runs."""
    res = run_playbook(lab, STAGE % {"backup": lab.backup_hosts[0].ip, "ensemble": lab.name})
    if res.rc:
        raise SystemExit("staging the files failed\n" + res.output())
    parallel(lambda h: h.sh(
        "rm -rf %(s)s && mkdir -p %(s)s && mv %(d)s/.zkops-restore/bench-files/staged/version-2 %(s)s/data && "
        "mv %(l)s/.zkops-restore/bench-files/staged/version-2 %(s)s/datalog && "
        "rm -rf %(d)s/.zkops-restore/bench-files %(l)s/.zkops-restore/bench-files"
        % {"s": RESTORED_FILES, "d": lab.data_dir, "l": lab.data_log_dir}, timeout=600), lab.members)


def touch(lab, n):
    zk = workload.client(lab)
    try:
        zk.create("/bench-round-%d" % n, b"x")
    finally:
        zk.stop()
        zk.close()


def wait_served(mon, timeout=300):
    deadline = time.time() + timeout
    while mon.all_up is None and time.time() < deadline:
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--znodes", type=int, default=500000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--output", default=os.path.join(REPO, "bench", "results", "restore.json"))
    a = ap.parse_args()

    lab = Lab(name="bench-restore", members=3, backups=1, separate_datalog=True, heap="1g")
    lab.up()
    try:
        t0 = time.time()
        zk = workload.client(lab, timeout=30)
        made = workload.bulk_load(zk, a.znodes)
        zk.stop()
        zk.close()
        lab.wait_zxid_agree(timeout=120)
        print("loaded %d znodes in %.1f s" % (made, time.time() - t0), flush=True)
        res = run_playbook(lab, os.path.join(REPO, "playbooks", "backup.yml"),
                           extra_vars={"zookeeper_backup_deep": True, "zookeeper_backup_install_packages": False})
        if res.rc:
            raise SystemExit("the backup failed\n" + res.output())
        print("backup playbook %.1f s" % res.duration, flush=True)
        extra = {"zookeeper_restore_confirm": lab.name}
        rounds = []
        for i in range(a.rounds + 1):
            touch(lab, i)
            results = os.path.join(lab.dir, "bench-restore-results-%d.jsonl" % i)
            mon = Monitor(lab, results).start()
            res = run_playbook(lab, os.path.join(REPO, "playbooks", "restore.yml"), extra_vars=extra,
                               env={"ZKOPS_RESULTS": results})
            mon.stop()
            if res.rc:
                raise SystemExit("restore.yml failed\n" + res.output())
            ours = {"outage": mon.outage, "digest_confirmed": mon.digest_confirmed - mon.first_down
                    if mon.digest_confirmed else None, "playbook": res.duration, "zxid": mon.zxid,
                    "timeline": [(round(t - mon.first_down, 2), task) for t, task in mon.timeline
                                 if t >= mon.first_down - 5],
                    "start_to_serving": loads(lab, mon)}
            if i == 0:
                # The first run is a warm-up and leaves the restored files to copy by hand.
                keep_restored_files(lab)
                print("warm-up restore.yml: outage %.2f s, playbook %.1f s" % (ours["outage"], res.duration), flush=True)
                continue
            touch(lab, 100 + i)
            mon = Monitor(lab).start()
            t = time.time()
            naive(lab)
            wait_served(mon)
            mon.stop()
            hand = {"outage": mon.outage, "procedure": time.time() - t, "zxid": mon.zxid,
                    "start_to_serving": loads(lab, mon)}
            rounds.append({"naive": hand, "restore_yml": ours})
            print("round %d: naive outage %.2f s; restore.yml outage %.2f s (ratio %.2f), digest confirmed after "
                  "%.2f s, playbook %.1f s; JVM start to serving: naive %s, restore.yml %s"
                  % (i, hand["outage"], ours["outage"], ours["outage"] / hand["outage"],
                     ours["digest_confirmed"] or -1, ours["playbook"], hand["start_to_serving"],
                     ours["start_to_serving"]), flush=True)
        naive_med = statistics.median(r["naive"]["outage"] for r in rounds)
        ours_med = statistics.median(r["restore_yml"]["outage"] for r in rounds)
        digest_med = statistics.median(r["restore_yml"]["digest_confirmed"] for r in rounds)
        report = {"znodes": a.znodes, "members": 3, "rounds": rounds, "naive_outage_median": naive_med,
                  "restore_yml_outage_median": ours_med, "ratio": ours_med / naive_med,
                  "digest_confirmed_median": digest_med, "target": {"ratio_max": 1.2}}
        report["pass"] = report["ratio"] <= 1.2
        os.makedirs(os.path.dirname(a.output), exist_ok=True)
        with open(a.output, "w") as f:
            json.dump(report, f, indent=1)
        print("median outage: naive %.2f s, restore.yml %.2f s, ratio %.2f (target <= 1.2); live digest confirmed "
              "%.2f s after the first member stopped" % (naive_med, ours_med, report["ratio"], digest_med))
        print("PASS" if report["pass"] else "FAIL")
        return 0 if report["pass"] else 1
    finally:
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
