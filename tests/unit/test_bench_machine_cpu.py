"""bench/machine_cpu.py: the machine's CPU from /proc, and the Meter of a benchmark's run."""
import importlib.util
import os

from lab.ansible import REPO

spec = importlib.util.spec_from_file_location("machine_cpu", os.path.join(REPO, "bench", "machine_cpu.py"))
machine_cpu = importlib.util.module_from_spec(spec)
spec.loader.exec_module(machine_cpu)


def fake_proc(tmp_path, processes):
    """A /proc with one stat file per (pid, comm, utime, stime)."""
    for pid, comm, utime, stime in processes:
        d = tmp_path / str(pid)
        d.mkdir()
        # Fields after the command: state ppid pgrp session tty tpgid flags minflt cminflt
        # majflt cmajflt utime stime ...
        (d / "stat").write_text("%d (%s) S 1 1 1 0 -1 4194560 10 0 0 0 %d %d 0 0 20 0 40 0 100\n"
                                % (pid, comm, utime, stime))
    (tmp_path / "self").mkdir()
    (tmp_path / "stat").write_text("cpu 1 2 3 4\n")
    return str(tmp_path)


def test_jvm_jiffies_sums_the_java_processes_only(tmp_path):
    proc = fake_proc(tmp_path, [(10, "java", 100, 20), (11, "java", 5, 1), (12, "python3", 999, 999),
                                (13, "my java) x", 7, 7), (14, "javac", 50, 50)])
    assert machine_cpu.jvm_jiffies(proc) == 126


def test_cpu_times_counts_work_as_busy_and_leaves_out_guest_and_steal(tmp_path):
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  100 10 50 1000 20 5 5 40 30 3\ncpu0 1 2 3 4\n")
    assert machine_cpu.cpu_times(str(stat)) == (170, 1230)
    stat.write_text("cpu  100 10 50 1000\n")            # an old kernel: four fields
    assert machine_cpu.cpu_times(str(stat)) == (160, 1160)


def metered(tmp_path, stat_before, stat_after, java_before, java_after):
    """A Meter around a block in which /proc/stat goes from ``stat_before`` to ``stat_after``
    (its cpu line's numbers) and the one java process's (utime, stime) from ``java_before``
    to ``java_after``; 2 CPUs, 100 ticks a second."""
    proc = fake_proc(tmp_path, [(10, "java") + java_before, (12, "python3", 5, 5)])
    stat, java = tmp_path / "stat", tmp_path / "10" / "stat"
    stat.write_text("cpu  %s\n" % stat_before)
    with machine_cpu.Meter(stat=str(stat), proc=proc, cpus=2, hz=100) as m:
        stat.write_text("cpu  %s\n" % stat_after)
        java.write_text(java.read_text().replace(" %d %d " % java_before, " %d %d " % java_after))
    return m


def test_meter_gives_the_machines_cpu_outside_the_jvms_and_the_floor(tmp_path):
    # user nice system idle: 160 busy of 1160, then 300 more busy jiffies and 100 more idle;
    # the JVM used 40 of the busy ones.
    m = metered(tmp_path, "100 10 50 1000", "300 10 150 1100", (100, 20), (130, 30))
    assert m.machine == 3.0 and m.jvm == 0.4
    assert m.machine_jiffies == 300 and m.jvm_jiffies == 40
    assert abs(m.outside - 2.6) < 1e-9 and abs(m.floor - 1.3) < 1e-9
    assert m.busy == 0.75 and m.cpus == 2 and m.wall >= 0


def test_meter_never_gives_a_negative_cpu_outside_the_jvms(tmp_path):
    m = metered(tmp_path, "100 10 50 1000", "110 10 50 1000", (100, 20), (150, 20))
    assert m.outside == 0.0 and m.floor == 0.0
