"""The tests' live-tree digest: a znode deleted during the walk (an ephemeral znode of a
restored session expiring) makes the walk start again, so the digest is that of one tree."""
import time

import pytest
from kazoo.exceptions import NoNodeError
from kazoo.security import OPEN_ACL_UNSAFE

import zklive


class Stat:
    def __init__(self, ephemeral_owner=0):
        self.ephemeralOwner = ephemeral_owner


class Tree:
    """Enough of a KazooClient for live_digest: ``vanishing`` is listed under / but gone
    when read, the first ``times`` times."""

    def __init__(self, nodes, vanishing=None, times=1):
        self.nodes = nodes
        self.vanishing, self.times = vanishing, times

    def get(self, path):
        if path == self.vanishing and self.times:
            self.times -= 1
            self.nodes.pop(path, None)
            raise NoNodeError()
        if path not in self.nodes:
            raise NoNodeError()
        return self.nodes[path][0], Stat(self.nodes[path][1])

    def get_acls(self, path):
        return list(OPEN_ACL_UNSAFE), Stat()

    def get_children(self, path):
        prefix = path.rstrip("/") + "/"
        names = (p[len(prefix):] for p in self.nodes if p.startswith(prefix))
        return [n for n in names if n and "/" not in n]


def tree(**extra):
    nodes = {"/": (b"", 0), "/a": (b"x", 0), "/a/b": (b"y", 0)}
    nodes.update(extra)
    return nodes


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)


def test_an_ephemeral_znode_gone_during_the_walk_gives_the_digest_of_the_tree_without_it():
    expected = zklive.live_digest(Tree(tree()))
    got = zklive.live_digest(Tree(tree(**{"/eph": (b"e", 0x1234)}), vanishing="/eph"))
    assert got == expected


def test_a_persistent_znode_gone_during_the_walk_is_not_half_counted():
    expected = zklive.live_digest(Tree(tree()))
    with_p = zklive.live_digest(Tree(tree(**{"/p": (b"p", 0)})))
    got = zklive.live_digest(Tree(tree(**{"/p": (b"p", 0)}), vanishing="/p"))
    assert got == expected != with_p


def test_a_tree_that_keeps_changing_raises_after_five_walks():
    t = Tree(tree(), vanishing="/a", times=99)
    t.get_children = lambda path: ["a"] if path == "/" else []
    with pytest.raises(NoNodeError):
        zklive.live_digest(t)
    assert t.times == 94
