"""Benchmark: one run of the backup playbook over a fleet of ensembles against one ensemble.

Builds --ensembles labs of --members members each (real ZooKeeper JVMs with --heap heaps,
one backup host per lab), joined in one inventory the way docs/fleets.md describes it (a
group per ensemble naming it with zookeeper_ensemble_name, all children of "zookeeper"),
loads --znodes znodes into every ensemble, then alternates for --rounds rounds, for each
value of --forks:

  one   ansible-playbook zkops.zookeeper.backup -e zookeeper_ensembles=<first ensemble>
  all   ansible-playbook zkops.zookeeper.backup (every ensemble)

Every run takes a full backup (zookeeper_backup_force).  Each playbook runs in a forked
child of this process, so that the child's RUSAGE_CHILDREN holds the ansible-playbook
process tree alone: its CPU (user + sys of every process it waited for: the controller, its
workers and their ssh clients; not an ssh ControlMaster that outlives the run) and the
largest peak RSS among those processes.  The load average is read before every run, and
the slowest tasks of every run are printed (from the times of the task results), with the
number of task results and how busy the machine's CPUs were during the run (/proc/stat).
Each run's CPU seconds are split: the whole machine's (/proc/stat) = the controller's (above)
+ the ZooKeeper JVMs' (/proc/<pid>/stat of every java process) + the rest (the module runs
on the members, their sshd, the kernel).  With --accounting DIR, Linux process accounting
(accton, Debian's acct package) records every process that ends during a run, and the run's
CPU is printed by command (how many processes, CPU each, in all).  Prints the median of each
side, the ratio all / one (target: at most 1.5) for every forks value, and the floor: the
CPU the run over every ensemble caused outside the JVMs, spread over all of the machine's
CPUs, as a ratio to one ensemble's time (no scheduling does better on this machine); writes
bench/results/fleet.json.  Needs root (the labs).  From the repository root:

  .venv/bin/python bench/bench_fleet.py [--ensembles 5] [--znodes 20000] [--rounds 3] [--forks 5,16]
      [--accounting DIR]
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, HERE)

from machine_cpu import Meter  # noqa: E402

TARGET = 1.5
EXTRA = {"zookeeper_backup_install_packages": False, "zookeeper_backup_force": True}


def forks_list(text):
    """"5,16" -> [5, 16]: the forks values to measure, each a positive integer."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("--forks takes positive integers separated by commas, such as 5,16: %r"
                                         % text) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("--forks takes positive integers separated by commas, such as 5,16: %r"
                                         % text)
    return values


def summarize(runs, target=TARGET, cpus=None):
    """Medians and the ratio all / one for each forks value.

    ``runs``: dicts with "forks", "side" ("one" or "all"), "wall", "cpu", "maxrss_kib",
    "load" (the 1-minute load average before the run) and, when measured, "split"
    (cpu_split).  With the splits, ``floor`` is the shortest time the run over every
    ensemble could take on ``cpus`` CPUs (the machine's by default) with none of them ever
    idle, counting only the CPU the run caused outside the ZooKeeper JVMs (controller and
    rest), and ``floor_ratio`` that floor over one ensemble's time: above the target, no
    change of scheduling (forks, strategy) reaches it on this machine, only less work."""
    cpus = cpus or os.cpu_count() or 1
    out = {}
    for forks in sorted({r["forks"] for r in runs}):
        sides, side_runs = {}, {}
        for side in ("one", "all"):
            rs = side_runs[side] = [r for r in runs if r["forks"] == forks and r["side"] == side]
            if not rs:
                continue
            sides[side] = {"runs": len(rs), "wall_median": statistics.median(r["wall"] for r in rs),
                           "cpu_median": statistics.median(r["cpu"] for r in rs),
                           "maxrss_mib": max(r["maxrss_kib"] for r in rs) / 1024.0}
            if all("split" in r for r in rs):
                sides[side]["split_median"] = dict(
                    (k, statistics.median(r["split"][k] for r in rs)) for k in ("machine", "controller", "jvm", "rest"))
        entry = dict(sides)
        if "one" in sides and "all" in sides:
            entry["ratio"] = sides["all"]["wall_median"] / sides["one"]["wall_median"]
            entry["cpu_ratio"] = sides["all"]["cpu_median"] / sides["one"]["cpu_median"]
            entry["pass"] = entry["ratio"] <= target
            if "split_median" in sides["all"]:
                # No schedule runs the five-ensemble run faster than the CPU time it caused
                # spread over every CPU of the machine: the floor, as a ratio to one
                # ensemble's time.  The JVMs are left out (they run between runs too), so
                # the floor is a lower bound even where their CPU follows the run's length.
                # The median of each run's sum: medians of the parts need not add up.
                entry["floor"] = statistics.median(
                    r["split"]["controller"] + r["split"]["rest"] for r in side_runs["all"]) / float(cpus)
                entry["floor_ratio"] = entry["floor"] / sides["one"]["wall_median"]
        loads = [r["load"] for r in runs if r["forks"] == forks]
        entry["load"] = [min(loads), max(loads)]
        entry["cpus"] = cpus
        out[forks] = entry
    return out


def format_summary(summary, target=TARGET):
    """The summary as lines of text, one per forks value."""
    lines = []
    for forks, e in sorted(summary.items()):
        one, every = e.get("one"), e.get("all")
        if not one or not every:
            lines.append("forks %d: incomplete (%s)" % (forks, ", ".join(s for s in ("one", "all") if s in e)))
            continue
        lines.append("forks %d: one ensemble %.1f s (cpu %.1f s), all %.1f s (cpu %.1f s): ratio %.2f (target <= %s) %s;"
                     " controller peak RSS %.0f / %.0f MiB; load %.1f to %.1f"
                     % (forks, one["wall_median"], one["cpu_median"], every["wall_median"], every["cpu_median"],
                        e["ratio"], target, "PASS" if e["pass"] else "FAIL", one["maxrss_mib"],
                        every["maxrss_mib"], e["load"][0], e["load"][1]))
        if "floor" in e:
            def split(side, e=e):
                return ", ".join("%s %.1f" % (k, e[side]["split_median"][k]) for k in ("controller", "jvm", "rest"))
            lines.append("  CPU seconds (machine = controller + ZooKeeper JVMs + rest): one ensemble %.1f (%s), "
                         "all %.1f (%s); on %d CPUs never idle, its controller and rest alone take at least %.1f s = "
                         "%.2f x one ensemble"
                         % (e["one"]["split_median"]["machine"], split("one"), e["all"]["split_median"]["machine"],
                            split("all"), e["cpus"], e["floor"], e["floor_ratio"]))
    return lines


def task_times(records, top=8):
    """Where a run spent its time: the ``top`` tasks by duration, [(seconds, task, hosts)].

    ``records`` are the results of tests/lab/callback/zkops_results.py in the order they
    came, each with its "time".  Ansible runs a task on every host before the next one
    starts, so a task lasts from the last result of the task before it to its own last
    result (the first task's start is unknown: it counts from its first result)."""
    spans = []  # [task, first, last, hosts], in the order the tasks ran
    for r in records:
        if "time" not in r:
            continue
        if spans and spans[-1][0] == r["task"]:
            spans[-1][2] = r["time"]
            spans[-1][3].add(r["host"])
        else:
            spans.append([r["task"], r["time"], r["time"], {r["host"]}])
    out = []
    for i, (task, first, last, hosts) in enumerate(spans):
        start = spans[i - 1][2] if i else first
        out.append((round(last - start, 2), task, len(hosts)))
    out.sort(key=lambda t: -t[0])
    return out[:top]


def cpu_split(machine_jiffies, jvm_jiffies_used, controller_cpu, hz=None):
    """Where the machine's CPU went during one run, in seconds: the whole machine, the
    controller (the playbook's process tree), the ZooKeeper JVMs, and the rest (the module
    runs on the members and backup hosts, their sshd and OpenSSH clients, the kernel)."""
    hz = hz or os.sysconf("SC_CLK_TCK")
    machine = machine_jiffies / float(hz)
    jvm = jvm_jiffies_used / float(hz)
    return {"machine": machine, "controller": controller_cpu, "jvm": jvm,
            "rest": max(0.0, machine - controller_cpu - jvm)}


# Linux's process accounting record, version 3 (acct(5), linux/acct.h): flag, version, tty,
# exit code, uid, gid, pid, ppid, creation time, elapsed time, then eight comp_t (user time,
# system time, memory, io, rw, minor and major faults, swaps) and the command name.
ACCT_V3 = struct.Struct("<BBHIIIIIIf8H16s")
ACCT_FORK = 0x01   # AFORK: forked, never executed another program (sa marks it with "*")
ACCT_HZ = 100.0    # AHZ: the unit of the record's times


def comp_t(value):
    """The value of a comp_t: 13 bits of mantissa, 3 bits of base-8 exponent."""
    return (value & 0x1fff) << (((value >> 13) & 0x7) * 3)


def accounting_summary(data, top=8):
    """The CPU of the processes that ended while process accounting wrote ``data`` (the
    bytes of the accounting file), by command: [(command, processes, cpu seconds)], the
    most CPU first; a command that forked without executing another program ends in "*"."""
    by = {}
    for off in range(0, len(data) - ACCT_V3.size + 1, ACCT_V3.size):
        rec = ACCT_V3.unpack_from(data, off)
        if rec[1] != 3:
            raise ValueError("not a version 3 process accounting record at offset %d" % off)
        comm = rec[18].split(b"\0", 1)[0].decode("utf-8", "replace") + ("*" if rec[0] & ACCT_FORK else "")
        cpu = (comp_t(rec[10]) + comp_t(rec[11])) / ACCT_HZ
        n, total = by.get(comm, (0, 0.0))
        by[comm] = (n + 1, total + cpu)
    out = sorted(((c, n, round(t, 2)) for c, (n, t) in by.items()), key=lambda r: (-r[2], r[0]))
    return out[:top]


class Accounting:
    """Linux process accounting (accton, from Debian's acct package) around one run: every
    process that ends in between, on the whole machine, is written to ``path``; without a
    path, nothing is recorded.  Accounting is off afterwards, also when it was on before
    (the acct service: restart it)."""

    def __init__(self, path=None):
        self.path = path

    def __enter__(self):
        if self.path:
            open(self.path, "wb").close()
            subprocess.run(["accton", self.path], check=True, stdout=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc):
        if self.path:
            subprocess.run(["accton", "off"], check=False, stdout=subprocess.DEVNULL)

    def summary(self, top=8):
        if not self.path:
            return None
        with open(self.path, "rb") as f:
            return accounting_summary(f.read(), top)


def measured_playbook(lab, inventory, cfg, extra, forks):
    """Run the backup playbook in a forked child; return (rc, wall, cpu, maxrss_kib, tail)."""
    from lab.ansible import run_playbook
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its RUSAGE_CHILDREN is the playbook's process tree alone
        os.close(r)
        code = 0
        try:
            res = run_playbook(lab, "zkops.zookeeper.backup", extra_vars=extra, inventory=inventory,
                               env={"ANSIBLE_CONFIG": cfg}, args=("--forks", str(forks)), timeout=1800)
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = {"rc": res.rc, "wall": res.duration, "cpu": ru.ru_utime + ru.ru_stime,
                   "maxrss_kib": ru.ru_maxrss, "tail": res.output()[-3000:] if res.rc else "",
                   "slowest": task_times(res.records), "results": len(res.records)}
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = {"rc": -1, "wall": 0, "cpu": 0, "maxrss_kib": 0, "tail": repr(e), "slowest": [], "results": 0}
            code = 1
        with os.fdopen(w, "w") as f:
            json.dump(out, f)
        os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ensembles", type=int, default=5)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--znodes", type=int, default=20000, help="znodes loaded into each ensemble")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--forks", type=forks_list, default=[16],
                    help="comma-separated forks values, each measured in every round (default 16)")
    ap.add_argument("--heap", default="128m", help="each member's JVM heap")
    ap.add_argument("--output", default=os.path.join(REPO, "bench", "results", "fleet.json"))
    ap.add_argument("--accounting", metavar="DIR",
                    help="record every process that ends during each run with Linux process accounting "
                         "(accton, from Debian's acct package) in DIR, and print each run's CPU by command; "
                         "accounting is off afterwards (restart the acct service if it ran)")
    a = ap.parse_args()
    if a.ensembles < 2 or a.rounds < 1:
        ap.error("--ensembles must be at least 2 and --rounds at least 1")
    if a.accounting and not shutil.which("accton"):
        ap.error("--accounting needs accton: apt-get install acct")
    if a.accounting:
        os.makedirs(a.accounting, exist_ok=True)

    from lab import Lab, workload
    from lab.fleet import write_inventory
    labs = []
    try:
        t0 = time.time()
        for i in range(a.ensembles):
            lab = Lab(name="bfleet%d" % (i + 1), members=a.members, backups=1, heap=a.heap)
            labs.append(lab)
            lab.up()
            zk = workload.client(lab, timeout=30)
            workload.bulk_load(zk, a.znodes)
            zk.stop()
            zk.close()
            lab.wait_zxid_agree(timeout=120)
            print("%s up and loaded (%d znodes) after %.0f s" % (lab.name, a.znodes, time.time() - t0), flush=True)
        inventory, cfg = write_inventory(labs, os.path.join(labs[0].dir, "fleet"))
        one = dict(EXTRA, zookeeper_ensembles=labs[0].name)
        # A warm-up run over every ensemble: ssh host keys, first backups, page cache.
        warm = measured_playbook(labs[0], inventory, cfg, EXTRA, max(a.forks))
        if warm["rc"]:
            raise SystemExit("the warm-up backup failed\n" + warm["tail"])
        print("warm-up over every ensemble: %.1f s" % warm["wall"], flush=True)
        runs = []
        for rnd in range(1, a.rounds + 1):
            for forks in a.forks:
                # Alternate which side goes first, so that a change of load hits both.
                order = ("one", "all") if rnd % 2 else ("all", "one")
                for side in order:
                    load = os.getloadavg()[0]
                    acct = Accounting(os.path.join(a.accounting, "round%d-forks%d-%s.acct" % (rnd, forks, side))
                                      if a.accounting else None)
                    with acct, Meter() as meter:
                        res = measured_playbook(labs[0], inventory, cfg, one if side == "one" else EXTRA, forks)
                    if res["rc"]:
                        raise SystemExit("round %d, %s, forks %d failed\n%s" % (rnd, side, forks, res["tail"]))
                    run = {"round": rnd, "forks": forks, "side": side, "wall": res["wall"], "cpu": res["cpu"],
                           "maxrss_kib": res["maxrss_kib"], "load": load, "slowest": res["slowest"],
                           "task_results": res["results"],
                           "machine_busy": meter.busy,
                           "split": cpu_split(meter.machine_jiffies, meter.jvm_jiffies, res["cpu"]),
                           "processes": acct.summary()}
                    runs.append(run)
                    print("round %d forks %d %s: %.1f s, cpu %.1f s, peak RSS %.0f MiB, load %.1f, %d task results, "
                          "the machine's CPUs %.0f%% busy"
                          % (rnd, forks, side, res["wall"], res["cpu"], res["maxrss_kib"] / 1024.0, load,
                             res["results"], 100 * run["machine_busy"]), flush=True)
                    print("  CPU seconds: machine %.1f = controller %.1f + ZooKeeper JVMs %.1f + rest %.1f"
                          % tuple(run["split"][k] for k in ("machine", "controller", "jvm", "rest")), flush=True)
                    if run["processes"]:
                        print("  CPU of the processes that ended, by command: " + "; ".join(
                            "%s %d x %.2f s = %.1f s" % (c, n, t / n, t) for c, n, t in run["processes"]), flush=True)
                    print("  slowest tasks: " + "; ".join("%.1f s %s (%d hosts)" % tuple(t) for t in res["slowest"][:5]),
                          flush=True)
        summary = summarize(runs)
        report = {"ensembles": a.ensembles, "members": a.members, "znodes": a.znodes, "heap": a.heap,
                  "rounds": a.rounds, "runs": runs, "summary": {str(k): v for k, v in summary.items()},
                  "target": {"ratio_max": TARGET}}
        os.makedirs(os.path.dirname(a.output), exist_ok=True)
        with open(a.output, "w") as f:
            json.dump(report, f, indent=1)
        print("\n".join(format_summary(summary)))
        return 0 if all(e.get("pass") for e in summary.values()) else 1
    finally:
        for lab in labs:
            lab.down()


if __name__ == "__main__":
    sys.exit(main())
