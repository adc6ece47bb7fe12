"""bench/bench_backup.py's pure helper: the module options of an --also variant."""
import importlib.util
import os

import pytest

from lab.ansible import REPO

spec = importlib.util.spec_from_file_location("bench_backup", os.path.join(REPO, "bench", "bench_backup.py"))
bench_backup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_backup)


def test_a_transfer_client_alone_names_that_client():
    assert bench_backup.variant_options("paramiko") == {"transfer_client": "paramiko"}


def test_options_joined_by_plus_with_integers_read_as_integers():
    assert bench_backup.variant_options("compression=zstd+compression_level=-1") == {
        "compression": "zstd", "compression_level": -1}
    assert bench_backup.variant_options("compression=none") == {"compression": "none"}


@pytest.mark.parametrize("text", ["scp", "=none", "compression=none+level"])
def test_anything_else_is_refused_naming_the_forms(text):
    with pytest.raises(ValueError, match="--also takes"):
        bench_backup.variant_options(text)


def test_slug_is_a_file_name():
    assert bench_backup.slug("compression=zstd+compression_level=-1") == "compression-zstd-compression-level--1"


class FakeMeter:
    def __init__(self, outside, busy=0.9, cpus=2):
        self.outside, self.busy, self.cpus, self.floor = outside, busy, cpus, outside / cpus


def test_cpu_summary_gives_the_medians_and_zk_backups_floor_against_tar_ssh():
    tar = [FakeMeter(1.0), FakeMeter(1.4), FakeMeter(1.2)]
    zk = [FakeMeter(3.0), FakeMeter(2.4), FakeMeter(9.0)]
    s = bench_backup.cpu_summary(tar, zk, tar_median=1.0)
    assert s["tar_ssh_cpu"] == 1.2 and s["zk_backup_cpu"] == 3.0
    assert s["cpu_ratio"] == 2.5
    # 3.0 CPU seconds on 2 CPUs: at least 1.5 s, 1.5 times tar | ssh's 1.0 s.
    assert s["cpus"] == 2 and s["floor"] == 1.5 and s["floor_ratio"] == 1.5
    assert s["zk_backup_busy"] == [0.9, 0.9, 0.9]
