"""Benchmark: live tree export and import against zk-shell and a bare kazoo loop.

In one run, on one lab (3 members), on the same trees:

  small tree (--small znodes, default 100k):
    ours       zk_tree_export's library: data, ACL and stat of every znode, written to
               a compressed export file with its digest
    zk-shell   `cp /small json://...` (data and ACLs, no stat), the usual baseline
  large tree (--large znodes, default 500k):
    ours       as above
    kazoo      a bare pipelined kazoo loop: get_children_async, get_async and
               get_acls_async for every znode, --window znodes in flight, results dropped
  import      the small tree's export imported into the emptied subtree (zk_tree_import's
              library, merge mode): the write phase and the whole import (read the file,
              walk, plan, write, verify)

Prints znodes/s and the ratios and writes them as JSON (--out).  Needs root (the lab)
and zk-shell in the same Python (pip install zk-shell).  Usage, from the repository root:

  .venv/bin/python bench/bench_tree.py [--small 100000] [--large 500000] [--out FILE]
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

from lab import Lab  # noqa: E402
from lab.ansible import collections_path  # noqa: E402

sys.path.insert(0, collections_path())

from kazoo.client import KazooClient  # noqa: E402
from kazoo.security import make_digest_acl_credential  # noqa: E402

from ansible_collections.zkops.zookeeper.plugins.module_utils import (  # noqa: E402
    tree_export, tree_import, zk_pipeline, zk_protocol as zp)

WORLD = ((31, "world", "anyone"),)
ALICE = ((31, "digest", make_digest_acl_credential("alice", "secret")), (1, "world", "anyone"))
PARAMS_AUTH = [{"scheme": "digest", "credential": "alice:secret"}]


def populate(zk, root, count, value_size=100, fanout=1000, batch=500, window=16):
    """``count`` znodes under ``root`` (parents of ``fanout`` children, some with a
    digest ACL), created in pipelined multis."""
    t0 = time.time()
    zk.ensure_path(root)
    parents = max(1, (count - 1) // fanout)
    inflight = collections.deque()
    ops = []
    value = os.urandom(value_size)

    def flush():
        if ops:
            inflight.append(zp.call_async(zk, zp.Multi(list(ops))))
            del ops[:]
            while len(inflight) >= window:
                assert not any(isinstance(r, Exception) for r in inflight.popleft().get())

    made = 1
    for p in range(parents):
        ops.append(zp.Create("%s/p%05d" % (root, p), b"", WORLD, 0))
        made += 1
    flush()
    while inflight:
        inflight.popleft().get()
    p = 0
    while made < count:
        parent = "%s/p%05d" % (root, p % parents)
        ops.append(zp.Create("%s/n%07d" % (parent, made), value,
                             ALICE if made % 10 == 0 else WORLD, 0))
        made += 1
        p += 1
        if len(ops) >= batch:
            flush()
    flush()
    while inflight:
        assert not any(isinstance(r, Exception) for r in inflight.popleft().get())
    return time.time() - t0


def wipe(zk, root, window=16):
    paths = []
    level = [root]
    while level:
        paths += level
        futs = [(p, zk.get_children_async(p)) for p in level]
        level = [p + "/" + c for p, f in futs for c in f.get()]
    paths.sort(key=lambda p: p.count("/"), reverse=True)
    inflight = collections.deque()
    for i in range(0, len(paths), 1000):
        inflight.append(zp.call_async(zk, zp.Multi([zp.Delete(p, -1)
                                                    for p in paths[i:i + 1000]])))
        while len(inflight) >= window:
            inflight.popleft().get()
    while inflight:
        inflight.popleft().get()


def ours(hosts, root, dest):
    params = dict(hosts=hosts, auth=PARAMS_AUTH)
    pool = zk_pipeline.open_pool(params, connections=2 * len(hosts.split(",")))
    try:
        source = tree_export.LiveSource(pool, root, ["/zookeeper"], hosts=hosts)
        t0 = time.time()
        summary = tree_export.export_file(source, dest, root, ["/zookeeper"])
        dt = time.time() - t0
    finally:
        pool.close()
    return dict(count=summary["trailer"]["count"], seconds=dt,
                rate=summary["trailer"]["count"] / dt, bytes=summary["bytes"],
                digest=summary["trailer"]["digest"])


def zkshell(hosts, root, out):
    exe = os.path.join(os.path.dirname(sys.executable), "zk-shell")
    if not os.path.exists(exe):
        return dict(error="zk-shell is not installed in this Python (pip install zk-shell)")
    t0 = time.time()
    p = subprocess.run([exe, "--run-once", "cp %s json://%s/ true true" % (
        root, out.replace("/", "!")), hosts.split(",")[0]], capture_output=True, text=True,
        check=False)
    dt = time.time() - t0
    if p.returncode != 0 or not os.path.exists(out):
        return dict(error="zk-shell failed: %s" % (p.stderr or p.stdout)[-500:])
    with open(out) as f:
        count = len(json.load(f))
    return dict(count=count, seconds=dt, rate=count / dt)


def kazoo_loop(hosts, root, window):
    zk = KazooClient(hosts=hosts, timeout=30, auth_data=[("digest", "alice:secret")])
    zk.start()
    try:
        t0 = time.time()
        count = 0
        queue = collections.deque([root])
        inflight = collections.deque()
        # A sliding window: answers come back in request order, so waiting for the
        # oldest and refilling at once keeps ``window`` znodes in flight all the time.
        while queue or inflight:
            while queue and len(inflight) < window:
                p = queue.popleft()
                inflight.append((p, zk.get_children_async(p), zk.get_async(p),
                                 zk.get_acls_async(p)))
            p, fc, fd, fa = inflight.popleft()
            children = fc.get()
            fd.get()
            fa.get()
            count += 1
            queue.extend(p + "/" + c for c in children)
        dt = time.time() - t0
    finally:
        zk.stop()
    return dict(count=count, seconds=dt, rate=count / dt)


def importing(hosts, root, src, zk):
    wipe(zk, root)
    params = dict(hosts=hosts, auth=PARAMS_AUTH)
    t0 = time.time()
    r = tree_import.run_import(params, src, mode="merge", connections=6)
    dt = time.time() - t0
    n = r["counts"]["create"]
    return dict(count=n, write_seconds=r["applied"]["seconds"],
                write_rate=n / r["applied"]["seconds"], total_seconds=dt, total_rate=n / dt,
                verified=r["verified"])


def say(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--small", type=int, default=100000)
    ap.add_argument("--large", type=int, default=500000)
    ap.add_argument("--window", type=int, default=500, help="kazoo loop: znodes in flight")
    ap.add_argument("--heap", default="1500m",
                    help="members' JVM heap (600k znodes need well over 512m)")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "tree.json"))
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-tree-")
    lab = Lab(name="bench-tree", members=3, backups=0, heap=a.heap)
    lab.up()
    res = dict(small=a.small, large=a.large, machine=dict(cpus=os.cpu_count()))
    try:
        hosts = lab.connect_string
        zk = KazooClient(hosts=hosts, timeout=30, auth_data=[("digest", "alice:secret")])
        zk.start()
        say("lab up; loading the trees")
        res["populate_small_s"] = populate(zk, "/small", a.small)
        res["populate_large_s"] = populate(zk, "/large", a.large)
        lab.wait_zxid_agree()
        with open("/proc/loadavg") as f:
            res["loadavg_before"] = f.read().split()[:3]

        res["ours_small"] = ours(hosts, "/small", os.path.join(tmp, "small.zktree.gz"))
        say("ours, small tree:", res["ours_small"])
        res["zkshell_small"] = zkshell(hosts, "/small", os.path.join(tmp, "small.json"))
        say("zk-shell, small tree:", res["zkshell_small"])
        res["ours_large"] = ours(hosts, "/large", os.path.join(tmp, "large.zktree.gz"))
        say("ours, large tree:", res["ours_large"])
        res["kazoo_large"] = kazoo_loop(hosts, "/large", a.window)
        say("kazoo loop, large tree:", res["kazoo_large"])
        res["import_small"] = importing(hosts, "/small", os.path.join(tmp, "small.zktree.gz"),
                                        zk)
        say("import, small tree:", res["import_small"])
        with open("/proc/loadavg") as f:
            res["loadavg_after"] = f.read().split()[:3]
        zk.stop()
    finally:
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)

    if "rate" in res["zkshell_small"]:
        res["ratio_vs_zkshell"] = res["ours_small"]["rate"] / res["zkshell_small"]["rate"]
    res["ratio_vs_kazoo"] = res["ours_large"]["rate"] / res["kazoo_large"]["rate"]
    print("znodes/s  ours(small) %.0f  zk-shell(small) %s  ours(large) %.0f  kazoo(large) %.0f"
          % (res["ours_small"]["rate"], "%.0f" % res["zkshell_small"]["rate"]
             if "rate" in res["zkshell_small"] else res["zkshell_small"]["error"],
             res["ours_large"]["rate"], res["kazoo_large"]["rate"]))
    if "ratio_vs_zkshell" in res:
        print("ours / zk-shell: %.1fx" % res["ratio_vs_zkshell"])
    print("ours / kazoo loop: %.1fx" % res["ratio_vs_kazoo"])
    imp = res["import_small"]
    print("import: %d znodes, writes %.0f/s, whole import %.0f/s (verified: %s)"
          % (imp["count"], imp["write_rate"], imp["total_rate"], imp["verified"]))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print("results in", a.out)


if __name__ == "__main__":
    main()
