# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authenticity of stored backups: who wrote a backup's manifest, and that nobody changed it.

The manifest stored next to an archive (``manifest.json``, with its ``archive`` section:
file name, size and SHA-256 of the stored archive) is what a restore plans with.  Its
``authentication`` field is a list of proofs over the canonical JSON of the manifest
without that field (``canonical()``):

- ``{"scheme": "hmac-sha256", "key_id": <hex>, "mac": <hex>}``: HMAC-SHA256 with a key
  derived from the symmetric encryption key (HKDF-SHA256, no salt, info
  ``zkops.zookeeper manifest mac v1``); ``key_id`` is encryption.key_id() of the user key.
  Whoever holds the key can write it, so it proves "written by a holder of the key".
- ``{"scheme": "ed25519", "key_id": <hex>, "signature": <base64>}``: an Ed25519 signature
  with a signing key held by the backup jobs only; restores hold the verify key (the public
  key), which cannot sign.  ``key_id`` is the first 8 bytes of the SHA-256 of the raw public
  key, in hex.

Since the manifest records the archive's SHA-256 and size, a proof over it covers the
archive too: a reader that checks the bytes it read against that hash (restore_fetch's
ArchiveSource.check()) reads only what the key holder wrote.

``judge()`` is the one policy the planner, the restore and the catalog share: holding a
symmetric key or a verify key, every backup must carry a valid proof from one of them and
an archive SHA-256; without any key nothing is checked (``authenticated`` null).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import hashlib
import hmac
import json
import traceback

CRYPTOGRAPHY_IMP_ERR = None
try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - depends on the host
    CRYPTOGRAPHY_IMP_ERR = traceback.format_exc()
    HAS_CRYPTOGRAPHY = False

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption

FIELD = "authentication"
HMAC_SCHEME = "hmac-sha256"
ED25519_SCHEME = "ed25519"
_MAC_INFO = b"zkops.zookeeper manifest mac v1"


class AuthenticityError(Exception):
    pass


def canonical(manifest):
    """The bytes every proof covers: the manifest without its ``authentication`` field, as
    JSON with sorted keys, no spaces, UTF-8."""
    return encryption.canonical_json(dict((k, v) for k, v in manifest.items() if k != FIELD))


def mac_key(user_key):
    """The manifest MAC key derived from a 32-byte symmetric user key."""
    return encryption.hkdf(user_key, None, _MAC_INFO, 32)


def mac(user_key, manifest):
    return hmac.new(mac_key(user_key), canonical(manifest), hashlib.sha256).hexdigest()


def _pem_text(text, what):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str) or "-----BEGIN" not in text:
        raise AuthenticityError("the %s must be the PEM text of an Ed25519 key (from 'openssl genpkey -algorithm "
                                "ed25519' for a signing key, 'openssl pkey -pubout' of it for the verify key)" % what)
    return text.strip().encode("ascii", "replace") + b"\n"


def parse_signing_key(text):
    """An Ed25519 private key from its PEM text; AuthenticityError (without the key) otherwise."""
    data = _pem_text(text, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except Exception:  # ValueError, TypeError, UnsupportedAlgorithm: all mean unusable text
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuthenticityError("the signing key is not an unencrypted Ed25519 private key in PEM form: create one "
                                "with 'openssl genpkey -algorithm ed25519' (the verify key for restores is "
                                "'openssl pkey -pubout' of it)")
    return key


def parse_verify_key(text):
    """An Ed25519 public key from its PEM text (a private key gives its public key)."""
    data = _pem_text(text, "verify key")
    if b"PRIVATE KEY" in data:
        return parse_signing_key(text).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:  # ValueError, TypeError, UnsupportedAlgorithm
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise AuthenticityError("a verify key is not an Ed25519 public key in PEM form: make it with "
                                "'openssl pkey -in signing.pem -pubout'")
    return key


def public_key_id(public_key):
    """The id of an Ed25519 key: the first 8 bytes of the SHA-256 of its raw public key (hex)."""
    return hashlib.sha256(encryption.raw_public(public_key)).hexdigest()[:16]


def authenticate(manifest, key=None, signing_key=None):
    """``manifest`` with its ``authentication`` field: a MAC with the symmetric ``key``
    (32 bytes) and a signature with ``signing_key`` (Ed25519PrivateKey), each when given.
    Without either the field is left out."""
    out = dict((k, v) for k, v in manifest.items() if k != FIELD)
    proofs = []
    # What a reader gets back from the stored JSON (tuples as lists, every key a string,
    # keys sorted as strings): the proofs must cover exactly that.
    body = canonical(json.loads(json.dumps(out)))
    if key is not None:
        proofs.append({"scheme": HMAC_SCHEME, "key_id": encryption.key_id(key),
                       "mac": hmac.new(mac_key(key), body, hashlib.sha256).hexdigest()})
    if signing_key is not None:
        proofs.append({"scheme": ED25519_SCHEME, "key_id": public_key_id(signing_key.public_key()),
                       "signature": base64.b64encode(signing_key.sign(body)).decode("ascii")})
    if proofs:
        out[FIELD] = proofs
    return out


class Keys:
    """What a reader holds: symmetric keys (32 bytes each), verify keys (Ed25519 public
    keys), and whether it holds a decryption identity (which decrypts but proves nothing)."""

    def __init__(self, symmetric=(), verify=(), identities=False):
        self.symmetric = dict((encryption.key_id(k), k) for k in symmetric if k is not None)
        self.verify = dict((public_key_id(k), k) for k in verify if k is not None)
        self.identities = bool(identities)

    @property
    def required(self):
        """True when every backup must be authenticated by one of the keys."""
        return bool(self.symmetric or self.verify)

    @property
    def any(self):
        return self.required or self.identities

    def key_ids(self):
        return sorted(self.symmetric) + sorted(self.verify)


def keys_from_params(params):
    """Keys from a module's ``encryption_key`` and ``verify_keys``; AuthenticityError
    (without the key) when one cannot be read."""
    symmetric = []
    if params.get("encryption_key"):
        try:
            symmetric.append(encryption.parse_key(params["encryption_key"]))
        except encryption.EncryptionError as exc:
            raise AuthenticityError(str(exc))
    verify = [parse_verify_key(t) for t in (params.get("verify_keys") or []) if t]
    return Keys(symmetric, verify, identities=bool(params.get("identities")))


def read_key_options(params, names, parse, error, needs, nothing_done):
    """``parse(params)`` when any of the key options ``names`` is set in ``params``, else
    None.  Raises ``error`` (its message never holding a key) when the python cryptography
    library is missing (``needs``: what needs it, and where) or a key cannot be read (the
    reason, then ``nothing_done``)."""
    if not any(params.get(n) for n in names):
        return None
    if not encryption.HAS_CRYPTOGRAPHY:
        raise error("%s (apt install python3-cryptography)" % needs)
    try:
        return parse(params)
    except (encryption.EncryptionError, AuthenticityError) as exc:
        raise error("%s; %s" % (exc, nothing_done))


def module_keys(module):
    """The keys (Keys) of an AnsibleModule's ``encryption_key`` and ``verify_keys``, None
    when it has neither; the module fails with a clear message (never the key) when the
    cryptography library is missing or a key cannot be read."""
    p = module.params
    if not (p.get("encryption_key") or p.get("verify_keys")):
        return None
    if not HAS_CRYPTOGRAPHY:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("cryptography", reason="to check the backups' MACs and "
                                                  "signatures (apt install python3-cryptography)"),
                         exception=CRYPTOGRAPHY_IMP_ERR)
    try:
        return keys_from_params(p)
    except AuthenticityError as exc:
        module.fail_json(msg=str(exc))


def _check_proof(proof, keys, body):
    """(True | False | None when no key of ``keys`` matches, description)."""
    if not isinstance(proof, dict):
        return None, None
    scheme, kid = proof.get("scheme"), proof.get("key_id")
    if scheme == HMAC_SCHEME and kid in keys.symmetric:
        want = hmac.new(mac_key(keys.symmetric[kid]), body, hashlib.sha256).hexdigest()
        got = proof.get("mac")
        ok = isinstance(got, str) and hmac.compare_digest(want, got.lower())
        return ok, "%s of key id %s" % (scheme, kid)
    if scheme == ED25519_SCHEME and kid in keys.verify:
        try:
            sig = base64.b64decode(proof.get("signature") or "", validate=True)
            keys.verify[kid].verify(sig, body)
            ok = True
        except (InvalidSignature, binascii.Error, ValueError, TypeError):
            ok = False
        return ok, "%s signature of key id %s" % (scheme, kid)
    return None, None


def judge(manifest, keys):
    """(authenticated, reason, forged) of a side manifest under the reader's ``keys``.

    ``authenticated`` is None without any key (nothing checked), True when a proof of one
    of the keys verifies and the manifest records the archive's SHA-256 and size, False
    otherwise (``reason`` says why); ``forged`` is True when a proof of a key held is
    present but does not verify (the manifest was changed after it was written)."""
    if keys is None or not keys.any:
        return None, None, False
    if not keys.required:
        return False, ("only a decryption identity is held: an encrypted backup is readable but anyone holding "
                       "the public key could have written it (give verify_keys to check signatures)"), False
    if not isinstance(manifest, dict):
        return False, "the manifest is not a JSON object", False
    body = canonical(manifest)
    proofs = manifest.get(FIELD)
    proofs = proofs if isinstance(proofs, list) else []
    failed, good = [], None
    for proof in proofs:
        ok, what = _check_proof(proof, keys, body)
        if ok is True:
            good = what
            break
        if ok is False:
            failed.append(what)
    if good is None:
        if failed:
            return False, ("its %s does not verify: the manifest was changed after it was written, or forged by "
                           "someone without the key" % ", ".join(failed)), True
        others = sorted(set("%s %s" % (p.get("scheme"), p.get("key_id")) for p in proofs if isinstance(p, dict)))
        if others:
            return False, ("it is authenticated only by keys not given (%s; the keys given have ids %s)"
                           % (", ".join(others), ", ".join(keys.key_ids()))), False
        return False, ("it carries no authentication: it was written without a key, or by someone who does not "
                       "hold it"), False
    arch = manifest.get("archive")
    arch = arch if isinstance(arch, dict) else {}
    if not arch.get("sha256") or not isinstance(arch.get("bytes"), int):
        return False, ("its manifest does not record the archive's SHA-256 and size, so the archive itself "
                       "would go unchecked"), False
    return True, "authenticated by its %s" % good, False


def decide(manifest, keys, allow_unauthenticated=False):
    """(accepted, authenticated, reason): judge() and the policy.  A backup that is not
    authenticated is refused while a symmetric or verify key is held, unless
    ``allow_unauthenticated``; a forged proof (one of a key held that does not verify) is
    refused even then."""
    authenticated, reason, forged = judge(manifest, keys)
    if authenticated is not False or keys is None or not keys.required:
        return True, authenticated, reason
    return bool(allow_unauthenticated and not forged), False, reason


def refusal(backup_id, reason):
    """The message refusing backup ``backup_id``: why, and what to do."""
    return ("backup %s is not authenticated by the keys given: %s. Restore another backup, or set "
            "allow_unauthenticated: true to accept backups the keys do not authenticate (for instance ones "
            "written before the key was set)" % (backup_id, reason))
