"""A ZooKeeper ensemble of real hosts on one machine.

Every host is a network namespace with a veth into a lab bridge, plus private mount, uts,
ipc and pid namespaces in which a small boot program (zklab-boot) mounts the host's own
/etc/zookeeper, /var/lib/zookeeper, /etc/ssh, /root, /srv, /tmp ... and starts sshd and
ZooKeeper through Debian's sysv init script.  The lab subnet has no default route and IP
forwarding stays off, so no traffic leaves it.

Each member runs Debian's ZooKeeper 3.8.0 unless the lab is given other releases
(``zk_versions``, one for all members or one per member): such a member runs the jars of
that release from the cache of lab/zkdist.py, started by the same init script the way a
tarball install under an init script is (java -cp <jars> QuorumPeerMain zoo.cfg, the
lab's JVM options, a log4j 2 configuration writing /var/log/zookeeper/zookeeper.log).

The lab writes an Ansible inventory, an ansible.cfg, an SSH key and a known_hosts file
(strict host key checking stays on) into its directory.
"""
import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

from . import zkdist
from .ansible import collections_path

HERE = os.path.dirname(os.path.abspath(__file__))
BOOT = ("/usr/bin/python3", os.path.join(HERE, "boot.py"))
LAB_ROOT = os.environ.get("ZKLAB_ROOT", "/var/tmp/zkops-lab")
LOCK = os.path.join(LAB_ROOT, ".lock")
NETNS_PREFIX = "zklab"
SUBNET = "10.77.%d"
ZK_JARS = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-log4j12.jar",
           "/usr/share/java/log4j-1.2.jar")
DEBIAN_VERSION = zkdist.DEBIAN
# zoo.cfg keys that older releases do not know (they would take them as system properties
# and go on without them): a lab asking for one on an older member is refused.
CFG_SINCE = {
    "snapshot.compression.method": (3, 6),
    "digest.enabled": (3, 6),
    "metricsProvider.className": (3, 6),
    "audit.enable": (3, 6),
}
LOG4J2_PROPERTIES = """\
# The log of a ZooKeeper member started from the lab's jar cache (log4j 2), where Debian's
# log4j.properties puts it: ${zookeeper.log.dir}/zookeeper.log.
status = warn
appender.rolling.type = RollingFile
appender.rolling.name = ROLLINGFILE
appender.rolling.fileName = ${sys:zookeeper.log.dir}/zookeeper.log
appender.rolling.filePattern = ${sys:zookeeper.log.dir}/zookeeper.log.%i
appender.rolling.layout.type = PatternLayout
appender.rolling.layout.pattern = %d{ISO8601} - %-5p [%t:%c{1}] - %m%n
appender.rolling.policies.type = Policies
appender.rolling.policies.size.type = SizeBasedTriggeringPolicy
appender.rolling.policies.size.size = 10MB
appender.rolling.strategy.type = DefaultRolloverStrategy
appender.rolling.strategy.max = 10
rootLogger.level = INFO
rootLogger.appenderRef.rolling.ref = ROLLINGFILE
"""
DATALOG_DIR = "/srv/zookeeper-txnlog"
# The dynamic configuration file a reconfig="file" lab writes.
DYNAMIC_CONFIG_FILE = "/etc/zookeeper/conf/zoo.cfg.dynamic"
BACKUP_DIR = "/srv/backups"

# host directory name -> mount point inside the host.  /tmp and /var/tmp go last: the
# lab's own files may live below them.
MOUNTS = (
    ("etc-zookeeper", "/etc/zookeeper"),
    ("var-lib-zookeeper", "/var/lib/zookeeper"),
    ("var-log-zookeeper", "/var/log/zookeeper"),
    ("etc-ssh", "/etc/ssh"),
    ("root", "/root"),
    ("srv", "/srv"),
    ("hosts", "/etc/hosts"),
    ("hostname", "/etc/hostname"),
    ("var-tmp", "/var/tmp"),
    ("tmp", "/tmp"),
)


class LabError(Exception):
    pass


def sh(*argv, check=True, capture=True, input=None, timeout=60):
    res = subprocess.run(argv, input=input, capture_output=capture, text=True, timeout=timeout,
                         check=False)
    if check and res.returncode != 0:
        raise LabError("%s exited %d: %s"
                       % (" ".join(argv), res.returncode, (res.stderr or "").strip()))
    return res


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def four_letter(ip, port, cmd="srvr", timeout=2.0):
    """Send a four-letter word and read the answer to EOF ('' when none)."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(cmd.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def version_tuple(version):
    return tuple(int(p) for p in version.split("."))


def member_versions(zk_versions, members):
    """The ZooKeeper release of each member: ``zk_versions`` is None (Debian's), one
    release for all, or a sequence of one per member."""
    if zk_versions is None:
        versions = [DEBIAN_VERSION] * members
    elif isinstance(zk_versions, str):
        versions = [zk_versions] * members
    else:
        versions = list(zk_versions)
        if len(versions) != members:
            raise LabError("zk_versions names %d releases for %d members"
                           % (len(versions), members))
    for v in versions:
        if v != DEBIAN_VERSION and v not in zkdist.DISTS:
            raise LabError("no ZooKeeper %s in the lab: it runs Debian's %s and %s"
                           % (v, DEBIAN_VERSION, ", ".join(sorted(zkdist.DISTS))))
    return versions


def parse_srvr(text):
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    if "Zxid" in out:
        out["zxid"] = int(out["Zxid"], 16)
    return out


class Host:
    """One lab host.  ``kind`` is 'member' or 'backup'."""

    def __init__(self, lab, name, kind, num, myid=None, zk_version=None):
        self.lab = lab
        self.name = name
        self.kind = kind
        self.num = num
        self.myid = myid
        self.zk_version = zk_version if kind == "member" else None
        self.ip = (SUBNET % lab.index) + ".%d" % num
        self.netns = "%s%d-%s" % (NETNS_PREFIX, lab.index, name)
        self.veth = "zkl%dv%d" % (lab.index, num)
        self.dir = os.path.join(lab.dir, "hosts", name)
        self.pid = None        # the unshare process, in the root PID namespace
        self.init_pid = None   # zklab-boot, PID 1 of the host

    def __repr__(self):
        return "<Host %s %s>" % (self.name, self.ip)

    def to_json(self):
        return {"name": self.name, "kind": self.kind, "num": self.num, "myid": self.myid,
                "ip": self.ip, "pid": self.pid, "init_pid": self.init_pid,
                "zk_version": self.zk_version}

    def path(self, inside):
        """Where a path inside the host lives on the lab machine (for mounted dirs)."""
        for src, target in MOUNTS:
            if inside == target or inside.startswith(target.rstrip("/") + "/"):
                return os.path.join(self.dir, src) + inside[len(target):]
        raise LabError("%s is not a per-host path" % inside)

    # --- processes ------------------------------------------------------------------
    def boot(self, wait=True):
        if self.running():
            return
        log = open(os.path.join(self.dir, "boot.log"), "ab")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts", "--ipc",
             "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private",
             *BOOT, self.name, self.dir, self.kind],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.pid = proc.pid
        self.init_pid = None
        # The lab outlives this Popen object; do not let the interpreter wait for it.
        proc.returncode = 0
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) as f:
                    kids = f.read().split()
            except OSError:
                kids = []
            if kids:
                self.init_pid = int(kids[0])
                break
            if not pid_alive(self.pid):
                raise LabError("host %s did not boot; see %s/boot.log" % (self.name, self.dir))
            time.sleep(0.02)
        else:
            raise LabError("host %s: no init process after 10 s" % self.name)
        self.lab.save()
        if wait:
            self.wait_ready()

    def running(self):
        return pid_alive(self.pid) and pid_alive(self.init_pid)

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.port_open(22):
                return
            time.sleep(0.05)
        raise LabError("host %s: sshd not listening after %ds" % (self.name, timeout))

    def power_off(self):
        """Pull the plug: SIGKILL the host's namespace parent, so everything dies at once."""
        if self.pid and pid_alive(self.pid):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.time() + 10
            while time.time() < deadline and (pid_alive(self.pid) or pid_alive(self.init_pid)):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, os.WNOHANG)
                time.sleep(0.02)
        self.pid = self.init_pid = None
        self.lab.save()

    def exec(self, *argv, check=True, input=None, timeout=120):
        """Run a command inside the host (all of its namespaces)."""
        if not self.running():
            raise LabError("host %s is powered off" % self.name)
        return sh("nsenter", "-t", str(self.init_pid), "-m", "-u", "-i", "-n", "-p", "--",
                  *argv, check=check, input=input, timeout=timeout)

    def sh(self, script, check=True, timeout=120):
        return self.exec("/bin/sh", "-c", script, check=check, timeout=timeout)

    # --- ZooKeeper ------------------------------------------------------------------
    @property
    def client_port(self):
        return self.lab.client_port

    def four_letter(self, cmd="srvr", timeout=2.0):
        return four_letter(self.ip, self.client_port, cmd, timeout)

    def srvr(self):
        """Parsed srvr answer (empty dict when the member does not answer)."""
        for _attempt in range(3):
            text = self.four_letter("srvr")
            if text:
                return parse_srvr(text)
        return {}

    def mode(self):
        return self.srvr().get("Mode")

    def zk_pid(self):
        r = self.sh("cat /run/zookeeper/zookeeper.pid 2>/dev/null", check=False)
        return int(r.stdout.strip()) if r.stdout.strip() else None

    def zk_running(self):
        return self.sh("service zookeeper status >/dev/null 2>&1", check=False).returncode == 0

    def kill_zk(self, sig=9):
        """Kill the member's ZooKeeper JVM (default SIGKILL)."""
        self.sh("kill -%d $(cat /run/zookeeper/zookeeper.pid)" % sig)
        deadline = time.time() + 10
        while time.time() < deadline and self.zk_running():
            time.sleep(0.05)
        self.sh("rm -f /run/zookeeper/zookeeper.pid", check=False)

    def start_zk(self):
        self.sh("service zookeeper start")

    def stop_zk(self):
        self.sh("service zookeeper stop")

    def port_open(self, port, timeout=0.3):
        try:
            with socket.create_connection((self.ip, port), timeout=timeout):
                return True
        except OSError:
            return False

    # --- faults ---------------------------------------------------------------------
    def cut_off(self):
        """Take the host's link down: it can neither send nor receive."""
        sh("ip", "link", "set", self.veth, "down")

    def reconnect(self):
        sh("ip", "link", "set", self.veth, "up")

    def block_quorum(self):
        """Drop only quorum and election traffic (2888/3888); clients still connect."""
        rules = []
        for port in (self.lab.quorum_port, self.lab.election_port):
            rules += ["iptables -A INPUT -p tcp --dport %d -j DROP" % port,
                      "iptables -A INPUT -p tcp --sport %d -j DROP" % port,
                      "iptables -A OUTPUT -p tcp --dport %d -j DROP" % port,
                      "iptables -A OUTPUT -p tcp --sport %d -j DROP" % port]
        self.sh(" && ".join(rules))

    def unblock_quorum(self):
        self.sh("iptables -F INPUT && iptables -F OUTPUT")

    def small_disk(self, path, size="1m", fill=False):
        """Mount a tmpfs of ``size`` over ``path`` (a full disk when fill=True)."""
        st = os.stat(self.path(path)) if self._mounted_path(path) else None
        self.sh("mkdir -p %s && mount -t tmpfs -o size=%s tmpfs %s" % (path, size, path))
        if st is not None:
            self.sh("chown %d:%d %s && chmod %o %s"
                    % (st.st_uid, st.st_gid, path, st.st_mode & 0o7777, path))
        if fill:
            self.sh("dd if=/dev/zero of=%s/.filler bs=64k >/dev/null 2>&1; true" % path)

    def release_disk(self, path):
        self.sh("umount %s" % path)

    def _mounted_path(self, path):
        try:
            return os.path.exists(self.path(path))
        except LabError:
            return False


class Lab:
    """A lab of ``members`` ZooKeeper hosts (zk1..) and ``backups`` backup hosts.

    Options mirror what production ensembles do differently: ``separate_datalog``
    (dataLogDir on its own path), ``client_port``, ``snap_count``,
    ``snapshot_compression`` ('gz' or 'snappy'), ``fourlw_whitelist`` ('*' or 'srvr', or
    None for none in zoo.cfg: the release's default),
    ``zk_versions`` (the ZooKeeper release of every member, or a list of one per member;
    default Debian's 3.8.0; others come from the jar cache of lab/zkdist.py),
    ``reconfig`` (dynamic reconfiguration: reconfigEnabled=true, and /etc/zookeeper/conf
    writable by the zookeeper user, as the server then needs: it writes each new
    configuration to zoo.cfg.dynamic.<version> and points zoo.cfg's dynamicConfigFile at it).
    ``reconfig="moved"``: zoo.cfg holds the server lines and clientPort, and each member
    moves the server lines into a dynamic file on its first start, keeping the original as
    zoo.cfg.bak.  ``reconfig="file"``: the layout ZooKeeper's documentation gives, the lab
    writes zoo.cfg.dynamic with the client port in each server line
    (``server.N=host:2888:3888:participant;2181``) and zoo.cfg names it and has no clientPort.
    """

    def __init__(self, name="lab", members=3, backups=1, client_port=2181,
                 separate_datalog=False, snap_count=None, snapshot_compression=None,
                 fourlw_whitelist="*", tick_time=500, init_limit=40, sync_limit=6,
                 heap="256m", extended_types=True, extra_cfg=None, persistent=False,
                 tls=False, secure_client_port=2282, java_opts="", zk_versions=None,
                 reconfig=None):
        if members < 1 or members > 9:
            raise LabError("members must be 1..9")
        if reconfig not in (None, "moved", "file"):
            raise LabError("reconfig must be None, 'moved' or 'file', not %r" % (reconfig,))
        self.zk_versions = member_versions(zk_versions, members)
        self.name = name
        self.members_n = members
        self.backups_n = backups
        self.client_port = client_port
        self.quorum_port = 2888
        self.election_port = 3888
        self.separate_datalog = separate_datalog
        self.snap_count = snap_count
        self.snapshot_compression = snapshot_compression
        self.fourlw_whitelist = fourlw_whitelist
        self.tick_time = tick_time
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.heap = heap
        self.extended_types = extended_types
        self.extra_cfg = dict(extra_cfg or {})
        self.persistent = persistent
        self.tls = tls
        self.java_opts = java_opts
        self.secure_client_port = secure_client_port
        self.reconfig = reconfig
        self._check_versions()
        self.owner_pid = None if persistent else os.getpid()
        self.index = None
        self.dir = None
        self.hosts = {}
        self._down = False

    def _check_versions(self):
        """Refuse options that a member's release does not have."""
        wanted = dict(self.extra_cfg)
        if self.snapshot_compression:
            wanted["snapshot.compression.method"] = self.snapshot_compression
        for i, v in enumerate(self.zk_versions):
            if v == DEBIAN_VERSION:
                continue
            if self.tls:
                raise LabError("zk%d: a TLS lab runs Debian's %s only (members of %s would "
                               "need netty jars)" % (i + 1, DEBIAN_VERSION, v))
            for key in wanted:
                if key in CFG_SINCE and version_tuple(v) < CFG_SINCE[key]:
                    raise LabError("zk%d runs ZooKeeper %s, which has no %s (since %s)"
                                   % (i + 1, v, key, ".".join(map(str, CFG_SINCE[key]))))

    @property
    def versions(self):
        """{member name: ZooKeeper release}."""
        return {h.name: h.zk_version for h in self.members}

    def set_release(self, h, version):
        """Install another ZooKeeper release on member ``h`` the way an operator replaces a
        tarball install: the init script's environment (classpath, logging) names the new
        release's jars; zoo.cfg, myid and the data directories stay.  A running server is
        left alone: its next start runs the new release."""
        i = self.members.index(h)
        wanted = list(self.zk_versions)
        wanted[i] = member_versions(version, 1)[0]
        previous = self.zk_versions
        self.zk_versions = wanted
        try:
            self._check_versions()
        except LabError:
            self.zk_versions = previous
            raise
        if version != DEBIAN_VERSION:
            try:
                zkdist.verify(version)
            except zkdist.DistError as exc:
                self.zk_versions = previous
                raise LabError(str(exc)) from None
        h.zk_version = version
        conf = os.path.join(h.dir, "etc-zookeeper", "conf")
        if version != DEBIAN_VERSION:
            with open(os.path.join(conf, "log4j2.properties"), "w") as f:
                f.write(LOG4J2_PROPERTIES)
        tmp = os.path.join(conf, ".environment.tmp")
        with open(tmp, "w") as f:
            f.write(self._environment(h))
        os.replace(tmp, os.path.join(conf, "environment"))
        self.save()

    def switch_release(self, h, version, timeout=60):
        """Stop member ``h``, install ``version`` in place of its release (set_release), start
        it again (the caller waits until it serves)."""
        h.stop_zk()
        deadline = time.time() + timeout
        while h.zk_running() and time.time() < deadline:
            time.sleep(0.1)
        if h.zk_running():
            h.kill_zk()
        self.set_release(h, version)
        h.start_zk()

    # --- lifecycle ------------------------------------------------------------------
    @property
    def members(self):
        return [h for h in self.hosts.values() if h.kind == "member"]

    @property
    def backup_hosts(self):
        return [h for h in self.hosts.values() if h.kind == "backup"]

    @property
    def bridge(self):
        return "zkl%dbr" % self.index

    @property
    def gateway(self):
        return (SUBNET % self.index) + ".1"

    @property
    def data_dir(self):
        return "/var/lib/zookeeper"

    @property
    def data_log_dir(self):
        return DATALOG_DIR if self.separate_datalog else self.data_dir

    @property
    def connect_string(self):
        return ",".join("%s:%d" % (h.ip, self.client_port) for h in self.members)

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    def up(self, wait=True):
        if set(self.zk_versions) - {DEBIAN_VERSION}:
            root = zkdist.cache_root()
            for _src, target in MOUNTS:
                if (root + "/").startswith(target.rstrip("/") + "/"):
                    raise LabError("the jar cache %s is under %s, which every lab host mounts "
                                   "its own copy of: set ZKOPS_ZK_CACHE elsewhere" % (root, target))
        for v in sorted(set(self.zk_versions) - {DEBIAN_VERSION}):
            try:
                zkdist.verify(v)
            except zkdist.DistError as exc:
                raise LabError(str(exc)) from None
        os.makedirs(LAB_ROOT, exist_ok=True)
        with open(LOCK, "a") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            # Under the lock: a lab reaped here frees its index for this one, and no other
            # process (another pytest worker) can reap it a second time.
            reap_stale(locked=True)
            self._down = False
            self.index = self._free_index()
            self.dir = os.path.join(LAB_ROOT, "%s-%d" % (self.name, self.index))
            if os.path.exists(self.dir):
                shutil.rmtree(self.dir)
            os.makedirs(os.path.join(self.dir, "hosts"))
            for i in range(self.members_n):
                h = Host(self, "zk%d" % (i + 1), "member", 11 + i, myid=i + 1,
                         zk_version=self.zk_versions[i])
                self.hosts[h.name] = h
            for i in range(self.backups_n):
                h = Host(self, "backup%d" % (i + 1), "backup", 21 + i)
                self.hosts[h.name] = h
            self.save()
            # The bridge claims the index: create it before releasing the lock.
            sh("ip", "link", "add", self.bridge, "type", "bridge")
        try:
            self._network()
            self._keys()
            if self.tls:
                self._tls_material()
            for h in self.hosts.values():
                self._host_files(h)
            self._ansible_files()
            for h in self.hosts.values():
                h.boot(wait=False)
            if wait:
                for h in self.hosts.values():
                    h.wait_ready()
                self.wait_quorum()
        except BaseException:
            self.down()
            raise
        return self

    def down(self):
        """Power off every host and delete the lab's network and directory. A second call
        does nothing: by then the index may be another lab's, and its names with it."""
        if self._down:
            return
        self._down = True
        for h in self.hosts.values():
            with contextlib.suppress(Exception):
                h.power_off()
        for h in self.hosts.values():
            # Deleting the veth is synchronous; a namespace's own clean-up is not.
            sh("ip", "link", "del", h.veth, check=False)
            sh("ip", "netns", "del", h.netns, check=False)
        if self.index is not None:
            sh("ip", "link", "del", self.bridge, check=False)
        if self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)

    def save(self):
        state = {"name": self.name, "index": self.index, "dir": self.dir,
                 "owner_pid": self.owner_pid, "persistent": self.persistent,
                 "client_port": self.client_port, "separate_datalog": self.separate_datalog,
                 "snap_count": self.snap_count,
                 "snapshot_compression": self.snapshot_compression,
                 "fourlw_whitelist": self.fourlw_whitelist, "tick_time": self.tick_time,
                 "init_limit": self.init_limit, "sync_limit": self.sync_limit,
                 "heap": self.heap, "extended_types": self.extended_types,
                 "extra_cfg": self.extra_cfg, "tls": self.tls, "java_opts": self.java_opts,
                 "secure_client_port": self.secure_client_port,
                 "members": self.members_n, "backups": self.backups_n,
                 "zk_versions": self.zk_versions, "reconfig": self.reconfig,
                 "hosts": [h.to_json() for h in self.hosts.values()]}
        tmp = os.path.join(self.dir, "state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, os.path.join(self.dir, "state.json"))

    @classmethod
    def load(cls, path):
        """Attach to a running lab from its directory (or its state.json)."""
        if os.path.isdir(path):
            path = os.path.join(path, "state.json")
        with open(path) as f:
            st = json.load(f)
        lab = cls(name=st["name"], members=st["members"], backups=st["backups"],
                  client_port=st["client_port"], separate_datalog=st["separate_datalog"],
                  snap_count=st["snap_count"], snapshot_compression=st["snapshot_compression"],
                  fourlw_whitelist=st["fourlw_whitelist"], tick_time=st["tick_time"],
                  init_limit=st["init_limit"], sync_limit=st["sync_limit"], heap=st["heap"],
                  extended_types=st["extended_types"], extra_cfg=st["extra_cfg"],
                  persistent=st["persistent"], tls=st.get("tls", False),
                  secure_client_port=st.get("secure_client_port", 2282),
                  java_opts=st.get("java_opts", ""), zk_versions=st.get("zk_versions"),
                  reconfig=st.get("reconfig"))
        lab.owner_pid = st["owner_pid"]
        lab.index = st["index"]
        lab.dir = st["dir"]
        for hj in st["hosts"]:
            h = Host(lab, hj["name"], hj["kind"], hj["num"], hj["myid"],
                     hj.get("zk_version") or DEBIAN_VERSION)
            h.pid, h.init_pid = hj["pid"], hj["init_pid"]
            lab.hosts[h.name] = h
        return lab

    @staticmethod
    def _free_index():
        used = set()
        for line in sh("ip", "-o", "link", "show", "type", "bridge").stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith("zkl") and name.endswith("br"):
                with contextlib.suppress(ValueError):
                    used.add(int(name[3:-2]))
        # Round robin from the index after the last one given (kept next to the lock, read and
        # written under it): an index freed a moment ago, whose names a test may still look
        # for, is not given to the next lab of another process at once.
        counter = os.path.join(LAB_ROOT, ".next-index")
        try:
            with open(counter) as f:
                start = int(f.read().strip() or 1)
        except (OSError, ValueError):
            start = 1
        for k in range(249):
            i = (start - 1 + k) % 249 + 1
            if i not in used:
                with open(counter, "w") as f:
                    f.write("%d\n" % (i % 249 + 1))
                return i
        raise LabError("no free lab index")

    # --- building -------------------------------------------------------------------
    def _network(self):
        sh("ip", "addr", "add", self.gateway + "/24", "dev", self.bridge)
        _sysctl("net.ipv6.conf.%s.disable_ipv6" % self.bridge, "1")
        sh("ip", "link", "set", self.bridge, "up")
        for h in self.hosts.values():
            sh("ip", "link", "del", h.veth, check=False)
            sh("ip", "netns", "del", h.netns, check=False)
            sh("ip", "netns", "add", h.netns)
            sh("ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0",
               "netns", h.netns)
            _sysctl("net.ipv6.conf.%s.disable_ipv6" % h.veth, "1")
            sh("ip", "link", "set", h.veth, "master", self.bridge)
            sh("ip", "link", "set", h.veth, "up")
            ns = ("ip", "netns", "exec", h.netns)
            sh(*ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            sh(*ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
            sh(*ns, "ip", "link", "set", "lo", "up")
            sh(*ns, "ip", "addr", "add", h.ip + "/24", "dev", "eth0")
            sh(*ns, "ip", "link", "set", "eth0", "up")

    def _keys(self):
        self.key = os.path.join(self.dir, "id_ed25519")
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "zklab", "-f", self.key)

    def _host_files(self, h):
        d = h.dir
        for src, _target in MOUNTS:
            if src not in ("hosts", "hostname"):
                os.makedirs(os.path.join(d, src), exist_ok=True)
        os.chmod(os.path.join(d, "tmp"), 0o1777)
        os.chmod(os.path.join(d, "var-tmp"), 0o1777)
        with open(os.path.join(d, "hostname"), "w") as f:
            f.write(h.name + "\n")
        with open(os.path.join(d, "hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n")
            for o in self.hosts.values():
                f.write("%s\t%s\n" % (o.ip, o.name))
        # sshd: stock config, a host key of its own, keys only.
        etc_ssh = os.path.join(d, "etc-ssh")
        for name in ("sshd_config", "ssh_config", "moduli"):
            shutil.copy2(os.path.join("/etc/ssh", name), etc_ssh)
        os.makedirs(os.path.join(etc_ssh, "sshd_config.d"), exist_ok=True)
        os.makedirs(os.path.join(etc_ssh, "ssh_config.d"), exist_ok=True)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.name,
           "-f", os.path.join(etc_ssh, "ssh_host_ed25519_key"))
        with open(os.path.join(etc_ssh, "sshd_config.d", "zklab.conf"), "w") as f:
            f.write("HostKey /etc/ssh/ssh_host_ed25519_key\n"
                    "PermitRootLogin prohibit-password\n"
                    "PasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\n"
                    "UseDNS no\n"
                    "MaxStartups 100:30:200\n"
                    "MaxSessions 100\n")
        root = os.path.join(d, "root")
        os.chmod(root, 0o700)
        ssh_dir = os.path.join(root, ".ssh")
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        shutil.copy2(self.key + ".pub", os.path.join(ssh_dir, "authorized_keys"))
        # Every host may reach every other one with the lab key (members push backups).
        shutil.copy2(self.key, os.path.join(ssh_dir, "id_ed25519"))
        os.chmod(os.path.join(ssh_dir, "id_ed25519"), 0o600)
        with open(os.path.join(d, "mounts.json"), "w") as f:
            json.dump([[src, target] for src, target in MOUNTS], f)
        if h.kind == "member":
            self._member_files(h)
        else:
            bdir = os.path.join(d, "srv", BACKUP_DIR[len("/srv/"):])
            os.makedirs(bdir, mode=0o700, exist_ok=True)

    def zoo_cfg(self):
        """zoo.cfg, the same on every member (releases that lack an option are refused)."""
        lines = ["tickTime=%d" % self.tick_time, "initLimit=%d" % self.init_limit,
                 "syncLimit=%d" % self.sync_limit, "dataDir=%s" % self.data_dir]
        if self.separate_datalog:
            lines.append("dataLogDir=%s" % DATALOG_DIR)
        if self.reconfig != "file":
            lines.append("clientPort=%d" % self.client_port)
        lines += ["maxClientCnxns=0", "admin.enableServer=false"]
        if self.fourlw_whitelist is not None:
            lines.append("4lw.commands.whitelist=%s" % self.fourlw_whitelist)
        if self.snap_count:
            lines.append("snapCount=%d" % self.snap_count)
        if self.snapshot_compression:
            lines.append("snapshot.compression.method=%s" % self.snapshot_compression)
        if self.extended_types:
            lines.append("extendedTypesEnabled=true")
        if self.reconfig:
            lines.append("reconfigEnabled=true")
        if self.tls:
            tls = "/etc/zookeeper/conf/tls"
            lines += ["serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
                      "secureClientPort=%d" % self.secure_client_port,
                      "ssl.keyStore.location=%s/server.pem" % tls, "ssl.keyStore.type=PEM",
                      "ssl.trustStore.location=%s/ca.pem" % tls, "ssl.trustStore.type=PEM",
                      "ssl.clientAuth=need", "ssl.hostnameVerification=false"]
        for k, v in self.extra_cfg.items():
            lines.append("%s=%s" % (k, v))
        if self.reconfig == "file":
            lines.append("dynamicConfigFile=%s" % DYNAMIC_CONFIG_FILE)
        else:
            for h in self.members:
                lines.append("server.%d=%s:%d:%d" % (h.myid, h.name, self.quorum_port,
                                                     self.election_port))
        return "\n".join(lines) + "\n"

    def dynamic_cfg(self):
        """The dynamic configuration file of a ``reconfig="file"`` lab."""
        return "".join("server.%d=%s:%d:%d:participant;%d\n"
                       % (h.myid, h.name, self.quorum_port, self.election_port,
                          self.client_port) for h in self.members)

    @property
    def tls_dir(self):
        """CA, client certificate and key for TLS clients (``tls=True`` labs)."""
        return os.path.join(self.dir, "tls")

    def _tls_material(self):
        """A CA, a server certificate per member (names and IP in the SAN), a client one."""
        d = self.tls_dir
        os.makedirs(d)
        ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-keyout", ca_key, "-out", ca, "-days", "30", "-subj", "/CN=zklab CA")
        for name, sans in [("client", "DNS:zkops-client")] + [
                (h.name, "DNS:%s,IP:%s" % (h.name, h.ip)) for h in self.members]:
            key, csr, crt = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".crt"))
            sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
            ext = os.path.join(d, name + ".ext")
            with open(ext, "w") as f:
                f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" % sans)
            sh("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
               "-CAcreateserial", "-days", "30", "-out", crt, "-extfile", ext)
            pk8 = os.path.join(d, name + ".pk8")
            sh("openssl", "pkcs8", "-topk8", "-nocrypt", "-in", key, "-out", pk8)
            with open(os.path.join(d, name + ".pem"), "w") as f:
                f.write(pathlib.Path(pk8).read_text() + pathlib.Path(crt).read_text())

    def _jars(self, version=DEBIAN_VERSION):
        if version != DEBIAN_VERSION:
            return tuple(zkdist.classpath(version))
        # Debian's zookeeper.jar manifest leaves out netty-codec, which the Netty
        # connection factory (needed for TLS) loads.
        return ZK_JARS + (("/usr/share/java/netty-codec.jar",) if self.tls else ())

    def _environment(self, h):
        """/etc/zookeeper/conf/environment, which the init script reads."""
        # A lab server lives for seconds or minutes: C2's compilations would cost more CPU
        # than they save (about a third of a member's start-up CPU on the 2-core CI machine),
        # so the JIT stops at C1.
        java_opts = "-Xmx%s -XX:+UseSerialGC -XX:TieredStopAtLevel=1 %s" % (self.heap, self.java_opts)
        if h.zk_version != DEBIAN_VERSION:
            java_opts = (java_opts.rstrip()
                         + " -Dlog4j2.configurationFile=/etc/zookeeper/conf/log4j2.properties")
        return ('NAME=zookeeper\n'
                'ZOOCFGDIR=/etc/zookeeper/conf\n'
                'ZOOMAIN=%s\n'
                'ZOOCFG=/etc/zookeeper/conf/zoo.cfg\n'
                'ZOO_LOG_DIR=/var/log/zookeeper\n'
                'ZOO_LOG4J_PROP=INFO,ROLLINGFILE\n'
                'JMXLOCALONLY=true\n'
                'JAVA_OPTS="%s"\n'
                'JAVA=/usr/bin/java\n'
                'CLASSPATH="/etc/zookeeper/conf:%s"\n'
                % (zkdist.MAIN, java_opts, ":".join(self._jars(h.zk_version))))

    def _member_files(self, h):
        d = h.dir
        conf = os.path.join(d, "etc-zookeeper", "conf")
        os.makedirs(conf, exist_ok=True)
        if self.tls:
            tls = os.path.join(conf, "tls")
            os.makedirs(tls)
            shutil.copy2(os.path.join(self.tls_dir, "ca.pem"), os.path.join(tls, "ca.pem"))
            shutil.copy2(os.path.join(self.tls_dir, h.name + ".pem"),
                         os.path.join(tls, "server.pem"))
            for f in os.listdir(tls):
                _chown_zk(os.path.join(tls, f), 0o640)
        for name in ("log4j.properties", "configuration.xsl"):
            shutil.copy2(os.path.join("/etc/zookeeper/conf_example", name), conf)
        if h.zk_version != DEBIAN_VERSION:
            with open(os.path.join(conf, "log4j2.properties"), "w") as f:
                f.write(LOG4J2_PROPERTIES)
        with open(os.path.join(conf, "zoo.cfg"), "w") as f:
            f.write(self.zoo_cfg())
        with open(os.path.join(conf, "myid"), "w") as f:
            f.write("%d\n" % h.myid)
        with open(os.path.join(conf, "environment"), "w") as f:
            f.write(self._environment(h))
        if self.reconfig == "file":
            dyn = os.path.join(conf, os.path.basename(DYNAMIC_CONFIG_FILE))
            with open(dyn, "w") as f:
                f.write(self.dynamic_cfg())
            _chown_zk(dyn, 0o644)
        if self.reconfig:
            # The server writes zoo.cfg.bak, zoo.cfg.dynamic.<version> and a new zoo.cfg.
            _chown_zk(conf, 0o755)
            _chown_zk(os.path.join(conf, "zoo.cfg"), 0o644)
        data = os.path.join(d, "var-lib-zookeeper")
        os.symlink("/etc/zookeeper/conf/myid", os.path.join(data, "myid"))
        _chown_zk(data, 0o750)
        _chown_zk(os.path.join(d, "var-log-zookeeper"), 0o755)
        if self.separate_datalog:
            dl = os.path.join(d, "srv", DATALOG_DIR[len("/srv/"):])
            os.makedirs(dl, exist_ok=True)
            _chown_zk(dl, 0o750)

    def _ansible_files(self):
        with open(os.path.join(self.dir, "known_hosts"), "w") as f:
            for h in self.hosts.values():
                with open(os.path.join(h.dir, "etc-ssh", "ssh_host_ed25519_key.pub")) as k:
                    kt, kv = k.read().split()[:2]
                f.write("%s,%s %s %s\n" % (h.name, h.ip, kt, kv))
        for h in self.hosts.values():
            shutil.copy2(os.path.join(self.dir, "known_hosts"),
                         os.path.join(h.dir, "root", ".ssh", "known_hosts"))
        os.makedirs(os.path.join(self.dir, "cp"), exist_ok=True)
        inv = {"all": {
            "vars": {"ansible_user": "root",
                     "ansible_ssh_private_key_file": self.key,
                     "ansible_python_interpreter": "/usr/bin/python3",
                     "zookeeper_ensemble_name": self.name,
                     "zookeeper_client_port": self.client_port},
            "children": {
                "zookeeper": {"hosts": {h.name: {"ansible_host": h.ip, "zookeeper_myid": h.myid}
                                        for h in self.members}},
                "zookeeper_backup_hosts": {"hosts": {h.name: {"ansible_host": h.ip}
                                                     for h in self.backup_hosts}},
            }}}
        with open(os.path.join(self.dir, "inventory.json"), "w") as f:
            json.dump(inv, f, indent=1)
        with open(os.path.join(self.dir, "ansible.cfg"), "w") as f:
            f.write("[defaults]\n"
                    "inventory = %(d)s/inventory.json\n"
                    "host_key_checking = True\n"
                    "interpreter_python = /usr/bin/python3\n"
                    "forks = 20\n"
                    "timeout = 15\n"
                    "retry_files_enabled = False\n"
                    "collections_path = %(c)s\n"
                    "[ssh_connection]\n"
                    "ssh_args = -o ControlMaster=auto -o ControlPersist=120s "
                    "-o UserKnownHostsFile=%(d)s/known_hosts -o StrictHostKeyChecking=yes "
                    "-o IdentitiesOnly=yes\n"
                    "control_path_dir = %(d)s/cp\n"
                    "pipelining = True\n" % {"d": self.dir, "c": collections_path()})

    @property
    def inventory(self):
        return os.path.join(self.dir, "inventory.json")

    @property
    def ansible_cfg(self):
        return os.path.join(self.dir, "ansible.cfg")

    @property
    def known_hosts(self):
        return os.path.join(self.dir, "known_hosts")

    # --- ensemble state -------------------------------------------------------------
    def status(self):
        return {h.name: h.srvr() for h in self.members}

    def leader(self):
        for h in self.members:
            if h.mode() in ("leader", "standalone"):
                return h
        return None

    def followers(self):
        return [h for h in self.members if h.mode() == "follower"]

    def wipe_members(self):
        """Every member loses its data: the servers die, their version-2 directories are
        removed (myid stays), and they start again on nothing and form a quorum."""
        for h in self.members:
            h.kill_zk()
            h.sh("rm -rf %s/version-2 %s/version-2" % (self.data_dir, self.data_log_dir))
        for h in self.members:
            h.start_zk()
        self.wait_quorum()

    def wait_quorum(self, timeout=60, members=None):
        """Wait until every (given) member serves and they agree on one leader."""
        members = members if members is not None else self.members
        deadline = time.time() + timeout
        last = {}
        while time.time() < deadline:
            last = {h.name: h.srvr().get("Mode") for h in members}
            modes = list(last.values())
            if all(m in ("leader", "follower", "observer", "standalone") for m in modes):
                if len(members) == len(self.members):
                    if modes.count("leader") == 1 or modes == ["standalone"]:
                        return last
                elif len(members) < len(self.members):
                    return last
            time.sleep(0.1)
        raise LabError("no quorum after %ds: %s" % (timeout, last))

    def wait_zxid_agree(self, timeout=30):
        deadline = time.time() + timeout
        zx = {}
        while time.time() < deadline:
            zx = {h.name: h.srvr().get("zxid") for h in self.members}
            if None not in zx.values() and len(set(zx.values())) == 1:
                return next(iter(zx.values()))
            time.sleep(0.1)
        raise LabError("members do not agree on a zxid: %s" % zx)

    def ansible_env(self, extra=None):
        """Environment for running ansible-playbook against this lab."""
        env = dict(os.environ)
        env["ANSIBLE_CONFIG"] = self.ansible_cfg
        env.update(extra or {})
        return env


def _sysctl(key, value):
    path = "/proc/sys/" + key.replace(".", "/")
    with contextlib.suppress(OSError):
        with open(path, "w") as f:
            f.write(value)


def _chown_zk(path, mode):
    import pwd
    pw = pwd.getpwnam("zookeeper")
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, mode)


def labs():
    """Every lab with a state file under LAB_ROOT."""
    out = []
    if not os.path.isdir(LAB_ROOT):
        return out
    for entry in sorted(os.listdir(LAB_ROOT)):
        st = os.path.join(LAB_ROOT, entry, "state.json")
        if os.path.exists(st):
            with contextlib.suppress(Exception):
                out.append(Lab.load(st))
    return out


def reap_stale(everything=False, locked=False):
    """Tear down labs whose owning process died (or all of them), holding the lab lock
    (``locked``: the caller holds it), so that two processes never reap the same lab."""
    if not locked:
        os.makedirs(LAB_ROOT, exist_ok=True)
        with open(LOCK, "a") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            return reap_stale(everything, locked=True)
    gone = []
    for lab in labs():
        if everything or (not lab.persistent and not pid_alive(lab.owner_pid)):
            lab.down()
            gone.append(lab.dir)
    if everything:
        # Leftovers without a state file: namespaces and bridges with our prefixes.
        for line in sh("ip", "netns", "list").stdout.splitlines():
            ns = line.split()[0] if line.strip() else ""
            if ns.startswith(NETNS_PREFIX):
                sh("ip", "netns", "del", ns, check=False)
        for line in sh("ip", "-o", "link", "show", "type", "bridge").stdout.splitlines():
            name = line.split(":")[1].strip()
            if name.startswith("zkl") and name.endswith("br"):
                sh("ip", "link", "del", name, check=False)
    return gone
