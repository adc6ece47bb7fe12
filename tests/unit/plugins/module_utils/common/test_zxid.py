"""zxid: the one rule for zxids as text (0x is hex, bare digits decimal), the records this
collection writes, data file names, the 0x form of every output; epoch, counter, lag."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid


def test_zxid():
    z = zxid.parse("0x10000002a")
    assert (zxid.epoch(z), zxid.counter(z)) == (1, 42)
    assert zxid.from_file_suffix("10000002a") == z == zxid.parse(z)
    assert zxid.describe(z) == {"zxid": "0x10000002a", "epoch": 1, "counter": 42}
    for bad in ("", "0x", "zz", -1, 1 << 64, True):
        with pytest.raises(ValueError):
            zxid.parse(bad)
    # Lag counts transactions of the leader's epoch.
    assert zxid.lag(0x200000007, 0x200000005) == 2
    assert zxid.lag(0x200000007, 0x100000009) == 7
    assert zxid.lag(0x200000000, 0x100000009) == 0       # nothing committed yet in epoch 2
    assert zxid.lag(0x200000000, 0x200000003) == 0


@pytest.mark.parametrize("text,value", [
    ("0x100", 0x100), ("0X100", 0x100), (" 0xABC ", 0xabc), ("0x0", 0),
    ("100", 100), (" 100\n", 100), ("0", 0), ("4294967299", 0x100000003),
    (256, 256), ("0xffffffffffffffff", (1 << 64) - 1), ("18446744073709551615", (1 << 64) - 1),
])
def test_parse_reads_0x_as_hex_and_bare_digits_as_decimal(text, value):
    assert zxid.parse(text) == value


@pytest.mark.parametrize("text", [
    "1a", "10000002a", "abc", "0x", "0xg", "0x-1", "-1", "+100", "1_000", "1e3", "10.0", "x100",
    "0x 1", "١٠٠", "0x1" + "0" * 16, str(1 << 64), None, 1.0, -1, True, False,
])
def test_parse_refuses_everything_else(text):
    with pytest.raises(ValueError, match="not a zxid|out of range"):
        zxid.parse(text)


def test_parse_says_how_to_write_hex():
    with pytest.raises(ValueError, match=r"'1a'.*write hex as 0x"):
        zxid.parse("1a")


def test_from_record_reads_the_0x_form_and_ints_and_refuses_bare_digits():
    # Manifests, state files, reports and member statuses hold "0x..." (or ints).
    assert zxid.from_record("0x100000003") == 0x100000003
    assert zxid.from_record(0x100000003) == 0x100000003
    assert zxid.from_record(None) is None
    # Bare digits were read as hex here once: refused, not read as decimal now.
    for bad in ("100", "100000003", "1a", "", "zz", "0x"):
        with pytest.raises(ValueError, match="0x"):
            zxid.from_record(bad)
    with pytest.raises(ValueError):
        zxid.from_record(True)


def test_from_file_suffix_is_hex():
    assert zxid.from_file_suffix("100") == 0x100
    assert zxid.from_file_suffix("100000003") == 0x100000003
    assert zxid.from_file_suffix("0x1A") == 0x1a
    for bad in ("", "0x", "zz", "-1", "1.bak", "1" * 17):
        with pytest.raises(ValueError):
            zxid.from_file_suffix(bad)


def test_to_hex_is_the_form_every_output_uses():
    assert zxid.to_hex(0x100000003) == "0x100000003"
    assert zxid.to_hex(0) == "0x0"
    assert zxid.to_hex(None) is None
    for z in (0, 1, 100, 0x100000003, (1 << 64) - 1):
        assert zxid.parse(zxid.to_hex(z)) == z == zxid.from_record(zxid.to_hex(z))
        assert zxid.from_file_suffix(zxid.to_hex(z)[2:]) == z


def test_the_formats_use_the_same_formatter_and_helpers():
    from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import jute, txnlog
    assert txnlog.epoch_of is zxid.epoch and txnlog.counter_of is zxid.counter
    # The one formatter and parser live in common.zxid; jute keeps neither.
    assert not hasattr(jute, "hexzxid") and not hasattr(jute, "parse_zxid")
