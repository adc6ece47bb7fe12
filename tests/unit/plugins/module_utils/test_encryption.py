"""encryption: the STREAM construction round-trips and refuses anything tampered with."""
import base64
import binascii
import os

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils import encryption as E

KEY = os.urandom(32)
SEG = 10   # 1 KiB segments keep the tests small


def seal(data, key=KEY, pieces=333):
    enc = E.Encryptor(key, segment_log2=SEG)
    out = [enc.update(data[i:i + pieces]) for i in range(0, len(data), pieces)]
    return b"".join(out) + enc.finish()


def unseal(blob, key=KEY, pieces=500):
    dec = E.Decryptor(key)
    out = [dec.update(blob[i:i + pieces]) for i in range(0, len(blob), pieces)]
    return b"".join(out) + dec.finish()


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 4096, 5000])
def test_round_trip(size):
    data = os.urandom(size)
    blob = seal(data)
    assert blob[:8] == E.MAGIC
    if size >= 64:
        assert data[:64] not in blob
    segments = max(1, -(-size // 1024))
    assert len(blob) == E.HEADER_SIZE + size + 16 * segments
    assert unseal(blob) == data


def test_each_archive_gets_its_own_key():
    data = b"same plaintext" * 100
    assert seal(data) != seal(data)


def test_wrong_key_is_named():
    blob = seal(b"x" * 3000)
    with pytest.raises(E.EncryptionError) as err:
        unseal(blob, key=os.urandom(32))
    assert "another key" in str(err.value)


@pytest.mark.parametrize("cut", [1024 + 16, 2 * (1024 + 16)])
def test_truncation_at_a_segment_boundary_is_detected(cut):
    blob = seal(os.urandom(5000))
    with pytest.raises(E.EncryptionError) as err:
        unseal(blob[:E.HEADER_SIZE + cut])
    assert "damaged or truncated" in str(err.value)


def test_flipped_bit_is_detected():
    blob = bytearray(seal(os.urandom(3000)))
    blob[E.HEADER_SIZE + 1500] ^= 1
    with pytest.raises(E.EncryptionError):
        unseal(bytes(blob))


def test_reordered_segments_are_detected():
    blob = seal(os.urandom(4000))
    h, s = E.HEADER_SIZE, 1024 + 16
    swapped = blob[:h] + blob[h + s:h + 2 * s] + blob[h:h + s] + blob[h + 2 * s:]
    with pytest.raises(E.EncryptionError):
        unseal(swapped)


def test_header_is_authenticated():
    blob = bytearray(seal(os.urandom(2000)))
    blob[E.HEADER_SIZE - 1] ^= 1        # the salt
    with pytest.raises(E.EncryptionError):
        unseal(bytes(blob))


def test_key_spellings_and_errors():
    assert E.parse_key(base64.b64encode(KEY).decode()) == KEY
    assert E.parse_key(binascii.hexlify(KEY).decode()) == KEY
    assert E.parse_key(base64.urlsafe_b64encode(KEY).decode() + "\n") == KEY
    for bad in ("", "secret passphrase", base64.b64encode(os.urandom(16)).decode()):
        with pytest.raises(E.EncryptionError) as err:
            E.parse_key(bad)
        assert "openssl rand -base64 32" in str(err.value)
        assert bad not in str(err.value) or not bad


def test_key_id_is_stable_and_readable_from_the_header():
    kid = E.key_id(KEY)
    assert kid == E.key_id(KEY) and kid != E.key_id(os.urandom(32)) and len(kid) == 16
    assert E.read_key_id(seal(b"abc")) == kid
    assert E.read_key_id(b"plain tar") is None
