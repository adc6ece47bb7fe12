"""Benchmark: verify and replay of a real snapshot against ZooKeeper's SnapshotFormatter.

Builds a lab member with --znodes znodes (batched creates, a low snapCount so that the
server writes a snapshot holding all of them), then, on that same snapshot file, in the
same run:

  java SnapshotFormatter -json      (JVM start included, output discarded)
  java SnapshotFormatter            (default mode, JVM start included, output discarded)
  verify                            (read_snapshot: every seal, structure, lengths)
  replay                            (the tree in memory, then both tree digests)

and reports MB/s, the ratios to the Java runs and the memory the replayed tree takes per
znode.  Needs root (the lab).  Usage, from the repository root:

  .venv/bin/python bench/bench_formats.py [--znodes 500000] [--value-size 100]
      [--compression gz|snappy] [--keep FILE]
"""
import argparse
import gc
import glob
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

from lab import Lab  # noqa: E402
from lab.ansible import collections_path  # noqa: E402

sys.path.insert(0, collections_path())

import zkjava  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import replay  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import snapshot  # noqa: E402


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load(lab, znodes, value_size, batch=200, parents=500):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=lab.connect_string, timeout=30)
    zk.start()
    try:
        per = (znodes + parents - 1) // parents
        value = b"v" * value_size
        t0 = time.time()
        made = 0
        for p in range(parents):
            zk.create("/bench/p%04d" % p, b"", makepath=True)
            made += 1
        ops = []
        for p in range(parents):
            for c in range(per):
                if made >= znodes:
                    break
                ops.append("/bench/p%04d/c%06d" % (p, c))
                made += 1
        pending = []
        for i in range(0, len(ops), batch):
            t = zk.transaction()
            for path in ops[i:i + batch]:
                t.create(path, value)
            pending.append(t.commit_async())
            if len(pending) >= 20:
                for a in pending:
                    a.get(timeout=60)
                pending = []
        for a in pending:
            a.get(timeout=60)
        load_s = time.time() - t0
        return zk, made, load_s
    except Exception:
        zk.stop()
        zk.close()
        raise


def wait_snapshot(lab, zk, min_nodes, timeout=300):
    """Nudge the server with single writes until a complete snapshot holds min_nodes."""
    h = lab.members[0]
    vdir = h.path("/var/lib/zookeeper/version-2")
    deadline = time.time() + timeout
    i = 0
    while time.time() < deadline:
        for _x in range(50):
            zk.set("/bench", b"%d" % i)
            i += 1
        snaps = sorted(glob.glob(vdir + "/snapshot.*"),
                       key=lambda p: int(os.path.basename(p).split(".")[1], 16))
        if snaps:
            info = snapshot.read_snapshot(snaps[-1])
            if info.valid and info.node_count >= min_nodes:
                return snaps[-1], info
        time.sleep(0.5)
    raise SystemExit("no complete snapshot with %d znodes after %ds" % (min_nodes, timeout))


def timed(fn, *a, **kw):
    gc.collect()
    t0 = time.perf_counter()
    r = fn(*a, **kw)
    return r, time.perf_counter() - t0


def measure(path, runs=1):
    size = os.path.getsize(path)
    res = {"file": os.path.basename(path), "file_bytes": size}
    java_json = min(zkjava.run(zkjava.SNAPSHOT_FORMATTER, "-json", path)[1] for _x in range(runs))
    java_default = min(zkjava.run(zkjava.SNAPSHOT_FORMATTER, path)[1] for _x in range(runs))
    verify_s = []
    for _x in range(runs):
        info, dt = timed(snapshot.read_snapshot, path)
        assert info.valid, info.findings
        verify_s.append(dt)
    verify = min(verify_s)
    stream = info.stream_size
    gc.collect()
    before = rss()
    (tree, info2), load_s = timed(replay.load_snapshot, path)
    after = rss()
    summary, digest_s = timed(replay.summarize, tree)
    n = len(tree.nodes)
    res.update({
        "znodes": n,
        "stream_bytes": stream,
        "java_json_s": round(java_json, 3),
        "java_default_s": round(java_default, 3),
        "verify_s": round(verify, 3),
        "verify_MBps": round(stream / verify / 1e6, 1),
        "replay_load_s": round(load_s, 3),
        "replay_digest_s": round(digest_s, 3),
        "replay_s": round(load_s + digest_s, 3),
        "replay_MBps": round(stream / (load_s + digest_s) / 1e6, 1),
        "verify_vs_java_json": round(verify / java_json, 2),
        "replay_vs_java_default": round((load_s + digest_s) / java_default, 2),
        "replay_vs_java_json": round((load_s + digest_s) / java_json, 2),
        "tree_bytes_per_znode": int((after - before) / n),
        "avg_path_bytes": int(sum(len(p) for p in tree.nodes) / n),
        "avg_data_bytes": int(sum(len(v[0] or b"") for v in tree.nodes.values()) / n),
        "digest": summary["digest"],
        "targets": {"verify_vs_java_json": 1.5, "replay_vs_java_default": 3.0},
    })
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--znodes", type=int, default=500000)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--compression", choices=["gz", "snappy"], default=None)
    ap.add_argument("--runs", type=int, default=1, help="best of N for each timing")
    ap.add_argument("--keep", help="copy the snapshot here")
    ap.add_argument("--snapshot", help="measure this snapshot file instead of building a lab")
    args = ap.parse_args()
    if args.snapshot:
        res = measure(args.snapshot, args.runs)
    else:
        lab = Lab(name="bench", members=1, backups=0, snap_count=200, heap="2g",
                  snapshot_compression=args.compression)
        lab.up()
        try:
            zk, made, load_s = load(lab, args.znodes, args.value_size)
            try:
                path, info = wait_snapshot(lab, zk, args.znodes)
            finally:
                zk.stop()
                zk.close()
            work = os.path.join(REPO, "bench", "results")
            os.makedirs(work, exist_ok=True)
            local = os.path.join(work, os.path.basename(path))
            shutil.copyfile(path, local)
        finally:
            lab.down()
        res = measure(local, args.runs)
        res["load_znodes_per_s"] = int(made / load_s)
        if args.keep:
            shutil.copyfile(local, args.keep)
        os.unlink(local)
    res["python"] = sys.version.split()[0]
    res["compression"] = args.compression
    out = os.path.join(REPO, "bench", "results", "formats-%d.json" % int(time.time()))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))
    ok = res["verify_vs_java_json"] <= 1.5 and res["replay_vs_java_default"] <= 3.0
    print("targets %s" % ("met" if ok else "MISSED"))


if __name__ == "__main__":
    main()
