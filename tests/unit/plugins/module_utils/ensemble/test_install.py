"""install: the ZooKeeper release of a member's jars, from the class path of the running
server, of its next start (Debian's environment file, a tarball's lib) or of its last start
(the server log); real jars where the host has them, jars written here otherwise."""
import os
import struct
import sys
import zipfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from zk_fakes import FakeProc, zk_argv  # noqa: E402

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import install  # noqa: E402

DEBIAN_JAR = "/usr/share/java/zookeeper.jar"
CACHED_395 = "/var/cache/zkops-lab/zookeeper/3.9.5/zookeeper-3.9.5.jar"


def _utf8(text):
    raw = text.encode()
    return b"\x01" + struct.pack(">H", len(raw)) + raw


def info_class(major=3, minor=9, micro=5, qualifier=None, extra_long=True):
    """The bytes of an interface like ZooKeeper's Info: int constants MAJOR, MINOR, MICRO,
    REVISION_HASH a string, QUALIFIER without a ConstantValue unless given, and a long
    constant (two constant pool entries) before them."""
    pool = []                      # (entry, constant pool slots it takes)

    def add(entry, slots=1):
        index = sum(s for _e, s in pool) + 1
        pool.append((entry, slots))
        return index

    this_name = add(_utf8("org/apache/zookeeper/version/Info"))
    this_class = add(b"\x07" + struct.pack(">H", this_name))
    obj_name = add(_utf8("java/lang/Object"))
    obj_class = add(b"\x07" + struct.pack(">H", obj_name))
    if extra_long:
        add(b"\x05" + struct.pack(">q", 1 << 40), slots=2)
    cv = add(_utf8("ConstantValue"))
    int_desc = add(_utf8("I"))
    str_desc = add(_utf8("Ljava/lang/String;"))
    fields = []
    for name, value in (("MAJOR", major), ("MINOR", minor), ("MICRO", micro), ("REVISION", -1)):
        n = add(_utf8(name))
        v = add(b"\x03" + struct.pack(">i", value))
        fields.append(struct.pack(">HHHH", 0x19, n, int_desc, 1) + struct.pack(">HIH", cv, 2, v))
    h = add(_utf8("REVISION_HASH"))
    text = add(_utf8("293c895a8d966a3ecb92872be4a1daf87d725da2"))
    s = add(b"\x08" + struct.pack(">H", text))
    fields.append(struct.pack(">HHHH", 0x19, h, str_desc, 1) + struct.pack(">HIH", cv, 2, s))
    q = add(_utf8("QUALIFIER"))
    if qualifier is None:
        fields.append(struct.pack(">HHHH", 0x19, q, str_desc, 0))
    else:
        qt = add(_utf8(qualifier))
        qs = add(b"\x08" + struct.pack(">H", qt))
        fields.append(struct.pack(">HHHH", 0x19, q, str_desc, 1) + struct.pack(">HIH", cv, 2, qs))
    count = sum(slots for _e, slots in pool) + 1
    body = b"".join(e for e, _s in pool)
    return (b"\xca\xfe\xba\xbe" + struct.pack(">HHH", 0, 55, count) + body
            + struct.pack(">HHHH", 0x601, this_class, obj_class, 0)
            + struct.pack(">H", len(fields)) + b"".join(fields)
            + struct.pack(">HH", 0, 0))


def make_jar(path, release=None, data=None):
    """A jar at ``path``; with ``release`` ('3.7.2') or ``data`` it holds an Info.class."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        if release or data is not None:
            if data is None:
                data = info_class(*(int(p) for p in release.split(".")))
            z.writestr(install.INFO_CLASS, data)
        z.writestr("org/apache/zookeeper/ZooKeeper.class", b"\xca\xfe\xba\xbe")
    return path


@pytest.mark.parametrize("jar,release", [(DEBIAN_JAR, "3.8.0"), (CACHED_395, "3.9.5")])
def test_the_release_of_real_server_jars(jar, release):
    if not os.path.isfile(jar):
        pytest.skip("%s is not on this host" % jar)
    assert install.jar_release(jar) == release


def test_a_written_info_class_gives_its_release_whatever_else_it_holds():
    assert install.release_of_class(info_class(3, 7, 2)) == "3.7.2"
    assert install.release_of_class(info_class(3, 10, 0, qualifier="beta", extra_long=False)) == "3.10.0"


@pytest.mark.parametrize("data,words", [
    (b"PK\x03\x04 not a class", "not a Java class file"),
    (info_class()[:60], "cut short"),
    (info_class()[:10] + b"\x63" + info_class()[11:], "unknown constant pool tag 99"),
])
def test_what_is_not_an_info_class_raises_and_says_so(data, words):
    with pytest.raises(install.ClassFileError) as exc:
        install.release_of_class(data)
    assert words in str(exc.value)


def test_a_class_without_the_constants_is_refused():
    other = info_class().replace(b"MAJOR", b"MAJOX")
    with pytest.raises(install.ClassFileError, match="no MAJOR, MINOR and MICRO"):
        install.release_of_class(other)


def test_jars_with_and_without_info_and_the_first_on_the_class_path_wins(tmp_path):
    jute = make_jar(str(tmp_path / "lib" / "zookeeper-jute-3.7.2.jar"))
    server = make_jar(str(tmp_path / "lib" / "zookeeper-3.7.2.jar"), "3.7.2")
    later = make_jar(str(tmp_path / "old" / "zookeeper-3.5.9.jar"), "3.5.9")
    broken = str(tmp_path / "lib" / "broken.jar")
    with open(broken, "wb") as f:
        f.write(b"not a zip")
    assert install.jar_release(jute) is None
    assert install.server_jars([broken, jute, str(tmp_path / "gone.jar"), server]) == [(server, "3.7.2")]
    assert install.server_jars([jute, broken]) == []
    # Server jars of two releases on one class path: the oldest, and the other named.
    got = install.installed_release(None, log_file=_log(tmp_path, [jute, server, later]))
    assert (got["release"], got["jar"], got["conflict"]) == ("3.5.9", later, ["%s (3.7.2)" % server])


def _log(tmp_path, jars):
    log = tmp_path / "zookeeper.log"
    log.write_text("Server environment:java.class.path=%s\n" % ":".join(jars))
    return str(log)


def test_a_jar_damaged_in_any_way_is_passed_over(tmp_path):
    good = make_jar(str(tmp_path / "zookeeper-3.8.0.jar"), "3.8.0")
    # Info.class's deflated data flipped: zlib raises, not zipfile.
    corrupt = str(tmp_path / "corrupt.jar")
    with zipfile.ZipFile(corrupt, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(install.INFO_CLASS, info_class(3, 9, 5) * 4)
    with open(corrupt, "rb") as f:
        data = bytearray(f.read())
    start = data.index(b"Info.class") + len("Info.class")
    for i in range(start, start + 40):
        data[i] ^= 0xFF
    with open(corrupt, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(Exception):
        install.jar_release(corrupt)
    # Cut short in the middle of the entry.
    cut = str(tmp_path / "cut.jar")
    with open(good, "rb") as f:
        whole = f.read()
    with open(cut, "wb") as f:
        f.write(whole[:len(whole) // 2])
    assert install.server_jars([corrupt, cut, good]) == [(good, "3.8.0")]
    got = install.installed_release(None, log_file=_log(tmp_path, [corrupt, cut]))
    assert got["release"] is None and "no jar holding" in got["reason"]


def test_an_oversized_info_class_is_not_read(tmp_path):
    jar = make_jar(str(tmp_path / "z.jar"), data=info_class() + b"\0" * (1 << 17))
    with pytest.raises(install.ClassFileError, match="too large"):
        install.jar_release(jar)
    assert install.server_jars([jar]) == []


def test_class_path_entries(tmp_path):
    lib = tmp_path / "lib"
    a = make_jar(str(lib / "a.jar"))
    b = make_jar(str(lib / "b.jar"))
    (lib / "notes.txt").write_text("x")
    odd = make_jar(str(tmp_path / "[odd]" / "e.jar"))
    assert install.split_class_path(str(tmp_path / "[odd]" / "*")) == [odd]
    cp = ":".join(["/etc/zookeeper/conf", str(lib / "*"), "$ZOOBINDIR/../lib/x.jar", "rel/c.jar",
                   "", "/opt/d.JAR"])
    assert install.split_class_path(cp) == [a, b, "/opt/d.JAR"]
    assert install.split_class_path(cp, cwd="/srv/zk") == [a, b, "/srv/zk/rel/c.jar", "/opt/d.JAR"]
    assert install.split_class_path(None) == []


def test_debian_environment_file(tmp_path):
    env = tmp_path / "environment"
    env.write_text('NAME=zookeeper\nCLASSPATH="/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"\n'
                   "# CLASSPATH=/commented.jar\nexport CLASSPATH='/opt/second.jar'\n")
    assert install.environment_class_path(str(env)) == "/opt/second.jar"
    # A comment after the value, and a later line adding to it.
    env.write_text('CLASSPATH="/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"  # the server\n'
                   'CLASSPATH="$CLASSPATH:/opt/extra.jar"\nJAVA_OPTS="-Xmx1g \n')
    assert install.environment_class_path(str(env)) == (
        "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/opt/extra.jar")
    env.write_text("NAME=zookeeper\n")
    assert install.environment_class_path(str(env)) is None
    assert install.environment_class_path(str(tmp_path / "none")) is None


def test_the_class_path_of_the_last_start_in_the_server_log(tmp_path):
    big = tmp_path / "big.log"
    with open(str(big), "w") as f:
        f.write("Server environment:java.class.path=/first.jar\n")
        f.write(("x" * 1023 + "\n") * 40 * 1024)          # 40 MiB after the start
    assert install.logged_class_path(str(big)) == "/first.jar"
    # The marker across the boundary of the 4 MiB chunks searched.
    edge = tmp_path / "edge.log"
    with open(str(edge), "wb") as f:
        f.write(b"y" * ((4 << 20) - 5) + b"java.class.path=/edge.jar\nz\n")
    assert install.logged_class_path(str(edge)) == "/edge.jar"
    log = tmp_path / "zookeeper.log"
    log.write_text(
        "2026-12-01 10:00:00,000 [myid:] - INFO  [main:Environment@98] - Server environment:"
        "java.class.path=/opt/zookeeper-3.7.2/lib/zookeeper-3.7.2.jar\n"
        "2026-12-01 10:00:01,000 [myid:] - INFO  [main:QuorumPeer] - something else\n"
        "2026-12-02 10:00:00,000 [myid:] - INFO  [main:Environment@98] - Server environment:"
        "java.class.path=/opt/zookeeper-3.8.4/lib/zookeeper-3.8.4.jar:/opt/x.jar\n"
        "2026-12-02 10:00:02,000 [myid:1] - INFO  [main:QuorumPeer] - serving\n")
    assert install.logged_class_path(str(log)) == "/opt/zookeeper-3.8.4/lib/zookeeper-3.8.4.jar:/opt/x.jar"
    log.write_text("nothing of the kind\n")
    assert install.logged_class_path(str(log)) is None
    assert install.logged_class_path(str(tmp_path / "none.log")) is None


def test_a_running_server_its_cp_option_or_its_environment(tmp_path):
    p = FakeProc(tmp_path / "proc")
    jar = make_jar(str(tmp_path / "zk" / "lib" / "zookeeper-3.6.3.jar"), "3.6.3")
    argv = zk_argv("/etc/zookeeper/conf/zoo.cfg")
    argv[2] = "lib/zookeeper-3.6.3.jar"
    p.add(101, argv, cwd=str(tmp_path / "zk"))
    got = install.installed_release("/etc/zookeeper/conf/zoo.cfg", pid=101, proc_root=p.root)
    assert got == {"release": "3.6.3", "jar": jar, "from": "the command line of the running server (pid 101)"}
    # No -cp: the CLASSPATH of its environment.
    p.add(102, ["/usr/bin/java", "-Xmx1g", "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                "/etc/zookeeper/conf/zoo.cfg", "-cp", "/not/this.jar"])
    with open(os.path.join(p.root, "102", "environ"), "wb") as f:
        f.write(b"HOME=/\0CLASSPATH=/etc/zookeeper/conf:" + jar.encode() + b"\0PATH=/bin\0")
    assert install.installed_release(None, pid=102, proc_root=p.root)["release"] == "3.6.3"
    got = install.installed_release(None, pid=102, proc_root=p.root)
    assert got["from"] == "the CLASSPATH of the running server (pid 102)"
    # Neither (java @argfile, or no right to read its environment): what its next start
    # uses, then unknown with the reason.
    p.add(103, ["/usr/bin/java", "@/opt/zk/args", "org.apache.zookeeper.server.quorum.QuorumPeerMain", "zoo.cfg"])
    got = install.installed_release(None, pid=103, proc_root=p.root)
    assert got["release"] is None and "running server's class path, pid 103, cannot be read" in got["reason"]
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "environment").write_text('CLASSPATH="%s"\n' % jar)
    got = install.installed_release(str(conf / "zoo.cfg"), pid=103, proc_root=p.root)
    assert (got["release"], got["from"]) == ("3.6.3", str(conf / "environment"))


def test_a_stopped_member_its_next_start_before_its_last(tmp_path):
    conf = tmp_path / "etc" / "zookeeper" / "conf"
    conf.mkdir(parents=True)
    cfg = str(conf / "zoo.cfg")
    new = make_jar(str(tmp_path / "java" / "zookeeper-3.9.5.jar"), "3.9.5")
    old = make_jar(str(tmp_path / "java" / "zookeeper-3.8.0.jar"), "3.8.0")
    log = tmp_path / "zookeeper.log"
    log.write_text("Server environment:java.class.path=%s\n" % old)
    # Only the log: the class path of the last start, said so.
    got = install.installed_release(cfg, log_file=str(log))
    assert got == {"release": "3.8.0", "jar": old,
                   "from": "the server log %s (the class path of its last start)" % log}
    # The environment file names what the next start runs: it comes first.
    (conf / "environment").write_text('CLASSPATH="%s:%s"\n' % (conf, new))
    got = install.installed_release(cfg, log_file=str(log))
    assert got == {"release": "3.9.5", "jar": new, "from": str(conf / "environment")}
    # An environment file whose class path has no server jar: the next candidate, the log.
    (conf / "environment").write_text('CLASSPATH="/nowhere/zookeeper.jar"\n')
    assert install.installed_release(cfg, log_file=str(log))["release"] == "3.8.0"
    got = install.installed_release(cfg)
    assert got["release"] is None and str(conf / "environment") in got["reason"]
    assert "no jar holding org/apache/zookeeper/version/Info.class" in got["reason"]


def test_a_stopped_tarball_install(tmp_path):
    home = tmp_path / "apache-zookeeper-3.7.2-bin"
    (home / "conf").mkdir(parents=True)
    make_jar(str(home / "lib" / "audience-annotations-0.12.0.jar"))
    jar = make_jar(str(home / "lib" / "zookeeper-3.7.2.jar"), "3.7.2")
    got = install.installed_release(str(home / "conf" / "zoo.cfg"))
    assert got == {"release": "3.7.2", "jar": jar, "from": "the tarball install's %s" % (home / "lib")}


def test_nothing_to_read_says_what_was_looked_for(tmp_path):
    got = install.installed_release(str(tmp_path / "zoo.cfg"))
    assert got["release"] is None and got["jar"] is None and got["from"] is None
    assert got["reason"].startswith("no class path found: no environment beside %s" % (tmp_path / "zoo.cfg"))
