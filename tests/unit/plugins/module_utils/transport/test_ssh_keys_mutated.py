"""ssh_transport: a private key that paramiko cannot read, however it is broken, is a clean
error that says the text is not a valid key (and shows none of it); paramiko raises
AssertionError, IndexError, struct.error and others on some broken keys."""
import base64
import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as S

MUTATIONS = 700
CLEAN = ("is not a valid private key of any supported type", "is encrypted: give ssh_private_key_passphrase")


def _pem(key, fmt):
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode("ascii")


def _keys():
    openssh, legacy = serialization.PrivateFormat.OpenSSH, serialization.PrivateFormat.TraditionalOpenSSL
    r = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    e = ec.generate_private_key(ec.SECP256R1())
    d = ed25519.Ed25519PrivateKey.generate()
    return {"ed25519-openssh": _pem(d, openssh), "rsa-openssh": _pem(r, openssh), "rsa-pem": _pem(r, legacy),
            "ecdsa-openssh": _pem(e, openssh), "ecdsa-pem": _pem(e, legacy)}


KEYS = _keys()


def _split(text):
    lines = text.strip().splitlines()
    head = [x for x in lines[1:-1] if ":" in x]
    body = [x for x in lines[1:-1] if ":" not in x and x]
    return lines[0], head, base64.b64decode("".join(body)), lines[-1]


def _join(first, head, raw, last):
    b64 = base64.b64encode(raw).decode("ascii")
    body = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "\n".join([first] + head + ([""] if head else []) + body + [last]) + "\n"


def mutate(text, rng):
    first, head, raw, last = _split(text)
    raw = bytearray(raw)
    how = rng.randrange(7)
    for _i in range(rng.choice((1, 1, 2, 3))):
        i = rng.randrange(len(raw))
        if how == 0:                                   # flip a byte
            raw[i] ^= 1 << rng.randrange(8)
        elif how == 1:                                 # cut the end off
            raw = raw[:i]
        elif how == 2:                                 # a length field gone wild
            raw[i:i + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff",
                                       bytes(rng.randrange(256) for _j in range(4))])
        elif how == 3:                                 # bytes inserted
            raw[i:i] = bytes(rng.randrange(256) for _j in range(rng.randrange(1, 9)))
        elif how == 4:                                 # bytes removed
            del raw[i:i + rng.randrange(1, 9)]
        elif how == 5:                                 # a zeroed stretch
            raw[i:i + 16] = b"\x00" * len(raw[i:i + 16])
        else:                                          # garbled text, not base64 at all
            out = _join(first, head, bytes(raw), last)
            j = rng.randrange(len(out))
            return out[:j] + rng.choice(["!", "\x00", "-----", "\n\n", "é", "====", ""]) + out[j + 1:]
        if not raw:
            raw = bytearray(b"\x00")
    return _join(first, head, bytes(raw), last)


def test_the_keys_themselves_load():
    for name, text in KEYS.items():
        assert S._load_key({"ssh_private_key": text}) is not None, name


@pytest.mark.parametrize("name", sorted(KEYS))
def test_mutated_keys_are_a_clean_error_every_time(name):
    rng = random.Random("zkops-%s" % name)
    text = KEYS[name]
    secret_lines = [x for x in text.splitlines() if x and not x.startswith("-----")]
    outcomes = {"loaded": 0, "refused": 0}
    for _i in range(MUTATIONS // len(KEYS)):
        broken = mutate(text, rng)
        try:
            key = S._load_key({"ssh_private_key": broken})
        except S.SshError as exc:
            msg = str(exc)
            assert any(c in msg for c in CLEAN), msg
            assert not any(line in msg for line in secret_lines + broken.splitlines()[1:-1] if len(line) > 8)
            outcomes["refused"] += 1
        else:
            assert key is not None
            outcomes["loaded"] += 1
    assert outcomes["refused"] > MUTATIONS // len(KEYS) // 2, outcomes


def test_a_broken_key_file_is_refused_before_connecting(tmp_path):
    rng = random.Random(7)
    for i in range(40):
        path = tmp_path / ("id_%d" % i)
        path.write_text(mutate(KEYS["ed25519-openssh"], rng))
        try:
            S._check_key_file(str(path), None)
        except S.SshError as exc:
            assert str(path) in str(exc) and any(c in str(exc) for c in CLEAN), str(exc)
    path = tmp_path / "binary"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(S.SshError, match="private key file"):
        S._check_key_file(str(path), None)
