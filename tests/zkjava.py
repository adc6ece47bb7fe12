"""ZooKeeper's own readers (SnapshotFormatter, TxnLogToolkit from Debian's zookeeper.jar)
run on the same files, with their output parsed for comparison."""
import base64
import re
import subprocess
import time

# zookeeper.jar's manifest brings jute, snappy-java, commons-cli, slf4j-api; slf4j-nop
# keeps the tools quiet.
CLASSPATH = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar"
SNAPSHOT_FORMATTER = "org.apache.zookeeper.server.SnapshotFormatter"
TXN_LOG_TOOLKIT = "org.apache.zookeeper.server.persistence.TxnLogToolkit"


def run(cls, *args, timeout=600):
    t0 = time.perf_counter()
    p = subprocess.run(["java", "-cp", CLASSPATH, cls] + list(args), capture_output=True,
                       timeout=timeout, check=False)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise AssertionError("%s %s exited %d: %s" % (cls, args, p.returncode, p.stderr[-2000:]))
    return p.stdout, dt


def _signed(h):
    v = int(h, 16)
    return v - (1 << 64) if v >= 1 << 63 else v


def snapshot_nodes(path):
    """{path: dict(czxid, mzxid, pzxid, cversion, version, aversion, owner, data)} from
    SnapshotFormatter -d (data as bytes)."""
    out, _x = run(SNAPSHOT_FORMATTER, "-d", path)
    nodes = {}
    cur = None
    for line in out.decode("utf-8", "replace").splitlines():
        if line == "----":
            cur = None
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
    return nodes


_TXN = re.compile(r"^(?:CRC ERROR - )?\S+, .*? session 0x([0-9a-f]+) cxid 0x([0-9a-f]+) zxid 0x([0-9a-f]+) (\S+) ?(.*)$")


def log_records(path):
    """[dict(session, cxid, zxid, op, text)] from TxnLogToolkit's dump."""
    out, _x = run(TXN_LOG_TOOLKIT, path)
    recs = []
    for line in out.decode("utf-8", "replace").split("\n"):
        m = _TXN.match(line)
        if m:
            s, c, z, op, text = m.groups()
            recs.append({"session": int(s, 16), "cxid": int(c, 16), "zxid": int(z, 16), "op": op, "text": text})
        elif recs and not line.startswith(("ZooKeeper Transactional Log", "EOF reached")):
            recs[-1]["text"] += "\n" + line
    return recs
