"""times and targets: target times in milliseconds, the UTC stamps this collection writes
(seconds), and the options target_zxid and target_time read together."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import targets
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times


def test_parse_ms():
    assert times.parse_ms("1700000000000") == 1700000000000
    assert times.parse_ms(1700000000000) == 1700000000000
    assert times.parse_ms("2023-11-14T22:13:20Z") == 1700000000000
    assert times.parse_ms("2023-11-14T22:13:20") == 1700000000000
    assert times.parse_ms("2023-11-15T00:13:20+02:00") == 1700000000000
    assert times.parse_ms("2023-11-14T22:13:20.5Z") == 1700000000500
    with pytest.raises(ValueError):
        times.parse_ms("noon")


def test_parse_iso_seconds_reads_the_stamps_iso_writes():
    assert times.parse_iso_seconds("2023-11-14T22:13:20Z") == 1700000000
    assert times.parse_iso_seconds(times.iso(1700000000)) == 1700000000
    for bad in (None, "", "noon", "2023-11-14T22:13:20", 1700000000):
        assert times.parse_iso_seconds(bad) is None


def test_iso():
    assert times.iso(1700000000) == "2023-11-14T22:13:20Z"
    assert times.iso(1700000000.9) == "2023-11-14T22:13:20Z"
    assert times.iso(None) is None
    assert times.iso_ms(1700000000500) == "2023-11-14T22:13:20Z"
    assert times.iso_ms(None) is None
    now = times.iso_now()
    assert abs(times.parse_iso_seconds(now) - __import__("time").time()) < 5


def test_parse_target():
    assert targets.parse_target(None, None) == (None, None)
    assert targets.parse_target("0x100000004", "1700000000000") == (0x100000004, 1700000000000)
    assert targets.parse_target("4294967300", None) == (0x100000004, None)
    with pytest.raises(ValueError, match="target_zxid 'zz' is neither hex"):
        targets.parse_target("zz", None)
    with pytest.raises(ValueError, match=r"target_zxid '100000004a' is neither hex \(0x\.\.\.\) nor decimal"):
        targets.parse_target("100000004a", None)
    with pytest.raises(ValueError, match="target_time 'noon' is not an ISO 8601 time"):
        targets.parse_target(None, "noon")
    # latest only where a caller allows it
    with pytest.raises(ValueError, match="neither hex"):
        targets.parse_target("latest", None)
    assert targets.parse_target(" Latest ", None, latest="latest") == ("latest", None)
    with pytest.raises(ValueError, match="neither hex \\(0x...\\), decimal, nor 'latest'"):
        targets.parse_target("zz", None, latest="latest")
