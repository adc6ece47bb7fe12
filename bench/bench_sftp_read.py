"""Benchmark: peak resident memory of reading one large file from a backup host through SFTP,
with paramiko's prefetch() of the whole file (how tree/fetch.py and restore/fetch.py read
before) against transport.reading's bounded read-ahead (how they read now), in one run.

On one lab (one member, one backup host; the backup host's real sshd and sftp-server), a
file of --mib MiB is made on the backup host; each run is a fresh Python process that
connects with the collection's transport (transport.ssh.connect), reads the whole file and
hashes it, and reports its peak RSS (VmHWM), its RSS before reading, seconds and MB/s.  A
"slow" reader also waits --slow-ms after each MiB, as a restore writing to a busy disk does:
the host answers meanwhile, up to what was asked for.

  .venv/bin/python bench/bench_sftp_read.py [--mib 256] [--slow-ms 20] [--runs 1] [--out FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

from lab import Lab  # noqa: E402
from lab.ansible import collections_path  # noqa: E402

FILE = "/srv/sftp-read-bench.bin"

CHILD = r"""
import hashlib, json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import reading
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh

params = json.loads(sys.argv[2])
how, slow, path = sys.argv[3], float(sys.argv[4]), sys.argv[5]


def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024


session = ssh.connect(params, params["target"])
try:
    if how == "prefetch":
        f = session.sftp.open(path, "rb")
        size = f.stat().st_size
    else:
        f = reading.open_reader(session.sftp, path)
        size = f.size
    before = status("VmRSS")
    t0 = time.time()
    digest, n = hashlib.sha256(), 0
    with f:
        if how == "prefetch":
            f.prefetch(size)
        while True:
            data = f.read(1 << 20)
            if not data:
                break
            digest.update(data)
            n += len(data)
            if slow:
                time.sleep(slow)
    seconds = time.time() - t0
finally:
    session.close()
print(json.dumps({"bytes": n, "seconds": round(seconds, 2), "mb_per_s": round(n / seconds / 1e6, 1),
                  "rss_before_mib": round(before / 2.0 ** 20, 1),
                  "peak_rss_mib": round(status("VmHWM") / 2.0 ** 20, 1), "sha256": digest.hexdigest()}))
"""


def measure(lab, host, how, slow_s, path=FILE):
    params = {"target": host.ip, "ssh_private_key_file": lab.key, "ssh_known_hosts_file": lab.known_hosts,
              "ssh_timeout": 60.0, "ssh_connect_timeout": 10.0}
    out = subprocess.run([sys.executable, "-c", CHILD, collections_path(), json.dumps(params), how,
                          str(slow_s), path], capture_output=True, text=True, check=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_file(host, mib, path=FILE):
    """A file of ``mib`` MiB of random bytes on the backup host (written once per run)."""
    outside = host.path(path)
    block = os.urandom(1 << 20)
    with open(outside, "wb") as f:
        for i in range(mib):
            # Each MiB differs (the first bytes count), without generating 1 GiB of randomness.
            f.write(i.to_bytes(8, "big") + block[8:])
    return outside


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--slow-ms", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()
    lab = Lab(name="sftp-read", members=1, backups=1)
    lab.up()
    results = []
    try:
        host = lab.backup_hosts[0]
        outside = make_file(host, args.mib)
        try:
            for _r in range(args.runs):
                for slow in (0.0, args.slow_ms / 1000.0):
                    for how in ("reader", "prefetch"):
                        res = measure(lab, host, how, slow)
                        res.update(how=how, slow_ms=slow * 1000, mib=args.mib)
                        results.append(res)
                        print("%-8s slow %4.0f ms/MiB: peak RSS %7.1f MiB (%.1f before reading), %6.2f s, %6.1f MB/s"
                              % (how, slow * 1000, res["peak_rss_mib"], res["rss_before_mib"], res["seconds"],
                                 res["mb_per_s"]), flush=True)
        finally:
            os.unlink(outside)
    finally:
        lab.down()
    if len({r["sha256"] for r in results}) != 1:
        sys.exit("the runs read different bytes: %s" % sorted({r["sha256"] for r in results}))
    for slow in sorted({r["slow_ms"] for r in results}):
        peak = {how: max(r["peak_rss_mib"] for r in results if r["how"] == how and r["slow_ms"] == slow)
                for how in ("prefetch", "reader")}
        speed = {how: min(r["seconds"] for r in results if r["how"] == how and r["slow_ms"] == slow)
                 for how in ("prefetch", "reader")}
        print("slow %.0f ms/MiB: peak RSS prefetch %.1f MiB, reader %.1f MiB; time reader/prefetch %.2fx"
              % (slow, peak["prefetch"], peak["reader"], speed["reader"] / speed["prefetch"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
