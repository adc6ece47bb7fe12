"""source_choice: serving followers with the highest zxid first, observers next, the leader last."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.backup.source_choice import order


def m(host, mode, zxid, serving=True):
    return {"host": host, "mode": mode, "zxid": zxid, "serving": serving}


def test_followers_by_zxid_then_observers_then_leader():
    members = [m("zk1", "leader", "0x10000000a"), m("zk2", "follower", "0x100000008"),
               m("zk3", "follower", "0x10000000a"), m("zk4", "observer", "0x10000000b"),
               m("zk5", "follower", "0x2000000ff", serving=False), m("zk6", "not_serving", None)]
    assert order(members) == ["zk3", "zk2", "zk4", "zk1"]


def test_zxids_compare_as_numbers_across_epochs():
    assert order([m("a", "follower", "0xfffffff"), m("b", "follower", "0x100000001")]) == ["b", "a"]


def test_leader_alone_and_nobody():
    assert order([m("zk1", "standalone", 5)]) == ["zk1"]
    assert order([m("zk1", "down", None, serving=False)]) == []


def test_zxids_are_0x_hex_or_ints_and_bare_digits_are_refused():
    assert order([m("a", "follower", 0x100000001), m("b", "follower", "0X100000002")]) == ["b", "a"]
    for bare in ("100000002", "10000000a"):
        with pytest.raises(ValueError, match="0x"):
            order([m("a", "follower", "0x100000001"), m("b", "follower", bare)])
