"""Shared pytest set-up: the lab package, the collection on sys.path, lab fixtures."""
import os
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)

import known_warnings  # noqa: E402
from lab import Lab, reap_stale  # noqa: E402
from lab.ansible import collections_path, run_playbook  # noqa: E402

# Unit tests import the collection as ansible_collections.zkops.zookeeper.
sys.path.insert(0, collections_path())

# A playbook task of a test that runs longer than this fails by its name (tests/lab/ansible.py).
os.environ.setdefault("ZKOPS_TASK_TIMEOUT", "600")


def pytest_configure(config):
    config.addinivalue_line("markers", "lab: needs root and builds real lab hosts")
    config.addinivalue_line("markers", "slow: takes more than about 30 s")
    # Every warning is an error (pytest.ini) except the known third-party ones, listed with
    # their reasons in known_warnings.py. Lines added later take precedence.
    for line in known_warnings.pytest_filters():
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(scope="session", autouse=True)
def _reap_stale_labs():
    if os.geteuid() == 0:
        reap_stale()
    yield


@pytest.fixture
def make_lab(request):
    """Factory: make_lab(members=3, backups=1, ...) -> a running Lab, torn down after."""
    made = []

    def factory(**opts):
        opts.setdefault("name", request.node.name[:20].replace("[", "-").replace("]", ""))
        lab = Lab(**opts)
        made.append(lab)
        lab.up()
        return lab

    yield factory
    for lab in made:
        lab.down()


@pytest.fixture(scope="module")
def lab3(request):
    """A 3-member lab with one backup host, shared by a module's tests.

    Tests that stop members or change data must leave it serving as they found it.
    """
    lab = Lab(name=request.module.__name__.split(".")[-1][:20])
    lab.up()
    yield lab
    lab.down()


@pytest.fixture
def playbook(lab3):
    """run_playbook bound to the module's shared lab."""
    def run(text, **kw):
        return run_playbook(lab3, text, **kw)
    return run
