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
