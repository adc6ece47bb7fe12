"""Benchmark: zk_backup against `tar cf - version-2 | ssh backup 'cat > f'` on one member.

For each kind of values (--values both, the default: JSON-like text with random ids, then
random bytes), builds a lab (3 members, 1 backup host, dataLogDir apart), loads --znodes
znodes in batched multi transactions (values of --value-size bytes), then, on the same
follower and in the same run, alternates for --rounds rounds:

  baseline   tar cf - -C <dataDir> version-2 -C <dataLogDir> version-2
               | ssh backup1 'cat > /srv/backups/bench.tar'
  zk_backup  the module itself, run on the member by the member's /usr/bin/python3 with
             Debian's libraries (paramiko 2.12, zstandard), kind full, hot, default
             compression, remote SHA-256 verification and fsync on the backup host,
             transfer_client --transfer-client (auto: the archive through OpenSSH's ssh)

Both are timed on the member from process start to exit (python start-up and imports
included for zk_backup).  Reports, for each kind of values, the medians, their ratio, the
bytes each sent, the data's apparent and real size and zk_backup's peak resident memory
(GNU time's maximum RSS); writes bench/results/backup.json.  Needs root (the lab).
From the repository root:

  .venv/bin/python bench/bench_backup.py [--znodes 500000] [--value-size 390] [--rounds 5]
      [--values both|json|random] [--transfer-client auto|openssh|paramiko] [--also paramiko]
      [--output bench/results/backup.json]
"""
import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, HERE)

from lab import Lab  # noqa: E402
from machine_cpu import Meter  # noqa: E402

LOREM = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua ") * 8


def value(rnd, n, size, kind="json"):
    if kind == "random":
        return rnd.getrandbits(size * 8).to_bytes(size, "big")
    head = '{"id":"%032x","seq":%d,"owner":"service-%d","endpoint":"10.%d.%d.%d:%d","meta":"' % (
        rnd.getrandbits(128), n, rnd.randrange(50), rnd.randrange(256), rnd.randrange(256),
        rnd.randrange(256), rnd.randrange(1024, 65535))
    return (head + LOREM[:max(0, size - len(head) - 2)] + '"}').encode()


def load(lab, znodes, value_size, kind="json", per_parent=1000, batch=200):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=lab.connect_string, timeout=30)
    zk.start()
    rnd = random.Random(42)
    pending = []
    t0 = time.time()
    try:
        zk.ensure_path("/bench")
        for p in range((znodes + per_parent - 1) // per_parent):
            zk.create("/bench/p%04d" % p, b"")
            for b0 in range(0, per_parent, batch):
                t = zk.transaction()
                for i in range(b0, min(b0 + batch, per_parent)):
                    t.create("/bench/p%04d/n%06d" % (p, i), value(rnd, p * per_parent + i, value_size, kind))
                pending.append(t.commit_async())
                if len(pending) > 20:
                    pending.pop(0).get()
        for a in pending:
            a.get()
    finally:
        zk.stop()
        zk.close()
    return time.time() - t0


def du(host, paths, apparent):
    flag = "--apparent-size " if apparent else ""
    out = host.sh("du -sc --block-size=1 %s%s" % (flag, " ".join(paths))).stdout
    return int(out.strip().splitlines()[-1].split()[0])


def timed(host, command):
    """Seconds the command takes on the host (measured there), and its stdout."""
    r = host.sh("s=$(date +%%s%%N); %s; rc=$?; e=$(date +%%s%%N); echo \"@@ $rc $((e - s))\"" % command,
                timeout=600)
    out, tail = r.stdout.rsplit("@@ ", 1)
    rc, ns = tail.split()
    if rc != "0":
        raise SystemExit("%s failed (%s): %s %s" % (command, rc, out[-2000:], r.stderr[-2000:]))
    return int(ns) / 1e9, out


def _copy_tree(src, dst):
    shutil.copytree(src, dst, symlinks=False, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def module_runner(lab, host, backup, extra=None):
    """A python path on the member with ansible's module_utils and this collection, and the
    args file.

    The files are copied into the member's own /tmp: a lab host sees the machine's files
    only outside the directories the lab makes private per host (/tmp, /root, ...), so a
    link into a checkout under one of those would dangle there.
    """
    pp = os.path.join(host.path("/tmp"), "bench-pp")
    shutil.rmtree(pp, ignore_errors=True)
    import ansible
    src = os.path.dirname(ansible.__file__)
    dst = os.path.join(pp, "ansible")
    os.makedirs(dst)
    for name in ("__init__.py", "release.py"):
        shutil.copy(os.path.join(src, name), dst)
    _copy_tree(os.path.join(src, "module_utils"), os.path.join(dst, "module_utils"))
    _copy_tree(os.path.join(src, "_vendor"), os.path.join(dst, "_vendor"))
    coll = os.path.join(pp, "ansible_collections", "zkops", "zookeeper")
    os.makedirs(coll)
    for pkg in ("ansible_collections", "ansible_collections/zkops"):
        open(os.path.join(pp, pkg, "__init__.py"), "w").close()
    open(os.path.join(coll, "__init__.py"), "w").close()
    _copy_tree(os.path.join(REPO, "plugins"), os.path.join(coll, "plugins"))
    args = {"ANSIBLE_MODULE_ARGS": {
        "ensemble": lab.name, "backup_hosts": [backup.name], "kind": "full", "force": True,
        "ssh_private_key_file": "/root/.ssh/id_ed25519", "ssh_known_hosts_file": "/root/.ssh/known_hosts"}}
    args["ANSIBLE_MODULE_ARGS"].update(extra or {})
    with open(os.path.join(host.path("/tmp"), "bench-args.json"), "w") as f:
        json.dump(args, f)
    return ("PYTHONPATH=/tmp/bench-pp /usr/bin/python3 -m "
            "ansible_collections.zkops.zookeeper.plugins.modules.zk_backup /tmp/bench-args.json")


def variant_options(text):
    """"paramiko" -> {"transfer_client": "paramiko"}; "compression=none+compression_level=3"
    -> {"compression": "none", "compression_level": 3}: the module options of an --also variant."""
    if "=" not in text:
        if text not in ("auto", "openssh", "paramiko"):
            raise ValueError("--also takes auto, openssh, paramiko or option=value[+option=value]: %r" % text)
        return {"transfer_client": text}
    out = {}
    for item in text.split("+"):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError("--also takes option=value[+option=value]: %r" % text)
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def slug(text):
    return "".join(ch if ch.isalnum() else "-" for ch in text)


def measure(a, kind, extra):
    """One lab loaded with ``kind`` values; the rounds of tar | ssh and zk_backup alternated."""
    lab = Lab(name="bench-backup", members=3, backups=1, separate_datalog=True, heap="1g")
    lab.up()
    try:
        took = load(lab, a.znodes, a.value_size, kind)
        lab.wait_zxid_agree()
        member = lab.followers()[0]
        backup = lab.backup_hosts[0]
        dirs = ["%s/version-2" % lab.data_dir, "%s/version-2" % lab.data_log_dir]
        apparent, real = du(member, dirs, True), du(member, dirs, False)
        print("%s values: loaded %d znodes in %.1f s; %s: %.1f MB apparent, %.1f MB real"
              % (kind, a.znodes, took, member.name, apparent / 1e6, real / 1e6))
        baseline = ("tar cf - -C %s version-2 -C %s version-2 | ssh %s 'cat > /srv/backups/bench.tar'"
                    % (lab.data_dir, lab.data_log_dir, backup.name))
        ours = "env %s" % module_runner(lab, member, backup, extra).replace(
            " /usr/bin/python3 ", " /usr/bin/time -f %M -o /tmp/bench-rss /usr/bin/python3 ", 1)
        # Other transfer clients, timed in the same rounds (their own arguments file).
        others = {}
        for client in a.also:
            args = os.path.join(member.path("/tmp"), "bench-args-%s.json" % slug(client))
            with open(os.path.join(member.path("/tmp"), "bench-args.json")) as f:
                spec = json.load(f)
            spec["ANSIBLE_MODULE_ARGS"].update(variant_options(client))
            with open(args, "w") as f:
                json.dump(spec, f)
            others[client] = ours.replace("/tmp/bench-args.json", "/tmp/bench-args-%s.json" % slug(client))
        other_t = {c: [] for c in others}
        other_rss = {c: [] for c in others}
        tar_t, zk_t, tar_bytes, results, rss = [], [], [], [], []
        tar_cpu, zk_cpu = [], []
        for i in range(a.rounds):
            backup.sh("rm -rf /srv/backups/bench.tar /srv/backups/%s" % lab.name)
            with Meter() as m:
                t, _out = timed(member, baseline)
            tar_t.append(t)
            tar_cpu.append(m)
            tar_bytes.append(int(backup.sh("stat -c %s /srv/backups/bench.tar").stdout))
            backup.sh("rm -f /srv/backups/bench.tar")
            with Meter() as m:
                t, out = timed(member, ours)
            zk_cpu.append(m)
            res = json.loads(out)
            if res.get("failed") or not all(d["verified"] for d in res["destinations"]):
                raise SystemExit("zk_backup failed: %s" % out[-3000:])
            zk_t.append(t)
            results.append(res)
            rss.append(int(member.sh("cat /tmp/bench-rss").stdout.split()[-1]) * 1024)
            print("%s round %d: tar|ssh %.3f s, zk_backup %.3f s (ratio %.2f), sent %.1f MB, peak RSS %.1f MiB, "
                  "phases %s%s" % (kind, i + 1, tar_t[-1], t, t / tar_t[-1], res["bytes_sent"] / 1e6,
                                   rss[-1] / 2.0 ** 20, res["phases"],
                                   "; warnings: %s" % res["warnings"] if res.get("warnings") else ""))
            print("%s round %d: the machine's CPU outside the JVMs: tar|ssh %.2f s (CPUs %.0f%% busy), "
                  "zk_backup %.2f s (%.0f%% busy)"
                  % (kind, i + 1, tar_cpu[-1].outside, 100 * tar_cpu[-1].busy, m.outside, 100 * m.busy))
            for client, command in others.items():
                backup.sh("rm -rf /srv/backups/%s" % lab.name)
                t2, out2 = timed(member, command)
                if json.loads(out2).get("failed"):
                    raise SystemExit("zk_backup (%s) failed: %s" % (client, out2[-3000:]))
                other_t[client].append(t2)
                other_rss[client].append(int(member.sh("cat /tmp/bench-rss").stdout.split()[-1]) * 1024)
                print("%s round %d: zk_backup with %s %.3f s (ratio %.2f), peak RSS %.1f MiB"
                      % (kind, i + 1, client, t2, t2 / tar_t[-1], other_rss[client][-1] / 2.0 ** 20))
        tar_med, zk_med = statistics.median(tar_t), statistics.median(zk_t)
        last = results[-1]
        cpu = cpu_summary(tar_cpu, zk_cpu, tar_med)
        report = {
            "znodes": a.znodes, "value_size": a.value_size, "values": kind, "member": member.name,
            "module_options": extra,
            "apparent_bytes": apparent, "real_bytes": real, "rounds": a.rounds,
            "tar_ssh_seconds": tar_t, "zk_backup_seconds": zk_t,
            "tar_ssh_median": tar_med, "zk_backup_median": zk_med, "ratio": zk_med / tar_med,
            "tar_ssh_bytes_sent": statistics.median(tar_bytes), "zk_backup_bytes_sent": last["bytes_sent"],
            "zk_backup_bytes_raw": last["bytes_raw"], "compression": last["compression"],
            "zk_backup_peak_rss": max(rss), "phases": last["phases"],
            "load_average": os.getloadavg(),
            "also": {c: {"seconds": v, "median": statistics.median(v), "ratio": statistics.median(v) / tar_med,
                         "peak_rss": max(other_rss[c])} for c, v in other_t.items()},
            "target": {"ratio_max": 1.2, "bytes_sent_max": real},
            "machine_cpu": cpu,
        }
        report["pass"] = report["ratio"] <= 1.2 and report["zk_backup_bytes_sent"] <= real
        print("%s values, median: tar|ssh %.3f s, zk_backup %.3f s, ratio %.2f (target <= 1.2)"
              % (kind, tar_med, zk_med, report["ratio"]))
        for c, v in report["also"].items():
            print("%s values, median with %s: %.3f s, ratio %.2f" % (kind, c, v["median"], v["ratio"]))
        print("%s values, the machine's CPU outside the JVMs (median): tar|ssh %.2f s, zk_backup %.2f s (%.2fx); "
              "on %d CPUs never idle zk_backup takes at least %.2f s: floor ratio %.2f"
              % (kind, cpu["tar_ssh_cpu"], cpu["zk_backup_cpu"], cpu["cpu_ratio"], cpu["cpus"], cpu["floor"],
                 cpu["floor_ratio"]))
        print("%s values, bytes sent: tar|ssh %.1f MB, zk_backup %.1f MB (%s); data %.1f MB real, %.1f MB apparent; "
              "zk_backup's peak RSS %.1f MiB"
              % (kind, report["tar_ssh_bytes_sent"] / 1e6, report["zk_backup_bytes_sent"] / 1e6,
                 report["compression"], real / 1e6, apparent / 1e6, max(rss) / 2.0 ** 20))
        return report
    finally:
        lab.down()


def cpu_summary(tar_meters, zk_meters, tar_median):
    """The medians of the machine's CPU seconds outside the JVMs for each side (Meter), their
    ratio, and zk_backup's floor: that CPU spread over every CPU of the machine, the least
    wall time any schedule of the same work takes here, also as a ratio to tar | ssh's median
    time.  A floor ratio above the target says the target needs less work, not more overlap."""
    tar_cpu = statistics.median(m.outside for m in tar_meters)
    zk_cpu = statistics.median(m.outside for m in zk_meters)
    floor = statistics.median(m.floor for m in zk_meters)
    return {"tar_ssh_cpu": tar_cpu, "zk_backup_cpu": zk_cpu, "cpu_ratio": zk_cpu / tar_cpu if tar_cpu else float("inf"),
            "cpus": zk_meters[0].cpus, "floor": floor, "floor_ratio": floor / tar_median,
            "tar_ssh_busy": [m.busy for m in tar_meters], "zk_backup_busy": [m.busy for m in zk_meters]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--znodes", type=int, default=500000)
    ap.add_argument("--value-size", type=int, default=390)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--values", choices=["both", "json", "random"], default="both",
                    help="json: JSON-like text with random ids (compresses about 11:1 with zstd); "
                         "random: incompressible bytes (the worst case for the archive); both: one after "
                         "the other, each on a lab of its own, in this invocation")
    ap.add_argument("--transfer-client", choices=["auto", "openssh", "paramiko"], default="auto",
                    help="zk_backup's transfer_client")
    ap.add_argument("--also", default="",
                    help="variants of zk_backup timed in the same rounds, comma-separated: a "
                         "transfer_client value (paramiko) or module options joined by + "
                         "(compression=none+transfer_client=openssh)")
    ap.add_argument("--output", default=os.path.join(REPO, "bench", "results", "backup.json"))
    a = ap.parse_args()
    a.also = [c for c in a.also.split(",") if c]
    for c in a.also:
        try:
            variant_options(c)
        except ValueError as exc:
            ap.error(str(exc))

    kinds = ["json", "random"] if a.values == "both" else [a.values]
    reports = {k: measure(a, k, {"transfer_client": a.transfer_client}) for k in kinds}
    os.makedirs(os.path.dirname(a.output), exist_ok=True)
    with open(a.output, "w") as f:
        json.dump(reports, f, indent=1)
    for k in kinds:
        r = reports[k]
        print("%-6s values: ratio %.2f (zk_backup %.3f s / tar|ssh %.3f s), sent %.1f MB of %.1f MB real, "
              "peak RSS %.1f MiB: %s"
              % (k, r["ratio"], r["zk_backup_median"], r["tar_ssh_median"], r["zk_backup_bytes_sent"] / 1e6,
                 r["real_bytes"] / 1e6, r["zk_backup_peak_rss"] / 2.0 ** 20, "PASS" if r["pass"] else "FAIL"))
    ok = all(r["pass"] for r in reports.values())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
