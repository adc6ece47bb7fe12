"""Data and client load for the lab: sample trees, bulk loads, a continuous writer."""
import json
import threading
import time

from kazoo.client import KazooClient
from kazoo.security import ACL, Id, Permissions, make_digest_acl

# The identity sample_tree's digest ACLs grant: as kazoo's auth_data takes it (CREDENTIAL), and
# as the collection's zookeeper_auth does (AUTH).
CREDENTIAL = ("digest", "admin:s3cret")
AUTH = [{"credential": CREDENTIAL[1]}]


def client(lab_or_hosts, **kw):
    hosts = getattr(lab_or_hosts, "connect_string", lab_or_hosts)
    zk = KazooClient(hosts=hosts, timeout=kw.pop("timeout", 10), **kw)
    zk.start(timeout=20)
    return zk


def sample_tree(zk, brokers=3, topics=20, partitions=6):
    """A Kafka-like tree with persistent, ephemeral, sequential and ACL'd znodes.

    Returns the number of znodes created.
    """
    n = 0
    tx = zk.transaction()
    for path in ("/brokers", "/brokers/ids", "/brokers/topics", "/config",
                 "/config/topics", "/admin", "/consumers", "/isr_change_notification"):
        tx.create(path, b"")
        n += 1
    tx.commit()
    for b in range(1, brokers + 1):
        zk.create("/brokers/ids/%d" % b, json.dumps(
            {"host": "broker%d" % b, "port": 9092, "version": 5}).encode(), ephemeral=True)
        n += 1
    for t in range(topics):
        tx = zk.transaction()
        topic = "topic-%03d" % t
        tx.create("/brokers/topics/" + topic, json.dumps(
            {"version": 3, "partitions": {str(p): [1 + (p + r) % brokers for r in range(3)]
                                          for p in range(partitions)}}).encode())
        tx.create("/brokers/topics/%s/partitions" % topic, b"")
        tx.create("/config/topics/" + topic, b'{"version":1,"config":{"retention.ms":"604800000"}}')
        n += 3
        for p in range(partitions):
            tx.create("/brokers/topics/%s/partitions/%d" % (topic, p), b"")
            tx.create("/brokers/topics/%s/partitions/%d/state" % (topic, p), json.dumps(
                {"controller_epoch": 7, "leader": 1 + p % brokers, "version": 1,
                 "leader_epoch": 3, "isr": [1, 2, 3]}).encode())
            n += 2
        tx.commit()
    for i in range(5):
        zk.create("/isr_change_notification/isr_change_", b"%d" % i, sequence=True)
        n += 1
    secret_acl = [make_digest_acl(*CREDENTIAL[1].split(":"), all=True),
                  ACL(Permissions.READ, Id("world", "anyone"))]
    zk.create("/admin/credentials", b"\x00\x01binary\xff", acl=secret_acl)
    zk.create("/controller", b'{"version":1,"brokerid":1}', ephemeral=True)
    n += 2
    return n


def bulk_load(zk, count, prefix="/bulk", fanout=1000, value_size=100, batch=200):
    """Create ``count`` znodes under ``prefix`` spread over parents of ``fanout`` children,
    in transactions of ``batch`` creates (a parent with 100k children would exceed
    jute.maxbuffer on getChildren).  Returns the number of znodes created."""
    zk.ensure_path(prefix)
    value = (b"v" * value_size)
    made = 0
    parents = (count + fanout - 1) // fanout
    pending = []
    for p in range(parents):
        parent = "%s/p%05d" % (prefix, p)
        zk.create(parent, b"")
        made += 1
        kids = min(fanout, count - p * fanout)
        for i in range(0, kids, batch):
            tx = zk.transaction()
            for k in range(i, min(i + batch, kids)):
                tx.create("%s/n%06d" % (parent, k), value)
            pending.append(tx.commit_async())
            made += min(batch, kids - i)
            if len(pending) >= 32:
                for a in pending:
                    _check(a.get())
                pending = []
    for a in pending:
        _check(a.get())
    return made


def _check(results):
    for r in results:
        if isinstance(r, Exception):
            raise r


class ContinuousWriter:
    """A client that writes every ``interval`` seconds and records the longest stall.

    ``stall`` is the longest time between two successful writes (or between the start
    and the first one); ``last_zxid`` is the mzxid of the last write the server confirmed.
    """

    def __init__(self, lab_or_hosts, path="/writer", interval=0.02, timeout=10):
        self.zk = client(lab_or_hosts, timeout=timeout)
        self.path = path
        self.interval = interval
        self.zk.ensure_path(path)
        self.writes = 0
        self.errors = 0
        self.stall = 0.0
        self.last_zxid = 0
        self.last_ok = None
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.last_ok = time.time()
        self._t.start()
        return self

    def _run(self):
        n = 0
        while not self._stop.is_set():
            try:
                st = self.zk.set(self.path, b"%d" % n)
                now = time.time()
                self.stall = max(self.stall, now - self.last_ok)
                self.last_ok = now
                self.last_zxid = st.mzxid
                self.writes += 1
                n += 1
            except Exception:
                self.errors += 1
                time.sleep(0.05)
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(timeout=30)
        self.stall = max(self.stall, time.time() - self.last_ok) if self.writes == 0 else self.stall
        try:
            self.zk.stop()
            self.zk.close()
        except Exception:
            pass
