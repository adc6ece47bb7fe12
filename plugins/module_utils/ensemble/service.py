# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start and stop the local ZooKeeper server through its service manager.

``auto`` picks, in order: the given start/stop commands; systemd when the host runs it and
knows the unit; the sysv init script /etc/init.d/NAME.  The manager's exit status is not
trusted to mean "running" or "stopped" (Debian's init script exits 0 even when the JVM dies
at once): callers confirm with the process table and the ports (see ensemble/proc.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shlex

SYSTEMD = "systemd"
SYSV = "sysv"
COMMAND = "command"
MANAGERS = ("auto", SYSTEMD, SYSV, COMMAND)


def argument_spec():
    """The options that say how to start the server, documented once in the doc fragment
    ``zkops.zookeeper.service`` (a module that also stops it adds ``stop_command``)."""
    return dict(service_manager=dict(type="str", default="auto", choices=list(MANAGERS)),
                service_name=dict(type="str", default="zookeeper"),
                start_command=dict(type="raw"))


class ServiceError(Exception):
    def __init__(self, msg, result=None):
        super(ServiceError, self).__init__(msg)
        self.result = result or {}


def _argv(cmd):
    if cmd is None:
        return None
    if isinstance(cmd, (list, tuple)):
        return [str(c) for c in cmd]
    return shlex.split(cmd)


class Service:
    """One service: ``run_command(argv) -> (rc, stdout, stderr)`` runs commands;
    ``get_bin_path(name) -> path or None`` finds programs."""

    def __init__(self, run_command, get_bin_path, manager="auto", name="zookeeper",
                 start_command=None, stop_command=None, systemd_dir="/run/systemd/system",
                 init_dir="/etc/init.d"):
        if manager not in MANAGERS:
            raise ServiceError("unknown service manager %r (choose from %s)"
                               % (manager, ", ".join(MANAGERS)))
        self._run = run_command
        self._which = get_bin_path
        self.requested = manager
        self.name = name
        self.start_command = _argv(start_command)
        self.stop_command = _argv(stop_command)
        self.systemd_dir = systemd_dir
        self.init_script = os.path.join(init_dir, name)
        self._kind = None

    @property
    def kind(self):
        if self._kind is None:
            self._kind = self.detect()
        return self._kind

    def detect(self):
        if self.requested == COMMAND or (self.requested == "auto" and self.start_command
                                         and self.stop_command):
            if not (self.start_command and self.stop_command):
                raise ServiceError("service_manager=command needs both start_command and "
                                   "stop_command")
            return COMMAND
        if self.requested in ("auto", SYSTEMD) and self._systemd_knows_unit():
            return SYSTEMD
        if self.requested == SYSTEMD:
            raise ServiceError("systemd does not run on this host or has no unit %r "
                               "(systemctl show %s: LoadState is not 'loaded'); set "
                               "service_name to the unit's name or choose another "
                               "service_manager" % (self.name, self.name))
        if os.access(self.init_script, os.X_OK):
            return SYSV
        if self.requested == SYSV:
            raise ServiceError("there is no executable init script %s; set service_name, "
                               "or service_manager=command with start_command and "
                               "stop_command" % self.init_script)
        raise ServiceError(
            "found no way to start and stop ZooKeeper service %r: no systemd unit of that "
            "name, no init script %s. Set service_name to the right name, or "
            "service_manager=command with start_command and stop_command"
            % (self.name, self.init_script))

    def _systemd_knows_unit(self):
        if not os.path.isdir(self.systemd_dir):
            return False
        systemctl = self._which("systemctl")
        if not systemctl:
            return False
        rc, out, dummy = self._run([systemctl, "show", "--property=LoadState", self.name])
        return rc == 0 and out.strip() == "LoadState=loaded"

    def command(self, action):
        """The argv that performs ``action`` ('start' or 'stop')."""
        kind = self.kind
        if kind == COMMAND:
            return list(self.start_command if action == "start" else self.stop_command)
        if kind == SYSTEMD:
            return [self._which("systemctl") or "systemctl", action, self.name]
        service = self._which("service")
        if service:
            return [service, self.name, action]
        return [self.init_script, action]

    def _do(self, action):
        argv = self.command(action)
        rc, out, err = self._run(argv)
        result = {"cmd": argv, "rc": rc, "stdout": out, "stderr": err}
        if rc != 0:
            raise ServiceError("'%s' exited %d: %s" % (" ".join(argv), rc,
                                                       (err or out or "").strip()[-500:]),
                               result)
        return result

    def start(self):
        return self._do("start")

    def stop(self):
        return self._do("stop")
