# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH connections to storage hosts with paramiko: strict host keys, key authentication.

Knows nothing of what is stored.  Every module that reaches a backup host takes
``ssh_argument_spec()`` (documented once in the ``zkops.zookeeper.ssh`` doc fragment)
and calls ``connect()``, which returns an ``SshSession`` with an SFTP client and a way to
run a command.  Host keys are checked against a known_hosts file with paramiko's
RejectPolicy unless the user turns checking off: an unknown or changed host key fails
before authentication, so nothing is sent to a host that is not the one expected.

Works with paramiko 2.12 (Debian 12) and current releases.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import io
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import traceback

PARAMIKO_IMP_ERR = None
try:
    import paramiko
    import paramiko.common
    HAS_PARAMIKO = True
except ImportError:  # pragma: no cover - depends on the host
    paramiko = None
    PARAMIKO_IMP_ERR = traceback.format_exc()
    HAS_PARAMIKO = False

_ARGSPEC = dict(
    ssh_user=dict(type="str", default="root"),
    ssh_port=dict(type="int", default=22),
    ssh_private_key_file=dict(type="path"),
    ssh_private_key=dict(type="str", no_log=True),
    ssh_private_key_passphrase=dict(type="str", no_log=True),
    ssh_known_hosts_file=dict(type="path", default="~/.ssh/known_hosts"),
    ssh_host_key_checking=dict(type="bool", default=True),
    ssh_connect_timeout=dict(type="float", default=10.0),
    ssh_timeout=dict(type="float", default=60.0),
)
MUTUALLY_EXCLUSIVE = [("ssh_private_key_file", "ssh_private_key")]

# Large SFTP windows: the receiving side of a push is the storage host's, but the
# client's own window matters for reads (catalog, restores).
WINDOW_SIZE = 1 << 27
MAX_PACKET_SIZE = 1 << 15
# AES-GCM encrypts and authenticates in one pass (AES-NI and carry-less multiplication
# in OpenSSL, through cryptography): less CPU on both ends than paramiko's default
# aes128-ctr with hmac-sha2-256.  paramiko offers it from 3.5 on, after the others.
AEAD_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def ssh_argument_spec():
    """A fresh copy of the common SSH options; modules .update() it with their own."""
    return copy.deepcopy(_ARGSPEC)


class SshError(Exception):
    """An SSH problem, with the host it concerns and a message that says what to do."""

    def __init__(self, host, message):
        super(SshError, self).__init__("%s: %s" % (host, message))
        self.host = host
        self.reason = message


def require_paramiko(module):
    if not HAS_PARAMIKO:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib(
            "paramiko", reason="to reach backup hosts over SSH (apt install python3-paramiko, or pip install paramiko)"),
            exception=PARAMIKO_IMP_ERR)


def _fast_bytes(s, encoding="utf8"):
    if isinstance(s, bytes):
        return s
    if isinstance(s, str):
        return s.encode(encoding)
    raise TypeError("Expected unicode or bytes, got %s" % type(s))


def _speed_up_old_paramiko():
    """paramiko before 3.0 formats repr() of every 32 KiB message into an exception it
    then discards (common.asbytes -> py3compat.b), which makes SFTP three times slower.
    Give it a b() whose error message names only the type; behaviour is unchanged."""
    version = getattr(paramiko, "__version_info__", (3,))
    if version < (3,) and getattr(paramiko.common, "b", None) is not None:
        paramiko.common.b = _fast_bytes


if HAS_PARAMIKO:
    _speed_up_old_paramiko()


def prefer_aead(transport):
    """Move an open connection to AES-GCM when this paramiko has it and the host offers
    it (a new key exchange with AES-GCM first in the list, the rest after it); else
    leave it as it is.  Returns the cipher in use."""
    opts = transport.get_security_options()
    current = tuple(opts.ciphers)
    fast = tuple(c for c in AEAD_CIPHERS if c in current)
    if not fast or transport.local_cipher in fast:
        return transport.local_cipher
    opts.ciphers = fast + tuple(c for c in current if c not in fast)
    transport.renegotiate_keys()
    return transport.local_cipher


def split_host(text, default_port):
    """'host', 'host:port', '[v6]:port' or 'user@host...' -> (user or None, host, port)."""
    user = None
    if "@" in text:
        user, text = text.rsplit("@", 1)
    if text.startswith("["):
        host, _sep, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not host:
        raise ValueError("no host name in %r" % text)
    try:
        return user, host, int(port) if port else default_port
    except ValueError:
        raise ValueError("%r is not a port number in %r" % (port, text))


_KEY_TYPES = ("Ed25519Key", "ECDSAKey", "RSAKey", "DSSKey")


def parse_private_key(text, passphrase, what):
    """The paramiko key in ``text`` (OpenSSH or PEM format); raises SshError saying that
    ``what`` is not a valid key, never showing any of it.

    paramiko raises more than SSHException on malformed keys (AssertionError, ValueError,
    IndexError, TypeError, struct.error, cryptography's exceptions): every one of them only
    means that the text is not a key of the type tried."""
    for name in _KEY_TYPES:
        cls = getattr(paramiko, name, None)
        if cls is None:
            continue
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.PasswordRequiredException:
            raise SshError("-", "%s is encrypted: give ssh_private_key_passphrase" % what)
        except Exception:  # pylint: disable=broad-except
            continue
    raise SshError("-", "%s is not a valid private key of any supported type (OpenSSH or PEM format of an "
                        "ed25519, ECDSA or RSA key), or the passphrase is wrong" % what)


def _load_key(params):
    """The private key from ssh_private_key (content), or None to use the key file."""
    text = params.get("ssh_private_key")
    if not text:
        return None
    return parse_private_key(text, params.get("ssh_private_key_passphrase"), "ssh_private_key")


def _check_key_file(path, passphrase):
    """Raise SshError unless the key file ``path`` holds a key paramiko can use."""
    try:
        with open(path, "r") as f:
            text = f.read(1 << 20)
    except (IOError, OSError, ValueError) as exc:
        raise SshError("-", "cannot read the private key file %s (ssh_private_key_file): %s"
                       % (path, getattr(exc, "strerror", None) or exc.__class__.__name__))
    parse_private_key(text, passphrase, "the private key file %s (ssh_private_key_file)" % path)


def open_socket(host, port, timeout, stall):
    """A TCP connection whose sends fail once data stays unacknowledged for ``stall``
    seconds (TCP_USER_TIMEOUT, Linux): paramiko retries a blocked send forever, so without
    it a host cut off in the middle of a transfer would hang the transfer."""
    sock = socket.create_connection((host, port), timeout)
    user_timeout = getattr(socket, "TCP_USER_TIMEOUT", None)
    if user_timeout is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, user_timeout, int(stall * 1000))
        except (OSError, socket.error):
            pass
    return sock


# What OpenSSH's ssh runs on the storage host to receive a file (transport/push.py,
# _PipeLane): read the file's path from the first line, say that the login worked and the
# path came, then write the rest to the file.
PIPE_READY = b"zkops-ready"
PIPE_COMMAND = 'IFS= read -r p && echo zkops-ready && exec cat > "$p"'

# Characters OpenSSH takes apart in a path given as an option (whitespace splits a list of
# files, quotes group, '%' and a leading '~' are expanded): such paths go through paramiko.
_OPENSSH_UNSAFE = set(' \t\n\r"\'%\\')


def openssh_argv(params, user, host, port):
    """(argv, None) of OpenSSH's ``ssh`` client logging in to ``host`` as ``paramiko`` does
    (the same known_hosts file and strict host key checking, the same key file, no
    configuration file, no agent, no forwarding), the remote command to be appended; or
    (None, why) when the options need paramiko: no ``ssh`` program, a key given as text or
    with a passphrase, host key checking off, or a path OpenSSH would take apart."""
    program = shutil.which("ssh")
    if program is None:
        return None, "this host has no ssh program (OpenSSH client)"
    if not params.get("ssh_host_key_checking", True):
        return None, "ssh_host_key_checking is off"
    if params.get("ssh_private_key") or params.get("ssh_private_key_passphrase"):
        return None, "the private key is given as text or with a passphrase"
    known = os.path.expanduser(params.get("ssh_known_hosts_file") or "~/.ssh/known_hosts")
    key_file = params.get("ssh_private_key_file")
    key_file = os.path.expanduser(key_file) if key_file else None
    for path in (known, key_file):
        if path is not None and (_OPENSSH_UNSAFE & set(path) or not os.path.isabs(path)):
            return None, "the path %s holds characters OpenSSH would expand or split" % path
    if host.startswith("-") or _OPENSSH_UNSAFE & set(host) or _OPENSSH_UNSAFE & set(user) or user.startswith("-"):
        return None, "the host or user name holds characters OpenSSH would take apart"
    connect_timeout = int(max(1, params.get("ssh_connect_timeout") or 10.0))
    # A host cut off is noticed after about ssh_timeout: keepalives every third of it, three unanswered.
    alive = int(max(1, (params.get("ssh_timeout") or 60.0) / 3))
    argv = [program, "-F", "/dev/null", "-T", "-x", "-a",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=%s" % known, "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "CheckHostIP=no", "-o", "UpdateHostKeys=no", "-o", "IdentitiesOnly=yes",
            "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
            "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ClearAllForwardings=yes",
            "-o", "Compression=no", "-o", "ConnectTimeout=%d" % connect_timeout,
            "-o", "ServerAliveInterval=%d" % alive, "-o", "ServerAliveCountMax=3"]
    if key_file:
        argv += ["-i", key_file]
    argv += ["-p", str(port), "-l", user, "--", host]
    return argv, None


class SshSession:
    """One authenticated SSH connection: ``sftp`` and ``run()``; ``openssh``, when set, is the
    command line of OpenSSH's ssh client to the same host (openssh_argv)."""

    def __init__(self, label, client, timeout, openssh=None):
        self.label = label
        self.client = client
        self.timeout = timeout
        self.openssh = openssh
        self._pipe = None
        self._sftp = None
        self._more_sftp = []
        self._sftp_refused = False

    def _open_sftp(self):
        sftp = paramiko.SFTPClient.from_transport(
            self.client.get_transport(), window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET_SIZE)
        if sftp is None:
            raise paramiko.SSHException("the host opened no SFTP channel")
        sftp.get_channel().settimeout(self.timeout)
        return sftp

    def open_sftp(self):
        """Open ``sftp`` now; False when the host did not open it (``sftp`` tries again)."""
        try:
            return self.sftp is not None
        except (paramiko.SSHException, EOFError, OSError):
            return False

    @property
    def sftp(self):
        if self._sftp is None:
            self._sftp = self._open_sftp()
        return self._sftp

    def sftp_channels(self, count):
        """Up to ``count`` SFTP clients on this connection, each on a channel of its own,
        the first being ``sftp``; fewer when the host refuses more sessions (sshd's
        MaxSessions)."""
        out = [self.sftp]
        while len(self._more_sftp) < count - 1 and not self._sftp_refused:
            try:
                self._more_sftp.append(self._open_sftp())
            except (paramiko.SSHException, EOFError, OSError):
                self._sftp_refused = True
        return out + self._more_sftp[:max(0, count - 1)]

    def start(self, command):
        """Start a command and return its channel without waiting for it (None when the
        channel could not be opened)."""
        try:
            chan = self.client.get_transport().open_session()
            chan.settimeout(self.timeout)
            chan.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError):
            return None
        return chan

    def run(self, command, timeout=None):
        """Run a command; return (rc, stdout, stderr) as text."""
        try:
            chan = self.client.get_transport().open_session()
            chan.settimeout(timeout or self.timeout)
            chan.exec_command(command)
            out, err = [], []
            while True:
                if chan.recv_ready():
                    out.append(chan.recv(65536))
                    continue
                if chan.recv_stderr_ready():
                    err.append(chan.recv_stderr(65536))
                    continue
                data = chan.recv(65536)
                if not data:
                    break
                out.append(data)
            while chan.recv_stderr_ready():
                err.append(chan.recv_stderr(65536))
            rc = chan.recv_exit_status()
            chan.close()
        except socket.timeout:
            raise SshError(self.label, "no answer within %ss while running a command (host down or "
                                       "cut off?)" % (timeout or self.timeout))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise SshError(self.label, "the connection failed while running a command: %s" % exc)
        return (rc, b"".join(out).decode("utf-8", "replace"), b"".join(err).decode("utf-8", "replace"))

    def start_pipe(self):
        """Start OpenSSH's ssh client running PIPE_COMMAND on the host, so that its login is
        done before a file goes through it (see pipe())."""
        if self.openssh and self._pipe is None:
            self._pipe = self._new_pipe()

    def _new_pipe(self):
        errors = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(list(self.openssh) + [PIPE_COMMAND], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=errors, close_fds=True)
        except BaseException:
            errors.close()
            raise
        return proc, errors

    def pipe(self):
        """(process, its stderr file) of an ssh client running PIPE_COMMAND on the host: the one
        start_pipe() started, else a new one.  The caller owns both."""
        pipe, self._pipe = self._pipe, None
        return pipe if pipe is not None else self._new_pipe()

    def _end_pipe(self):
        pipe, self._pipe = self._pipe, None
        if pipe is None:
            return
        proc, errors = pipe
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (proc.stdin, proc.stdout, errors):
            try:
                f.close()
            except (IOError, OSError):
                pass

    def close(self):
        self._end_pipe()
        for thing in self._more_sftp + [self._sftp, self.client]:
            if thing is not None:
                try:
                    thing.close()
                except Exception:
                    pass
        self._sftp = None
        self._more_sftp = []


class _AcceptPolicy(object):
    """Host key checking turned off: accept, but remember what was accepted."""

    def __init__(self):
        self.accepted = []

    def missing_host_key(self, client, hostname, key):
        self.accepted.append("%s %s" % (key.get_name(), key.get_base64()))


def connect(params, target, warnings=None):
    """Open an SshSession to ``target`` ('host', 'host:port', 'user@host:port').

    Raises SshError with a message that says what went wrong and what to check.
    """
    try:
        user, host, port = split_host(target, params.get("ssh_port") or 22)
    except ValueError as exc:
        raise SshError(target, str(exc))
    user = user or params.get("ssh_user") or "root"
    label = host if port == 22 else "%s:%d" % (host, port)
    client = paramiko.SSHClient()
    known = os.path.expanduser(params.get("ssh_known_hosts_file") or "~/.ssh/known_hosts")
    if params.get("ssh_host_key_checking", True):
        if not os.path.isfile(known):
            raise SshError(label, "the known_hosts file %s does not exist: strict host key checking needs "
                                  "the backup host's key there (ssh-keyscan it once and check the fingerprint), "
                                  "or set ssh_known_hosts_file" % known)
        try:
            client.load_host_keys(known)
        except (IOError, paramiko.SSHException) as exc:
            raise SshError(label, "cannot read the known_hosts file %s: %s" % (known, exc))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        policy = _AcceptPolicy()
        client.set_missing_host_key_policy(policy)
    try:
        pkey = _load_key(params)
    except SshError as exc:
        raise SshError(label, exc.reason)
    key_file = params.get("ssh_private_key_file")
    if key_file:
        key_file = os.path.expanduser(key_file)
        if not os.path.isfile(key_file):
            raise SshError(label, "the private key file %s does not exist (ssh_private_key_file)" % key_file)
        try:
            _check_key_file(key_file, params.get("ssh_private_key_passphrase"))
        except SshError as exc:
            raise SshError(label, exc.reason)
    timeout = params.get("ssh_connect_timeout") or 10.0
    stall = params.get("ssh_timeout") or 60.0
    try:
        sock = open_socket(host, port, timeout, stall)
        client.connect(host, port=port, username=user, pkey=pkey, key_filename=key_file, sock=sock,
                       passphrase=params.get("ssh_private_key_passphrase"),
                       look_for_keys=pkey is None and not key_file, allow_agent=False,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise SshError(label, "host key verification failed: %s offered a %s key that differs from the one in "
                              "%s. This can be a man-in-the-middle attack or a reinstalled host; nothing "
                              "was sent. Check the fingerprint before you update the known_hosts file."
                       % (label, exc.key.get_name(), known))
    except paramiko.AuthenticationException as exc:
        client.close()
        raise SshError(label, "authentication as %s failed (%s): check that the key is in the user's "
                              "authorized_keys on the backup host" % (user, exc))
    except paramiko.SSHException as exc:
        client.close()
        if "not found in known_hosts" in str(exc):
            raise SshError(label, "the host key of %s is not in %s: strict host key checking refuses unknown "
                                  "hosts; nothing was sent. Add the host's key after checking its fingerprint."
                           % (label, known))
        raise SshError(label, "SSH failed: %s" % exc)
    except socket.timeout:
        client.close()
        raise SshError(label, "no SSH answer from %s port %d within %ss (host down, cut off, or a firewall)"
                       % (host, port, timeout))
    except socket.gaierror as exc:
        client.close()
        raise SshError(label, "cannot resolve %s: %s" % (host, exc))
    except (socket.error, OSError, EOFError) as exc:
        client.close()
        raise SshError(label, "cannot connect to %s port %d: %s" % (host, port, exc))
    except (AssertionError, ValueError, IndexError, TypeError, struct.error) as exc:
        # What paramiko raises on a key or a message it cannot parse: said without its text.
        client.close()
        raise SshError(label, "SSH failed while authenticating (%s): check the private key and the host"
                       % exc.__class__.__name__)
    try:
        prefer_aead(client.get_transport())
    except (paramiko.SSHException, EOFError, OSError, ValueError) as exc:
        client.close()
        raise SshError(label, "the switch to AES-GCM after connecting failed: %s" % exc)
    if not params.get("ssh_host_key_checking", True) and warnings is not None and policy.accepted:
        warnings.append("%s: host key checking is off; accepted the host key %s without checking it"
                        % (label, policy.accepted[0][:80]))
    openssh = None
    if params.get("transfer_client") in ("auto", "openssh"):
        openssh, why = openssh_argv(params, user, host, port)
        if openssh is None and params.get("transfer_client") == "openssh":
            client.close()
            raise SshError(label, "transfer_client is openssh, but %s: give ssh_private_key_file without a "
                                  "passphrase and keep ssh_host_key_checking on, or use transfer_client auto"
                           % why)
    session = SshSession(label, client, params.get("ssh_timeout") or 60.0, openssh)
    if openssh is not None:
        # Its login goes on while the caller prepares what it sends.
        try:
            session.start_pipe()
        except (OSError, ValueError) as exc:
            session.close()
            raise SshError(label, "cannot start OpenSSH's ssh client (%s): %s" % (openssh[0], exc))
    return session


def connect_all(params, targets, warnings=None):
    """connect() to every target, in order; on any failure close the others and raise."""
    sessions = []
    try:
        for t in targets:
            sessions.append(connect(params, t, warnings))
    except SshError:
        close_all(sessions)
        raise
    return sessions


def connect_each(params, targets, warnings=None, open_sftp=False):
    """connect() to every target, each on its own: (sessions, failures), a failure being
    {host, reason}.  The hosts are independent: one that cannot be reached is only named.

    ``open_sftp`` also opens each session's SFTP channel (the host starts its SFTP server),
    so that a caller connecting in the background does not wait for it later; a channel
    that does not open now is opened again when first used, and its error raised there."""
    sessions, failures = [], []
    for t in targets:
        try:
            sessions.append(connect(params, t, warnings))
        except SshError as exc:
            failures.append({"host": exc.host if exc.host not in (None, "-") else t, "reason": exc.reason})
            continue
        if open_sftp:
            sessions[-1].open_sftp()
    return sessions, failures


def close_all(sessions):
    for s in sessions:
        s.close()
