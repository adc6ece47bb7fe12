# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status of ensemble members, assembled from what each one will tell.

``srvr`` (whitelisted by default) gives the mode, zxid, version, latency, counters and the
znode count; ``mntr`` adds the peer state, followers, ephemerals, data size and file
descriptors; ``conf`` adds the server id, dataDir, dataLogDir and the membership.  What a
member refuses to tell is listed, never guessed: remote values taken from the local
zoo.cfg say so.  On the member itself, zoo.cfg, the server process and the data
directories (file names and sizes, see formats/data_files.py) complete the picture.

Modes: leader, follower, observer, standalone, read_only, not_serving (the process answers
but does not serve: no quorum, still syncing), down (nothing answers), not_zookeeper
(something else answers on that port).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import data_files
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import four_letter
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import proc
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import install
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import server_log
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import quorum as quorum_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import release
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod

MODES = ("leader", "follower", "observer", "standalone", "read_only", "not_serving", "down",
         "not_zookeeper")

MNTR_FIELDS = (
    ("zk_peer_state", "peer_state", str),
    ("zk_followers", "learners", int),
    ("zk_learners", "learners", int),
    ("zk_synced_followers", "synced_followers", int),
    ("zk_synced_observers", "synced_observers", int),
    ("zk_pending_syncs", "pending_syncs", int),
    ("zk_ephemerals_count", "ephemerals_count", int),
    ("zk_approximate_data_size", "approximate_data_size", int),
    ("zk_watch_count", "watch_count", int),
    ("zk_open_file_descriptor_count", "open_file_descriptors", int),
    ("zk_max_file_descriptor_count", "max_file_descriptors", int),
    ("zk_quorum_size", "quorum_size", int),
    ("zk_uptime", "uptime_ms", int),
    # ZooKeeper 3.6+ with digest.enabled (the default): mismatches between the digest the
    # leader sent with a transaction and the one the member computed after applying it.
    ("zk_digest_mismatches_count", "digest_mismatches", int),
)
MNTR_NAMES = sorted(set(f[1] for f in MNTR_FIELDS))
# Only a leader's mntr has these; a follower's answer lacks them by design.
MNTR_LEADER_ONLY = ("learners", "synced_followers", "synced_observers", "pending_syncs")
# Only a member of a quorum (leader, follower, observer) has these; a standalone or read-only
# server's answer lacks them on every release.
MNTR_QUORUM_ONLY = ("peer_state", "quorum_size")
QUORUM_STATES = ("leader", "follower", "observer")
CONF_NAMES = ["server_id", "data_dir", "data_log_dir", "membership", "running_settings"]
_HINTS = {"unreachable": " (unreachable: host down, wrong address, or a firewall)",
          "timeout": " (unreachable: host down, wrong address, or a firewall)"}
DEFAULT_RESTART_TRIGGERS = ("java.env", "environment", "zookeeper-env.sh")
# A server with dynamic reconfiguration writes zoo.cfg a few milliseconds after the dynamic
# file it names (measured: 1 to 11 ms on a loaded lab machine); a zoo.cfg written later than
# this after that file was written by someone else.
SERVER_REWRITE_WINDOW = 2.0


def _num(text, conv=int):
    try:
        return conv(text)
    except (TypeError, ValueError):
        return None


def address_of(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def blank_status(address, sid=None):
    st = {"id": sid, "address": address, "mode": None, "serving": False, "reachable": False,
          "error": None, "version": None, "zxid": None, "epoch": None, "counter": None,
          "znode_count": None, "outstanding_requests": None, "connections": None,
          "received": None, "sent": None,
          "latency": {"min": None, "avg": None, "max": None},
          "server_id": None, "data_dir": None, "data_log_dir": None,
          "data_dir_source": None, "membership": None, "running_settings": None, "learned_from": [],
          "not_learned": []}
    for name in MNTR_NAMES:
        st[name] = None
    return st


def _strip_version_dir(path):
    if path and os.path.basename(os.path.normpath(path)) == data_files.VERSION_DIR:
        return os.path.dirname(os.path.normpath(path))
    return path


def parse_srvr(st, parsed):
    """Fill a status from a parsed srvr answer (four_letter.srvr())."""
    mode = parsed.get("Mode", "").strip().lower().replace("-", "_")
    st["mode"] = mode if mode in MODES else mode or None
    st["serving"] = st["mode"] in quorum_mod.SERVING_MODES
    st["version"] = release.from_srvr(parsed.get("Zookeeper version"))
    if parsed.get("Zxid"):
        try:
            st.update(zxid_mod.describe(zxid_mod.from_record(parsed["Zxid"])))
        except ValueError:
            pass
    st["znode_count"] = _num(parsed.get("Node count"))
    st["outstanding_requests"] = _num(parsed.get("Outstanding"))
    st["connections"] = _num(parsed.get("Connections"))
    st["received"] = _num(parsed.get("Received"))
    st["sent"] = _num(parsed.get("Sent"))
    lat = parsed.get("Latency min/avg/max", "").split("/")
    if len(lat) == 3:
        st["latency"] = {"min": _num(lat[0], float), "avg": _num(lat[1], float),
                         "max": _num(lat[2], float)}


def parse_mntr(st, text):
    """Fill the mntr fields; return the names of those the answer has no line for (older
    releases report less: ZooKeeper 3.5 has no peer state, quorum size, uptime or digest
    count), leaving out the leader's own fields on a member that is not the leader, and the
    quorum's (peer state, quorum size) on a standalone or read-only server."""
    kv = four_letter.parse_tab_lines(text)
    found = set()
    for key, name, conv in MNTR_FIELDS:
        if key in kv:
            st[name] = _num(kv[key], conv) if conv is int else kv[key]
            found.add(name)
    state = kv.get("zk_server_state", st.get("mode"))
    return [n for n in MNTR_NAMES
            if n not in found and (state == "leader" or n not in MNTR_LEADER_ONLY)
            and (state in QUORUM_STATES or n not in MNTR_QUORUM_ONLY)]


# zoo.cfg settings the ``conf`` answer reports as the server runs them: a difference means
# zoo.cfg was changed after the server read it (restart_pending_settings).
RUNNING_SETTINGS = ("tickTime", "initLimit", "syncLimit", "maxClientCnxns", "minSessionTimeout",
                    "maxSessionTimeout", "dataDir", "dataLogDir")
_DIR_SETTINGS = ("dataDir", "dataLogDir")
_TIMEOUT_SETTINGS = ("minSessionTimeout", "maxSessionTimeout")


def parse_conf(st, text):
    """Fill server id, directories, membership and the running settings (RUNNING_SETTINGS,
    as ``running_settings``) from a ``conf`` answer."""
    head, dummy, members = text.partition("membership:")
    kv = four_letter.parse_equals_lines(head)
    st["running_settings"] = dict((k, kv[k]) for k in RUNNING_SETTINGS if k in kv)
    st["server_id"] = _num(kv.get("serverId"))
    st["data_dir"] = _strip_version_dir(kv.get("dataDir"))
    st["data_log_dir"] = _strip_version_dir(kv.get("dataLogDir"))
    if st["data_dir"]:
        st["data_dir_source"] = "conf"
    servers = []
    version = None
    for line in members.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep:
            continue
        if key.startswith("server."):
            try:
                srv = zoo_cfg.parse_server(int(key[7:]), value)
            except (ValueError, zoo_cfg.ZooCfgError):
                continue
            srv.pop("addresses")
            servers.append(srv)
        elif key == "version":
            version = value
    if servers:
        st["membership"] = {"servers": servers, "version": version}


def query(host, port, sid=None, ssl_context=None, timeout=5.0, extra=("mntr", "conf")):
    """The status of the member serving clients at host:port (never raises)."""
    address = address_of(host, port)
    st = blank_status(address, sid)
    try:
        parsed = four_letter.srvr(host, port, timeout=timeout, ssl_context=ssl_context,
                                  retries=2)
    except four_letter.NotWhitelisted:
        st.update(reachable=True, mode=None,
                  error="srvr is not whitelisted: add it to 4lw.commands.whitelist")
        st["not_learned"].append({"source": "srvr", "reason": "not whitelisted",
                                  "fields": ["mode", "zxid", "version", "znode_count"]})
        return st
    except four_letter.FourLetterError as exc:
        st["mode"] = "not_zookeeper" if exc.reason in ("not_zookeeper", "empty") else "down"
        st["reachable"] = exc.reason in ("not_zookeeper", "empty")
        st["error"] = str(exc) + _HINTS.get(exc.reason, "")
        st["error_reason"] = exc.reason
        return st
    st["reachable"] = True
    st["learned_from"].append("srvr")
    if not parsed.get("serving"):
        st["mode"] = "not_serving"
        st["error"] = "%s: the server runs but does not serve requests (no quorum yet, " \
                      "or still syncing with the leader)" % address
        return st
    parse_srvr(st, parsed)
    for cmd in extra:
        try:
            text = four_letter.send(host, port, cmd, timeout=timeout, ssl_context=ssl_context,
                                    retries=2)
        except four_letter.NotWhitelisted:
            st["not_learned"].append({"source": cmd, "reason": "not whitelisted",
                                      "fields": MNTR_NAMES if cmd == "mntr" else CONF_NAMES})
            continue
        except four_letter.FourLetterError as exc:
            st["not_learned"].append({"source": cmd, "reason": str(exc),
                                      "fields": MNTR_NAMES if cmd == "mntr" else CONF_NAMES})
            continue
        if four_letter.NOT_SERVING in text:
            continue
        st["learned_from"].append(cmd)
        if cmd == "mntr":
            missing = parse_mntr(st, text)
            if missing:
                st["not_learned"].append({"source": cmd, "fields": missing,
                                          "reason": "not reported by ZooKeeper %s"
                                                    % (st["version"] or "of this release")})
        elif cmd == "conf":
            parse_conf(st, text)
    if st["server_id"] is not None:
        st["id"] = st["server_id"]
    return st


def query_all(targets, ssl_context=None, timeout=5.0, extra=("mntr", "conf")):
    """Query [(sid or None, host, port), ...] in parallel; statuses in the same order."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        futures = [pool.submit(query, host, port, sid, ssl_context, timeout, extra)
                   for sid, host, port in targets]
        return [f.result() for f in futures]


# --- the member this runs on --------------------------------------------------------
def local_id(cfg, server_id=None):
    """This host's server id: ``server_id`` if given, else dataDir/myid, else 0 for a
    standalone server (no server lines); None when unknown."""
    if server_id is not None:
        return server_id
    me = zoo_cfg.read_myid(cfg.data_dir)
    if me is None and not cfg.servers:
        return 0
    return me


def config_targets(cfg, me=None, secure=False):
    """[(sid, host, port)] of every server in zoo.cfg (``me`` by its local address)."""
    out = []
    for sid in sorted(cfg.servers):
        ep = cfg.client_endpoint(sid, local=(sid == me), secure=secure)
        if ep is None:
            continue
        out.append((sid, ep[0], ep[1]))
    if not cfg.servers:
        ep = cfg.client_endpoint(None, local=True, secure=secure)
        if ep:
            out.append((me, ep[0], ep[1]))
    return out


def process_info(config_file):
    """The local server process started with ``config_file`` (and any other one)."""
    found = proc.find_servers(config_file)
    ours = [p for p in found if p["matches"]]
    others = [p for p in found if not p["matches"]]
    info = None
    if ours:
        p = ours[0]
        info = {"pid": p["pid"], "main_class": p["main_class"],
                "started": times.iso(p["started"]), "started_epoch": p["started"],
                "uptime_seconds": (int(time.time() - p["started"])
                                   if p["started"] else None)}
    return info, [{"pid": p["pid"], "config_file": p["config_file"]} for p in others]


class LocalMember:
    """The ZooKeeper member on this host: its zoo.cfg (``cfg``), server id (``me``), data
    and log directories, client endpoint (``address``), server ports, process and status.

    The one model of it for the backup and restore workflows and for quiescing.
    ``data_dir`` and ``data_log_dir`` default to zoo.cfg's (``data_log_dir`` to
    ``data_dir``); ``address`` to the member's client endpoint in zoo.cfg (the secure one
    with ``secure``), None when zoo.cfg gives none.  Processes, ports and status are read
    from the host each time they are asked for.
    """

    def __init__(self, cfg, me, data_dir=None, data_log_dir=None, ssl_context=None,
                 timeout=5.0, address=None, secure=False):
        self.cfg = cfg
        self.me = me
        self.config_file = cfg.path
        self.data_dir = data_dir or cfg.data_dir
        self.data_log_dir = data_log_dir or cfg.data_log_dir or self.data_dir
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.secure = secure
        self.address = address or cfg.client_endpoint(me, local=True, secure=secure)
        self.ports = sorted(cfg.server_ports(me))
        self.config_text = None
        # The server's own log, from the JVM properties of the first process seen.
        self.jvm_log_dir = None
        self.jvm_log_file = None

    @classmethod
    def load(cls, config_file, server_id=None, data_dir=None, data_log_dir=None, **kw):
        """The member configured by ``config_file``; ``server_id`` overrides dataDir/myid
        (see local_id).  Raises zoo_cfg.ZooCfgError."""
        cfg = zoo_cfg.load(config_file)
        return cls(cfg, local_id(cfg, server_id), data_dir, data_log_dir, **kw)

    def read_config_text(self):
        """zoo.cfg's text with its secrets redacted, kept as ``config_text``."""
        with open(self.config_file) as f:
            self.config_text = zoo_cfg.redact(f.read())
        return self.config_text

    # --- the process and its ports ----------------------------------------------------
    def running(self):
        """Whether a server process started with this zoo.cfg runs."""
        return any(p["matches"] for p in proc.find_servers(self.config_file))

    def processes(self):
        """(ours, foreign): the server processes started with this zoo.cfg, and the others."""
        found = proc.find_servers(self.config_file)
        ours = [p for p in found if p["matches"]]
        for p in ours:
            if self.jvm_log_dir is None:
                self.jvm_log_dir = proc.jvm_property(p["pid"], "zookeeper.log.dir")
                self.jvm_log_file = proc.jvm_property(p["pid"], "zookeeper.log.file")
        return ours, [p for p in found if not p["matches"]]

    def listening(self):
        """The member's ports (zoo.cfg's server_ports) some process listens on."""
        return sorted(set(self.ports) & set(proc.listening_ports()))

    def in_use(self):
        """(pids of our server, the member's ports held by any process): its server ports
        when its id is known, and clientPort."""
        ours = [p["pid"] for p in proc.find_servers(self.config_file) if p["matches"]]
        ports = set(self.ports) if self.me is not None else set()
        if self.cfg.client_port:
            ports.add(self.cfg.client_port)
        return ours, sorted(ports & set(proc.listening_ports()))

    # --- what the server says ---------------------------------------------------------
    def status(self):
        """The member's status (query()) read at ``address``; 'unknown' without one."""
        if self.address is None:
            return blank_status("unknown", self.me)
        return query(self.address[0], self.address[1], self.me, self.ssl_context,
                     self.timeout, extra=())

    def others(self):
        """The statuses of the other servers in zoo.cfg."""
        targets = [t for t in config_targets(self.cfg, self.me, self.secure) if t[0] != self.me]
        return query_all(targets, self.ssl_context, self.timeout, extra=())

    def highest_zxid(self):
        """The highest zxid of a transaction any serving member reports (None when none
        answers).  A zxid with counter 0 only marks a new epoch whose leader has logged
        nothing yet: the serving members synchronised with it hold everything before."""
        best = None
        targets = config_targets(self.cfg, self.me, self.secure)
        for st in query_all(targets, self.ssl_context, self.timeout, extra=()):
            if st.get("serving") and st.get("zxid"):
                z = zxid_mod.from_record(st["zxid"])
                if zxid_mod.counter(z) and (best is None or z > best):
                    best = z
        return best

    def observe(self):
        """The member's state: ``serving``; ``not_serving`` (the process runs but does not
        serve); ``quiesced`` (no process, no port open); ``ports_busy`` (no process of
        ours, but another one holds the member's ports); with pids, ports and status."""
        ours, foreign = self.processes()
        listening = self.listening()
        st = self.status() if ours else None
        if ours:
            state = "serving" if st["serving"] else "not_serving"
        elif listening:
            state = "ports_busy"
        else:
            state = "quiesced"
        return {"state": state, "pids": [p["pid"] for p in ours], "listening": listening,
                "status": st, "foreign": [{"pid": p["pid"], "config_file": p["config_file"]}
                                          for p in foreign]}


def restart_triggers(cfg, extra=None):
    """Files whose change needs a restart to take effect (those that exist)."""
    conf_dir = os.path.dirname(os.path.abspath(cfg.path)) if cfg.path else None
    paths = [cfg.path] if cfg.path else []
    if conf_dir:
        paths += [os.path.join(conf_dir, n) for n in DEFAULT_RESTART_TRIGGERS]
    paths += list(extra or [])
    seen = []
    for p in paths:
        if p and p not in seen and os.path.isfile(p):
            seen.append(p)
    return seen


def rewritten_by_server(cfg):
    """Whether the member's zoo.cfg was last written by its server (dynamic reconfiguration),
    not by a person or a tool: it has the shape the server gives it (zoo_cfg.rewritten_by_server)
    and was written no later than SERVER_REWRITE_WINDOW seconds after the dynamic file it
    names.  Such a rewrite changes nothing the running server does not already use."""
    if not cfg.path or not cfg.dynamic_path:
        return False
    try:
        with open(cfg.path) as f:
            text = f.read()
        lag = os.stat(cfg.path).st_mtime - os.stat(cfg.dynamic_path).st_mtime
    except (IOError, OSError):
        return False
    return 0 <= lag <= SERVER_REWRITE_WINDOW and zoo_cfg.rewritten_by_server(text)


def restart_pending(started, triggers, rewritten=()):
    """(pending, [files changed since ``started``]); pending is None when unknown.  Files in
    ``rewritten`` (zoo.cfg written by the running server itself) do not count."""
    if started is None:
        return None, []
    newer = []
    for p in triggers:
        if p in rewritten:
            continue
        try:
            if os.stat(p).st_mtime > started:
                newer.append(p)
        except OSError:
            continue
    return bool(newer), newer


def settings_not_running(cfg, running, cwd=None):
    """The settings of zoo.cfg that differ from those the server runs with (``running``, from
    its ``conf`` answer): [{setting, file, running}] in RUNNING_SETTINGS order; None when
    ``running`` is not known.  Only settings zoo.cfg sets are compared (a default the server
    computed, such as the session timeouts from tickTime or -1, is not a change), except
    dataLogDir, whose default is dataDir.  Directories compare without version-2, a relative
    one taken from the server's working directory ``cwd`` (ZooKeeper prints absolute
    paths), not compared without it."""
    if not running or cfg is None or not cfg.path:
        return None
    out = []
    for key in RUNNING_SETTINGS:
        want = cfg.props.get(key)
        if key == "dataLogDir" and not want:
            want = cfg.props.get("dataDir")
        have = running.get(key)
        if want is None or want.strip() == "" or have is None:
            continue
        if key in _TIMEOUT_SETTINGS and (_num(want.strip()) or 0) < 0:
            continue                   # -1: the default, which the server computes from tickTime
        if key in _DIR_SETTINGS:
            if not os.path.isabs(want):
                if not cwd:
                    continue           # relative to a working directory not known
                want = os.path.join(cwd, want)
            same = os.path.normpath(want) == os.path.normpath(_strip_version_dir(have))
        else:
            number = _num(want.strip())
            same = number == _num(have.strip()) if number is not None else want.strip() == have.strip()
        if not same:
            out.append({"setting": key, "file": want, "running": have if key not in _DIR_SETTINGS
                        else _strip_version_dir(have)})
    return out


def local_details(cfg, me, extra_triggers=None):
    """Process, pending restart and on-disk listing of the member on this host."""
    process, others = process_info(cfg.path)
    pid = process["pid"] if process else None
    triggers = restart_triggers(cfg, extra_triggers)
    pending, because = restart_pending(process["started_epoch"] if process else None,
                                       triggers,
                                       [cfg.path] if process and rewritten_by_server(cfg) else [])
    return {
        "process": process,
        "installed": install.installed_release(cfg.path, pid=pid, log_file=server_log.locate(
            None, proc.jvm_property(pid, "zookeeper.log.dir") if pid else None,
            proc.jvm_property(pid, "zookeeper.log.file") if pid else None)),
        "other_server_processes": others,
        "restart_pending": pending,
        "restart_pending_files": because,
        "restart_triggers": triggers,
        "disk": data_files.listing(cfg.data_dir, cfg.data_log_dir),
        "config_file": cfg.path,
        "myid": me,
    }


def _pending_settings(mine, cfg):
    """A zoo.cfg setting the running server does not use is a pending restart, whatever the
    file's time says: an edit a server's own rewrite of zoo.cfg (at a reconfig) followed
    would otherwise look like that rewrite."""
    process = mine.get("process")
    drift = (settings_not_running(cfg, mine.get("running_settings"), proc.working_dir(process["pid"]))
             if process else None)
    mine["restart_pending_settings"] = drift
    if drift:
        mine["restart_pending"] = True
        if cfg.path not in mine["restart_pending_files"]:
            mine["restart_pending_files"] = list(mine["restart_pending_files"]) + [cfg.path]


# --- ensemble report ----------------------------------------------------------------
def _resolve(host):
    try:
        return socket.gethostbyname(host)
    except (socket.error, UnicodeError):
        return None


def map_ids(statuses, cfg):
    """Give statuses without an id the id of the zoo.cfg server at the same address."""
    if cfg is None:
        return
    by_host = {}
    for sid, s in cfg.servers.items():
        for a in s["addresses"]:
            by_host.setdefault(a["host"], sid)
            ip = _resolve(a["host"])
            if ip:
                by_host.setdefault(ip, sid)
    for st in statuses:
        if st["id"] is not None:
            continue
        host = st["address"].rsplit(":", 1)[0].strip("[]")
        sid = by_host.get(host)
        if sid is None:
            ip = _resolve(host)
            sid = by_host.get(ip) if ip else None
        st["id"] = sid


def fill_from_config(st, cfg, local):
    """Directories the member did not tell (conf not whitelisted), from zoo.cfg."""
    if st["data_dir"] is None and cfg is not None and st["mode"] not in ("not_zookeeper",):
        st["data_dir"] = cfg.data_dir
        st["data_log_dir"] = cfg.data_log_dir
        st["data_dir_source"] = "zoo.cfg" if local else "zoo.cfg (local copy)"


def quorum_of(cfg, statuses, me=None):
    """A Quorum from zoo.cfg, else from any member's ``conf`` membership, else None."""
    if cfg is not None and cfg.servers:
        return quorum_mod.Quorum.from_config(cfg)
    if cfg is not None and me is not None:
        return quorum_mod.Quorum([me])          # a standalone server
    for st in statuses:
        if st.get("membership"):
            servers = st["membership"]["servers"]
            return quorum_mod.Quorum([s["id"] for s in servers if s["role"] == "participant"],
                                     [s["id"] for s in servers if s["role"] == "observer"])
    return None


def not_learned_summary(statuses):
    """Readable sentences: what could not be learned, and from which members."""
    groups = {}
    for st in statuses:
        for nl in st["not_learned"]:
            reason = nl["reason"]
            if reason != "not whitelisted" and not reason.startswith("not reported"):
                reason = "failed"
            key = (nl["source"], reason, tuple(nl["fields"]))
            groups.setdefault(key, []).append(st["address"])
    out = []
    for (source, reason, fields), addrs in sorted(groups.items()):
        if reason == "not whitelisted":
            why = "'%s' is not in 4lw.commands.whitelist" % source
        elif reason != "failed":
            why = "'%s' (%s)" % (source, reason)
        else:
            why = "'%s' did not answer" % source
        out.append("%s on %s: unknown %s" % (why, ", ".join(sorted(addrs)), ", ".join(fields)))
    for st in statuses:
        if st["data_dir_source"] == "zoo.cfg (local copy)":
            out.append("%s: dataDir and dataLogDir are those of the local zoo.cfg, not told by "
                       "the member ('conf' not whitelisted)" % st["address"])
    return out


def report(cfg=None, me=None, hosts=None, ssl_context=None, timeout=5.0, secure=False,
           extra_triggers=None, local=True):
    """The zk_info result: members, the local member, the ensemble view, what is unknown.

    ``hosts`` (['host:port', ...]) are queried when given, else every server of ``cfg``.
    """
    if hosts:
        targets = []
        for hp in hosts:
            host, port = four_letter.split_hostport(hp)
            targets.append((None, host, port))
    else:
        targets = config_targets(cfg, me, secure)
    statuses = query_all(targets, ssl_context, timeout)
    map_ids(statuses, cfg)
    mine = None
    for st in statuses:
        is_local = cfg is not None and me is not None and st["id"] == me
        fill_from_config(st, cfg, is_local)
        if is_local and mine is None:
            mine = st
    result = {"members": statuses, "member": None, "config": cfg.summary() if cfg else None}
    if cfg is not None and local:
        details = local_details(cfg, me, extra_triggers)
        if mine is None:
            ep = cfg.client_endpoint(me, local=True, secure=secure)
            mine = blank_status(address_of(*ep) if ep else "local", me)
            fill_from_config(mine, cfg, True)
            mine["error"] = "not queried: this member is not among hosts"
        mine = dict(mine)
        mine.update(details)
        _pending_settings(mine, cfg)
        result["member"] = mine
    result["ensemble"] = quorum_mod.summarize(statuses, quorum_of(cfg, statuses, me))
    result["not_learned"] = not_learned_summary(statuses)
    if not hosts and cfg is not None:
        asked = set(t[0] for t in targets)
        for sid in sorted(set(cfg.servers) - asked):
            result["not_learned"].append(
                "server.%d was not asked: %s gives it no client port (zoo.cfg has no %s and "
                "its server line none after ';'); give its server line its client port"
                % (sid, cfg.dynamic_path or cfg.path or "the configuration",
                   "secureClientPort" if secure else "clientPort"))
    if result["ensemble"]["voters"] is None:
        result["not_learned"].append(
            "the membership is unknown (no zoo.cfg read and 'conf' not whitelisted): "
            "'quorum' only says whether a leader serves")
    return result
