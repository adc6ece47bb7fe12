"""Backup hosts in local directories, for the tests of what reads the backup hosts
(catalog, run_report, restore_fetch): a Host holds the backups of one ensemble under
ROOT as a backup host does (a directory per backup with its archive, manifest.json and
SHA256SUMS; restores/<id>.json), and its session() serves the SFTP calls and the commands
those make, with ROOT taken to the host's directory."""
import hashlib
import json
import os
import shutil
import subprocess

E = 0x100000000
ROOT = "/srv/zkops-test-backups"
ENS = "prod-zk"


class _Attr(object):
    def __init__(self, entry):
        st = entry.stat(follow_symlinks=False)
        self.filename = entry.name
        self.st_mode, self.st_size, self.st_mtime = st.st_mode, st.st_size, st.st_mtime


class _Sftp(object):
    def __init__(self, host):
        self._host = host

    def listdir_attr(self, path):
        return [_Attr(e) for e in os.scandir(self._host.local(path))]

    def listdir(self, path):
        return os.listdir(self._host.local(path))

    def open(self, path, mode="rb"):
        return open(self._host.local(path), mode)

    def stat(self, path):
        return os.stat(self._host.local(path))


class Session(object):
    timeout = 10

    def __init__(self, host):
        self.host = host
        self.label = host.label
        self.sftp = _Sftp(host)
        self.closed = False

    def run(self, command, timeout=None):
        p = subprocess.run(["/bin/sh", "-c", command.replace(ROOT, str(self.host.base) + ROOT)],
                           capture_output=True, text=True, check=False)
        return p.returncode, p.stdout, p.stderr

    def close(self):
        self.closed = True


class Host(object):
    def __init__(self, label, base, auth=None):
        self.label = label
        self.base = str(base)
        # auth(manifest) -> manifest: how the backups written from now on are authenticated.
        self.auth = auth
        os.makedirs(self.local(os.path.join(ROOT, ENS)))

    def local(self, path):
        assert path.startswith(ROOT), path
        return self.base + path

    def dir(self, bid):
        return self.local(os.path.join(ROOT, ENS, bid))

    def session(self):
        return Session(self)

    def _store(self, bid, manifest):
        d = self.dir(bid)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        data = ("archive of %s" % bid).encode()
        with open(os.path.join(d, "archive.tar"), "wb") as f:
            f.write(data)
        manifest = dict(manifest, format="zkops-backup/1", backup_id=bid, ensemble=ENS,
                        archive={"file": "archive.tar", "bytes": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest()})
        if self.auth is not None:
            manifest = self.auth(manifest)
        self._write_manifest(bid, manifest)

    def _write_manifest(self, bid, manifest):
        d = self.dir(bid)
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(manifest, f)
        sums = []
        for name in ("archive.tar", "manifest.json"):
            with open(os.path.join(d, name), "rb") as f:
                sums.append("%s  %s\n" % (hashlib.sha256(f.read()).hexdigest(), name))
        with open(os.path.join(d, "SHA256SUMS"), "w") as f:
            f.write("".join(sums))

    def full(self, bid, created, snap, last, last_ms=None, digest=None):
        self._store(bid, {"kind": "full", "created": created, "digest": digest,
                          "zxid": {"snapshot": "0x%x" % snap, "first": "0x%x" % (snap + 1), "last": "0x%x" % last},
                          "time_range": {"first_ms": None, "last_ms": last_ms}})

    def chunk(self, bid, created, first, last, last_ms=None):
        self._store(bid, {"kind": "logs", "created": created,
                          "zxid": {"base": "0x%x" % (first - 1), "first": "0x%x" % first, "last": "0x%x" % last},
                          "time_range": {"first_ms": None, "last_ms": last_ms}})

    def manifest(self, bid):
        with open(os.path.join(self.dir(bid), "manifest.json")) as f:
            return json.load(f)

    def edit(self, bid, change):
        """Rewrite the manifest of ``bid`` as ``change(manifest)`` returns it, with its
        SHA256SUMS: what someone who can write to the backup host can do."""
        self._write_manifest(bid, change(self.manifest(bid)))

    def remove(self, bid):
        shutil.rmtree(self.dir(bid))

    def damage(self, bid):
        with open(os.path.join(self.dir(bid), "archive.tar"), "ab") as f:
            f.write(b"damage")

    def report(self, rid, restored, serving, finished="2025-01-01T00:30:00Z"):
        d = self.local(os.path.join(ROOT, ENS, "restores"))
        os.makedirs(d, exist_ok=True)
        doc = {"format": "zkops-report/1", "kind": "restore", "id": rid,
               "report": {"restore_id": rid, "mode": "ensemble", "result": "verified", "finished": finished,
                          "last_zxid_restored": "0x%x" % restored, "zxid": "0x%x" % serving}}
        with open(os.path.join(d, rid + ".json"), "w") as f:
            json.dump(doc, f)

    def remove_report(self, rid):
        os.unlink(self.local(os.path.join(ROOT, ENS, "restores", rid + ".json")))


def pairs(*hosts):
    """(label, get_session) of each host, in order; an exception given instead of a host is
    raised by its get_session (a host that does not answer)."""
    out = []
    for h in hosts:
        if isinstance(h, Exception):
            def down(exc=h):
                raise exc
            out.append((h.host, down))
        else:
            out.append((h.label, h.session))
    return out
