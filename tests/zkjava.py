"""ZooKeeper's own readers (SnapshotFormatter, TxnLogToolkit, LogFormatter) run on the same
files, with their output parsed for comparison: Debian's zookeeper.jar by default, or the
tools of a release of the lab's jar cache (``version``)."""
import base64
import os
import re
import subprocess
import time

from lab import zkdist

# zookeeper.jar's manifest brings jute, snappy-java, commons-cli, slf4j-api; slf4j-nop
# keeps the tools quiet.
CLASSPATH = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar"
SNAPSHOT_FORMATTER = "org.apache.zookeeper.server.SnapshotFormatter"
TXN_LOG_TOOLKIT = "org.apache.zookeeper.server.persistence.TxnLogToolkit"
LOG_FORMATTER = "org.apache.zookeeper.server.LogFormatter"
# The cached releases carry no commons-cli (their servers do not use it), which
# TxnLogToolkit parses its options with; Debian's is the same library, not relocated in
# any release.
COMMONS_CLI = "/usr/share/java/commons-cli.jar"


def classpath(version=None):
    """The tools' classpath: Debian's, or a cached release's jars without its logging
    binding (the tools then log nothing) and with commons-cli."""
    if version is None or version == zkdist.DEBIAN:
        return CLASSPATH
    jars = [j for j in zkdist.classpath(version) if not os.path.basename(j).startswith("log4j-")]
    return ":".join(jars + [COMMONS_CLI])


def class_name(cls, version=None):
    """``cls`` as the release names it: relocated releases under their shaded package."""
    d = zkdist.DISTS.get(version) if version else None
    return zkdist.SHADED + cls if d is not None and d.relocated_main else cls


def run(cls, *args, timeout=600, version=None):
    t0 = time.perf_counter()
    p = subprocess.run(["java", "-cp", classpath(version), class_name(cls, version)] + list(args),
                       capture_output=True, timeout=timeout, check=False)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise AssertionError("%s %s exited %d: %s" % (cls, args, p.returncode, p.stderr[-2000:]))
    return p.stdout, dt


def _signed(h):
    v = int(h, 16)
    return v - (1 << 64) if v >= 1 << 63 else v


def snapshot_nodes(path, version=None, data=True):
    """{path: dict(czxid, mzxid, pzxid, cversion, version, aversion, owner, data)} from
    SnapshotFormatter -d (data as bytes); without ``data`` (3.5 has no -d) dataLength
    instead of data."""
    return snapshot_dump(path, version, data)["nodes"]


def snapshot_dump(path, version=None, data=True):
    """SnapshotFormatter's output parsed: {"nodes": {path: fields}, "digest": (zxid, value)
    of its "Target zxid digest is" line (3.6+ prints the digest a snapshot holds, when its
    zxid is not 0) or None, "text": the output}."""
    out, _x = run(SNAPSHOT_FORMATTER, *(["-d"] if data else []), path, version=version)
    nodes = {}
    cur = None
    text = out.decode("utf-8", "replace")
    digest = None
    for line in text.splitlines():
        if line == "----":
            cur = None
            continue
        m = re.match(r"^Target zxid digest is: ([0-9a-f]+), (-?[0-9]+)$", line)
        if cur is None and m:
            digest = (int(m.group(1), 16), int(m.group(2)))
            continue
        if cur is None and line.startswith("/"):
            cur = nodes[line] = {}
            continue
        if cur is None:
            continue
        m = re.match(r"^  (\w+) = ?(.*)$", line)
        if not m:
            continue
        k, v = m.groups()
        if k in ("cZxid", "mZxid", "pZxid", "ephemeralOwner"):
            cur[{"cZxid": "czxid", "mZxid": "mzxid", "pZxid": "pzxid", "ephemeralOwner": "owner"}[k]] = _signed(v)
        elif k in ("cversion", "dataVersion", "aclVersion"):
            cur[{"cversion": "cversion", "dataVersion": "version", "aclVersion": "aversion"}[k]] = int(v)
        elif k == "data":
            cur["data"] = base64.b64decode(v)
        elif k == "dataLength":
            cur["length"] = int(v)
    return {"nodes": nodes, "digest": digest, "text": text}


_TXN = re.compile(r"^(?:CRC ERROR - )?\S+, .*? session 0x([0-9a-f]+) cxid 0x([0-9a-f]+) zxid 0x([0-9a-f]+) (\S+) ?(.*)$")


def log_records(path, version=None, tool=TXN_LOG_TOOLKIT):
    """[dict(session, cxid, zxid, op, text)] from TxnLogToolkit's dump (or LogFormatter's,
    which prints the same lines)."""
    out, _x = run(tool, path, version=version)
    recs = []
    for line in out.decode("utf-8", "replace").split("\n"):
        m = _TXN.match(line)
        if m:
            s, c, z, op, text = m.groups()
            recs.append({"session": int(s, 16), "cxid": int(c, 16), "zxid": int(z, 16), "op": op, "text": text})
        elif recs and not line.startswith(("ZooKeeper Transactional Log", "EOF reached")):
            recs[-1]["text"] += "\n" + line
    return recs
