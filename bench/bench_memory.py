"""Benchmark: peak memory and time of deep verification and replay, streamed against the
whole tree in memory, on trees of millions of znodes written by a real server.

For each --znodes count, a one-member lab loads the tree (multis of 200 creates, parents
of 1000 children, 100-byte values), restarts ZooKeeper so that it writes a snapshot
holding all of it (a standalone server snapshots on start; snapCount is set far above
the load), then logs a workload after the snapshot (setData, creates, deletes, multis,
the ephemerals of a session that closes).  The snapshot and the logs a replay needs are
copied once to --cache (outside the repository) and reused by later runs.

Then each run is a fresh Python process, whose peak resident memory (VmHWM: the whole
process, interpreter and imports included) and wall time are reported:

  verify_deep      datadir.verify_files(deep=True): what zk_verify deep and the restore's
                   staging check run (the files verified, then the streamed replay)
  backup_deep      replay.replay_summary(): what zk_backup's deep verification runs
  verify_deep_old  the same verification with the whole tree in memory (datadir.Loader,
                   the path the tree export from data files keeps)
  backup_deep_old  replay.replay() + summarize(): the whole tree in memory

Every run must give the same digest and znode count.  Needs root (the lab).  Usage, from
the repository root:

  .venv/bin/python bench/bench_memory.py [--znodes 1000000,5000000]
      [--cache /var/cache/zkops-lab/bench] [--only verify_deep,backup_deep,...]
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

RUNS = ("verify_deep", "backup_deep", "verify_deep_old", "backup_deep_old")
TARGET_RSS = 256 * 1024 * 1024
TARGET_GROWTH = 5.5

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, %(collections)r)
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir, replay
run, files = sys.argv[1], json.loads(sys.argv[2])
t0 = time.time()
if run.startswith("verify_deep"):
    loader = datadir.Loader() if run.endswith("_old") else None
    rep = datadir.verify_files(files, deep=True, loader=loader)
    assert rep["restorable"], rep["reasons"]
    out = {k: rep[k] for k in ("digest", "znode_count", "znodes", "last_zxid")}
    out["applied"] = rep["replay"]["applied"]
    out["zk_digest_checked"] = rep["replay"]["zk_digest"]["checked"]
    out["zk_digest_mismatches"] = len(rep["replay"]["zk_digest"]["mismatches"])
else:
    snap = [p for p in files if "snapshot." in os.path.basename(p)][0]
    logs = sorted((p for p in files if "log." in os.path.basename(p)),
                  key=lambda p: int(os.path.basename(p).split(".")[1], 16))
    if run.endswith("_old"):
        tree, res = replay.replay(snap, logs)
        summary = replay.summarize(tree)
    else:
        summary, res = replay.replay_summary(snap, logs)
    out = {k: summary[k] for k in ("digest", "znode_count", "znodes")}
    out["last_zxid"] = res["last_zxid"]
    out["applied"] = res["applied"]
    out["zk_digest_checked"] = res["zk_digest"]["checked"]
    out["zk_digest_mismatches"] = len(res["zk_digest"]["mismatches"])
out["seconds"] = round(time.time() - t0, 2)
with open("/proc/self/status") as f:
    for line in f:
        if line.startswith("VmHWM:"):
            out["peak_rss_bytes"] = int(line.split()[1]) * 1024
print(json.dumps(out))
"""


def log_start(p):
    return int(os.path.basename(p).split(".")[1], 16)


def needed_files(vdir):
    """The newest snapshot and the logs a server reads after it (FileTxnLog.getLogFiles:
    the newest log that began at or before it, and every later one)."""
    snaps = sorted(glob.glob(os.path.join(vdir, "snapshot.*")), key=log_start)
    snap = snaps[-1]
    z = log_start(snap)
    logs = sorted(glob.glob(os.path.join(vdir, "log.*")), key=log_start)
    start = max([log_start(p) for p in logs if log_start(p) <= z] or [0])
    return snap, [p for p in logs if log_start(p) >= start]


def workload(zk, connect_string, znodes, fanout=1000):
    """Transactions after the snapshot: about 1% of the tree changed, created or deleted."""
    from kazoo.client import KazooClient
    parents = (znodes + fanout - 1) // fanout
    n = max(1000, znodes // 100)
    step = max(1, znodes // n)
    pending = []

    def drain(limit=500):
        while len(pending) > limit:
            pending.pop(0).get(timeout=60)

    for i in range(n):
        k = i * step
        path = "/bulk/p%05d/n%06d" % ((k // fanout) % parents, k % fanout)
        if i % 4 == 0:
            pending.append(zk.delete_async(path))
        else:
            pending.append(zk.set_async(path, b"changed %d" % i))
        drain()
    for i in range(n // 4):
        pending.append(zk.create_async("/bulk/p%05d/new%06d" % (i % parents, i), b"new"))
        drain()
    drain(0)
    for i in range(50):
        tx = zk.transaction()
        tx.create("/bulk/p%05d/multi%03d" % (i % parents, i), b"m")
        tx.set_data("/bulk/p%05d" % (i % parents), b"parent %d" % i)
        tx.commit()
    other = KazooClient(hosts=connect_string, timeout=30)
    other.start()
    for i in range(100):
        other.create("/bulk/p%05d/eph%03d" % (i % parents, i), b"e", ephemeral=True)
    other.stop()
    other.close()
    return n + n // 4 + 50 + 100


def load(lab, znodes, fanout=1000, batch=200, value_size=100):
    """bulk_load's tree (the same paths and values), resumed after a lost connection: a
    busy machine and a JVM collecting a heap of millions of znodes drop sessions now
    and then.  Returns the number of znodes."""
    from kazoo.exceptions import KazooException
    from lab.workload import client
    parents = (znodes + fanout - 1) // fanout
    value = b"v" * value_size
    p = 0
    zk = None
    tries = 0
    while p < parents:
        try:
            if zk is None:
                zk = client(lab, timeout=60)
                zk.ensure_path("/bulk")
            parent = "/bulk/p%05d" % p
            kids = min(fanout, znodes - p * fanout)
            have = set(zk.get_children(parent)) if zk.exists(parent) else None
            if have is None:
                zk.create(parent, b"")
                have = set()
            names = ["n%06d" % k for k in range(kids) if "n%06d" % k not in have]
            pending = []
            for i in range(0, len(names), batch):
                tx = zk.transaction()
                for name in names[i:i + batch]:
                    tx.create(parent + "/" + name, value)
                pending.append(tx.commit_async())
            for a in pending:
                for r in a.get(timeout=120):
                    if isinstance(r, Exception):
                        raise r
            p += 1
        except KazooException:
            tries += 1
            if tries > 50:
                raise
            if zk is not None:
                zk.stop()
                zk.close()
                zk = None
            time.sleep(2)
    zk.stop()
    zk.close()
    return parents + znodes


def build(znodes, cache):
    """The cached data directory of a ``znodes`` tree (built once): (files, about)."""
    from lab import Lab
    from lab.workload import client
    where = os.path.join(cache, "memory-%d" % znodes)
    about_path = os.path.join(where, "about.json")
    if os.path.exists(about_path):
        with open(about_path) as f:
            about = json.load(f)
        return [os.path.join(where, n) for n in about["files"]], about
    heap = "%dm" % max(1024, znodes // 1000 * 1400)
    lab = Lab(name="bmem", members=1, backups=0, snap_count=100000000, heap=heap)
    lab.up()
    try:
        h = lab.members[0]
        t0 = time.time()
        made = load(lab, znodes)
        load_s = time.time() - t0
        t1 = time.time()
        h.stop_zk()
        deadline = time.time() + 120
        while h.zk_running() and time.time() < deadline:
            time.sleep(0.5)
        h.start_zk()
        deadline = time.time() + 1800
        while h.mode() != "standalone":
            if time.time() > deadline:
                raise SystemExit("ZooKeeper did not come back with %d znodes" % znodes)
            time.sleep(1)
        restart_s = time.time() - t1
        zk = client(lab, timeout=60)
        t2 = time.time()
        txns = workload(zk, lab.connect_string, znodes)
        workload_s = time.time() - t2
        zk.stop()
        zk.close()
        vdir = h.path("/var/lib/zookeeper/version-2")
        snap, logs = needed_files(vdir)
        tmp = where + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for p in [snap] + logs:
            shutil.copyfile(p, os.path.join(tmp, os.path.basename(p)))
    finally:
        lab.down()
    about = {"znodes_loaded": made, "load_s": round(load_s, 1),
             "load_znodes_per_s": int(made / load_s), "restart_s": round(restart_s, 1),
             "workload_txns": txns, "workload_s": round(workload_s, 1),
             "files": [os.path.basename(p) for p in [snap] + logs],
             "snapshot_bytes": os.path.getsize(os.path.join(tmp, os.path.basename(snap)))}
    with open(os.path.join(tmp, "about.json"), "w") as f:
        json.dump(about, f, indent=1)
    shutil.rmtree(where, ignore_errors=True)
    os.rename(tmp, where)
    return [os.path.join(where, n) for n in about["files"]], about


def measure(run, files):
    from lab.ansible import collections_path
    code = CHILD % {"collections": collections_path()}
    r = subprocess.run([sys.executable, "-c", code, run, json.dumps(files)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if r.returncode:
        raise SystemExit("%s failed:\n%s" % (run, r.stderr.decode(errors="replace")))
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def mib(n):
    return round(n / 1048576.0, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--znodes", default="1000000,5000000", help="comma-separated tree sizes")
    ap.add_argument("--cache", default="/var/cache/zkops-lab/bench")
    ap.add_argument("--only", default=",".join(RUNS), help="comma-separated: " + ",".join(RUNS))
    a = ap.parse_args()
    sizes = [int(x) for x in a.znodes.split(",") if x]
    runs = [r for r in a.only.split(",") if r]
    unknown = [r for r in runs if r not in RUNS]
    if unknown:
        ap.error("unknown run(s): %s" % ", ".join(unknown))
    os.makedirs(a.cache, exist_ok=True)
    res = {"sizes": {}, "python": sys.version.split()[0]}
    for size in sizes:
        t0 = time.time()
        files, about = build(size, a.cache)
        entry = {"build": about, "build_or_cache_s": round(time.time() - t0, 1), "runs": {}}
        res["sizes"][str(size)] = entry
        for run in runs:
            got = measure(run, files)
            entry["runs"][run] = got
            print("%9d %-16s %7.2f s  peak %7.1f MiB  znodes %d  digest %s" % (
                size, run, got["seconds"], mib(got["peak_rss_bytes"]), got["znodes"],
                got["digest"][:16]), flush=True)
        digests = set((r["digest"], r["znode_count"], r["last_zxid"]) for r in entry["runs"].values())
        entry["same_result"] = len(digests) == 1
        for new in ("verify_deep", "backup_deep"):
            old = new + "_old"
            if new in entry["runs"] and old in entry["runs"]:
                n, o = entry["runs"][new], entry["runs"][old]
                entry[new + "_vs_old"] = {"time": round(n["seconds"] / o["seconds"], 2),
                                          "peak_rss": round(n["peak_rss_bytes"] / o["peak_rss_bytes"], 3)}
    ok = all(e["same_result"] for e in res["sizes"].values())
    for run in ("verify_deep", "backup_deep"):
        peaks = [e["runs"][run]["peak_rss_bytes"] for e in res["sizes"].values() if run in e["runs"]]
        if peaks:
            res[run + "_peak_rss_MiB"] = mib(max(peaks))
            ok = ok and max(peaks) < TARGET_RSS
        if len(sizes) > 1 and all(run in res["sizes"][str(s)]["runs"] for s in sizes):
            lo, hi = res["sizes"][str(min(sizes))], res["sizes"][str(max(sizes))]
            growth = hi["runs"][run]["seconds"] / lo["runs"][run]["seconds"]
            res[run + "_time_growth"] = {"from": min(sizes), "to": max(sizes), "ratio": round(growth, 2),
                                         "target": round(TARGET_GROWTH * max(sizes) / min(sizes) / 5, 2)}
            ok = ok and growth <= TARGET_GROWTH * max(sizes) / min(sizes) / 5
    out = os.path.join(REPO, "bench", "results", "memory-%d.json" % int(time.time()))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "sizes"}, indent=1))
    for size, e in res["sizes"].items():
        print(size, {k: v for k, v in e.items() if k.endswith("_vs_old") or k == "same_result"})
    print("targets %s (peak under %d MiB, time growth within %.1fx per 5x znodes, same results)"
          % ("met" if ok else "MISSED", TARGET_RSS // 1048576, TARGET_GROWTH))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
