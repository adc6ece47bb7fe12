"""Reading stored backups with keys: identities read archives encrypted to their public keys,
a reader holding any key refuses an archive whose stored bytes are not encrypted (whatever its
manifest says), and an encrypted archive is read only under the backup id, ensemble, kind and
zxids its authenticated header names.  Through OpenSSH's sftp-server (tests/sftp_local.py),
what is asked of the backup host follows the archive that is there and a bounded read-ahead,
never the size its manifest claims (read before anything authenticates it)."""
import binascii
import hashlib
import json
import os
import shutil

import pytest

import zkarchives as H
from sftp_local import LocalFile, LocalSftp

pytest.importorskip("cryptography")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption as C  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import fetch as F  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import layout as L  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import stage as S  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import reading  # noqa: E402

E = H.E
OWNER = (os.getuid(), os.getgid())
ZXID = {"last": "0x%x" % (E + 9)}


def identity():
    return C.parse_identity(X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


ALICE, BOB, MALLORY = identity(), identity(), identity()


@pytest.fixture
def member(tmp_path):
    data, log = tmp_path / "data", tmp_path / "log"
    for d in (data / "version-2", log / "version-2"):
        d.mkdir(parents=True)
    (data / "version-2" / "snapshot.0").write_bytes(b"old snapshot")
    return L.Layout(str(data), str(log))


def _json(path):
    with open(path) as f:
        return json.load(f)


def stage(layout, sources, rid="r1"):
    return S.Stager(layout, rid, OWNER).run(sources)


def staged_files(layout, rid="r1"):
    return sorted(os.listdir(os.path.join(layout.part(layout.data_dir, rid, L.STAGED), "version-2")))


def test_recipients_only_backup_restored_with_either_identity(member, tmp_path):
    path = H.write_backup(str(tmp_path / "b"), H.member_files(), zxid=ZXID, codec="gzip",
                          recipients=[ALICE.recipient, BOB.recipient])
    side = _json(os.path.join(str(tmp_path / "b"), "manifest.json"))
    assert side["archive"]["encryption"] == {"scheme": "zkops-stream-v2", "version": 2, "recipients": [
        {"type": "x25519", "key_id": ALICE.key_id}, {"type": "x25519", "key_id": BOB.key_id}]}
    assert path.endswith(".tar.gz.enc")
    with pytest.raises(F.FetchError, match="give the encryption key or an identity"):
        stage(member, [F.local_source(path)])
    with pytest.raises(F.FetchError) as err:
        stage(member, [F.local_source(path, key=C.Keyring([os.urandom(32)], [MALLORY]))])
    assert ALICE.key_id in str(err.value) and BOB.key_id in str(err.value) and MALLORY.key_id in str(err.value)
    assert not os.path.exists(member.part(member.data_dir, "r1", L.STAGED))
    for n, who in enumerate((ALICE, BOB)):
        src = F.local_source(path, key=C.Keyring([], [who]))
        state = stage(member, [src], rid="r%d" % (n + 2))
        assert state["last_zxid"] == "0x%x" % (E + 9)
        assert "snapshot.%x" % (E + 2) in staged_files(member, "r%d" % (n + 2))
        assert src.decryptor.version == 2 and src.decryptor.key_id == who.key_id


def _plain_backup(tmp_path, claim_encrypted):
    """A plain archive (as someone without the key can write it) whose manifest may claim
    encryption and whose name may end in .enc."""
    d = str(tmp_path / "plain")
    path = H.write_backup(d, H.member_files(), zxid=ZXID)
    if claim_encrypted:
        side = os.path.join(d, "manifest.json")
        m = _json(side)
        os.rename(path, path + ".enc")
        path += ".enc"
        m["archive"]["file"] = os.path.basename(path)
        m["archive"]["encryption"] = {"scheme": "zkops-stream-v2", "version": 2,
                                      "recipients": [{"type": "x25519", "key_id": ALICE.key_id}]}
        with open(side, "w") as f:
            json.dump(m, f)
    return path


@pytest.mark.parametrize("claim_encrypted", [False, True])
@pytest.mark.parametrize("keys", ["symmetric", "identity"])
def test_a_plain_archive_is_refused_by_a_reader_holding_a_key(member, tmp_path, claim_encrypted, keys):
    path = _plain_backup(tmp_path, claim_encrypted)
    key = os.urandom(32) if keys == "symmetric" else C.Keyring([], [ALICE])
    with pytest.raises(F.FetchError) as err:
        stage(member, [F.local_source(path, key=key)])
    assert "not encrypted, though a decryption key was given" in str(err.value)
    assert "could have put a plain archive there" in str(err.value)
    assert not os.path.exists(member.part(member.data_dir, "r1", L.STAGED))
    if not claim_encrypted:
        # without a key, as before: a plain archive restores
        assert stage(member, [F.local_source(path)], rid="r9")["last_zxid"] == "0x%x" % (E + 9)


class _Sftp:
    """A backup host's SFTP reduced to reading files of a local directory tree."""

    def __init__(self, root):
        self.root = root

    def open(self, path, mode="rb"):
        return LocalFile(os.path.join(self.root, path.lstrip("/")))


class _Session:
    label = "backup"

    def __init__(self, root):
        self.sftp = _Sftp(root)


def _host(tmp_path, ensemble="prod", backup_id="20261206T000000Z-full-aaaaaa", kind="full", zxid=None, **kw):
    root = str(tmp_path / "host")
    H.write_backup(os.path.join(root, "backups", ensemble, backup_id), H.member_files(), kind=kind,
                   backup_id=backup_id, zxid=zxid or ZXID, ensemble=ensemble, **kw)
    return root


def test_remote_source_reads_the_archive_its_header_names(member, tmp_path):
    root = _host(tmp_path, recipients=[ALICE.recipient])
    src = F.remote_source(_Session(root), "/backups", "prod", "20261206T000000Z-full-aaaaaa",
                          key=C.Keyring([], [ALICE]), kind="full")
    assert stage(member, [src])["last_zxid"] == "0x%x" % (E + 9)
    assert src.decryptor.context == {"backup_id": "20261206T000000Z-full-aaaaaa", "ensemble": "prod",
                                     "kind": "full", "zxid": ZXID}


def _move(root, src, dst):
    os.makedirs(os.path.dirname(os.path.join(root, dst)), exist_ok=True)
    shutil.copytree(os.path.join(root, src), os.path.join(root, dst))
    side = os.path.join(root, dst, "manifest.json")
    return side, _json(side)


@pytest.mark.parametrize("moved", ["backup_id", "ensemble", "kind", "zxid"])
def test_an_archive_moved_under_another_name_is_refused(member, tmp_path, moved):
    """Someone who can write to the backup host (not holding the key) copies a genuine older
    archive under a newer backup id, or another ensemble's, and rewrites the side manifest
    to match: the encryption header, which they cannot change, names where it belongs."""
    key = os.urandom(32)
    root = _host(tmp_path, key=key)
    old = "backups/prod/20261206T000000Z-full-aaaaaa"
    new_id, ens, kind = "20261207T000000Z-full-bbbbbb", "prod", "full"
    if moved == "ensemble":
        new_id, ens = "20261206T000000Z-full-aaaaaa", "other"
    side, m = _move(str(root), old, "backups/%s/%s" % (ens, new_id))
    m["backup_id"], m["ensemble"] = new_id, ens
    if moved == "zxid":
        new_id = "20261206T000000Z-full-aaaaaa"
        side = os.path.join(str(root), old, "manifest.json")
        m = _json(side)
        m["zxid"] = {"last": "0x%x" % (E + 5)}      # a point-in-time trim would stop early
    if moved == "kind":
        new_id = "20261206T000000Z-full-aaaaaa"
        side = os.path.join(str(root), old, "manifest.json")
        m = _json(side)
        kind = "logs"
    with open(side, "w") as f:
        json.dump(m, f)
    src = F.remote_source(_Session(root), "/backups", ens, new_id, key=key, kind=kind)
    with pytest.raises(F.FetchError) as err:
        stage(member, [src])
    assert "belongs elsewhere" in str(err.value) and moved in str(err.value)
    assert not os.path.exists(member.part(member.data_dir, "r1", L.STAGED))


def _seal_v1(data, key):
    salt = os.urandom(32)
    header = C.HEADER.pack(C.MAGIC, 1, 1, 20, 0, binascii.unhexlify(C.key_id(key)), salt)
    aead = AESGCM(C.hkdf(key, salt, b"zkops.zookeeper archive v1", 32))
    return header + aead.encrypt(C._nonce(0, True), data, header)


def test_a_version_1_archive_still_restores(member, tmp_path):
    """Archives written before format v2 (one symmetric key, no context) still restore."""
    key = os.urandom(32)
    d = str(tmp_path / "v1")
    plain = H.write_backup(d, H.member_files(), zxid=ZXID)
    with open(plain, "rb") as f:
        blob = _seal_v1(f.read(), key)
    os.unlink(plain)
    with open(plain + ".enc", "wb") as f:
        f.write(blob)
    side = os.path.join(d, "manifest.json")
    m = _json(side)
    m["archive"].update(file="archive.tar.enc", bytes=len(blob), sha256=hashlib.sha256(blob).hexdigest(),
                        encryption={"scheme": "aes-256-gcm-stream-v1", "key_id": C.key_id(key)})
    with open(side, "w") as f:
        json.dump(m, f)
    src = F.local_source(plain + ".enc", key=key)
    assert stage(member, [src])["last_zxid"] == "0x%x" % (E + 9)
    assert src.decryptor.version == 1 and src.decryptor.context is None


def test_a_local_archive_whose_side_manifest_was_edited_is_refused(member, tmp_path):
    """The manifest next to a copied archive claims another zxid range (a point-in-time trim
    would follow it): the encrypted header says otherwise."""
    key = os.urandom(32)
    d = str(tmp_path / "b")
    path = H.write_backup(d, H.member_files(), zxid=ZXID, key=key, backup_id="20261206T000000Z-full-aaaaaa")
    side = os.path.join(d, "manifest.json")
    m = _json(side)
    m["zxid"] = {"last": "0x%x" % (E + 5)}
    with open(side, "w") as f:
        json.dump(m, f)
    with pytest.raises(F.FetchError) as err:
        stage(member, [F.local_source(path, key=key)])
    assert "belongs elsewhere" in str(err.value) and "zxid" in str(err.value)
    m["zxid"] = ZXID
    with open(side, "w") as f:
        json.dump(m, f)
    assert stage(member, [F.local_source(path, key=key)], rid="r2")["last_zxid"] == "0x%x" % (E + 9)


def test_an_encrypted_archive_its_manifest_calls_plain_asks_for_the_key(member, tmp_path):
    key = os.urandom(32)
    d = str(tmp_path / "b")
    path = H.write_backup(d, H.member_files(), zxid=ZXID, key=key)
    side = os.path.join(d, "manifest.json")
    m = _json(side)
    os.rename(path, os.path.join(d, "archive.tar"))
    m["archive"].update(file="archive.tar", encryption=None)
    with open(side, "w") as f:
        json.dump(m, f)
    with pytest.raises(F.FetchError) as err:
        stage(member, [F.local_source(os.path.join(d, "archive.tar"))])
    assert "its bytes say so" in str(err.value)
    # with the key it reads, and the bytes hashed are the whole file
    src = F.local_source(os.path.join(d, "archive.tar"), key=key)
    assert stage(member, [src], rid="r2")["last_zxid"] == "0x%x" % (E + 9)


@pytest.fixture
def sftp():
    s = LocalSftp()
    yield s
    s.close()


def _stored(tmp_path, claimed=None):
    """A backup in <root>/prod/<id> on the local file system, its manifest's archive size
    replaced by ``claimed``; returns the root, the archive's path and its size."""
    root = str(tmp_path / "backups")
    bid = "20261206T000000Z-full-aaaaaa"
    path = H.write_backup(os.path.join(root, "prod", bid), H.member_files(), backup_id=bid, zxid=ZXID)
    if claimed is not None:
        side = os.path.join(root, "prod", bid, "manifest.json")
        m = _json(side)
        m["archive"]["bytes"] = claimed
        with open(side, "w") as f:
            json.dump(m, f)
    return root, path, os.path.getsize(path)


class _SftpSession:
    label = "backup"

    def __init__(self, sftp):
        self.sftp = sftp.client


def test_an_archive_is_read_from_the_host_once_to_its_end(member, tmp_path, sftp):
    root, path, real = _stored(tmp_path)
    src = F.remote_source(_SftpSession(sftp), root, "prod", "20261206T000000Z-full-aaaaaa", kind="full")
    assert stage(member, [src])["last_zxid"] == "0x%x" % (E + 9)
    assert sum(n for _o, n in sftp.proxy.reads_of(path)) == real == sftp.proxy.asked_end_of(path)


@pytest.mark.parametrize("claimed", [2 ** 31, 100])
def test_the_size_a_manifest_claims_never_sizes_the_reads(member, tmp_path, sftp, claimed):
    root, path, real = _stored(tmp_path, claimed)
    src = F.remote_source(_SftpSession(sftp), root, "prod", "20261206T000000Z-full-aaaaaa", kind="full")
    with pytest.raises(F.FetchError, match="read %d bytes of the archive, the manifest records %d" % (real, claimed)):
        stage(member, [src])
    assert real < reading.BLOCK and sftp.proxy.asked_end_of(path) == real
    assert not os.path.exists(member.part(member.data_dir, "r1", L.STAGED))
