# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a ZooKeeper server configuration (zoo.cfg) the way the server does.

zoo.cfg is a Java properties file.  Since 3.5 the membership may live in a separate
``dynamicConfigFile`` (server.N, group.N, weight.N and version lines); both are read.
A server line is ``server.N=host:quorumPort:electionPort[:role][|more addresses]`` with
an optional ``;[clientAddress:]clientPort``.  ``dataLogDir`` defaults to ``dataDir``.

Only a fixed set of harmless settings is ever returned by ``ZooCfg.summary()``: zoo.cfg
can hold key store passwords.  ``redact()`` gives the text of a zoo.cfg with the value of
every setting that may carry a secret replaced, reading lines as java.util.Properties
does (``=``, ``:`` or whitespace between key and value, ``#`` and ``!`` comments, a line
ending in an odd number of backslashes continuing on the next, escapes in keys), so that
neither a continued value nor an escaped key slips through.  Pure standard library.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

DEFAULT_CONFIG_FILE = "/etc/zookeeper/conf/zoo.cfg"
PARTICIPANT = "participant"
OBSERVER = "observer"
# What ZooKeeper whitelists when 4lw.commands.whitelist is not set.
DEFAULT_4LW_WHITELIST = ("srvr",)
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0")

# Settings that summary() may return.  Anything else (ssl.*.password, ...) stays inside.
_SUMMARY_KEYS = (
    "tickTime", "initLimit", "syncLimit", "maxClientCnxns", "minSessionTimeout",
    "maxSessionTimeout", "snapCount", "autopurge.snapRetainCount", "autopurge.purgeInterval",
    "snapshot.compression.method", "standaloneEnabled", "reconfigEnabled",
    "admin.enableServer", "extendedTypesEnabled", "electionAlg", "peerType",
)


# Settings whose values may be secrets: passwords of key and trust stores (ssl.*.password,
# ssl.quorum.*.password, with or without the zookeeper. prefix), the super user's digest
# (DigestAuthenticationProvider.superDigest), credentials, tokens, private keys and JAAS
# configurations given inline.  Matched, case-insensitively, against the unescaped key.
_SECRET_KEY = re.compile(r"(?i)(passw|passphrase|pwd|secret|digest|credential|token|private.?key|jaas|sasl\.)")
REDACTED = "********"
# java.util.Properties ends a line at \n, \r or \r\n only (str.splitlines() also splits
# at \f, \v and others, which Properties keeps inside a line).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class ZooCfgError(Exception):
    pass


def _logical_lines(lines):
    """(first, end, line) for each logical line of the physical ``lines`` (lines[first:end]);
    ``line`` is None for blank lines and comments, else the logical line with its leading
    white space and continuations removed."""
    i = 0
    while i < len(lines):
        first = i
        line = lines[i].lstrip(" \t\f")
        i += 1
        if not line or line[0] in "#!":
            # A comment never continues, whatever it ends with.
            yield first, i, None
            continue
        # Continuation: an odd number of trailing backslashes joins the next line.
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip(" \t\f")
            i += 1
        if _continues(line):
            line = line[:-1]
        yield first, i, line


def parse_properties(text):
    """Java properties text -> dict (later keys win; values are trimmed like ZooKeeper)."""
    out = {}
    for _first, _end, line in _logical_lines(_LINE_BREAK.split(text)):
        if line is None:
            continue
        key, value = _split_key_value(line)
        out[_unescape(key)] = _unescape(value).strip()
    return out


def is_secret_key(key):
    """Whether the setting ``key`` (unescaped) may hold a secret."""
    return bool(_SECRET_KEY.search(key))


def redact(text):
    """zoo.cfg ``text`` with every setting that may hold a secret written ``key=********``
    (all the physical lines of a continued value go); every other line is kept as it is."""
    lines = _LINE_BREAK.split(text)
    out = []
    for first, end, line in _logical_lines(lines):
        if line is not None:
            key, _value = _split_key_value(line)
            if is_secret_key(_unescape(key)):
                out.append("%s=%s" % (key, REDACTED))
                continue
        out.extend(lines[first:end])
    return "\n".join(out)


def _continues(line):
    n = len(line) - len(line.rstrip("\\"))
    return n % 2 == 1


def _split_key_value(line):
    j = 0
    while j < len(line):
        c = line[j]
        if c == "\\":
            j += 2
            continue
        if c in "=: \t\f":
            break
        j += 1
    key = line[:j]
    rest = line[j:]
    if rest[:1] in (" ", "\t", "\f"):
        # 'key   = value' or 'key value'
        rest = rest.lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:]
    elif rest:
        rest = rest[1:]
    rest = rest.lstrip(" \t\f")
    return key, rest


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(s):
    if "\\" not in s:
        return s
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "u" and re.match(r"[0-9a-fA-F]{4}$", s[i + 2:i + 6]):
                out.append(chr(int(s[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _host_port(text, what):
    """'host:port', '[v6]:port' -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, dummy, rest = text[1:].partition("]")
        if not rest.startswith(":"):
            raise ZooCfgError("%s: expected [address]:port in %r" % (what, text))
        return host, _port(rest[1:], what)
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ZooCfgError("%s: expected host:port in %r" % (what, text))
    return host, _port(port, what)


def _port(text, what):
    try:
        p = int(text)
    except ValueError:
        raise ZooCfgError("%s: %r is not a port number" % (what, text))
    if not 0 < p < 65536:
        raise ZooCfgError("%s: port %d is out of range" % (what, p))
    return p


def parse_server(sid, value):
    """One ``server.N`` value -> a dict (see ZooCfg.servers)."""
    what = "server.%d" % sid
    server_part, dummy, client_part = value.partition(";")
    addresses = []
    role = None
    for addr in server_part.split("|"):
        addr = addr.strip()
        if addr.startswith("["):
            host, dummy, rest = addr[1:].partition("]")
            parts = [host] + rest.lstrip(":").split(":") if rest else [host]
        else:
            parts = addr.split(":")
        if len(parts) not in (3, 4):
            raise ZooCfgError("%s=%s: expected host:quorumPort:electionPort[:role]"
                              % (what, value))
        if len(parts) == 4:
            r = parts[3].strip().lower()
            if r not in (PARTICIPANT, OBSERVER):
                raise ZooCfgError("%s=%s: role must be participant or observer, not %r"
                                  % (what, value, parts[3]))
            if role is not None and r != role:
                raise ZooCfgError("%s=%s: addresses disagree on the role" % (what, value))
            role = r
        addresses.append({"host": parts[0].strip(),
                          "quorum_port": _port(parts[1], what),
                          "election_port": _port(parts[2], what)})
    client_host = client_port = None
    if client_part.strip():
        cp = client_part.strip()
        if ":" in cp.replace("[", "").replace("]", "") or cp.startswith("["):
            client_host, client_port = _host_port(cp, what)
        else:
            client_port = _port(cp, what)
    first = addresses[0]
    return {"id": sid, "host": first["host"], "quorum_port": first["quorum_port"],
            "election_port": first["election_port"], "addresses": addresses,
            "role": role or PARTICIPANT, "client_address": client_host,
            "client_port": client_port}


def _id_suffix(key, prefix):
    try:
        return int(key[len(prefix):])
    except ValueError:
        raise ZooCfgError("%s: the part after %r must be a number" % (key, prefix))


def _bool(value, default):
    if value is None:
        return default
    return value.strip().lower() == "true"


class ZooCfg:
    """A parsed zoo.cfg (and its dynamic configuration file)."""

    def __init__(self, props, path=None, dynamic_props=None, dynamic_path=None):
        self.path = path
        self.props = props
        self.dynamic_path = dynamic_path
        merged = dict(props)
        merged.update(dynamic_props or {})
        self.servers = {}
        self.groups = {}
        self.weights = {}
        for key, value in merged.items():
            if key.startswith("server."):
                sid = _id_suffix(key, "server.")
                self.servers[sid] = parse_server(sid, value)
            elif key.startswith("group."):
                gid = _id_suffix(key, "group.")
                try:
                    self.groups[gid] = [int(x) for x in value.split(":") if x.strip()]
                except ValueError:
                    raise ZooCfgError("%s=%s: expected server ids separated by ':'"
                                      % (key, value))
            elif key.startswith("weight."):
                try:
                    self.weights[_id_suffix(key, "weight.")] = int(value)
                except ValueError:
                    raise ZooCfgError("%s=%s: the weight must be a number" % (key, value))
        self.dynamic_version = (dynamic_version_of(dynamic_path)
                                or (dynamic_props or {}).get("version") or props.get("version"))
        self.data_dir = props.get("dataDir") or None
        self.data_log_dir = props.get("dataLogDir") or self.data_dir
        self.client_port = self._int("clientPort")
        self.client_port_address = props.get("clientPortAddress") or None
        self.secure_client_port = self._int("secureClientPort")
        self.secure_client_port_address = props.get("secureClientPortAddress") or None
        wl = props.get("4lw.commands.whitelist")
        if wl is None:
            self.fourlw_whitelist = list(DEFAULT_4LW_WHITELIST)
            self.fourlw_whitelist_set = False
        else:
            self.fourlw_whitelist = [w.strip() for w in wl.split(",") if w.strip()]
            self.fourlw_whitelist_set = True

    def _int(self, key):
        v = self.props.get(key)
        if v is None or v == "":
            return None
        try:
            return int(v)
        except ValueError:
            raise ZooCfgError("%s=%s in %s is not a number" % (key, v, self.path or "zoo.cfg"))

    # --- membership -------------------------------------------------------------------
    @property
    def voters(self):
        return sorted(s for s, v in self.servers.items() if v["role"] == PARTICIPANT)

    @property
    def observers(self):
        return sorted(s for s, v in self.servers.items() if v["role"] == OBSERVER)

    @property
    def standalone(self):
        """True when the server runs standalone (no ensemble)."""
        if not self.servers:
            return True
        return (len(self.servers) == 1 and
                _bool(self.props.get("standaloneEnabled"), True))

    def whitelisted(self, cmd):
        """True/False for a four-letter word according to this file (the JVM may override)."""
        return "*" in self.fourlw_whitelist or cmd in self.fourlw_whitelist

    def client_endpoint(self, sid=None, local=False, secure=False):
        """(host, port) where server ``sid`` serves clients, or None when unknown.

        ``local`` prefers clientPortAddress (this file describes the local server).
        """
        s = self.servers.get(sid) if sid is not None else None
        if secure:
            port = self.secure_client_port
            addr = self.secure_client_port_address if local else None
            if not port:
                return None
            host = addr if addr not in WILDCARD_ADDRESSES and addr else None
        else:
            port = (s or {}).get("client_port") or self.client_port
            addr = (s or {}).get("client_address")
            if local and self.client_port_address:
                addr = self.client_port_address
            if not port:
                return None
            host = addr if addr and addr not in WILDCARD_ADDRESSES else None
        if host is None:
            if s is not None:
                host = s["host"]
            elif local:
                host = "127.0.0.1"
            else:
                return None
        return host, port

    def server_ports(self, sid):
        """Every TCP port server ``sid`` listens on (client, secure, quorum, election)."""
        ports = set()
        s = self.servers.get(sid)
        if s:
            for a in s["addresses"]:
                ports.add(a["quorum_port"])
                ports.add(a["election_port"])
            if s.get("client_port"):
                ports.add(s["client_port"])
        for p in (self.client_port, self.secure_client_port):
            if p:
                ports.add(p)
        return ports

    def summary(self):
        """What zk_info returns about the file: no secrets, only known settings."""
        settings = dict((k, self.props[k]) for k in _SUMMARY_KEYS if k in self.props)
        return {
            "path": self.path,
            "dynamic_config_file": self.dynamic_path,
            "data_dir": self.data_dir,
            "data_log_dir": self.data_log_dir,
            "client_port": self.client_port,
            "client_port_address": self.client_port_address,
            "secure_client_port": self.secure_client_port,
            "fourlw_whitelist": self.fourlw_whitelist,
            "servers": [dict(self.servers[s], addresses=list(self.servers[s]["addresses"]))
                        for s in sorted(self.servers)],
            "voters": self.voters,
            "observers": self.observers,
            "groups": dict((str(g), v) for g, v in sorted(self.groups.items())),
            "weights": dict((str(s), w) for s, w in sorted(self.weights.items())),
            "settings": settings,
        }


def dynamic_version_of(path):
    """The configuration version in the name of a dynamic file (``zoo.cfg.dynamic.100000000``
    -> ``'100000000'``, hex without leading zeros), or None.  The server keeps the version in
    the name only: it writes none into the file and refuses a file that holds one."""
    if not path:
        return None
    suffix = os.path.basename(path).rpartition(".")[2]
    try:
        return "%x" % int(suffix, 16) if suffix else None
    except ValueError:
        return None


def parse(text, path=None, dynamic_text=None, dynamic_path=None):
    props = parse_properties(text)
    dyn = parse_properties(dynamic_text) if dynamic_text is not None else None
    return ZooCfg(props, path=path, dynamic_props=dyn, dynamic_path=dynamic_path)


def rewritten_by_server(text):
    """Whether zoo.cfg ``text`` has the shape of one that a ZooKeeper server with dynamic
    reconfiguration wrote itself.  Such a server writes each new configuration (at the first
    election of its ensemble, at every reconfig) to a dynamic file, then writes zoo.cfg anew:
    its settings as ``key=value`` lines without comments or continuations, the server lines
    left out, and last ``dynamicConfigFile=`` naming that file (QuorumPeerConfig's
    editStaticConfig).  ``reconfigEnabled`` is true in it."""
    lines = _LINE_BREAK.split(text)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or not lines[-1].startswith("dynamicConfigFile="):
        return False
    for line in lines:
        key, sep, value = line.partition("=")
        if (not sep or not key or key[0] in "#!" or key.split() != [key]
                or value != value.strip() or _continues(line)
                or key.startswith(("server.", "group.", "weight."))):
            return False
    return _bool(parse_properties(text).get("reconfigEnabled"), False)


def _read(path, what):
    try:
        with open(path, "r") as f:
            return f.read()
    except IOError as exc:
        if not os.path.exists(path):
            raise ZooCfgError("%s %s does not exist" % (what, path))
        raise ZooCfgError("cannot read %s %s: %s" % (what, path, exc.strerror or exc))


def member_files_argument_spec():
    """config_file, data_dir and data_log_dir of the member a module runs on, documented once
    in the doc fragment ``zkops.zookeeper.member_files``."""
    return dict(config_file=dict(type="path", default=DEFAULT_CONFIG_FILE),
                data_dir=dict(type="path"),
                data_log_dir=dict(type="path"))


def load(path=DEFAULT_CONFIG_FILE):
    """Read zoo.cfg and its dynamic configuration file; raise ZooCfgError with a reason."""
    if os.path.isdir(path):
        raise ZooCfgError("%s is a directory; give the path of the zoo.cfg file in it" % path)
    text = _read(path, "the ZooKeeper configuration file")
    props = parse_properties(text)
    dyn_path = props.get("dynamicConfigFile")
    dyn_text = None
    if dyn_path:
        if not os.path.isabs(dyn_path):
            dyn_path = os.path.join(os.path.dirname(os.path.abspath(path)), dyn_path)
        dyn_text = _read(dyn_path, "the dynamic configuration file named in %s," % path)
    cfg = parse(text, path=path, dynamic_text=dyn_text, dynamic_path=dyn_path)
    if not cfg.data_dir:
        raise ZooCfgError("%s does not set dataDir: is it a ZooKeeper server "
                          "configuration?" % path)
    return cfg


def read_myid(data_dir):
    """The server id in ``data_dir``/myid, or None when there is none."""
    path = os.path.join(data_dir, "myid")
    try:
        with open(path) as f:
            text = f.read().strip()
    except IOError:
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        raise ZooCfgError("%s does not hold a server id (found %r)" % (path, text[:40]))
