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
