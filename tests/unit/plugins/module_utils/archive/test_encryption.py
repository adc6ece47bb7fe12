"""encryption: format v2 (file key wrapped per recipient, authenticated header and context)
round-trips, picks its stanza by key id, refuses anything tampered with; v1 is still read."""
import base64
import binascii
import json
import os
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption as E

KEY = os.urandom(32)
SEG = 10   # 1 KiB segments keep the tests small
CTX = {"backup_id": "20261206T000000Z-full-abcdef", "ensemble": "prod", "kind": "full"}


def new_identity_pem():
    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def public_pem(identity_pem):
    priv = serialization.load_pem_private_key(identity_pem.encode(), password=None)
    return priv.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo).decode()


ID_A, ID_B, ID_C = new_identity_pem(), new_identity_pem(), new_identity_pem()


def seal(data, key=KEY, pieces=333, recipients=(), context=None):
    enc = E.Encryptor(key, segment_log2=SEG, recipients=[E.parse_recipient(public_pem(r)) for r in recipients],
                      context=context)
    out = [enc.update(data[i:i + pieces]) for i in range(0, len(data), pieces)]
    return b"".join(out) + enc.finish()


def unseal(blob, key=KEY, pieces=500, expect=None):
    dec = E.Decryptor(key, expect=expect)
    out = [dec.update(blob[i:i + pieces]) for i in range(0, len(blob), pieces)]
    return b"".join(out) + dec.finish()


def header_size(blob):
    ctx_len = struct.unpack(">I", blob[12:16])[0]
    return E.PREFIX_SIZE + ctx_len + 1 + blob[E.PREFIX_SIZE + ctx_len] * E.STANZA_SIZE + 64


def seal_v1(data, key, log2=SEG, salt=None):
    """An archive in format version 1, as earlier releases wrote it (one symmetric key)."""
    salt = salt or os.urandom(32)
    header = E.HEADER.pack(E.MAGIC, 1, 1, log2, 0, binascii.unhexlify(E.key_id(key)), salt)
    aead = AESGCM(E.hkdf(key, salt, b"zkops.zookeeper archive v1", 32))
    seg = 1 << log2
    chunks = [data[i:i + seg] for i in range(0, len(data), seg)] or [b""]
    return header + b"".join(aead.encrypt(E._nonce(n, n == len(chunks) - 1), c, header)
                             for n, c in enumerate(chunks))


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 4096, 5000])
def test_round_trip(size):
    data = os.urandom(size)
    blob = seal(data, context=CTX)
    assert blob[:8] == E.MAGIC and blob[8] == 2
    if size >= 64:
        assert data[:64] not in blob
    segments = max(1, -(-size // 1024))
    assert len(blob) == header_size(blob) + size + 16 * segments
    assert unseal(blob) == data
    assert unseal(blob, expect=CTX) == data


def test_each_archive_gets_its_own_file_key():
    data = b"same plaintext" * 100
    a, b = seal(data), seal(data)
    assert a != b and a[header_size(a):] != b[header_size(b):]


def test_header_carries_the_context_and_the_key_ids():
    blob = seal(b"x" * 100, recipients=[ID_A], context=CTX)
    dec = E.Decryptor(KEY)
    dec.update(blob)
    assert dec.version == 2 and dec.context == CTX and dec.key_id == E.key_id(KEY)
    ident = E.parse_identity(ID_A)
    assert dec.recipients == [{"type": "symmetric", "key_id": E.key_id(KEY)},
                              {"type": "x25519", "key_id": ident.key_id}]
    assert E.read_key_ids(blob) == [E.key_id(KEY), ident.key_id]
    assert E.read_key_id(blob) == E.key_id(KEY)
    assert E.read_key_ids(b"plain tar") == [] and E.read_key_id(b"plain tar") is None
    # the context is in clear in the header (it names, it does not hide)
    assert E.canonical_json(CTX) in blob[:header_size(blob)]


def test_public_key_only_writer_and_identity_reader():
    data = os.urandom(3000)
    blob = seal(data, key=None, recipients=[ID_A], context=CTX)
    assert unseal(blob, key=E.parse_identity(ID_A), expect=CTX) == data
    # the symmetric key, a key the writer never used, reads nothing
    with pytest.raises(E.EncryptionError) as err:
        unseal(blob, key=KEY)
    assert "other keys" in str(err.value) and E.parse_identity(ID_A).key_id in str(err.value)


def test_rotation_every_recipient_reads_and_the_reader_picks_its_stanza_by_key_id():
    data = os.urandom(2500)
    blob = seal(data, key=KEY, recipients=[ID_A, ID_B])
    for keys in (KEY, E.parse_identity(ID_A), E.parse_identity(ID_B),
                 E.Keyring([os.urandom(32)], [E.parse_identity(ID_C), E.parse_identity(ID_B)])):
        dec = E.Decryptor(keys)
        assert dec.update(blob) + dec.finish() == data
    dec = E.Decryptor(E.Keyring([], [E.parse_identity(ID_C), E.parse_identity(ID_B)]))
    dec.update(blob)
    assert dec.key_id == E.parse_identity(ID_B).key_id


def test_wrong_identity_names_both_sides_and_no_secret():
    blob = seal(b"x" * 3000, key=None, recipients=[ID_A, ID_B])
    c = E.parse_identity(ID_C)
    with pytest.raises(E.EncryptionError) as err:
        unseal(blob, key=c)
    msg = str(err.value)
    assert E.parse_identity(ID_A).key_id in msg and E.parse_identity(ID_B).key_id in msg
    assert "x25519 %s" % c.key_id in msg
    assert ID_C.splitlines()[1] not in msg


def test_wrong_symmetric_key_is_named():
    blob = seal(b"x" * 3000)
    other = os.urandom(32)
    with pytest.raises(E.EncryptionError) as err:
        unseal(blob, key=other)
    assert "other keys" in str(err.value) and E.key_id(other) in str(err.value)


def test_no_key_at_all_is_refused():
    with pytest.raises(E.EncryptionError):
        E.Encryptor(None, recipients=[])
    blob = seal(b"abc")
    with pytest.raises(E.EncryptionError) as err:
        unseal(blob, key=None)
    assert "the keys given have none" in str(err.value)


def test_context_mismatch_is_refused():
    blob = seal(b"y" * 2000, context=CTX)
    for name, value in (("backup_id", "20251206T000000Z-full-000000"), ("ensemble", "staging"), ("kind", "logs")):
        with pytest.raises(E.EncryptionError) as err:
            unseal(blob, expect=dict(CTX, **{name: value}))
        assert "belongs elsewhere" in str(err.value) and name in str(err.value)
    # values the reader does not know (None) are not compared
    assert unseal(blob, expect={"backup_id": CTX["backup_id"], "kind": None}) == b"y" * 2000


def _flip(blob, at):
    b = bytearray(blob)
    b[at] ^= 1
    return bytes(b)


def test_tampered_context_stanza_salt_mac_are_refused():
    blob = seal(os.urandom(2000), recipients=[ID_A], context=CTX)
    h = header_size(blob)
    ctx_at = E.PREFIX_SIZE + 5
    stanza_a = E.PREFIX_SIZE + len(E.canonical_json(CTX)) + 1
    stanza_b = stanza_a + E.STANZA_SIZE
    places = {"log2": 10, "flags": 11, "context": ctx_at, "count": stanza_a - 1,
              "own stanza key id": stanza_a + 3, "own stanza salt": stanza_a + 20, "own wrapped key": stanza_a + 60,
              "other stanza": stanza_b + 40, "payload salt": h - 40, "mac": h - 1, "payload": h + 5}
    for what, at in places.items():
        with pytest.raises(E.EncryptionError):
            unseal(_flip(blob, at))
        with pytest.raises(E.EncryptionError):
            unseal(_flip(blob, at), key=E.parse_identity(ID_A))


def test_context_rewritten_with_a_valid_length_is_refused():
    """An attacker without the key rewrites the context to another backup id (same length)."""
    blob = seal(os.urandom(2000), context=CTX)
    forged = blob.replace(CTX["backup_id"].encode(), b"20261206T000000Z-full-fedcba")
    assert forged != blob
    with pytest.raises(E.EncryptionError) as err:
        unseal(forged)
    assert "MAC" in str(err.value)


def test_stanza_swapped_from_another_archive_is_refused():
    a = seal(os.urandom(1000), context=CTX)
    b = seal(os.urandom(1000), context=CTX)
    s = E.PREFIX_SIZE + len(E.canonical_json(CTX)) + 1
    mixed = a[:s] + b[s:s + E.STANZA_SIZE] + a[s + E.STANZA_SIZE:]
    with pytest.raises(E.EncryptionError):
        unseal(mixed)


@pytest.mark.parametrize("cut", [0, 5, 20, "header-1", "header", "seg", "seg2", "last-1"])
def test_truncation_anywhere_is_detected(cut):
    blob = seal(os.urandom(5000), recipients=[ID_A], context=CTX)
    h = header_size(blob)
    at = {"header-1": h - 1, "header": h, "seg": h + 1024 + 16, "seg2": h + 2 * (1024 + 16),
          "last-1": len(blob) - 1}.get(cut, cut)
    with pytest.raises(E.EncryptionError):
        unseal(blob[:at])


def test_reordered_segments_are_detected():
    blob = seal(os.urandom(4000))
    h, s = header_size(blob), 1024 + 16
    swapped = blob[:h] + blob[h + s:h + 2 * s] + blob[h:h + s] + blob[h + 2 * s:]
    with pytest.raises(E.EncryptionError):
        unseal(swapped)


def test_payload_of_one_archive_under_the_header_of_another_is_refused():
    a = seal(os.urandom(3000), context=CTX)
    b = seal(os.urandom(3000), context=CTX)
    with pytest.raises(E.EncryptionError):
        unseal(a[:header_size(a)] + b[header_size(b):])


def test_version_1_is_still_read():
    data = os.urandom(3000)
    blob = seal_v1(data, KEY)
    dec = E.Decryptor(KEY, expect=CTX)       # v1 has no context: not compared, reported as None
    assert dec.update(blob) + dec.finish() == data
    assert dec.version == 1 and dec.context is None and dec.key_id == E.key_id(KEY)
    assert E.read_key_ids(blob) == [E.key_id(KEY)]
    assert unseal(seal_v1(data, KEY), key=E.Keyring([os.urandom(32), KEY])) == data
    with pytest.raises(E.EncryptionError) as err:
        unseal(blob, key=os.urandom(32))
    assert "other keys" in str(err.value)
    with pytest.raises(E.EncryptionError):
        unseal(blob, key=E.parse_identity(ID_A))
    with pytest.raises(E.EncryptionError):
        unseal(_flip(blob, E.HEADER_SIZE - 1))
    with pytest.raises(E.EncryptionError):
        unseal(blob[:-1])


def test_read_header_reports_header_errors_before_the_payload():
    import io
    blob = seal(os.urandom(3000), key=None, recipients=[ID_A], context=CTX)
    raw = io.BytesIO(blob)
    dec = E.Decryptor(E.parse_identity(ID_A), expect=CTX)
    dec.read_header(raw.read)
    assert raw.tell() == header_size(blob) and dec.context == CTX
    for bad, keys in ((b"plain tar" * 20, KEY), (blob, E.parse_identity(ID_B)), (blob[:30], E.parse_identity(ID_A))):
        with pytest.raises(E.EncryptionError):
            E.Decryptor(keys).read_header(io.BytesIO(bad).read)


def test_read_header_then_payload_round_trips():
    import io
    data = os.urandom(4000)
    blob = seal(data, key=None, recipients=[ID_A])
    raw = io.BytesIO(blob)
    dec = E.Decryptor(E.parse_identity(ID_A))
    dec.read_header(raw.read)
    assert dec.update(raw.read()) + dec.finish() == data


def test_key_spellings_and_errors():
    assert E.parse_key(base64.b64encode(KEY).decode()) == KEY
    assert E.parse_key(binascii.hexlify(KEY).decode()) == KEY
    assert E.parse_key(base64.urlsafe_b64encode(KEY).decode() + "\n") == KEY
    for bad in ("", "secret passphrase", base64.b64encode(os.urandom(16)).decode()):
        with pytest.raises(E.EncryptionError) as err:
            E.parse_key(bad)
        assert "openssl rand -base64 32" in str(err.value)
        assert bad not in str(err.value) or not bad


def test_identity_and_recipient_text():
    ident = E.parse_identity(ID_A)
    rec = E.parse_recipient(public_pem(ID_A))
    assert ident.key_id == rec.key_id and len(rec.key_id) == 16
    assert E.parse_identity("\n" + ID_A + "\n\n").key_id == ident.key_id
    assert E.parse_identity(ID_A.encode()).key_id == ident.key_id
    assert E.parse_recipient(public_pem(ID_B)).key_id != rec.key_id


def test_key_id_of_an_x25519_key_is_hkdf_of_the_raw_public_key():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    priv = serialization.load_pem_private_key(ID_A.encode(), password=None)
    raw = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    want = HKDF(algorithm=hashes.SHA256(), length=8, salt=None,
                info=b"zkops.zookeeper x25519 key id").derive(raw)
    assert E.parse_identity(ID_A).key_id == binascii.hexlify(want).decode()


def _ed25519_pem():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def test_bad_identity_text_is_refused_without_the_text():
    body = ID_A.splitlines()[1]
    cut = ID_A.replace(body, body[:-8])   # a line lost in a copy and paste
    encrypted = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase")).decode()
    for bad in ("", "not a key", cut, ID_A[:40], _ed25519_pem(), encrypted, base64.b64encode(KEY).decode()):
        with pytest.raises(E.EncryptionError) as err:
            E.parse_identity(bad)
        assert "openssl genpkey -algorithm X25519" in str(err.value)
        for line in bad.splitlines():
            if "-----" not in line and line:
                assert line not in str(err.value)
    with pytest.raises(E.EncryptionError) as err:
        E.parse_identity(public_pem(ID_A))
    assert "public key" in str(err.value)


def test_a_private_key_given_as_recipient_is_refused_without_the_text():
    with pytest.raises(E.EncryptionError) as err:
        E.parse_recipient(ID_A)
    assert "private key" in str(err.value) and ID_A.splitlines()[1] not in str(err.value)
    for bad in ("", "ssh-ed25519 AAAA", public_pem(ID_A)[:50]):
        with pytest.raises(E.EncryptionError) as err:
            E.parse_recipient(bad)
        assert "openssl pkey -pubout" in str(err.value)
    with pytest.raises(E.EncryptionError) as err:
        E.parse_recipients([public_pem(ID_A), "junk"])
    assert "recipient 2" in str(err.value)
    with pytest.raises(E.EncryptionError) as err:
        E.parse_keyring(None, [ID_A, "junk"])
    assert "identity 2" in str(err.value)


def test_keyring_from_text():
    ring = E.parse_keyring(base64.b64encode(KEY).decode(), [ID_A, ID_B])
    assert ring.keys == [KEY] and [i.key_id for i in ring.identities] == [
        E.parse_identity(ID_A).key_id, E.parse_identity(ID_B).key_id]
    assert ring and not E.parse_keyring(None, [])
    assert ring.key_ids()[0] == "symmetric %s" % E.key_id(KEY)


def test_section_for_the_side_manifest():
    enc = E.Encryptor(KEY, recipients=[E.parse_recipient(public_pem(ID_A))], context=CTX)
    assert enc.section() == {"scheme": "zkops-stream-v2", "version": 2, "recipients": [
        {"type": "symmetric", "key_id": E.key_id(KEY)}, {"type": "x25519", "key_id": E.parse_identity(ID_A).key_id}]}
    json.dumps(enc.section())
