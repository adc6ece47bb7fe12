"""tree_fetch: a tree export stored on backup hosts (as tree_push stores it: encrypted and
authenticated with the backup keys) is found by id or as the newest, taken from the first host
whose copy is authentic and intact, and decrypted only then; each host passed over is named
with its reason.  The hosts are directories on this machine behind a small SFTP stand-in, the
catalog, authenticity and encryption code is the real one."""
import base64
import hashlib
import io
import json
import os
import stat as stat_mod

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sftp_local import LocalFile, LocalSftp, write_file

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tf
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push as ssh_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import reading
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import fetch as tree_fetch
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import push as tree_push

WORLD = ((31, "world", "anyone"),)
SECRET = b"the-password-of-the-payment-service"
KEY = base64.b64encode(b"k" * 32).decode()
OTHER_KEY = base64.b64encode(b"o" * 32).decode()
ENSEMBLE = "prod"
ROOT = "/srv/backups"
OLD = "20250301T020000Z-tree-aaaaaa"
NEW = "20250302T020000Z-tree-bbbbbb"


# --- backup hosts as local directories ----------------------------------------------------

class _Sftp(object):
    def __init__(self, base):
        self.base = base

    def _p(self, path):
        return self.base + path

    def listdir_attr(self, path):
        out = []
        for name in os.listdir(self._p(path)):
            st = os.stat(os.path.join(self._p(path), name))
            out.append(type("A", (), {"filename": name, "st_mode": st.st_mode, "st_mtime": st.st_mtime}))
        return out

    def listdir(self, path):
        return os.listdir(self._p(path))

    def open(self, path, mode="rb"):
        return LocalFile(self._p(path))


class Host(object):
    def __init__(self, base, label):
        self.label = label
        self.base = str(base)
        self.sftp = _Sftp(self.base)
        self.closed = False

    def path(self, *parts):
        return os.path.join(self.base + ROOT, ENSEMBLE, *parts)

    def close(self):
        self.closed = True


@pytest.fixture
def hosts(tmp_path, monkeypatch):
    made = {}

    def connect(params, target, warnings=None):
        h = made[target]
        if isinstance(h, ssh_transport.SshError):
            raise h
        return h

    monkeypatch.setattr(ssh_transport, "connect", connect)
    for name in ("b1", "b2"):
        made[name] = Host(tmp_path / name, name)
        os.makedirs(made[name].path())
    made["down"] = ssh_transport.SshError("down", "no SSH answer from down port 22 within 10s")
    return made


@pytest.fixture
def work(tmp_path):
    """The private directory of the import's downloads."""
    path = str(tmp_path / "work")
    os.mkdir(path, 0o700)
    return path


def export_bytes():
    out = io.BytesIO()
    w = tf.TreeWriter(out, dict(root="/", exclude=["/zookeeper"], ephemeral_policy="skip",
                                source={"type": "live"}, zxid_start=5), threaded=False)
    w.add("/", b"", WORLD)
    w.add("/app", b"", WORLD)
    w.add("/app/password", SECRET, WORLD)
    trailer = w.finish(zxid_end=5)
    return out.getvalue(), dict(w.header), trailer


class _Sink(object):
    def __init__(self):
        self.buf = io.BytesIO()
        self.size = 0

    def write(self, data):
        self.buf.write(data)
        self.size += len(data)

    def close(self):
        return hashlib.sha256(self.buf.getvalue()).hexdigest()


def store(host, backup_id, protect, created="2025-03-01T02:00:00Z"):
    """Store an export on ``host`` as TreePush.commit() does."""
    data, header, trailer = export_bytes()
    sink = _Sink()
    stream = tree_push.encrypting(sink, protect, backup_id, ENSEMBLE)
    stream.write(data)
    sha = stream.close()
    man = tree_push.stored_manifest(backup_id, ENSEMBLE, created, {"header": header, "trailer": trailer},
                                    stream, sha, protect)
    d = host.path(backup_id)
    os.makedirs(d)
    with open(os.path.join(d, man["archive"]["file"]), "wb") as f:
        f.write(sink.buf.getvalue())
    with open(os.path.join(d, catalog.MANIFEST), "w") as f:
        json.dump(man, f)
    with open(os.path.join(d, ssh_push.CHECKSUMS), "w") as f:
        f.write("%s  %s\n" % (sha, man["archive"]["file"]))
    return os.path.join(d, man["archive"]["file"])


def protect(key=KEY, **kw):
    return tree_push.protection(dict(encryption_key=key, **kw))


def params(targets, **kw):
    return dict(backup_hosts=targets, ensemble=ENSEMBLE, backup_root=ROOT, **kw)


def read_records(fetched, p):
    with tree_fetch.open_export(fetched, tree_fetch.read_keys(p), ENSEMBLE) as f:
        reader = tf.TreeReader(f)
        return dict((r.path, r.data) for r in reader), reader.digest


# --- tests -------------------------------------------------------------------------------

def test_an_encrypted_export_is_fetched_by_id_and_as_the_newest_and_decrypted_in_memory(hosts, work):
    old = store(hosts["b1"], OLD, protect(), created="2025-03-01T02:00:00Z")
    store(hosts["b1"], NEW, protect(), created="2025-03-02T02:00:00Z")
    with open(old, "rb") as f:
        stored = f.read()
    assert SECRET not in stored and b"/app/password" not in stored and old.endswith(".zktree.gz.enc")
    p = params(["b1"], encryption_key=KEY)
    got = tree_fetch.fetch(p, OLD, work)
    assert (got["host"], got["export_id"], got["encrypted"], got["authenticated"]) == ("b1", OLD, True, True)
    assert stat_mod.S_IMODE(os.stat(got["local"]).st_mode) == 0o600
    with open(got["local"], "rb") as f:
        assert f.read() == stored              # the copy on this host stays encrypted
    records, digest = read_records(got, p)
    assert records["/app/password"] == SECRET and digest["count"] == 3
    latest = tree_fetch.fetch(p, "latest", work)
    assert latest["export_id"] == NEW and latest["passed"] == []
    assert hosts["b1"].closed


def test_a_host_that_is_down_is_passed_over_with_its_reason(hosts, work):
    store(hosts["b2"], OLD, protect())
    got = tree_fetch.fetch(params(["down", "b2"], encryption_key=KEY), "latest", work)
    assert got["host"] == "b2"
    assert got["passed"] == [{"host": "down", "reason": "cannot be reached: no SSH answer from down port 22 within 10s"}]


def test_a_tampered_copy_is_refused_and_the_next_host_used(hosts, work):
    bad = store(hosts["b1"], OLD, protect())
    store(hosts["b2"], OLD, protect())
    with open(bad, "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 1]))
    got = tree_fetch.fetch(params(["b1", "b2"], encryption_key=KEY), OLD, work)
    assert got["host"] == "b2"
    assert got["passed"][0]["host"] == "b1"
    assert "is not the one its manifest records" in got["passed"][0]["reason"]
    # The bad copy's file was removed; the good one is there.
    assert os.listdir(work) == [os.path.basename(got["local"])]


def test_a_changed_manifest_is_refused(hosts, work):
    store(hosts["b1"], OLD, protect())
    man_path = hosts["b1"].path(OLD, catalog.MANIFEST)
    with open(man_path) as f:
        man = json.load(f)
    man["tree"]["root"] = "/other"
    with open(man_path, "w") as f:
        json.dump(man, f)
    with pytest.raises(tree_fetch.FetchError) as exc:
        tree_fetch.fetch(params(["b1"], encryption_key=KEY), OLD, work)
    assert "b1 its copy is not authenticated by the keys given" in str(exc.value)
    assert "does not verify" in str(exc.value) and "Nothing was changed" in str(exc.value)


def test_a_wrong_key_names_every_host_and_why(hosts, work):
    store(hosts["b1"], OLD, protect())
    store(hosts["b2"], OLD, protect())
    with pytest.raises(tree_fetch.FetchError) as exc:
        tree_fetch.fetch(params(["b1", "down", "b2"], encryption_key=OTHER_KEY), OLD, work)
    text = str(exc.value)
    assert text.startswith("no backup host holds a good copy of export %s: " % OLD)
    assert "b1 its copy is not authenticated by the keys given: it is authenticated only by keys not given" in text
    assert "down cannot be reached" in text and "b2 its copy is not authenticated" in text
    assert [p["host"] for p in exc.value.passed] == ["down", "b1", "b2"]
    assert KEY not in text and OTHER_KEY not in text
    assert os.listdir(work) == []


def test_an_encrypted_export_without_a_key_and_a_plain_one_with_a_key_are_refused(hosts, work):
    store(hosts["b1"], OLD, protect())
    with pytest.raises(tree_fetch.FetchError, match="export %s is encrypted \\(key ids [0-9a-f]{16}\\): give the "
                       "encryption key" % OLD):
        tree_fetch.fetch(params(["b1"]), OLD, work)
    assert os.listdir(work) == []
    store(hosts["b2"], NEW, tree_push.Protection())
    # Without keys a plain export is used as it is ...
    assert tree_fetch.fetch(params(["b2"]), NEW, work)["authenticated"] is None
    # ... and with one it is not authenticated: refused.
    with pytest.raises(tree_fetch.FetchError, match="b2 its copy is not authenticated by the keys given: it "
                       "carries no authentication"):
        tree_fetch.fetch(params(["b2"], encryption_key=KEY), NEW, work)


def test_public_key_encryption_with_a_signature(hosts, work):
    ident = X25519PrivateKey.generate()
    signer = Ed25519PrivateKey.generate()

    def pem(k):
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()).decode()
    recipient = ident.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    verify = signer.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    store(hosts["b1"], OLD, tree_push.protection(dict(encryption_recipients=[recipient], signing_key=pem(signer))))
    p = params(["b1"], identities=[pem(ident)], verify_keys=[verify])
    got = tree_fetch.fetch(p, "latest", work)
    assert got["authenticated"] is True and read_records(got, p)[0]["/app/password"] == SECRET
    with pytest.raises(tree_fetch.FetchError, match="identities decrypt an export but prove nothing"):
        tree_fetch.fetch(params(["b1"], identities=[pem(ident)]), OLD, work)


def test_an_export_moved_under_another_id_is_refused(hosts, work):
    store(hosts["b1"], OLD, protect())
    os.rename(hosts["b1"].path(OLD), hosts["b1"].path(NEW))
    with pytest.raises(tree_fetch.FetchError) as exc:
        tree_fetch.fetch(params(["b1"], encryption_key=KEY), NEW, work)
    assert "b1 its copy is not authenticated" in str(exc.value) or "moved under another id" in str(exc.value)


def test_an_unknown_id_names_what_each_host_holds(hosts, work):
    store(hosts["b1"], OLD, protect())
    with pytest.raises(tree_fetch.FetchError) as exc:
        tree_fetch.fetch(params(["b1", "b2"], encryption_key=KEY), NEW, work)
    text = str(exc.value)
    assert "b1 holds no export %s (its newest export: %s)" % (NEW, OLD) in text
    assert "b2 holds no export %s (it holds no export of the ensemble)" % NEW in text
    with pytest.raises(tree_fetch.FetchError, match="no backup host holds an export of ensemble prod"):
        tree_fetch.fetch(params(["b2"]), "latest", work)


@pytest.mark.parametrize("bad, message", [
    ("../etc", "is not a plain name"),
    ("20250301T020000Z-full-aaaaaa", "is not the id of a tree export"),
])
def test_ids_that_are_not_tree_exports_are_refused(bad, message):
    with pytest.raises(tree_fetch.FetchError, match=message):
        tree_fetch.check_id(bad)
    tree_fetch.check_id("latest")


def test_a_stored_export_stands_for_a_new_push_only_under_the_same_protection():
    plain = {"archive": {"encryption": None}, "authenticated": None}
    sealed = {"archive": {"encryption": {"scheme": "zkops-stream-v2"}}, "authenticated": True}
    assert tree_push._counts(plain, tree_push.Protection())
    assert not tree_push._counts(sealed, tree_push.Protection())
    assert tree_push._counts(sealed, protect())
    assert not tree_push._counts(dict(sealed, authenticated=False), protect())
    assert not tree_push._counts(dict(plain, authenticated=False, rejected="no proof"), protect())


@pytest.mark.parametrize("claimed", [2 ** 31, 100 * 1024])
def test_the_size_a_manifest_claims_never_sizes_the_reads(tmp_path, work, claimed):
    """Through OpenSSH's sftp-server: what is asked of the host follows the file that is there
    and a bounded read-ahead, not the manifest's size (read before it is authenticated); the
    copy is then refused for its size."""
    d = tmp_path / "host"
    d.mkdir()
    real = 3 * 1024 * 1024 + 5
    data = write_file(str(d / "export.ztree"), real)
    entry = {"path": str(d), "archive": {"file": "export.ztree", "bytes": claimed,
                                         "sha256": hashlib.sha256(data).hexdigest()}}
    server = LocalSftp()
    try:
        session = type("S", (), {"label": "b1", "sftp": server.client})()
        with pytest.raises(tree_fetch.FetchError, match=r"the file read \(\d+ bytes.*\(%d bytes" % claimed):
            tree_fetch.download(session, entry, work)
    finally:
        server.close()
    assert os.listdir(work) == []
    asked = sum(n for _o, n in server.proxy.reads)
    assert server.proxy.asked_end <= min(real, claimed + reading.WINDOW + reading.BLOCK)
    assert asked <= real + reading.BLOCK


def test_the_key_options_of_an_export_and_an_import_are_read_alike(monkeypatch):
    # Nothing given: nothing protects, nothing is checked.
    assert not tree_push.protection({}).encrypts and tree_fetch.read_keys({}).keys is None
    # A key that cannot be read: the reason, never the key, and what was not done.
    with pytest.raises(tree_push.PushError, match="; nothing was exported or sent$") as err:
        tree_push.protection({"encryption_key": "not-a-key-abc"})
    assert "not-a-key-abc" not in str(err.value)
    with pytest.raises(tree_fetch.FetchError, match="; nothing was changed$") as err:
        tree_fetch.read_keys({"encryption_key": "not-a-key-abc"})
    assert "not-a-key-abc" not in str(err.value)
    with pytest.raises(tree_fetch.FetchError, match="prove nothing about who wrote it"):
        tree_fetch.read_keys({"identities": [X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()]})
    # Without the cryptography library, each says what needs it, and where.
    monkeypatch.setattr(encryption, "HAS_CRYPTOGRAPHY", False)
    with pytest.raises(tree_push.PushError, match=r"^encrypting or signing an export needs the python "
                       r"cryptography library on the host that runs the export \(apt install"):
        tree_push.protection({"signing_key": "x"})
    with pytest.raises(tree_fetch.FetchError, match=r"^checking and decrypting a stored export needs the "
                       r"python cryptography library where the import runs \(apt install"):
        tree_fetch.read_keys({"verify_keys": ["x"]})
