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
  files       the large tree exported from a member's data files (zk_tree_export's
              source files: verify the files, replay snapshot and logs, write the export),
              against ours on the large tree, the live export of the same tree
  import      the small tree's export imported into the emptied subtree (zk_tree_import's
              library, merge mode): the write phase and the whole import (read the file,
              walk, plan, write, verify)
  versions    the same tree (--versions-znodes, default 100k) exported live from this
              3.8.0 lab (multiRead, and single reads forced with multi_read=False) and
              from a second 3-member lab of ZooKeeper --old (default 3.5.9, which has no
              multiRead: the walk probes it and reads each znode singly), one lab at a time

Prints znodes/s and the ratios and writes them as JSON (--out).  Needs root (the lab)
and zk-shell in the same Python (pip install zk-shell).  Usage, from the repository root:

  .venv/bin/python bench/bench_tree.py [--small 100000] [--large 500000] [--out FILE]
      [--only ours_small,zkshell,ours_large,kazoo,files,import,versions] [--snap-count N]
      [--versions-znodes N] [--old VERSION]
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

from lab import Lab, zkdist  # noqa: E402
from lab.ansible import collections_path  # noqa: E402

sys.path.insert(0, collections_path())

from kazoo.client import KazooClient  # noqa: E402
from kazoo.security import make_digest_acl_credential  # noqa: E402

from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import export as tree_export
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import importer as tree_import
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import replay as tree_replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import pipeline as zk_pipeline
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zp

RUNS = ("ours_small", "zkshell", "ours_large", "kazoo", "files", "import", "versions")

WORLD = ((31, "world", "anyone"),)
ALICE = ((31, "digest", make_digest_acl_credential("alice", "secret")), (1, "world", "anyone"))
PARAMS_AUTH = [{"scheme": "digest", "credential": "alice:secret"}]


def populate(zk, root, count, value_size=100, fanout=1000, batch=500, window=16, value=None):
    """``count`` znodes under ``root`` (parents of ``fanout`` children, some with a
    digest ACL), created in pipelined multis; every value is ``value`` (default random)."""
    t0 = time.time()
    zk.ensure_path(root)
    parents = max(1, (count - 1) // fanout)
    inflight = collections.deque()
    ops = []
    value = os.urandom(value_size) if value is None else value

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


def ours(hosts, root, dest, multi_read=None):
    params = dict(hosts=hosts, auth=PARAMS_AUTH)
    pool = zk_pipeline.open_pool(params, connections=2 * len(hosts.split(",")))
    try:
        source = tree_export.LiveSource(pool, root, ["/zookeeper"], hosts=hosts,
                                        multi_read=multi_read)
        t0 = time.time()
        summary = tree_export.export_file(source, dest, root, ["/zookeeper"])
        dt = time.time() - t0
        walk = source.walker.stats
    finally:
        pool.close()
    return dict(count=summary["trailer"]["count"], seconds=dt,
                rate=summary["trailer"]["count"] / dt, bytes=summary["bytes"],
                digest=summary["trailer"]["digest"], multi_read=walk.multi_read,
                requests=walk.requests, lost_sessions=walk.lost_sessions)


def versions(a, lab, zk, tmp, res):
    """The same tree exported from this lab (multiRead, then single reads forced) and from
    a lab of ZooKeeper ``a.old``, brought up after and taken down at once."""
    res["versions_znodes"] = a.versions_znodes
    value = bytes(range(100))          # the same tree, digest included, on both labs
    populate(zk, "/ver", a.versions_znodes, value=value)
    lab.wait_zxid_agree()
    new = lab.members[0].zk_version
    res["new_version"] = new
    res["new_multi_read"] = ours(lab.connect_string, "/ver", os.path.join(tmp, "new.zktree.gz"))
    say("ours, %s, multiRead:" % new, res["new_multi_read"])
    res["new_single_reads"] = ours(lab.connect_string, "/ver", os.path.join(tmp, "new1.zktree.gz"),
                                   multi_read=False)
    say("ours, %s, single reads:" % new, res["new_single_reads"])
    if a.old not in zkdist.DISTS or not zkdist.cached(a.old):
        res["old"] = dict(error=zkdist.missing_message(a.old))
        return
    old = Lab(name="bench-tree-old", members=3, backups=0, heap=a.heap,
              snap_count=a.snap_count, zk_versions=a.old)
    old.up()
    try:
        ozk = KazooClient(hosts=old.connect_string, timeout=30,
                          auth_data=[("digest", "alice:secret")])
        ozk.start()
        try:
            populate(ozk, "/ver", a.versions_znodes, value=value)
        finally:
            ozk.stop()
            ozk.close()
        old.wait_zxid_agree()
        res["old_version"] = a.old
        res["old"] = ours(old.connect_string, "/ver", os.path.join(tmp, "old.zktree.gz"))
        say("ours, %s:" % a.old, res["old"])
    finally:
        old.down()


def files(lab, root, dest):
    """The export computed from a member's data files, as zk_tree_export source=files does
    it on the member: the clock runs from the first read of the files to the renamed
    export file."""
    member = lab.members[0]
    data_dir = member.path(lab.data_dir)
    log_dir = member.path(lab.data_log_dir) if lab.data_log_dir != lab.data_dir else None
    source = tree_replay.DataDirSource(data_dir, log_dir, root, ["/zookeeper"])
    t0, cpu0, main0 = time.time(), time.process_time(), time.thread_time()
    summary = tree_export.export_file(source, dest, root, ["/zookeeper"])
    dt = time.time() - t0
    about = summary["header"]["source"]
    return dict(count=summary["trailer"]["count"], seconds=dt,
                rate=summary["trailer"]["count"] / dt, bytes=summary["bytes"],
                # CPU time says what an idle machine would take: the other labs'
                # load stretches the wall clock, not the work.
                cpu_seconds=time.process_time() - cpu0,
                main_thread_cpu_seconds=time.thread_time() - main0,
                digest=summary["trailer"]["digest"], zxid=about["zxid"],
                verify_seconds=about["verify_seconds"], replay_seconds=about["replay_seconds"],
                snapshot=about["snapshot"], logs=len(about["logs"]),
                replayed_transactions=about["applied"], znodes_replayed=len(source.tree.nodes))


def zkshell(hosts, root, out):
    # zk-shell in this Python, else in the virtualenv `make bench` makes for it.
    exe = next((e for e in (os.path.join(os.path.dirname(sys.executable), "zk-shell"),
                            os.path.join(REPO, ".venv-bench", "bin", "zk-shell")) if os.path.exists(e)), None)
    if exe is None:
        return dict(error="zk-shell is not installed: `make bench` installs it (bench/requirements.txt)")
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
        zk.close()
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
    ap.add_argument("--snap-count", type=int,
                    help="members' snapCount (ZooKeeper's default 100000 transactions leaves "
                    "the trees, loaded in multis of 500 creates, in the log after the first, "
                    "empty snapshot; 100 puts most of them into snapshots)")
    ap.add_argument("--keep-data", metavar="DIR",
                    help="copy the first member's data files to DIR before the lab goes down")
    ap.add_argument("--versions-znodes", type=int, default=100000,
                    help="versions run: znodes of the tree exported from both releases")
    ap.add_argument("--old", default="3.5.9",
                    help="versions run: the older ZooKeeper release (lab/zkdist.py's cache)")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "tree.json"))
    ap.add_argument("--only", default=",".join(RUNS),
                    help="comma-separated runs among %s" % ", ".join(RUNS))
    a = ap.parse_args()
    only = set(a.only.split(","))
    if only - set(RUNS):
        ap.error("unknown runs: %s" % ", ".join(sorted(only - set(RUNS))))

    tmp = tempfile.mkdtemp(prefix="bench-tree-")
    lab = Lab(name="bench-tree", members=3, backups=0, heap=a.heap, snap_count=a.snap_count)
    lab.up()
    res = dict(small=a.small, large=a.large, snap_count=a.snap_count,
               machine=dict(cpus=os.cpu_count()))
    try:
        hosts = lab.connect_string
        zk = KazooClient(hosts=hosts, timeout=30, auth_data=[("digest", "alice:secret")])
        zk.start()
        say("lab up; loading the trees")
        if only & {"ours_small", "zkshell", "import"}:
            res["populate_small_s"] = populate(zk, "/small", a.small)
        if only & {"ours_large", "kazoo", "files"}:
            res["populate_large_s"] = populate(zk, "/large", a.large)
        lab.wait_zxid_agree()
        with open("/proc/loadavg") as f:
            res["loadavg_before"] = f.read().split()[:3]

        small_file = os.path.join(tmp, "small.zktree.gz")
        if only & {"ours_small", "import"}:
            res["ours_small"] = ours(hosts, "/small", small_file)
            say("ours, small tree:", res["ours_small"])
        if "zkshell" in only:
            res["zkshell_small"] = zkshell(hosts, "/small", os.path.join(tmp, "small.json"))
            say("zk-shell, small tree:", res["zkshell_small"])
        if only & {"ours_large", "files"}:
            res["ours_large"] = ours(hosts, "/large", os.path.join(tmp, "large.zktree.gz"))
            say("ours, large tree:", res["ours_large"])
        if "files" in only:
            res["files_large"] = files(lab, "/large", os.path.join(tmp, "large-files.zktree.gz"))
            say("files, large tree:", res["files_large"])
        if "kazoo" in only:
            res["kazoo_large"] = kazoo_loop(hosts, "/large", a.window)
            say("kazoo loop, large tree:", res["kazoo_large"])
        if "import" in only:
            res["import_small"] = importing(hosts, "/small", small_file, zk)
            say("import, small tree:", res["import_small"])
        if "versions" in only:
            versions(a, lab, zk, tmp, res)
        with open("/proc/loadavg") as f:
            res["loadavg_after"] = f.read().split()[:3]
        zk.stop()
        zk.close()
        if a.keep_data:
            member = lab.members[0]
            shutil.copytree(member.path(lab.data_dir), a.keep_data, symlinks=True)
            if lab.data_log_dir != lab.data_dir:
                shutil.copytree(member.path(lab.data_log_dir), a.keep_data + "-log")
    finally:
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)

    report(res)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print("results in", a.out)


def report(res):
    """Print the rates and the ratios of the runs that ran (and add the ratios to res)."""
    def rate(key):
        return "%.0f" % res[key]["rate"] if "rate" in res.get(key, {}) else \
            res.get(key, {}).get("error", "-")

    print("znodes/s  ours(small) %s  zk-shell(small) %s  ours(large) %s  kazoo(large) %s  "
          "files(large) %s" % tuple(rate(k) for k in ("ours_small", "zkshell_small", "ours_large",
                                                      "kazoo_large", "files_large")))
    for name, ours_key, base_key in (("ours / zk-shell", "ours_small", "zkshell_small"),
                                     ("ours / kazoo loop", "ours_large", "kazoo_large"),
                                     ("files / ours (live)", "files_large", "ours_large")):
        if "rate" in res.get(ours_key, {}) and "rate" in res.get(base_key, {}):
            ratio = res[ours_key]["rate"] / res[base_key]["rate"]
            res["ratio_%s_vs_%s" % (ours_key, base_key)] = ratio
            print("%s: %.1fx" % (name, ratio))
    if "files_large" in res and "ours_large" in res:
        same = res["files_large"]["digest"] == res["ours_large"]["digest"]
        res["files_digest_equals_live"] = same
        print("files export digest equals the live export's: %s" % same)
    if "rate" in res.get("old", {}) and "new_multi_read" in res:
        new, single, old = res["new_multi_read"], res["new_single_reads"], res["old"]
        res["ratio_old_vs_new"] = old["rate"] / new["rate"]
        res["ratio_new_single_vs_multi"] = single["rate"] / new["rate"]
        print("versions: %d znodes; %s multiRead %.0f/s (%d requests), single reads %.0f/s "
              "(%d requests); %s %.0f/s (multiRead %s, %d requests)"
              % (new["count"], res["new_version"], new["rate"], new["requests"], single["rate"],
                 single["requests"], res["old_version"], old["rate"], old["multi_read"],
                 old["requests"]))
        print("%s / %s: %.2fx; single reads / multiRead on %s: %.2fx" % (
            res["old_version"], res["new_version"], res["ratio_old_vs_new"],
            res["new_version"], res["ratio_new_single_vs_multi"]))
        res["versions_same_digest"] = len({new["digest"], single["digest"], old["digest"]}) == 1
        print("the three exports have the same digest: %s" % res["versions_same_digest"])
    elif "old" in res:
        print("versions: %s" % res["old"].get("error"))
    if "import_small" in res:
        imp = res["import_small"]
        print("import: %d znodes, writes %.0f/s, whole import %.0f/s (verified: %s)"
              % (imp["count"], imp["write_rate"], imp["total_rate"], imp["verified"]))


if __name__ == "__main__":
    main()
