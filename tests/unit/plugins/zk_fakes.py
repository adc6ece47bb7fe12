"""Test doubles shared by the unit tests: a loopback four-letter-word server, a fake /proc
tree and a zoo.cfg + data directory layout.  Real sockets and real files; no ZooKeeper."""
import os
import socket
import threading

WHITELIST_REFUSAL = "%s is not executed because it is not in the whitelist.\n"
NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"


def srvr_text(mode="follower", zxid=0x100000003, nodes=7, version="3.8.0"):
    return ("Zookeeper version: %s-abc, built on 2024-12-29 17:54 UTC\n"
            "Latency min/avg/max: 0/0.5/3\nReceived: 10\nSent: 9\nConnections: 2\n"
            "Outstanding: 1\nZxid: 0x%x\nMode: %s\nNode count: %d\n"
            % (version, zxid, mode, nodes))


def mntr_text(state="follower", learners=None, synced=None, version="3.8.0"):
    """An mntr answer as the release gives it: 3.5 has no peer state, quorum size, uptime,
    digest count or synced observers, and names the leader's learners zk_followers."""
    lines = ["zk_version\t%s-abc" % version, "zk_server_state\t%s" % state,
             "zk_ephemerals_count\t2", "zk_approximate_data_size\t158",
             "zk_open_file_descriptor_count\t44", "zk_max_file_descriptor_count\t20000",
             "zk_watch_count\t0"]
    old = version.startswith("3.5.")
    if not old:
        lines += ["zk_peer_state\t%s - broadcast" % ("leading" if state == "leader" else "following"),
                  "zk_quorum_size\t3", "zk_uptime\t61234", "zk_digest_mismatches_count\t0"]
    if learners is not None:
        lines += ["zk_%s\t%d" % ("followers" if old else "learners", learners),
                  "zk_synced_followers\t%d" % synced, "zk_pending_syncs\t0"]
        if not old:
            lines.append("zk_synced_observers\t0")
    return "\n".join(lines) + "\n"


def conf_text(sid, data_dir="/var/lib/zookeeper", data_log_dir=None, servers=(), settings=None):
    """ZooKeeper 3.8's ``conf`` answer; ``settings`` ({name: value}) adds the lines of the
    running settings (tickTime, initLimit, ...) where the server prints them."""
    lines = ["clientPort=2181", "secureClientPort=-1",
             "dataDir=%s/version-2" % data_dir, "dataDirSize=1024",
             "dataLogDir=%s/version-2" % (data_log_dir or data_dir), "dataLogSize=2048"]
    lines += ["%s=%s" % kv for kv in (settings or {}).items()]
    lines += ["serverId=%d" % sid, "membership: "]
    for s in servers:
        lines.append("server.%d=zk%d:2888:3888:participant" % (s, s))
    lines.append("version=0")
    return "\n".join(lines)


class FakeZk:
    """A loopback server answering four-letter words from ``answers`` (cmd -> text).

    Commands missing from ``answers`` get ZooKeeper's whitelist refusal.
    """

    def __init__(self, answers=None):
        self.answers = answers if answers is not None else {}
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self._stop = False
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _serve(self):
        while not self._stop:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            try:
                cmd = conn.recv(4).decode()
                self.received.append(cmd)
                ans = self.answers.get(cmd)
                if callable(ans):
                    ans = ans()
                if ans is None:
                    ans = WHITELIST_REFUSAL % cmd
                conn.sendall(ans.encode())
            finally:
                conn.close()

    def close(self):
        """Stop listening: connections are refused from now on."""
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)     # wakes the blocked accept()
        except OSError:
            pass
        self.sock.close()
        self.t.join(5)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def member_layout(tmp, ports, me=1, extra_cfg="", log_dir=None):
    """zoo.cfg with servers 1..n whose client ports are ``ports`` on 127.0.0.1, and a data
    directory holding myid, epoch files, two snapshots and a log.  Returns the cfg path."""
    data = os.path.join(str(tmp), "data")
    log = log_dir or data
    lines = ["tickTime=500", "initLimit=10", "syncLimit=5", "dataDir=%s" % data,
             "clientPort=%d" % ports[0], "4lw.commands.whitelist=*",
             "ssl.keyStore.password=hunter2"]
    if log != data:
        lines.append("dataLogDir=%s" % log)
    for i, port in enumerate(ports):
        lines.append("server.%d=127.0.0.1:%d:%d;127.0.0.1:%d"
                     % (i + 1, 12888 + i, 13888 + i, port))
    cfg = write(os.path.join(str(tmp), "conf", "zoo.cfg"), "\n".join(lines) + "\n" + extra_cfg)
    write(os.path.join(data, "myid"), "%d\n" % me)
    v2 = os.path.join(data, "version-2")
    write(os.path.join(v2, "currentEpoch"), "2")
    write(os.path.join(v2, "acceptedEpoch"), "3")
    write(os.path.join(v2, "snapshot.0"), "x" * 10)
    write(os.path.join(v2, "snapshot.10000002a.gz"), "y" * 20)
    write(os.path.join(v2, "snapshot.garbage"), "z")
    lv2 = os.path.join(log, "version-2")
    with open(write(os.path.join(lv2, "log.100000001"), ""), "wb") as f:
        f.truncate(1 << 20)           # sparse, like a preallocated log
    return cfg


class FakeProc:
    """A directory that looks like /proc to plugins/module_utils/ensemble/proc.py."""

    def __init__(self, root, uptime=1000.0):
        self.root = str(root)
        os.makedirs(os.path.join(self.root, "net"), exist_ok=True)
        write(os.path.join(self.root, "uptime"), "%.2f 100.00\n" % uptime)
        self.listen = []
        self._net()

    def add(self, pid, argv, start_ticks=50000, state="S", cwd=None):
        d = os.path.join(self.root, str(pid))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "cmdline"), "wb") as f:
            f.write(b"\0".join(a.encode() for a in argv) + b"\0")
        fields = [state] + ["0"] * 18 + [str(start_ticks)] + ["0"] * 10
        write(os.path.join(d, "stat"), "%d (java) %s\n" % (pid, " ".join(fields)))
        if cwd:
            os.symlink(cwd, os.path.join(d, "cwd"))

    def kill(self, pid):
        import shutil
        shutil.rmtree(os.path.join(self.root, str(pid)), ignore_errors=True)

    def set_listening(self, ports):
        self.listen = list(ports)
        self._net()

    def _net(self):
        head = "  sl  local_address rem_address   st tx_queue rx_queue\n"
        rows = ["   %d: 00000000:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
                "   103        0 1 1" % (i, p) for i, p in enumerate(self.listen)]
        # An established connection on another port must not count as listening.
        rows.append("   99: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 "
                    "00000000     0        0 2 1")
        write(os.path.join(self.root, "net", "tcp"), head + "\n".join(rows) + "\n")
        write(os.path.join(self.root, "net", "tcp6"), head)


def zk_argv(cfg, log_dir="/nonexistent/log"):
    return ["/usr/bin/java", "-cp", "/usr/share/java/zookeeper.jar", "-Xmx256m",
            "-Dzookeeper.log.dir=%s" % log_dir, "-Dzookeeper.log.file=zookeeper.log",
            "-Dzookeeper.ssl.keyStore.password=s3cret",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
