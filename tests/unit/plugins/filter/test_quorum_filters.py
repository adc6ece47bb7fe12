"""The quorum filters the roles call: plain majorities, hierarchical quorums with groups and
weights (where a count of members gives another answer), observers, and the view zk_info
returns (its keys as text, as they arrive through JSON)."""
import json

import pytest

from ansible_collections.zkops.zookeeper.plugins.filter.quorum_first import quorum_first
from ansible_collections.zkops.zookeeper.plugins.filter.quorum_holds import quorum_holds
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import quorum


def view(voters, observers=(), groups=None, weights=None, serving=None):
    """The ensemble view zk_info returns, through JSON as a role sees it."""
    q = quorum.Quorum(voters, observers, groups, weights)
    members = [{"id": s, "address": "zk%d:2181" % s,
                "mode": ("observer" if s in observers else "follower") if s != max(voters) else "leader",
                "zxid": "0x100000001"}
               for s in (serving if serving is not None else list(voters) + list(observers))]
    return json.loads(json.dumps(quorum.summarize(members, q)))


def members(ids):
    """Members as the restore role holds them, highest server id first."""
    return [{"host": "zk%d" % s, "id": s} for s in sorted(ids, reverse=True)]


NINE_IN_THREE = {1: [1, 2, 3], 2: [4, 5, 6], 3: [7, 8, 9]}


def test_the_view_carries_groups_and_weights():
    v = view(range(1, 10), groups=NINE_IN_THREE, weights={9: 0})
    assert v["groups"] == {"1": [1, 2, 3], "2": [4, 5, 6], "3": [7, 8, 9]}
    assert v["weights"] == {"9": 0}
    plain = view([1, 2, 3])
    assert plain["groups"] == {} and plain["weights"] == {}
    unknown = quorum.summarize([{"id": None, "address": "zk1:2181", "mode": "leader", "zxid": None}])
    assert unknown["groups"] is None and unknown["weights"] is None


@pytest.mark.parametrize("n,enough,short", [(3, [3, 2], [3]), (5, [5, 4, 3], [5, 4])])
def test_plain_majority(n, enough, short):
    v = view(range(1, n + 1))
    assert quorum_holds(enough, v) is True
    assert quorum_holds(short, v) is False
    assert quorum_first(members(range(1, n + 1)), v) == ["zk%d" % s for s in enough]


def test_ids_as_text_and_unknown_ids():
    v = view([1, 2, 3])
    assert quorum_holds(["1", "2"], v) is True
    assert quorum_holds([None, 1], v) is False
    assert quorum_holds([], v) is False
    assert quorum_first([{"host": "a", "id": "3"}, {"host": "b", "id": None}, {"host": "c", "id": "1"}],
                        v) == ["a", "c"]


def test_observers_never_vote():
    v = view([1, 2, 3], observers=[4, 5])
    assert quorum_holds([1, 4, 5], v) is False
    assert quorum_holds([1, 2], v) is True
    # Counting members, 5 // 2 + 1 = 3 would start the observers 5 and 4 and the voter 3.
    assert quorum_first(members([1, 2, 3, 4, 5]), v) == ["zk3", "zk2"]


def test_hierarchical_quorum_is_not_a_count():
    v = view(range(1, 10), groups=NINE_IN_THREE)
    # Five of nine servers, a majority by count, but a majority in one group only.
    assert quorum_holds([1, 2, 3, 4, 7], v) is False
    # Four of nine, fewer than a count needs, but a majority in two of the three groups.
    assert quorum_holds([1, 2, 4, 5], v) is True
    # Highest ids first: 9 and 8 hold group 3; 7 adds nothing; 6 and 5 hold group 2.
    assert quorum_first(members(range(1, 10)), v) == ["zk9", "zk8", "zk6", "zk5"]


def test_weights_decide():
    # Server 9 weighs 0 and server 7 weighs 3 (of 4 in group 3): 7 alone holds its group.
    v = view(range(1, 10), groups=NINE_IN_THREE, weights={7: 3, 8: 1, 9: 0})
    assert quorum_holds([7, 1, 2], v) is True
    assert quorum_holds([8, 9, 1, 2], v) is False
    assert quorum_first(members(range(1, 10)), v) == ["zk7", "zk6", "zk5"]


def test_a_group_of_weight_zero_does_not_count():
    v = view(range(1, 7), groups={1: [1, 2], 2: [3, 4], 3: [5, 6]}, weights={5: 0, 6: 0})
    # Two groups of non-zero weight: both are needed, the third cannot help.
    assert quorum_holds([5, 6, 1, 2], v) is False
    assert quorum_holds([1, 2, 3, 4], v) is True
    assert quorum_first(members(range(1, 7)), v) == ["zk4", "zk3", "zk2", "zk1"]


def test_no_quorum_among_the_members_starts_them_all():
    v = view([1, 2, 3, 4, 5])
    assert quorum_first(members([1, 2]), v) == ["zk2", "zk1"]
    assert quorum_first([], v) == []


def test_unknown_membership():
    unknown = {"voters": None, "observers": None, "groups": None, "weights": None}
    assert quorum_holds([1, 2, 3], unknown) is False
    assert quorum_holds([1, 2, 3], {}) is False
    # Without a membership, the count the role used before: the first half plus one.
    assert quorum_first(members([1, 2, 3, 4, 5]), unknown) == ["zk5", "zk4", "zk3"]
    assert quorum_first(members([1, 2, 3, 4]), None) == ["zk4", "zk3", "zk2"]


def test_another_attribute():
    assert quorum_first(members([1, 2, 3]), view([1, 2, 3]), attribute="id") == [3, 2]
