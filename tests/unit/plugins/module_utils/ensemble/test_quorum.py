"""quorum: majority, hierarchical quorums, the guard, the ensemble view."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import quorum


@pytest.mark.parametrize("n,m", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)])
def test_majority(n, m):
    assert quorum.majority(n) == m
    q = quorum.Quorum(range(1, n + 1))
    assert q.size == m
    assert q.contains_quorum(range(1, m + 1))
    assert not q.contains_quorum(range(1, m))


def test_observers_never_count():
    q = quorum.Quorum([1, 2, 3], observers=[4, 5])
    assert not q.contains_quorum([1, 4, 5])
    assert q.contains_quorum([1, 2])
    assert q.may_stop(4, [1, 4])[0]             # an observer may always stop


def test_guard_three_members():
    q = quorum.Quorum([1, 2, 3])
    ok, why = q.may_stop(2, [1, 2, 3])
    assert ok and "{1, 3}" in why
    ok, why = q.may_stop(2, [2, 3])             # 1 is already down
    assert not ok and "{3}" in why and "2 of the 3 voters" in why
    ok, why = q.may_stop(1, [2, 3])             # stopping a member that does not serve
    assert ok
    ok, why = q.may_stop(1, [2])                # no quorum anyway
    assert ok and "no quorum anyway" in why


def test_guard_five_members():
    q = quorum.Quorum([1, 2, 3, 4, 5])
    assert q.may_stop(1, [1, 2, 3, 4, 5])[0]
    assert q.may_stop(2, [2, 3, 4, 5])[0]
    assert not q.may_stop(3, [3, 4, 5])[0]
    assert q.tolerance([1, 2, 3, 4, 5]) == 2
    assert q.tolerance([3, 4, 5]) == 0
    assert q.tolerance([4, 5]) == 0


def test_single_server():
    q = quorum.Quorum([1])
    assert q.contains_quorum([1])
    assert not q.may_stop(1, [1])[0]


def test_hierarchical():
    # Three groups of three, weight 1: a quorum needs 2 servers in each of 2 groups.
    groups = {1: [1, 2, 3], 2: [4, 5, 6], 3: [7, 8, 9]}
    q = quorum.Quorum(range(1, 10), groups=groups)
    assert q.size is None and q.hierarchical
    assert q.contains_quorum([1, 2, 4, 5])
    assert not q.contains_quorum([1, 4, 7, 2])          # only group 1 has a majority
    assert q.tolerance(range(1, 10)) == 3                # e.g. 7, 8, 9 may go; 1 more not
    assert not q.may_stop(5, [1, 2, 4, 5])[0]
    # A zero-weight group does not count.
    q0 = quorum.Quorum([1, 2, 3, 4], groups={1: [1, 2], 2: [3, 4]},
                       weights={3: 0, 4: 0})
    assert q0.contains_quorum([1, 2])
    assert not q0.contains_quorum([1, 3, 4])
    # Weights decide within a group.
    qw = quorum.Quorum([1, 2, 3], groups={1: [1, 2, 3]}, weights={1: 3, 2: 1, 3: 1})
    assert qw.contains_quorum([1])
    assert not qw.contains_quorum([2, 3])


def _m(i, mode, z=None):
    return {"id": i, "address": "zk%d:2181" % i, "mode": mode, "zxid": z}


def test_summarize():
    q = quorum.Quorum([1, 2, 3], observers=[4])
    v = quorum.summarize([_m(1, "follower", "0x200000005"), _m(2, "leader", "0x200000007"),
                          _m(3, "down"), _m(4, "observer", "0x200000007")], q)
    assert v["leader"] == 2 and v["leader_address"] == "zk2:2181"
    assert v["serving_voters"] == [1, 2] and v["serving_voter_count"] == 2
    assert v["voter_count"] == 3 and v["quorum_size"] == 2 and v["quorum"] is True
    assert v["tolerance"] == 0
    assert v["not_serving"] == [3]
    assert v["highest"]["zxid"] == "0x200000007" and v["highest"]["members"] == [2, 4]
    assert v["lag"] == {"1": 2, "2": 0, "4": 0} and v["max_lag"] == 2


def test_summarize_without_quorum_or_membership():
    q = quorum.Quorum([1, 2, 3])
    v = quorum.summarize([_m(1, "not_serving"), _m(2, "down"), _m(3, "down")], q)
    assert v["leader"] is None and v["quorum"] is False and v["highest"]["members"] == []
    # Unknown membership, ids unknown: judged by the leader alone.
    v = quorum.summarize([{"id": None, "address": "h:1", "mode": "leader", "zxid": "0x5"},
                          {"id": 7, "address": "h:2", "mode": "follower", "zxid": "0x4"}])
    assert v["voters"] is None and v["quorum"] is True
    assert v["serving"] == [7, "h:1"]
    # Two members claiming to lead: no single leader.
    v = quorum.summarize([_m(1, "leader"), _m(2, "leader")], q)
    assert v["leader"] is None and v["leaders"] == [1, 2] and v["quorum"] is False
