"""Pinned, checksummed downloads from the package index into a cache outside the repository:
what lab/zkdist.py (ZooKeeper jars) and awx_collection.py (the awx.awx collection) share.

A lock file pins each package to an exact version and the sha256 of the file the index
serves (pip's requirement syntax with hashes).  pip downloads it with --require-hashes, the
file is checked again here, and the caller takes what it needs out of it.  One fetch at a
time runs per cache (a lock file in it).  Errors are raised as the caller's own exception
class (``error``).
"""
import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys


def read_lock(path, error):
    """{'name==version': sha256} of the lock file at ``path``: one hash per pinned requirement,
    nothing else (``error`` otherwise)."""
    pins = {}
    pin = None
    with open(path) as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip().rstrip("\\").strip()
            if not line:
                continue
            for word in line.split():
                if word.startswith("--hash=sha256:"):
                    if pin is None or pin in pins:
                        raise error("%s: a hash without its own requirement: %s" % (path, raw.strip()))
                    pins[pin] = word[len("--hash=sha256:"):]
                elif "==" in word:
                    pin = word
                else:
                    raise error("%s: not a pinned requirement: %s" % (path, raw.strip()))
    return pins


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def fetch_lock(cache_root):
    """Held while one fetch fills the cache at ``cache_root`` (made when missing)."""
    os.makedirs(cache_root, exist_ok=True)
    with open(os.path.join(cache_root, ".fetch.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def pip_download(requirement, sha, dest, error, binary_only=False):
    """Download ``requirement`` (name==version) whose file has ``sha`` with pip (which checks
    it), from the package index alone, into ``dest``/pkg; returns the file's path."""
    req = os.path.join(dest, "requirement.txt")
    with open(req, "w") as f:
        f.write("%s --hash=sha256:%s\n" % (requirement, sha))
    env = dict(os.environ)
    # The package index alone: neither wheels kept on the machine nor local constraints.
    env.update({"PIP_FIND_LINKS": "", "PIP_CONSTRAINT": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    env.pop("PIP_NO_INDEX", None)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir"] + \
        (["--only-binary", ":all:"] if binary_only else []) + \
        ["--require-hashes", "--progress-bar", "off", "-d", os.path.join(dest, "pkg"), "-r", req]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if p.returncode != 0:
        raise error("pip download of %s failed (exit %d):\n%s"
                    % (requirement, p.returncode, (p.stderr or p.stdout)[-3000:]))
    files = os.listdir(os.path.join(dest, "pkg"))
    if len(files) != 1:
        raise error("pip download of %s left %s" % (requirement, files or "nothing"))
    return os.path.join(dest, "pkg", files[0])


def check_sha256(path, sha, lock_file, error):
    """Raise ``error`` unless the file at ``path`` has the sha256 ``lock_file`` pins."""
    got = sha256_of(path)
    if got != sha:
        raise error("%s: sha256 %s, but %s pins %s" % (os.path.basename(path), got, lock_file, sha))


def files_present(directory, files):
    """Whether every file of a cache manifest's ``files`` ({name: {size}}) is in
    ``directory`` with its size."""
    for name, info in files.items():
        p = os.path.join(directory, name)
        if not os.path.isfile(p) or os.path.getsize(p) != info["size"]:
            return False
    return True
