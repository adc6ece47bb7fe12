"""common.release: the one reader of ZooKeeper release strings, a release number and what srvr
says of the release."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import release
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import releases


@pytest.mark.parametrize("text, want", [
    ("3.9.5", (3, 9, 5)), ("3.6.3-6401e4ad2087061bc6b9f80dec2d69f2e3c8660a", (3, 6, 3)),
    (" 3.8.0 ", (3, 8, 0)), ("3.10.0", (3, 10, 0)), ("3.5.9, built on 2021", (3, 5, 9)),
    (None, None), ("", None), ("unknown", None), ("3.x", None), ("3..1", None),
])
def test_release_numbers(text, want):
    assert release.release_tuple(text) == want
    # The restore's release check reads them with the same reader.
    assert releases.release_tuple is release.release_tuple


@pytest.mark.parametrize("value, want", [
    ("3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on 2022-02-25 08:49 UTC", "3.8.0"),
    ("3.9.5-abc, built on 2024-12-29 17:54 UTC", "3.9.5"), ("3.5.9", "3.5.9"),
    ("", None), (None, None), ("-abc, built on x", None),
])
def test_the_release_srvr_gives(value, want):
    assert release.from_srvr(value) == want
    parsed = {"Mode": "follower"}
    if value is not None:
        parsed["Zookeeper version"] = value
    st = {}
    member.parse_srvr(st, parsed)
    assert st["version"] == want
