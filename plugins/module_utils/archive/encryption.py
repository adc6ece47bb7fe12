# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encryption at rest of archive streams: a per-archive file key wrapped for each recipient,
then AES-256-GCM in the STREAM construction.

The payload construction is the online authenticated encryption scheme STREAM (Hoang,
Reyhanitabar, Rogaway, Vizar, 2015), as used by age and Tink's streaming AEAD: the
plaintext is cut into segments, each sealed with AES-256-GCM under a per-archive key and
a nonce made of the segment number and a flag marking the last segment.  Reordering,
dropping, repeating or truncating segments makes decryption fail.  All primitives come
from the ``cryptography`` library; nothing is implemented here but the framing.

Format version 2 (written) follows the model of age: a random 32-byte file key per
archive, wrapped once for each recipient in a stanza of the header.  A recipient is a
symmetric key (32 random bytes, ``openssl rand -base64 32``) or an X25519 public key
(``openssl genpkey -algorithm X25519 | openssl pkey -pubout``): a backup job that holds
only public keys can write archives it cannot read back.  The header also carries a
context (canonical JSON: backup id, ensemble, kind, zxids) and ends with an HMAC under
a key derived from the file key, so that nothing in it can change unseen; the whole
header is the associated data of every segment.  Version 1 (one symmetric key, no
context) is still read.  docs/archive-format.md gives both layouts byte by byte.

Key ids (8 bytes, hex) name keys without revealing them: the reader picks its stanza by
key id, and a wrong key is told apart from a damaged archive.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import hmac
import hashlib
import json
import os
import struct
import traceback

CRYPTOGRAPHY_IMP_ERR = None
try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - depends on the host
    CRYPTOGRAPHY_IMP_ERR = traceback.format_exc()
    HAS_CRYPTOGRAPHY = False

MAGIC = b"ZKOPSENC"
VERSION = 2
CIPHER_AES_256_GCM = 1
SCHEME = "zkops-stream-v2"
SEGMENT_LOG2 = 20                     # 1 MiB segments
TAG_SIZE = 16
SUFFIX = ".enc"

# Version 1: one symmetric key.
HEADER = struct.Struct(">8sBBBB8s32s")
HEADER_SIZE = HEADER.size             # 52
_ARCHIVE_INFO = b"zkops.zookeeper archive v1"

# Version 2.
PREFIX = struct.Struct(">8sBBBBI")     # magic, version, cipher, log2, flags 0, context length
PREFIX_SIZE = PREFIX.size             # 16
MAX_CONTEXT = 1 << 16
MAX_STANZAS = 64
STANZA_SYMMETRIC = 1
STANZA_X25519 = 2
STANZA_TYPES = {STANZA_SYMMETRIC: "symmetric", STANZA_X25519: "x25519"}
STANZA = struct.Struct(">B8s32s48s")  # type, key id, salt or ephemeral public key, wrapped file key
STANZA_SIZE = STANZA.size             # 89
SALT_SIZE = 32
MAC_SIZE = 32
_KEY_ID_INFO = b"zkops.zookeeper key id"
_X25519_KEY_ID_INFO = b"zkops.zookeeper x25519 key id"
_WRAP_SYMMETRIC_INFO = b"zkops.zookeeper file key symmetric v2"
_WRAP_X25519_INFO = b"zkops.zookeeper file key x25519 v2"
_HEADER_MAC_INFO = b"zkops.zookeeper header v2"
_PAYLOAD_INFO = b"zkops.zookeeper payload v2"
_WRAP_NONCE = b"\0" * 12

_KEY_HELP = ("the encryption key must be 32 random bytes written as base64 (44 characters, for instance from "
             "'openssl rand -base64 32') or hex (64 characters)")
_IDENTITY_HELP = ("an identity must be an X25519 private key in PEM, without a passphrase, as "
                  "'openssl genpkey -algorithm X25519' prints it")
_RECIPIENT_HELP = ("a recipient must be an X25519 public key in PEM, as 'openssl pkey -pubout' prints it "
                   "from the private key")


class EncryptionError(Exception):
    pass


def canonical_json(value):
    """The canonical JSON bytes of ``value`` (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def hkdf(key, salt, info, length):
    """HKDF-SHA256 of ``key``: ``length`` bytes for ``info`` (``salt`` may be None)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(key)


def _hex(raw):
    return binascii.hexlify(raw).decode("ascii")


# --- keys ----------------------------------------------------------------------------

def parse_key(text):
    """The 32-byte symmetric key from its base64 or hex spelling; raise EncryptionError
    otherwise.  The message never contains the key."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    text = (text or "").strip()
    raw = None
    if len(text) == 64:
        try:
            raw = binascii.unhexlify(text)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise EncryptionError(_KEY_HELP)
    return raw


def key_id(key):
    """A short public identifier of a symmetric key (hex)."""
    return _hex(hkdf(key, None, _KEY_ID_INFO, 8))


def raw_public(public):
    """The raw 32 bytes of an X25519 or Ed25519 public key."""
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def x25519_key_id(raw_public):
    """The key id (hex) of an X25519 key, from its raw 32-byte public key."""
    return _hex(hkdf(raw_public, None, _X25519_KEY_ID_INFO, 8))


class Recipient:
    """An X25519 public key: archives can be encrypted to it, not read with it."""

    def __init__(self, public):
        self.public = public
        self.raw = raw_public(public)
        self.key_id = x25519_key_id(self.raw)


class Identity:
    """An X25519 private key: reads archives encrypted to its public key."""

    def __init__(self, private):
        self.private = private
        self.recipient = Recipient(private.public_key())
        self.key_id = self.recipient.key_id


def _pem_text(text, what):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise EncryptionError("%s is not text" % what)
    return text.strip().encode("utf-8")


def _load_pem(data):
    """('private' | 'public' | None, key object or None) for PEM text, never raising."""
    if b"PRIVATE KEY-----" in data:
        try:
            return "private", serialization.load_pem_private_key(data, password=None)
        except Exception:  # ValueError, TypeError (a passphrase), UnsupportedAlgorithm: never the text
            return "private", None
    if b"PUBLIC KEY-----" in data:
        try:
            return "public", serialization.load_pem_public_key(data)
        except Exception:
            return "public", None
    return None, None


def parse_identity(text):
    """An Identity from the PEM of an X25519 private key; raise EncryptionError (that never
    contains the text) otherwise."""
    kind, obj = _load_pem(_pem_text(text, "an identity"))
    if kind == "public":
        raise EncryptionError("an identity was given a public key: %s (the public key is a recipient, for "
                              "backups)" % _IDENTITY_HELP)
    if obj is None or not isinstance(obj, X25519PrivateKey):
        raise EncryptionError(_IDENTITY_HELP)
    return Identity(obj)


def parse_recipient(text):
    """A Recipient from the PEM of an X25519 public key; raise EncryptionError (that never
    contains the text) otherwise.  A private key is refused: whoever backs up must not hold
    what decrypts."""
    kind, obj = _load_pem(_pem_text(text, "a recipient"))
    if kind == "private":
        raise EncryptionError("a recipient was given a private key: give only its public key ('openssl pkey "
                              "-pubout'); the private key (an identity) belongs to restores, never to backups")
    if obj is None or not isinstance(obj, X25519PublicKey):
        raise EncryptionError(_RECIPIENT_HELP)
    return Recipient(obj)


class Keyring:
    """The keys a reader holds: symmetric keys (raw bytes) and identities."""

    def __init__(self, keys=(), identities=()):
        self.keys = [k for k in keys if k is not None]
        self.identities = list(identities or ())

    def __bool__(self):
        return bool(self.keys or self.identities)

    __nonzero__ = __bool__

    def key_ids(self):
        return (["symmetric %s" % key_id(k) for k in self.keys]
                + ["x25519 %s" % i.key_id for i in self.identities])


def keyring(keys):
    """A Keyring from a symmetric key (bytes), an Identity, a Keyring, a list of those, or None."""
    if isinstance(keys, Keyring):
        return keys
    if keys is None:
        return Keyring()
    if isinstance(keys, (bytes, bytearray, Identity)):
        keys = [keys]
    ring = Keyring()
    for k in keys:
        if isinstance(k, Identity):
            ring.identities.append(k)
        elif isinstance(k, Keyring):
            ring.keys.extend(k.keys)
            ring.identities.extend(k.identities)
        elif k is not None:
            ring.keys.append(bytes(k))
    return ring


def parse_keyring(key_text=None, identity_texts=()):
    """A Keyring from the text of a symmetric key (or None) and of identities."""
    keys = [parse_key(key_text)] if key_text else []
    ids = []
    for n, text in enumerate(identity_texts or ()):
        try:
            ids.append(parse_identity(text))
        except EncryptionError as exc:
            raise EncryptionError("identity %d: %s" % (n + 1, exc))
    return Keyring(keys, ids)


def parse_recipients(texts):
    out = []
    for n, text in enumerate(texts or ()):
        try:
            out.append(parse_recipient(text))
        except EncryptionError as exc:
            raise EncryptionError("recipient %d: %s" % (n + 1, exc))
    return out


def _nonce(counter, last):
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


# --- writing -------------------------------------------------------------------------

def _wrap(wrap_key, file_key, aad):
    return AESGCM(wrap_key).encrypt(_WRAP_NONCE, file_key, aad)


def _unwrap(wrap_key, wrapped, aad):
    try:
        return AESGCM(wrap_key).decrypt(_WRAP_NONCE, wrapped, aad)
    except InvalidTag:
        return None


def _x25519_wrap_key(shared, ephemeral_raw, recipient_raw):
    return hkdf(shared, ephemeral_raw + recipient_raw, _WRAP_X25519_INFO, 32)


class Encryptor:
    """Feed plaintext with ``update()``; ``finish()`` returns the last bytes.

    ``key`` is a symmetric key (32 bytes) or None, ``recipients`` a list of Recipients
    (X25519 public keys); at least one of them.  ``context`` (a dict) goes into the header
    in canonical JSON, authenticated.
    """

    def __init__(self, key=None, segment_log2=SEGMENT_LOG2, recipients=(), context=None):
        keys = [key] if isinstance(key, (bytes, bytearray)) else list(key or ())
        recipients = list(recipients or ())
        if not keys and not recipients:
            raise EncryptionError("encryption needs an encryption key or at least one recipient")
        if len(keys) + len(recipients) > MAX_STANZAS:
            raise EncryptionError("at most %d keys and recipients per archive" % MAX_STANZAS)
        self.segment = 1 << segment_log2
        self.context = dict(context or {})
        ctx = canonical_json(self.context)
        if len(ctx) > MAX_CONTEXT:
            raise EncryptionError("the archive context is too long (%d bytes)" % len(ctx))
        file_key = os.urandom(32)
        stanzas, self.recipients = [], []
        for k in keys:
            kid = binascii.unhexlify(key_id(k))
            salt = os.urandom(SALT_SIZE)
            aad = struct.pack(">B", STANZA_SYMMETRIC) + kid + salt
            wrapped = _wrap(hkdf(bytes(k), salt, _WRAP_SYMMETRIC_INFO, 32), file_key, aad)
            stanzas.append(STANZA.pack(STANZA_SYMMETRIC, kid, salt, wrapped))
            self.recipients.append({"type": "symmetric", "key_id": _hex(kid)})
        for r in recipients:
            eph = X25519PrivateKey.generate()
            eph_raw = raw_public(eph.public_key())
            kid = binascii.unhexlify(r.key_id)
            aad = struct.pack(">B", STANZA_X25519) + kid + eph_raw
            wrap_key = _x25519_wrap_key(eph.exchange(r.public), eph_raw, r.raw)
            stanzas.append(STANZA.pack(STANZA_X25519, kid, eph_raw, _wrap(wrap_key, file_key, aad)))
            self.recipients.append({"type": "x25519", "key_id": r.key_id})
        payload_salt = os.urandom(SALT_SIZE)
        body = (PREFIX.pack(MAGIC, VERSION, CIPHER_AES_256_GCM, segment_log2, 0, len(ctx)) + ctx
                + struct.pack(">B", len(stanzas)) + b"".join(stanzas) + payload_salt)
        mac = hmac.new(hkdf(file_key, None, _HEADER_MAC_INFO, 32), body, hashlib.sha256).digest()
        self.header = body + mac
        self.key_id = self.recipients[0]["key_id"]
        self._aead = AESGCM(hkdf(file_key, payload_salt, _PAYLOAD_INFO, 32))
        self._counter = 0
        self._buf = bytearray()
        self._started = False

    def section(self):
        """The ``encryption`` section of the side manifest."""
        return {"scheme": SCHEME, "version": VERSION, "recipients": [dict(r) for r in self.recipients]}

    def _seal(self, data, last):
        out = self._aead.encrypt(_nonce(self._counter, last), bytes(data), self.header)
        self._counter += 1
        return out

    def update(self, data):
        out = []
        if not self._started:
            self._started = True
            out.append(self.header)
        self._buf += data
        seg = self.segment
        # Keep at least one byte back: the last segment is sealed differently.
        if len(self._buf) > seg:
            n = (len(self._buf) - 1) // seg * seg
            mv = memoryview(self._buf)
            for i in range(0, n, seg):
                out.append(self._seal(mv[i:i + seg], False))
            mv.release()
            del self._buf[:n]
        return b"".join(out)

    def finish(self):
        head = b"" if self._started else self.header
        self._started = True
        out = head + self._seal(self._buf, True)
        self._buf = bytearray()
        return out


# --- reading -------------------------------------------------------------------------

def _describe_ids(ids):
    return ", ".join(ids) if ids else "none"


class Decryptor:
    """Feed ciphertext with ``update()``; ``finish()`` checks that nothing is missing.

    ``keys``: a symmetric key, an Identity, a Keyring or a list of them.  ``expect`` (a
    dict) must agree with the header's context (each key of ``expect`` with a value that is
    not None), else EncryptionError.  Version 1 archives have no context: ``.version`` and
    ``.context`` (None for them) let the caller count them as unbound.  Once the header is
    read, ``.key_id`` is the key that opened it and ``.recipients`` the key ids it names.
    """

    def __init__(self, keys, expect=None):
        self.keys = keyring(keys)
        self.expect = expect
        self._aead = None
        self._buf = bytearray()
        self._counter = 0
        self._need = PREFIX_SIZE
        self.header = None
        self.segment = None
        self.version = None
        self.context = None
        self.key_id = None
        self.recipients = None

    # The header is parsed once enough bytes arrived: _header_size() says how many bytes it
    # needs, a number that grows as the lengths inside become known and is the header's
    # size once the buffer holds that many.
    def _header_size(self):
        buf = self._buf
        if len(buf) < PREFIX_SIZE:
            return PREFIX_SIZE
        magic, version, cipher, log2, _flags, ctx_len = PREFIX.unpack(bytes(buf[:PREFIX_SIZE]))
        if magic != MAGIC:
            raise EncryptionError("not an encrypted archive (no %s header)" % MAGIC.decode())
        if version == 1:
            return HEADER_SIZE
        if version != VERSION or cipher != CIPHER_AES_256_GCM or not 10 <= log2 <= 26:
            raise EncryptionError("unsupported encryption format (version %d, cipher %d)" % (version, cipher))
        if ctx_len > MAX_CONTEXT:
            raise EncryptionError("the encrypted archive's header is damaged (context of %d bytes)" % ctx_len)
        at = PREFIX_SIZE + ctx_len
        if len(buf) < at + 1:
            return at + 1
        count = buf[at]
        if not 1 <= count <= MAX_STANZAS:
            raise EncryptionError("the encrypted archive's header is damaged (%d recipient stanzas)" % count)
        return at + 1 + count * STANZA_SIZE + SALT_SIZE + MAC_SIZE

    def _read_header(self, size):
        if self._buf[8] == 1:
            self._read_v1()
        else:
            self._read_v2(bytes(self._buf[:size]))
        del self._buf[:size]

    def _no_key(self, archive_ids):
        raise EncryptionError("the archive was encrypted for other keys: it opens with key id(s) %s; the keys "
                              "given have %s (give a key or identity whose id the archive names)"
                              % (_describe_ids(archive_ids), _describe_ids(self.keys.key_ids())))

    def _read_v1(self):
        magic, version, cipher, log2, _pad, kid, salt = HEADER.unpack(bytes(self._buf[:HEADER_SIZE]))
        if cipher != CIPHER_AES_256_GCM or not 10 <= log2 <= 26:
            raise EncryptionError("unsupported encryption format (version %d, cipher %d)" % (version, cipher))
        want = _hex(kid)
        self.recipients = [{"type": "symmetric", "key_id": want}]
        key = None
        for k in self.keys.keys:
            if key_id(k) == want:
                key = k
                break
        if key is None:
            self._no_key(["symmetric %s" % want])
        self.header = bytes(self._buf[:HEADER_SIZE])
        self.segment = 1 << log2
        self.version = 1
        self.key_id = want
        self._aead = AESGCM(hkdf(key, salt, _ARCHIVE_INFO, 32))

    def _file_key(self, stanzas):
        by_id = {}
        for k in self.keys.keys:
            by_id[("symmetric", key_id(k))] = k
        for ident in self.keys.identities:
            by_id[("x25519", ident.key_id)] = ident
        tried = []
        for stype, kid, material, wrapped in stanzas:
            held = by_id.get((STANZA_TYPES.get(stype), _hex(kid)))
            if held is None:
                continue
            aad = struct.pack(">B", stype) + kid + material
            if stype == STANZA_SYMMETRIC:
                file_key = _unwrap(hkdf(held, material, _WRAP_SYMMETRIC_INFO, 32), wrapped, aad)
            else:
                try:
                    shared = held.private.exchange(X25519PublicKey.from_public_bytes(material))
                except ValueError:  # a low-order point: no shared secret
                    shared = None
                file_key = None if shared is None else _unwrap(
                    _x25519_wrap_key(shared, material, held.recipient.raw), wrapped, aad)
            if file_key is not None:
                return file_key, _hex(kid)
            tried.append(_hex(kid))
        if tried:
            raise EncryptionError("the encrypted archive's header is damaged: the stanza for key id %s does not "
                                  "open with that key" % ", ".join(tried))
        return None, None

    def _read_v2(self, header):
        _magic, _version, _cipher, log2, flags, ctx_len = PREFIX.unpack(header[:PREFIX_SIZE])
        at = PREFIX_SIZE + ctx_len
        ctx_bytes = header[PREFIX_SIZE:at]
        count = header[at]
        at += 1
        stanzas = []
        for _i in range(count):
            stanzas.append(STANZA.unpack(header[at:at + STANZA_SIZE]))
            at += STANZA_SIZE
        salt = header[at:at + SALT_SIZE]
        body, mac = header[:-MAC_SIZE], header[-MAC_SIZE:]
        self.recipients = [{"type": STANZA_TYPES.get(s[0], "unknown %d" % s[0]), "key_id": _hex(s[1])}
                           for s in stanzas]
        file_key, used = self._file_key(stanzas)
        if file_key is None:
            self._no_key(["%s %s" % (r["type"], r["key_id"]) for r in self.recipients])
        want = hmac.new(hkdf(file_key, None, _HEADER_MAC_INFO, 32), body, hashlib.sha256).digest()
        if not hmac.compare_digest(want, mac) or flags != 0:
            raise EncryptionError("the encrypted archive's header is damaged or was altered (its MAC does not "
                                  "match)")
        try:
            context = json.loads(ctx_bytes.decode("utf-8"))
        except ValueError:
            context = None
        if not isinstance(context, dict):
            raise EncryptionError("the encrypted archive's header context is not a JSON object")
        self._check_context(context)
        self.header = header
        self.segment = 1 << log2
        self.version = 2
        self.context = context
        self.key_id = used
        self._aead = AESGCM(hkdf(file_key, salt, _PAYLOAD_INFO, 32))

    def _check_context(self, context):
        for name, value in sorted((self.expect or {}).items()):
            if value is not None and context.get(name) != value:
                raise EncryptionError("the encrypted archive belongs elsewhere: its header says %s %s, expected "
                                      "%s (an archive moved or copied under another name is refused)"
                                      % (name, json.dumps(context.get(name)), json.dumps(value)))

    def _open(self, data, last):
        try:
            out = self._aead.decrypt(_nonce(self._counter, last), bytes(data), self.header)
        except InvalidTag:
            raise EncryptionError("the encrypted archive is damaged or truncated (segment %d does not "
                                  "authenticate)" % self._counter)
        self._counter += 1
        return out

    def update(self, data):
        self._buf += data
        while self.header is None:
            size = self._header_size()
            if len(self._buf) < size:
                return b""
            self._read_header(size)
        out = []
        size = self.segment + TAG_SIZE
        if len(self._buf) > size:
            n = (len(self._buf) - 1) // size * size
            mv = memoryview(self._buf)
            for i in range(0, n, size):
                out.append(self._open(mv[i:i + size], False))
            mv.release()
            del self._buf[:n]
        return b"".join(out)

    def read_header(self, read):
        """Read the header with ``read(n)`` (a file's read) and check it: the header's errors
        (not encrypted, no key held, altered, another context) come now, before any payload."""
        while self.header is None:
            data = read(self._header_size() - len(self._buf))
            if not data:
                raise EncryptionError("the encrypted archive is truncated (no complete header)")
            self._buf += data
            size = self._header_size()
            if len(self._buf) >= size:
                self._read_header(size)

    def finish(self):
        if self.header is None:
            raise EncryptionError("the encrypted archive is truncated (no complete header)")
        if len(self._buf) < TAG_SIZE:
            raise EncryptionError("the encrypted archive is truncated (its last segment is missing)")
        out = self._open(self._buf, True)
        self._buf = bytearray()
        return out


def is_encrypted(first_bytes):
    """Whether bytes begin like an encrypted archive (any version)."""
    return bytes(first_bytes[:len(MAGIC)]) == MAGIC


def read_key_ids(header_bytes):
    """The key ids (hex) named in the first bytes of an encrypted archive (v1 or v2), else []."""
    data = bytes(header_bytes)
    if len(data) < PREFIX_SIZE or data[:8] != MAGIC:
        return []
    if data[8] == 1:
        return [_hex(HEADER.unpack(data[:HEADER_SIZE])[5])] if len(data) >= HEADER_SIZE else []
    ctx_len = PREFIX.unpack(data[:PREFIX_SIZE])[5]
    at = PREFIX_SIZE + ctx_len
    if ctx_len > MAX_CONTEXT or len(data) <= at:
        return []
    out = []
    for i in range(data[at]):
        start = at + 1 + i * STANZA_SIZE
        if len(data) < start + STANZA_SIZE:
            break
        out.append(_hex(data[start + 1:start + 9]))
    return out


def read_key_id(header_bytes):
    """The first key id (hex) in the first bytes of an encrypted archive, or None."""
    ids = read_key_ids(header_bytes)
    return ids[0] if ids else None
