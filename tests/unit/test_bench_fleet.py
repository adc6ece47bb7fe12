"""bench/bench_fleet.py's pure helpers: the --forks argument and the summary of the runs."""
import argparse
import importlib.util
import os

import pytest

from lab.ansible import REPO

spec = importlib.util.spec_from_file_location("bench_fleet", os.path.join(REPO, "bench", "bench_fleet.py"))
bench_fleet = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_fleet)


def test_forks_list_reads_positive_integers():
    assert bench_fleet.forks_list("5,16") == [5, 16]
    assert bench_fleet.forks_list("16") == [16]
    assert bench_fleet.forks_list(" 5, 20 ,") == [5, 20]


@pytest.mark.parametrize("text", ["", "0", "5,-1", "five", "5;16"])
def test_forks_list_refuses_anything_else_and_says_what_it_takes(text):
    with pytest.raises(argparse.ArgumentTypeError, match="positive integers separated by commas, such as 5,16"):
        bench_fleet.forks_list(text)


def run(forks, side, wall, cpu=10.0, rss=102400, load=3.0):
    return {"forks": forks, "side": side, "wall": wall, "cpu": cpu, "maxrss_kib": rss, "load": load}


def test_summary_takes_medians_and_the_ratio_per_forks_value():
    runs = [run(16, "one", 20.0, cpu=8.0), run(16, "one", 22.0, cpu=9.0), run(16, "one", 40.0, cpu=10.0),
            run(16, "all", 30.0, cpu=30.0, rss=204800, load=7.5), run(16, "all", 28.0, cpu=28.0, load=1.5),
            run(16, "all", 35.0, cpu=32.0),
            run(5, "one", 20.0), run(5, "all", 50.0)]
    s = bench_fleet.summarize(runs)
    assert sorted(s) == [5, 16]
    e = s[16]
    assert e["one"]["wall_median"] == 22.0 and e["all"]["wall_median"] == 30.0
    assert e["ratio"] == pytest.approx(30.0 / 22.0)
    assert e["cpu_ratio"] == pytest.approx(30.0 / 9.0)
    assert e["pass"] is True
    assert e["all"]["maxrss_mib"] == 200.0 and e["one"]["maxrss_mib"] == 100.0
    assert e["load"] == [1.5, 7.5]
    assert s[5]["ratio"] == 2.5 and s[5]["pass"] is False

    lines = bench_fleet.format_summary(s)
    assert lines[0].startswith("forks 5: one ensemble 20.0 s (cpu 10.0 s), all 50.0 s (cpu 10.0 s): ratio 2.50 "
                               "(target <= 1.5) FAIL;")
    assert "ratio 1.36 (target <= 1.5) PASS; controller peak RSS 100 / 200 MiB; load 1.5 to 7.5" in lines[1]


def test_summary_of_one_side_only_has_no_ratio():
    s = bench_fleet.summarize([run(16, "one", 20.0)])
    assert "ratio" not in s[16] and "pass" not in s[16]
    assert bench_fleet.format_summary(s) == ["forks 16: incomplete (one)"]


def test_task_times_spans_each_task_from_the_end_of_the_one_before():
    recs = [{"task": "a", "host": "h1", "time": 100.0}, {"task": "a", "host": "h2", "time": 101.0},
            {"task": "b", "host": "h1", "time": 101.5}, {"task": "b", "host": "h2", "time": 109.0},
            {"task": "c", "host": "h1", "time": 110.0},
            {"task": "no time", "host": "h1"}]
    assert bench_fleet.task_times(recs) == [(8.0, "b", 2), (1.0, "a", 2), (1.0, "c", 1)]
    assert bench_fleet.task_times(recs, top=1) == [(8.0, "b", 2)]
    assert bench_fleet.task_times([]) == []


def test_cpu_split_gives_seconds_and_the_rest():
    s = bench_fleet.cpu_split(machine_jiffies=5000, jvm_jiffies_used=800, controller_cpu=20.0, hz=100)
    assert s == {"machine": 50.0, "controller": 20.0, "jvm": 8.0, "rest": 22.0}
    # The controller's figure comes from getrusage, the others from /proc: never a negative rest.
    assert bench_fleet.cpu_split(1000, 500, 8.0, hz=100)["rest"] == 0.0


def test_summary_gives_the_floor_of_the_run_over_every_ensemble_on_the_machines_cpus():
    def split(machine, controller, jvm):
        return {"machine": machine, "controller": controller, "jvm": jvm, "rest": machine - controller - jvm}
    runs = [dict(run(16, "one", 14.0, cpu=9.0), split=split(17.0, 9.0, 2.0)),
            dict(run(16, "one", 13.0, cpu=8.0), split=split(16.0, 8.0, 2.0)),
            dict(run(16, "all", 38.0, cpu=28.0), split=split(70.0, 28.0, 6.0)),
            dict(run(16, "all", 40.0, cpu=29.0), split=split(72.0, 29.0, 6.0))]
    e = bench_fleet.summarize(runs, cpus=2)[16]
    assert e["all"]["split_median"] == {"machine": 71.0, "controller": 28.5, "jvm": 6.0, "rest": 36.5}
    assert e["floor"] == pytest.approx((28.5 + 36.5) / 2)
    assert e["floor_ratio"] == pytest.approx(32.5 / 13.5)
    assert e["cpus"] == 2
    lines = bench_fleet.format_summary({16: e})
    assert lines[1] == ("  CPU seconds (machine = controller + ZooKeeper JVMs + rest): one ensemble 16.5 "
                        "(controller 8.5, jvm 2.0, rest 6.0), all 71.0 (controller 28.5, jvm 6.0, rest 36.5); on 2 "
                        "CPUs never idle, its controller and rest alone take at least 32.5 s = 2.41 x one ensemble")
    # Runs without splits (an older results file) give no floor.
    assert "floor" not in bench_fleet.summarize([run(16, "one", 20.0), run(16, "all", 30.0)])[16]


def acct_record(comm, utime, stime, flag=0, version=3):
    """One version 3 process accounting record (acct(5)) with times given as comp_t."""
    return bench_fleet.ACCT_V3.pack(flag, version, 0, 0, 0, 0, 1234, 1, 1700000000, 1.5,
                                    utime, stime, 0, 0, 0, 0, 0, 0, comm.encode()[:16])


def test_comp_t_reads_the_mantissa_and_the_base_8_exponent():
    assert bench_fleet.comp_t(0) == 0
    assert bench_fleet.comp_t(41) == 41
    assert bench_fleet.comp_t(0x1fff) == 8191
    assert bench_fleet.comp_t((1 << 13) | 1000) == 8000          # 1000 * 8
    assert bench_fleet.comp_t((2 << 13) | 3) == 192               # 3 * 64


def test_accounting_summary_sums_cpu_by_command_and_marks_forks():
    data = b"".join([acct_record("python3", 30, 5), acct_record("python3", 40, 5),
                     acct_record("ansible-playboo", 10, 2, flag=bench_fleet.ACCT_FORK),
                     acct_record("ssh", 1, 1), acct_record("ssh", (1 << 13) | 20, 0)])
    assert bench_fleet.accounting_summary(data) == [("ssh", 2, 1.62), ("python3", 2, 0.8),
                                                    ("ansible-playboo*", 1, 0.12)]
    assert bench_fleet.accounting_summary(data, top=1) == [("ssh", 2, 1.62)]
    assert bench_fleet.accounting_summary(b"") == []
    # A trailing partial record (a run still being written) is left out.
    assert bench_fleet.accounting_summary(data + b"\0" * 10, top=1) == [("ssh", 2, 1.62)]


def test_accounting_summary_refuses_another_format():
    with pytest.raises(ValueError, match="not a version 3 process accounting record at offset 0"):
        bench_fleet.accounting_summary(acct_record("sh", 1, 1, version=2))


def test_the_floor_is_the_median_of_each_runs_own_sum():
    def split(controller, rest):
        return {"machine": controller + rest, "controller": controller, "jvm": 0.0, "rest": rest}
    runs = [dict(run(16, "one", 10.0), split=split(5.0, 5.0)),
            dict(run(16, "all", 30.0), split=split(10.0, 10.0)),
            dict(run(16, "all", 31.0), split=split(20.0, 50.0)),
            dict(run(16, "all", 32.0), split=split(30.0, 20.0))]
    e = bench_fleet.summarize(runs, cpus=2)[16]
    # Sums 20, 70, 50: median 50 (the medians of the parts, 20 and 20, would give 40).
    assert e["floor"] == 25.0 and e["floor_ratio"] == 2.5


def test_accounting_without_a_path_records_nothing():
    with bench_fleet.Accounting() as acct:
        pass
    assert acct.summary() is None
