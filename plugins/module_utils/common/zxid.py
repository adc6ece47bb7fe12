# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ZooKeeper transaction ids: a 64-bit number, the epoch in the high 32 bits and a
counter within the epoch in the low 32 bits.  Comparing two zxids as numbers compares
(epoch, counter).

The one rule for a zxid written as text: ``0x`` followed by hex digits is hex, bare
decimal digits are decimal, anything else is refused (``parse``: module options, role
variables, filter arguments).  Everything this collection writes (manifests, state
files, reports, member statuses; ZooKeeper's four letter words too) uses the ``0x``
form (``to_hex``); ``from_record`` reads those and refuses bare digits, which were read
as hex there once.  Only the names of ZooKeeper's data files (``log.<hex>``,
``snapshot.<hex>``) hold hex without ``0x``: ``from_file_suffix`` reads those.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

_LIMIT = 1 << 64
_DEC = frozenset("0123456789")
_HEX = frozenset("0123456789abcdef")


def _checked(z, value):
    if z < 0 or z >= _LIMIT:
        raise ValueError("zxid out of range: %r" % (value,))
    return z


def parse(value):
    """A zxid from an int, ``'0x<hex>'`` or ``'<decimal digits>'`` -> int.

    Raises ValueError for anything else (bare hex digits such as ``'1a'`` included:
    write them as ``0x1a``), and for numbers outside 0 .. 2**64-1.
    """
    if isinstance(value, bool):
        raise ValueError("not a zxid: %r" % (value,))
    if isinstance(value, int):
        return _checked(value, value)
    text = str(value).strip()
    if text[:2] in ("0x", "0X"):
        digits = text[2:].lower()
        if digits and _HEX.issuperset(digits):
            return _checked(int(digits, 16), value)
    elif text and _DEC.issuperset(text):
        return _checked(int(text, 10), value)
    raise ValueError("not a zxid: %r (write hex as 0x..., or decimal digits)" % (value,))


def from_record(value):
    """A zxid as this collection writes it (manifests, state files, reports, member
    statuses): an int or ``'0x<hex>'``; None passes through.

    These records were once read with bare digits as hex; nothing writes them so, and
    such a value is refused (ValueError) rather than read as decimal.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.strip()[:2] not in ("0x", "0X"):
        raise ValueError("not a zxid as written here: %r (a zxid is written 0x... in hex)" % (value,))
    return parse(value)


def from_file_suffix(text):
    """The hex after ``log.`` or ``snapshot.`` in a data file's name (ZooKeeper writes it
    without ``0x``; a ``0x`` prefix is accepted too) -> int; raises ValueError."""
    digits = str(text).strip().lower()
    if digits.startswith("0x"):
        digits = digits[2:]
    if not digits or not _HEX.issuperset(digits):
        raise ValueError("not a hex zxid: %r" % (text,))
    return _checked(int(digits, 16), text)


def to_hex(z):
    """The form every output uses: ``0x`` and lowercase hex (None for None)."""
    if z is None:
        return None
    return "0x%x" % z


def epoch(z):
    return z >> 32


def counter(z):
    return z & 0xFFFFFFFF


def describe(z):
    """{'zxid': '0x...', 'epoch': int, 'counter': int} (None values for None)."""
    if z is None:
        return {"zxid": None, "epoch": None, "counter": None}
    return {"zxid": to_hex(z), "epoch": epoch(z), "counter": counter(z)}


def lag(leader, member):
    """Transactions of the leader's current epoch that ``member`` has not applied yet.

    A member in an older epoch lacks at least every transaction of the new one; a leader
    whose counter is 0 has committed nothing since it was elected, so a member that synced
    with it lags by nothing.
    """
    if member >= leader:
        return 0
    if epoch(member) == epoch(leader):
        return counter(leader) - counter(member)
    return counter(leader)
