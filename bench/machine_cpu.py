"""How much CPU the whole machine used while a benchmark's run went on (/proc).

A benchmark's lab puts the members, the backup hosts and the controller on one machine, so
a run's wall time depends on the CPU every side of it needs, not on one process's.  These
helpers give the machine's busy time during a run, without the ZooKeeper JVMs (they run
between the runs too), and from it the floor: the shortest the run could take with every
CPU of the machine busy all along.
"""
import os
import time


def cpu_times(path="/proc/stat"):
    """(busy, total) jiffies of the whole machine, from /proc/stat: busy is user, nice,
    system, irq and softirq (guest time is inside user and nice already; time stolen by a
    hypervisor is nobody's work here), total adds idle, iowait and steal."""
    with open(path) as f:
        fields = [int(v) for v in f.readline().split()[1:]] + [0] * 8
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait + steal


def jvm_jiffies(proc="/proc"):
    """CPU jiffies (user + system) used so far by every running java process: the members'
    ZooKeeper servers, which keep running (and using CPU) between the playbook runs."""
    total = 0
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            with open(os.path.join(proc, pid, "stat")) as f:
                stat = f.read()
        except (IOError, OSError):
            continue  # gone since the listing
        comm_end = stat.rfind(")")
        if stat[stat.find("(") + 1:comm_end] != "java":
            continue
        fields = stat[comm_end + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total


class Meter:
    """``with Meter() as m:`` measures the block: ``m.wall`` (seconds), ``m.machine`` (CPU
    seconds the whole machine used; ``m.machine_jiffies`` in clock ticks), ``m.jvm`` (those of
    the java processes; ``m.jvm_jiffies``), ``m.outside``
    (the machine's less the JVMs'), ``m.busy`` (the share of the machine's CPU time that was
    busy) and ``m.floor`` (``outside`` spread over every CPU: no schedule of the same work
    takes less wall time on this machine)."""

    def __init__(self, stat="/proc/stat", proc="/proc", cpus=None, hz=None):
        self._stat, self._proc = stat, proc
        self.cpus = cpus or os.cpu_count() or 1
        self.hz = float(hz or os.sysconf("SC_CLK_TCK"))
        self.wall = self.machine = self.jvm = self.outside = self.busy = self.floor = None

    def __enter__(self):
        self._t = time.monotonic()
        self._busy, self._total = cpu_times(self._stat)
        self._jvm = jvm_jiffies(self._proc)
        return self

    def __exit__(self, *exc):
        busy, total = cpu_times(self._stat)
        jvm = jvm_jiffies(self._proc)
        self.wall = time.monotonic() - self._t
        self.machine_jiffies, self.jvm_jiffies = busy - self._busy, jvm - self._jvm
        self.machine = self.machine_jiffies / self.hz
        self.jvm = self.jvm_jiffies / self.hz
        # /proc/stat and the processes' own counters tick apart: never a negative rest.
        self.outside = max(0.0, self.machine - self.jvm)
        self.busy = (busy - self._busy) / float(max(total - self._total, 1))
        self.floor = self.outside / self.cpus
        return False
