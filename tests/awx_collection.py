"""The awx.awx collection for the tests of awx/configure.yml, cached outside the repository.

awx/configure.yml uses the modules of the awx.awx collection; the tests check every task of
it against those modules' argument specs and run ansible-playbook --syntax-check with it,
offline, without an AWX server.  The collection comes from the one package index these
machines reach: the ``ansible`` package on PyPI holds it under ansible_collections/awx/awx.
The package's exact version and sha256 are pinned in tests/lock/awx.txt; pip checks the
hash (--require-hashes), it is checked again here, then only awx/awx is taken out of the
wheel and the download is deleted.

  python tests/awx_collection.py fetch      download and cache it (once)
  python tests/awx_collection.py path       the collections path to give Ansible

The cache is $ZKOPS_AWX_CACHE or /var/cache/zkops-lab/awx, one directory per pinned package
holding ansible_collections/awx/awx and manifest.json (the files with their sha256), written
last; the directory is renamed into place after it, so a half-done extraction never passes
for a complete one.  One fetch at a time runs per cache (a lock file in it).
"""
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile

from lab import pinned

HERE = os.path.dirname(os.path.abspath(__file__))
LOCK_FILE = os.path.join(HERE, "lock", "awx.txt")
DEFAULT_CACHE = "/var/cache/zkops-lab/awx"
PREFIX = "ansible_collections/awx/awx/"
MANIFEST = "manifest.json"


class CollectionError(Exception):
    pass


def pin():
    """(requirement, sha256) of the one pin in tests/lock/awx.txt."""
    pins = pinned.read_lock(LOCK_FILE, CollectionError)
    if len(pins) != 1:
        raise CollectionError("%s pins %s: it should pin one package with its sha256"
                              % (LOCK_FILE, ", ".join(sorted(pins)) or "no package"))
    return next(iter(pins.items()))


def cache_root():
    return os.environ.get("ZKOPS_AWX_CACHE") or DEFAULT_CACHE


def cache_dir():
    return os.path.join(cache_root(), pin()[0].replace("==", "-"))


def collections_path():
    """The collections path that holds awx.awx (cached), for ANSIBLE_COLLECTIONS_PATH."""
    if manifest() is None:
        raise CollectionError("awx.awx is not in the cache %s: run `python tests/awx_collection.py "
                              "fetch` (one download of %s from the package index)"
                              % (cache_root(), pin()[0]))
    return cache_dir()


def collection_dir():
    return os.path.join(collections_path(), PREFIX.rstrip("/"))


def manifest():
    """The manifest of the complete cached collection, or None."""
    d = cache_dir()
    try:
        with open(os.path.join(d, MANIFEST)) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    if (m.get("package"), m.get("package_sha256")) != pin():
        return None
    if not pinned.files_present(d, m.get("files", {})):
        return None
    return m


sha256_of = pinned.sha256_of


def fetch(log=print):
    """Make sure awx.awx is cached; returns the manifest."""
    req, sha = pin()
    with pinned.fetch_lock(cache_root()):
        m = manifest()
        if m is not None:
            return m
        final = cache_dir()
        if os.path.exists(final):
            shutil.rmtree(final)
        work = tempfile.mkdtemp(prefix=".fetch-", dir=cache_root())
        try:
            t0 = time.time()
            log("awx.awx: downloading %s" % req)
            wheel = pinned.pip_download(req, sha, work, CollectionError, binary_only=True)
            pinned.check_sha256(wheel, sha, LOCK_FILE, CollectionError)
            out = os.path.join(work, "out")
            files = {}
            with zipfile.ZipFile(wheel) as z:
                for info in z.infolist():
                    name = info.filename
                    if not name.startswith(PREFIX) or info.is_dir():
                        continue
                    rel = os.path.normpath(name)
                    if rel.startswith("..") or os.path.isabs(rel):
                        raise CollectionError("%s: member outside the collection: %s" % (wheel, name))
                    target = os.path.join(out, rel)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with z.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    os.chmod(target, 0o644)
                    files[rel] = {"sha256": sha256_of(target), "size": os.path.getsize(target)}
            if not files:
                raise CollectionError("%s holds no %s" % (os.path.basename(wheel), PREFIX))
            with open(os.path.join(out, PREFIX, "MANIFEST.json")) as f:
                version = json.load(f)["collection_info"]["version"]
            m = {"package": req, "package_sha256": sha, "package_file": os.path.basename(wheel),
                 "collection": "awx.awx", "version": version, "files": files,
                 "seconds": round(time.time() - t0, 1),
                 "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            os.unlink(wheel)
            with open(os.path.join(out, MANIFEST + ".tmp"), "w") as f:
                json.dump(m, f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(os.path.join(out, MANIFEST + ".tmp"), os.path.join(out, MANIFEST))
            os.chmod(out, 0o755)
            os.rename(out, final)
            log("awx.awx %s: %d files in %s (%.1f s)" % (version, len(files), final, m["seconds"]))
            return m
        finally:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv not in (["fetch"], ["path"]):
        sys.exit("usage: python tests/awx_collection.py fetch|path")
    try:
        if argv == ["fetch"]:
            fetch()
        else:
            print(collections_path())
    except CollectionError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
