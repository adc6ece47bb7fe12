"""encryption: property-based tests of the decryption reader.

Whatever bytes it is fed (a genuine archive with any byte changed, bytes cut, inserted or
dropped, or random input), the reader gives back exactly the original plaintext or raises
EncryptionError; never another exception, never other bytes."""
import io
import os

from hypothesis import HealthCheck, given, settings, strategies as st
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption as E

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
KEY = bytes(range(32))
_PRIV = X25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
IDENTITY = E.parse_identity(_PRIV.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
CTX = {"backup_id": "b1", "ensemble": "prod", "kind": "full"}
PLAIN = bytes(range(256)) * 11     # 2816 bytes: three 1 KiB segments
SEG = 10


def _seal(data, key=KEY, recipients=(IDENTITY.recipient,)):
    enc = E.Encryptor(key, segment_log2=SEG, recipients=list(recipients), context=CTX)
    return enc.update(data) + enc.finish()


BLOB = _seal(PLAIN)


def _decrypt(blob, keys, pieces, expect="the context"):
    """The plaintext, or None when the reader refused with EncryptionError."""
    dec = E.Decryptor(keys, expect=CTX if expect == "the context" else expect)
    out = []
    try:
        for i in range(0, len(blob), pieces):
            out.append(dec.update(blob[i:i + pieces]))
        out.append(dec.finish())
    except E.EncryptionError:
        return None
    return b"".join(out)


KEYS = st.sampled_from([KEY, IDENTITY, E.Keyring([KEY], [IDENTITY])])


@SETTINGS
@given(at=st.integers(0, len(BLOB) - 1), xor=st.integers(1, 255), keys=KEYS, pieces=st.integers(1, 2000))
def test_any_changed_byte_is_refused(at, xor, keys, pieces):
    bad = bytearray(BLOB)
    bad[at] ^= xor
    assert _decrypt(bytes(bad), keys, pieces) is None


@SETTINGS
@given(cut=st.integers(0, len(BLOB) - 1), keys=KEYS, pieces=st.integers(1, 2000))
def test_any_truncation_is_refused(cut, keys, pieces):
    assert _decrypt(BLOB[:cut], keys, pieces) is None


@SETTINGS
@given(at=st.integers(0, len(BLOB)), junk=st.binary(min_size=1, max_size=64), drop=st.integers(0, 64),
       keys=KEYS)
def test_inserted_or_dropped_bytes_are_refused(at, junk, drop, keys):
    assert _decrypt(BLOB[:at] + junk + BLOB[at + drop:], keys, 700) is None
    if drop and at < len(BLOB):
        assert _decrypt(BLOB[:at] + BLOB[at + drop:], keys, 700) is None


@SETTINGS
@given(blob=st.one_of(st.binary(max_size=600),
                      st.binary(max_size=600).map(lambda b: E.MAGIC + b),
                      st.binary(max_size=600).map(lambda b: E.MAGIC + b"\x02\x01\x0a\x00" + b),
                      st.binary(max_size=600).map(lambda b: E.MAGIC + b"\x01\x01\x0a\x00" + b)),
       keys=KEYS, pieces=st.integers(1, 700))
def test_random_input_is_refused(blob, keys, pieces):
    assert _decrypt(blob, keys, pieces, expect=None) is None


@SETTINGS
@given(blob=st.binary(max_size=400).map(lambda b: BLOB[:200] + b), keys=KEYS)
def test_read_header_refuses_or_reads_without_other_errors(blob, keys):
    dec = E.Decryptor(keys, expect=CTX)
    raw = io.BytesIO(blob)
    try:
        dec.read_header(raw.read)
        dec.update(raw.read())
        dec.finish()
    except E.EncryptionError:
        return
    raise AssertionError("a mangled archive was read")


@SETTINGS
@given(data=st.binary(max_size=5000), pieces=st.integers(1, 3000), keys=KEYS)
def test_round_trip_any_plaintext_any_feeding(data, pieces, keys):
    assert _decrypt(_seal(data), keys, pieces) == data


def test_the_genuine_archive_reads():
    assert _decrypt(BLOB, KEY, 333) == PLAIN
    assert _decrypt(BLOB, IDENTITY, 333) == PLAIN
    assert _decrypt(BLOB, os.urandom(32), 333) is None
