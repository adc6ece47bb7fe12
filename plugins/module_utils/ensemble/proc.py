# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local ZooKeeper server process and the TCP ports this host listens on, from /proc.

Whatever started the server (systemd, an init script, zkServer.sh, a container
entrypoint), its JVM runs one of ZooKeeper's main classes with the configuration file as
its argument; that is how the process is found.  Command lines are never returned: JVM
options can carry key store passwords.  Linux only; pure standard library.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

MAIN_CLASSES = ("org.apache.zookeeper.server.quorum.QuorumPeerMain",
                "org.apache.zookeeper.server.ZooKeeperServerMain")
PROC = "/proc"
_LISTEN = "0A"


def _root(proc):
    return proc or PROC


def _read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def _cmdline(pid, proc=None):
    try:
        raw = _read(os.path.join(_root(proc), str(pid), "cmdline"), "rb")
    except (IOError, OSError):
        return None
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def command_line(pid, proc=None):
    """The arguments of ``pid`` (None when it cannot be read), for reading one option: never
    return or log them, JVM options can carry passwords."""
    return _cmdline(pid, proc)


def working_dir(pid, proc=None):
    """The working directory of ``pid`` (None when it cannot be read)."""
    try:
        return os.readlink(os.path.join(_root(proc), str(pid), "cwd"))
    except OSError:
        return None


def server_args(argv):
    """(main class, arguments after it) of a ZooKeeper JVM command line, or None."""
    for i, a in enumerate(argv or ()):
        if a in MAIN_CLASSES:
            return a, argv[i + 1:]
    return None


def _same_file(a, b):
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (TypeError, ValueError):
        return False


def find_servers(config_file=None, proc=None):
    """ZooKeeper server processes on this host, by pid.

    Each is {'pid', 'main_class', 'config_file', 'matches', 'started'}; ``matches`` tells
    whether the process runs with ``config_file`` (same file after resolving symlinks and
    relative paths).
    """
    found = []
    try:
        entries = os.listdir(_root(proc))
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        sa = server_args(_cmdline(entry, proc))
        if not sa:
            continue
        main, rest = sa
        pid = int(entry)
        if not alive(pid, proc):
            continue
        cfg = rest[0] if rest else None
        if cfg and not os.path.isabs(cfg):
            cwd = working_dir(entry, proc)
            if cwd is not None:
                cfg = os.path.join(cwd, cfg)
        found.append({"pid": pid, "main_class": main, "config_file": cfg,
                      "matches": bool(config_file and cfg and _same_file(cfg, config_file)),
                      "started": start_time(pid, proc)})
    return sorted(found, key=lambda p: p["pid"])


def jvm_property(pid, name, proc=None):
    """The value of ``-D<name>=`` on the command line of ``pid`` (None when absent)."""
    prefix = "-D%s=" % name
    for a in _cmdline(pid, proc) or ():
        if a.startswith(prefix):
            return a[len(prefix):]
    return None


def alive(pid, proc=None):
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = _read(os.path.join(_root(proc), str(pid), "stat"))
    except (IOError, OSError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def start_time(pid, proc=None, now=time.time):
    """When ``pid`` started, as a Unix time (float), or None.

    The process's age is measured on the boot clock (its start tick against
    /proc/uptime) and subtracted from the current time, so that the result compares with
    file modification times even when the wall clock has been stepped since boot.
    """
    try:
        stat = _read(os.path.join(_root(proc), str(pid), "stat"))
        uptime = float(_read(os.path.join(_root(proc), "uptime")).split()[0])
    except (IOError, OSError, ValueError, IndexError):
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    # fields[0] is field 3 of stat (state); the start time is field 22, in clock ticks.
    try:
        ticks = int(fields[19])
    except (IndexError, ValueError):
        return None
    age = max(0.0, uptime - ticks / float(os.sysconf("SC_CLK_TCK")))
    return now() - age


def listening_ports(proc=None):
    """{port: [local address, ...]} of the TCP sockets in LISTEN state in this network
    namespace (IPv4 and IPv6)."""
    out = {}
    for name in ("tcp", "tcp6"):
        try:
            text = _read(os.path.join(_root(proc), "net", name))
        except (IOError, OSError):
            continue
        for line in text.splitlines()[1:]:
            parts = line.split()
            if len(parts) < 4 or parts[3] != _LISTEN:
                continue
            addr, dummy, port = parts[1].rpartition(":")
            try:
                out.setdefault(int(port, 16), []).append(_decode_addr(addr))
            except ValueError:
                continue
    return out


def _decode_addr(hexaddr):
    if len(hexaddr) == 8:
        b = bytes(bytearray.fromhex(hexaddr))[::-1]
        return ".".join(str(x) for x in bytearray(b))
    # IPv6: four little-endian 32-bit words.
    raw = bytearray()
    for i in range(0, 32, 8):
        raw += bytearray.fromhex(hexaddr[i:i + 8])[::-1]
    groups = ["%x" % ((raw[i] << 8) | raw[i + 1]) for i in range(0, 16, 2)]
    return ":".join(groups)


def wait_gone(pids, ports, timeout, proc=None, interval=0.1, clock=time.time,
              sleep=time.sleep):
    """Wait until none of ``pids`` is alive and none of ``ports`` listens.

    Returns (done, alive pids, listening ports) as last seen.
    """
    deadline = clock() + timeout
    while True:
        left = [p for p in pids if alive(p, proc)]
        listening = sorted(set(ports) & set(listening_ports(proc)))
        if not left and not listening:
            return True, left, listening
        if clock() >= deadline:
            return False, left, listening
        sleep(interval)
