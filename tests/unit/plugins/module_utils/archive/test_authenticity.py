"""authenticity: the manifest MAC and signature, key parsing, and the one policy the
planner, the restore and the catalog share."""
import base64
import copy
import json
import os
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity as A
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption

KEY = os.urandom(32)
OTHER = os.urandom(32)


def _pem_pair(tmp_path, name="signing"):
    priv = tmp_path / ("%s.pem" % name)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(priv)], check=True)
    pub = subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout"], check=True,
                         capture_output=True, text=True).stdout
    return priv.read_text(), pub


@pytest.fixture
def pems(tmp_path):
    return _pem_pair(tmp_path)


def manifest(**over):
    m = {"format": "zkops.zookeeper/backup", "backup_id": "20250101T000000Z-full-aaaa", "ensemble": "prod-zk",
         "kind": "full", "created": "2025-01-01T00:00:00Z",
         "zxid": {"snapshot": "0x100000000", "first": "0x100000001", "last": "0x100000010"},
         "zoo_cfg": {"text": "dataDir=/var/lib/zookeeper\n# é\n"},
         "archive": {"file": "archive.tar.zst.enc", "bytes": 1234, "sha256": "ab" * 32, "compression": "zstd",
                     "encryption": {"scheme": "aes-256-gcm-stream-v1", "key_id": encryption.key_id(KEY)}}}
    m.update(over)
    return m


def stored(m):
    """What a reader gets back from the backup host: the JSON the writer stored."""
    return json.loads(json.dumps(m, indent=1, sort_keys=True))


def test_canonical_is_sorted_compact_utf8_without_the_authentication_field():
    m = {"b": 1, "a": "é", "authentication": [{"x": 1}]}
    assert A.canonical(m) == '{"a":"é","b":1}'.encode("utf-8")


def test_what_json_changes_on_the_way_to_storage_does_not_break_the_proof():
    m = manifest(epochs={2: "a", 10: "b"}, pair=(1, 2))
    assert A.judge(stored(A.authenticate(m, key=KEY)), A.Keys([KEY]))[0] is True


def test_mac_key_is_hkdf_of_the_user_key_with_the_fixed_info():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    want = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"zkops.zookeeper manifest mac v1").derive(KEY)
    assert A.mac_key(KEY) == want and A.mac_key(KEY) != KEY


def test_the_derivations_have_one_owner_in_encryption():
    import hashlib
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    assert A.mac_key(KEY) == encryption.hkdf(KEY, None, b"zkops.zookeeper manifest mac v1", 32)
    public = Ed25519PrivateKey.generate().public_key()
    assert len(encryption.raw_public(public)) == 32
    assert A.public_key_id(public) == hashlib.sha256(encryption.raw_public(public)).hexdigest()[:16]
    m = {"b": 1, "a": "é", A.FIELD: [{"scheme": "x"}]}
    assert A.canonical(m) == encryption.canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode("utf-8")
    assert not hasattr(A, "_raw_public") and not hasattr(A, "HKDF")


def test_a_mac_written_with_the_key_verifies_after_storage():
    m = stored(A.authenticate(manifest(), key=KEY))
    proof = m["authentication"][0]
    assert proof == {"scheme": "hmac-sha256", "key_id": encryption.key_id(KEY), "mac": A.mac(KEY, m)}
    assert A.judge(m, A.Keys([KEY])) == (True, "authenticated by its hmac-sha256 of key id %s"
                                         % encryption.key_id(KEY), False)
    assert A.decide(m, A.Keys([KEY]))[:2] == (True, True)


@pytest.mark.parametrize("change", [
    lambda m: m["zxid"].update(last="0x100000099"),
    lambda m: m.update(backup_id="20990101T000000Z-full-ffff"),
    lambda m: m.update(ensemble="other"),
    lambda m: m["archive"].update(sha256="cd" * 32),
    lambda m: m["archive"].update(bytes=1),
    lambda m: m["archive"].update(encryption=None),
    lambda m: m.update(extra=True),
])
def test_any_change_to_a_macd_manifest_is_refused_as_forged_even_when_unauthenticated_is_allowed(change):
    m = stored(A.authenticate(manifest(), key=KEY))
    change(m)
    authenticated, reason, forged = A.judge(m, A.Keys([KEY]))
    assert authenticated is False and forged and "does not verify" in reason
    assert A.decide(m, A.Keys([KEY]), allow_unauthenticated=True)[0] is False


def test_a_plain_manifest_planted_without_the_key_is_refused_unless_allowed():
    m = stored(manifest(archive={"file": "archive.tar", "bytes": 10, "sha256": "00" * 32}))
    accepted, authenticated, reason = A.decide(m, A.Keys([KEY]))
    assert (accepted, authenticated) == (False, False) and "carries no authentication" in reason
    assert A.decide(m, A.Keys([KEY]), allow_unauthenticated=True)[:2] == (True, False)
    # Without any key nothing is checked: as before.
    assert A.decide(m, A.Keys())[:2] == (True, None) and A.decide(m, None)[:2] == (True, None)


def test_a_mac_of_another_key_does_not_authenticate():
    m = stored(A.authenticate(manifest(), key=OTHER))
    authenticated, reason, forged = A.judge(m, A.Keys([KEY]))
    assert authenticated is False and not forged
    assert encryption.key_id(OTHER) in reason and encryption.key_id(KEY) in reason


def test_an_authentic_manifest_without_the_archive_hash_is_refused():
    m = manifest()
    del m["archive"]["sha256"]
    m = stored(A.authenticate(m, key=KEY))
    authenticated, reason, _forged = A.judge(m, A.Keys([KEY]))
    assert authenticated is False and "SHA-256" in reason


def test_openssl_keys_sign_and_verify(pems):
    priv, pub = pems
    signing = A.parse_signing_key(priv)
    m = stored(A.authenticate(manifest(), key=KEY, signing_key=signing))
    assert [p["scheme"] for p in m["authentication"]] == ["hmac-sha256", "ed25519"]
    verify = A.parse_verify_key(pub)
    assert A.public_key_id(verify) == m["authentication"][1]["key_id"] and len(A.public_key_id(verify)) == 16
    # A restore holding only the verify key (not the symmetric key) accepts it.
    assert A.judge(m, A.Keys(verify=[verify]))[0] is True
    # The private key given as a verify key works too (its public half).
    assert A.judge(m, A.Keys(verify=[A.parse_verify_key(priv)]))[0] is True


def test_a_forged_or_wrongly_signed_manifest_is_refused_by_the_verify_key(pems, tmp_path):
    priv, pub = pems
    verify = A.Keys(verify=[A.parse_verify_key(pub)])
    m = stored(A.authenticate(manifest(), signing_key=A.parse_signing_key(priv)))
    forged = copy.deepcopy(m)
    forged["zxid"]["last"] = "0x1000000ff"
    assert A.judge(forged, verify)[0] is False and A.judge(forged, verify)[2] is True
    # Signed by another key that claims the right key id.
    other_priv, _other_pub = _pem_pair(tmp_path, "other")
    resigned = stored(A.authenticate(forged, signing_key=A.parse_signing_key(other_priv)))
    resigned["authentication"][0]["key_id"] = m["authentication"][0]["key_id"]
    assert A.judge(resigned, verify)[:1] == (False,) and A.judge(resigned, verify)[2] is True
    # Unsigned.
    unsigned = dict(m)
    del unsigned["authentication"]
    assert A.judge(unsigned, verify)[0] is False
    # Signature that is not base64.
    bad = copy.deepcopy(m)
    bad["authentication"][0]["signature"] = "%%%"
    assert A.judge(bad, verify)[0] is False


@pytest.mark.parametrize("text", ["", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                                  base64.b64encode(os.urandom(32)).decode()])
def test_bad_signing_key_text_is_a_clear_message_without_the_key(text):
    with pytest.raises(A.AuthenticityError) as err:
        A.parse_signing_key(text)
    assert "openssl genpkey -algorithm ed25519" in str(err.value)
    if text.strip():
        assert text.strip() not in str(err.value)


def test_an_rsa_key_is_not_a_signing_key(tmp_path):
    p = tmp_path / "rsa.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024", "-out", str(p)],
                   check=True, capture_output=True)
    with pytest.raises(A.AuthenticityError, match="not an unencrypted Ed25519"):
        A.parse_signing_key(p.read_text())
    pub = subprocess.run(["openssl", "pkey", "-in", str(p), "-pubout"], check=True, capture_output=True,
                         text=True).stdout
    with pytest.raises(A.AuthenticityError, match="not an Ed25519 public key"):
        A.parse_verify_key(pub)


def test_keys_from_params_reads_both_and_never_echoes_a_bad_key():
    keys = A.keys_from_params({"encryption_key": base64.b64encode(KEY).decode(), "verify_keys": []})
    assert keys.required and list(keys.symmetric) == [encryption.key_id(KEY)]
    with pytest.raises(A.AuthenticityError) as err:
        A.keys_from_params({"encryption_key": "secret-but-wrong", "verify_keys": []})
    assert "secret-but-wrong" not in str(err.value)
    assert not A.keys_from_params({}).any


def test_only_an_identity_checks_nothing_but_reports_unauthenticated():
    m = stored(manifest())
    assert A.decide(m, A.Keys(identities=True))[:2] == (True, False)


def _containers(inner):
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8), _containers, max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(path=st.lists(st.sampled_from(["backup_id", "ensemble", "kind", "zxid", "archive", "last", "sha256",
                                      "bytes", "new"]), min_size=1, max_size=2), value=_json)
def test_no_edit_of_an_authenticated_manifest_stays_authenticated(path, value):
    m = stored(A.authenticate(manifest(), key=KEY))
    target = m
    for p in path[:-1]:
        nxt = target.get(p)
        if not isinstance(nxt, dict):
            nxt = target[p] = {}
        target = nxt
    before = json.dumps(m, sort_keys=True)
    target[path[-1]] = value
    changed = json.dumps(m, sort_keys=True) != before
    authenticated, _reason, _forged = A.judge(m, A.Keys([KEY]))
    assert authenticated is (not changed)


@settings(max_examples=150, deadline=None)
@given(doc=_json)
def test_any_json_is_judged_without_a_traceback(doc):
    keys = A.Keys([KEY])
    m = doc if isinstance(doc, dict) else {"authentication": doc}
    authenticated, reason, _forged = A.judge(m, keys)
    assert authenticated is False and reason
