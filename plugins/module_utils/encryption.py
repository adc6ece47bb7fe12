# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encryption at rest of archive streams: AES-256-GCM in the STREAM construction.

The construction is the online authenticated encryption scheme STREAM (Hoang,
Reyhanitabar, Rogaway, Vizar, 2015), as used by age and Tink's streaming AEAD: the
plaintext is cut into segments, each sealed with AES-256-GCM under a per-archive key and
a nonce made of the segment number and a flag marking the last segment.  Reordering,
dropping, repeating or truncating segments makes decryption fail.  All primitives come
from the ``cryptography`` library; nothing is implemented here but the framing.

Layout (all integers big-endian)::

    header   magic "ZKOPSENC" (8) | version 1 (1) | cipher 1 = AES-256-GCM (1)
             | log2 of the segment size (1) | 0 (1) | key id (8) | salt (32)
    segments AES-256-GCM(key, nonce, plaintext segment, associated data = header)
             each plaintext segment is 2**log2 bytes, except the last (1 byte up to the
             full size; empty only when the whole plaintext is)

    key      = HKDF-SHA256(user key, salt, info "zkops.zookeeper archive v1", 32 bytes)
    nonce    = segment number (11 bytes) | 1 for the last segment, else 0 (1 byte)
    key id   = HKDF-SHA256(user key, no salt, info "zkops.zookeeper key id", 8 bytes)

The user key is 32 random bytes given as base64 (``openssl rand -base64 32``) or hex.
The key id lets a reader tell a wrong key from a damaged archive; it reveals nothing of
the key.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import os
import struct
import traceback

CRYPTOGRAPHY_IMP_ERR = None
try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - depends on the host
    CRYPTOGRAPHY_IMP_ERR = traceback.format_exc()
    HAS_CRYPTOGRAPHY = False

MAGIC = b"ZKOPSENC"
VERSION = 1
CIPHER_AES_256_GCM = 1
SCHEME = "aes-256-gcm-stream-v1"
SEGMENT_LOG2 = 20                     # 1 MiB segments
TAG_SIZE = 16
HEADER = struct.Struct(">8sBBBB8s32s")
HEADER_SIZE = HEADER.size             # 52
_ARCHIVE_INFO = b"zkops.zookeeper archive v1"
_KEY_ID_INFO = b"zkops.zookeeper key id"
SUFFIX = ".enc"


class EncryptionError(Exception):
    pass


def parse_key(text):
    """The 32-byte key from its base64 or hex spelling; raise EncryptionError otherwise.

    The message never contains the key.
    """
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
        raise EncryptionError("the encryption key must be 32 random bytes written as base64 (44 characters, "
                              "for instance from 'openssl rand -base64 32') or hex (64 characters)")
    return raw


def _hkdf(key, salt, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(key)


def key_id(key):
    """A short public identifier of a key (hex)."""
    return binascii.hexlify(_hkdf(key, None, _KEY_ID_INFO, 8)).decode("ascii")


def _nonce(counter, last):
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class Encryptor:
    """Feed plaintext with ``update()``; ``finish()`` returns the last bytes."""

    def __init__(self, key, segment_log2=SEGMENT_LOG2, salt=None):
        self.segment = 1 << segment_log2
        salt = salt or os.urandom(32)
        self.key_id = key_id(key)
        self.header = HEADER.pack(MAGIC, VERSION, CIPHER_AES_256_GCM, segment_log2, 0,
                                  binascii.unhexlify(self.key_id), salt)
        self._aead = AESGCM(_hkdf(key, salt, _ARCHIVE_INFO, 32))
        self._counter = 0
        self._buf = bytearray()
        self._started = False

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


class Decryptor:
    """Feed ciphertext with ``update()``; ``finish()`` checks that nothing is missing."""

    def __init__(self, key):
        self._key = key
        self._aead = None
        self._buf = bytearray()
        self._counter = 0
        self.header = None
        self.segment = None

    def _read_header(self):
        magic, version, cipher, log2, _pad, kid, salt = HEADER.unpack(bytes(self._buf[:HEADER_SIZE]))
        if magic != MAGIC:
            raise EncryptionError("not an encrypted archive (no %s header)" % MAGIC.decode())
        if version != VERSION or cipher != CIPHER_AES_256_GCM or not 10 <= log2 <= 26:
            raise EncryptionError("unsupported encryption format (version %d, cipher %d)" % (version, cipher))
        if binascii.hexlify(kid).decode("ascii") != key_id(self._key):
            raise EncryptionError("the archive was encrypted with another key (key id %s, the key given has %s)"
                                  % (binascii.hexlify(kid).decode("ascii"), key_id(self._key)))
        self.header = bytes(self._buf[:HEADER_SIZE])
        self.segment = 1 << log2
        self._aead = AESGCM(_hkdf(self._key, salt, _ARCHIVE_INFO, 32))
        del self._buf[:HEADER_SIZE]

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
        if self.header is None:
            if len(self._buf) < HEADER_SIZE:
                return b""
            self._read_header()
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

    def finish(self):
        if self.header is None:
            raise EncryptionError("the encrypted archive is truncated (no complete header)")
        if len(self._buf) < TAG_SIZE:
            raise EncryptionError("the encrypted archive is truncated (its last segment is missing)")
        out = self._open(self._buf, True)
        self._buf = bytearray()
        return out


def read_key_id(header_bytes):
    """The key id (hex) in the first bytes of an encrypted archive, or None."""
    if len(header_bytes) < HEADER_SIZE or header_bytes[:8] != MAGIC:
        return None
    return binascii.hexlify(HEADER.unpack(header_bytes[:HEADER_SIZE])[5]).decode("ascii")
