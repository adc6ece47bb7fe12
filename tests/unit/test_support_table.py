"""The README's support table (ZooKeeper release by feature) is the one tests/lab/support.py
renders, and every cell it claims names integration tests that pytest collects; the test
stages run Debian's release and the newest on every run, and every release in the matrix."""
import os
import re
import subprocess
import sys

from lab import support, zkdist
from lab.lab import DEBIAN_VERSION

from ansible_collections.zkops.zookeeper.plugins.module_utils.common.release import release_tuple

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_readme_table_is_the_rendered_one():
    with open(support.README) as f:
        text = f.read()
    table = support.readme_table(text)
    assert table is not None, "README.md has no support table: python -m lab.support --write"
    assert table == support.render(), \
        "README.md's support table differs from tests/lab/support.py: python -m lab.support --write"
    assert text.count(support.BEGIN) == 1 and text.count(support.END) == 1


def test_every_release_and_feature_has_a_cell():
    assert support.RELEASES == tuple(sorted([DEBIAN_VERSION] + list(zkdist.DISTS),
                                            key=release_tuple))
    assert support.DEBIAN == DEBIAN_VERSION
    for v in support.RELEASES:
        assert sorted(support.SUPPORT[v]) == sorted(k for k, _t in support.FEATURES), v
        for k, cell in support.SUPPORT[v].items():
            assert isinstance(cell, (support.Tested, support.Untested, support.Cannot)), (v, k)
            if isinstance(cell, support.Cannot):
                assert cell.reason.strip(), (v, k)


def test_every_claimed_cell_names_a_collected_integration_test():
    wanted = support.node_ids()
    assert wanted and all(n.startswith("tests/integration/test_") and "::" in n for n in wanted)
    files = sorted({n.split("::")[0] for n in wanted})
    for f in files:
        assert os.path.isfile(os.path.join(os.path.dirname(TESTS), f)), f
    p = subprocess.run([sys.executable, "-m", "pytest", "-c", os.path.join(TESTS, "pytest.ini"),
                        "-p", "no:cacheprovider", "--collect-only", "-q"]
                       + [os.path.relpath(os.path.join(os.path.dirname(TESTS), f), TESTS) for f in files],
                       cwd=TESTS, capture_output=True, text=True, check=False, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    collected = {"tests/" + line.strip() for line in p.stdout.splitlines() if "::" in line}
    missing = [n for n in wanted if n not in collected]
    assert not missing, "named in tests/lab/support.py but not collected: %s" % missing


def test_cells_render_as_yes_not_tested_or_why_not():
    assert support.Tested("tests/integration/test_x.py::test_y").cell() == "yes"
    assert support.Untested().cell() == "not tested yet"
    assert support.Cannot("no such option before 3.6").cell() == "no: no such option before 3.6"
    table = support.render().splitlines()
    assert table[0] == support.BEGIN and table[-1] == support.END
    assert len(table) == 3 + len(support.RELEASES) + 1
    for v, row in zip(support.RELEASES, table[3:-1]):
        assert row.startswith("| %s" % v) and row.count("|") == len(support.FEATURES) + 2, row


def test_every_run_tests_debians_release_and_the_newest_and_the_matrix_all():
    with open(os.path.join(TESTS, "run")) as f:
        run = f.read()
    assert re.search(r"^ZK_DEBIAN=%s$" % re.escape(DEBIAN_VERSION), run, re.M)
    newest = max(zkdist.DISTS, key=release_tuple)
    assert re.search(r"^ZK_NEWEST=%s$" % re.escape(newest), run, re.M), \
        "tests/run's ZK_NEWEST should be the newest release of lab/zkdist.py, %s" % newest
    assert "ZKOPS_ZK_VERSIONS=${ZKOPS_ZK_VERSIONS:-$ZK_DEBIAN,$ZK_NEWEST}" in run
    assert "ZKOPS_ZK_VERSIONS=all" in run and "tests/integration/test_version_*.py" in run
    with open(os.path.join(os.path.dirname(TESTS), "Makefile")) as f:
        assert re.search(r"^matrix:\n\ttests/run \$@$", f.read(), re.M)
