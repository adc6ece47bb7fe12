"""Run every benchmark, one after the other, each against its baseline in the same run.

  .venv/bin/python bench/run.py [--quick] [--only formats,tree,backup,restore,memory,fleet,sftp]

Each benchmark builds its own lab, measures its baseline and this collection's code in the
same invocation, prints its table and writes bench/results/. --quick runs each on a small
tree (a check that every benchmark still works, minutes instead of most of an hour; its
ratios are not the published ones, which come from the defaults: bench/README.md).
`make bench` runs this with the defaults. Needs root (the labs).
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (script, default arguments, --quick arguments)
BENCHES = {
    "formats": ("bench_formats.py", [], ["--znodes", "20000"]),
    "tree": ("bench_tree.py", [], ["--small", "5000", "--large", "20000", "--versions-znodes", "5000"]),
    "backup": ("bench_backup.py", [], ["--znodes", "20000", "--rounds", "2"]),
    "restore": ("bench_restore.py", [], ["--znodes", "20000", "--rounds", "1"]),
    "memory": ("bench_memory.py", [], ["--znodes", "20000,50000"]),
    "fleet": ("bench_fleet.py", [], ["--znodes", "2000", "--rounds", "1"]),
    "sftp": ("bench_sftp_read.py", [], ["--mib", "16"]),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small trees: check that each benchmark runs")
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ",".join(BENCHES))
    a = ap.parse_args()
    names = [n for n in a.only.split(",") if n]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        ap.error("unknown benchmark(s): %s" % ", ".join(unknown))
    summary = []
    for name in names:
        script, default, quick = BENCHES[name]
        argv = [sys.executable, os.path.join(HERE, script)] + (quick if a.quick else default)
        print("\n=== %s: %s" % (name, " ".join(argv[1:])), flush=True)
        t0 = time.time()
        rc = subprocess.call(argv)
        summary.append((name, rc, time.time() - t0))
    print("\n=== summary")
    for name, rc, secs in summary:
        print("%-8s %s in %.0f s" % (name, "ok" if rc == 0 else "FAILED (exit %d)" % rc, secs))
    return 0 if all(rc == 0 for _n, rc, _s in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
