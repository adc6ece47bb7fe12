# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lean pipelined ZooKeeper sessions for bulk reads.

A KazooClient spends about 100 microseconds of client CPU on every request (a select
loop turn, a wake-up byte, a lock, a callback); for a tree walk that is the bottleneck,
not the server.  A ``Session`` here is one ZooKeeper session on one socket that writes
many framed requests at once and parses every answer in the buffer in one pass, so a
walk runs at the speed of the servers.  It speaks the ordinary client protocol with
kazoo's serializers (Connect, Auth, Ping) and the request classes of zk_protocol;
``Pool`` drives several sessions (one per member, or more) from one select loop.

Reads only: sessions never set watches and are closed when the walk ends.  Answers on a
session arrive in request order (ZooKeeper's FIFO client order), which callers rely on.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import errno
import select
import socket
import ssl
import struct
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.client import four_letter
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zk_protocol

if zk_client.HAS_KAZOO:
    from kazoo.protocol.serialization import Auth, Connect
else:  # pragma: no cover
    Auth = Connect = None

_INT = struct.Struct("!i")
_REQ_HEAD = struct.Struct("!ii")          # xid, type
_REPLY_HEAD = struct.Struct("!iqi")       # xid, zxid, err
WATCH_XID = -1
UNIMPLEMENTED = -6         # the error code of an opcode the server does not know
PING_XID = -2
AUTH_XID = -4
CLOSE_TYPE = -11
PING_TYPE = 11
AUTH_TYPE = 100
MAX_FRAME = 256 * 1024 * 1024
_RECV = 1 << 20


class PipelineError(Exception):
    """A session could not be opened or was lost; the message names the server."""

    def __init__(self, msg, reason="error"):
        super(PipelineError, self).__init__(msg)
        self.reason = reason


class Session(object):
    """One ZooKeeper client session with many requests in flight."""

    def __init__(self, host, port, auth=(), session_timeout=10.0, connect_timeout=10.0,
                 ssl_context=None):
        self.host = host
        self.port = port
        self.endpoint = "%s:%d" % (host, port)
        self.auth = list(auth or ())
        self.session_timeout = float(session_timeout)
        self.connect_timeout = float(connect_timeout)
        self.ssl_context = ssl_context
        self.sock = None
        self.session_id = None
        self.negotiated_timeout = None
        self.last_zxid = 0
        self.outstanding = collections.deque()   # (xid, request, token)
        self._xid = 0
        self._out = bytearray()
        self._in = bytearray()
        self._last_send = 0.0
        self.last_recv = 0.0
        self.requests = 0

    # --- opening and closing -------------------------------------------------------
    def open(self):
        """Connect, create the session and authenticate; raise PipelineError."""
        try:
            sock = socket.create_connection((self.host, self.port),
                                            timeout=self.connect_timeout)
        except socket.timeout:
            raise PipelineError("%s: no connection within %ss" % (
                self.endpoint, self.connect_timeout), "timeout")
        except (socket.gaierror, OSError) as exc:
            raise PipelineError("%s: cannot connect: %s" % (self.endpoint, exc),
                                "refused" if getattr(exc, "errno", None) ==
                                errno.ECONNREFUSED else "unreachable")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
            self.sock = sock
            self._handshake()
            self._authenticate()
        except PipelineError:
            self._drop()
            raise
        except ssl.SSLError as exc:
            self._drop()
            raise PipelineError("%s: TLS handshake failed: %s" % (self.endpoint, exc), "tls")
        except (socket.timeout, OSError) as exc:
            self._drop()
            raise PipelineError("%s: the server closed or stalled the session while "
                                "connecting (%s); is it serving (quorum)?"
                                % (self.endpoint, exc or exc.__class__.__name__),
                                "not_serving")
        sock.setblocking(False)
        self._last_send = self.last_recv = time.time()
        return self

    def _handshake(self):
        req = Connect(0, 0, int(self.session_timeout * 1000), 0, b"\x00" * 16, False)
        body = bytes(req.serialize())
        self.sock.sendall(_INT.pack(len(body)) + body)
        frame = self._read_frame_blocking()
        if not frame:
            raise PipelineError("%s: the server closed the connection during the session "
                                "handshake; is it serving (quorum)?" % self.endpoint,
                                "not_serving")
        result = Connect.deserialize(frame, 0)[0]
        if result.time_out <= 0:
            raise PipelineError("%s: the server refused the session" % self.endpoint,
                                "not_serving")
        self.session_id = result.session_id
        self.negotiated_timeout = result.time_out / 1000.0

    def _authenticate(self):
        for scheme, credential in self.auth:
            body = bytes(Auth(0, scheme, credential).serialize())
            head = _REQ_HEAD.pack(AUTH_XID, AUTH_TYPE)
            self.sock.sendall(_INT.pack(len(head) + len(body)) + head + body)
            while True:
                frame = self._read_frame_blocking()
                if not frame:
                    raise PipelineError("%s: authentication failed for scheme '%s': the "
                                        "server rejected the credential and closed the "
                                        "session" % (self.endpoint, scheme), "auth_failed")
                xid, zxid, err = _REPLY_HEAD.unpack_from(frame, 0)
                if xid != AUTH_XID:
                    continue
                if err:
                    raise PipelineError("%s: authentication failed for scheme '%s': the "
                                        "server rejected the credential" % (self.endpoint,
                                                                            scheme),
                                        "auth_failed")
                break

    def _read_frame_blocking(self):
        self.sock.settimeout(self.connect_timeout)
        head = self._recv_exact(4)
        if head is None:
            return None
        n = _INT.unpack(head)[0]
        if n < 0 or n > MAX_FRAME:
            raise PipelineError("%s: answer of impossible length %d: not a ZooKeeper "
                                "client port?" % (self.endpoint, n), "not_zookeeper")
        return self._recv_exact(n)

    def _recv_exact(self, n):
        parts = []
        while n:
            chunk = self.sock.recv(min(n, _RECV))
            if not chunk:
                return None
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def close(self, wait=1.0):
        """Close the session (the server drops it at once) and the socket."""
        if self.sock is None:
            return
        try:
            self.submit(_Close(), None)
            deadline = time.time() + wait
            while self.outstanding and time.time() < deadline:
                self.flush()
                if select.select([self.sock], [], [], max(0.0, deadline - time.time()))[0]:
                    self.read_ready()
        except Exception:
            pass
        self._drop()

    def _drop(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except Exception:
                pass
        self.sock = None

    @property
    def is_open(self):
        return self.sock is not None

    # --- requests ------------------------------------------------------------------
    def submit(self, request, token):
        """Queue ``request``; its answer comes back from read_ready() with ``token``."""
        self._xid = (self._xid % 2147483647) + 1
        body = request.serialize()
        head = _REQ_HEAD.pack(self._xid, request.type)
        self._out += _INT.pack(len(head) + len(body))
        self._out += head
        self._out += body
        self.outstanding.append((self._xid, request, token))
        self.requests += 1

    def ping_if_idle(self, now):
        if self.sock is not None and not self._out and \
                now - self._last_send > (self.negotiated_timeout or self.session_timeout) / 3.0:
            head = _REQ_HEAD.pack(PING_XID, PING_TYPE)
            self._out += _INT.pack(len(head)) + head

    @property
    def wants_write(self):
        return bool(self._out)

    def flush(self):
        """Write what the socket takes now; raise PipelineError when the session is lost."""
        if not self._out:
            return
        try:
            sent = self.sock.send(self._out)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            return
        except (OSError, AttributeError) as exc:
            raise self._lost(exc)
        if sent:
            del self._out[:sent]
            self._last_send = time.time()

    def read_ready(self):
        """Read what arrived; return [(token, request, result, exception, zxid)].

        Raises PipelineError when the server closed the connection.
        """
        try:
            while True:
                chunk = self.sock.recv(_RECV)
                if not chunk:
                    raise self._lost(None)
                self._in += chunk
                self.last_recv = time.time()
                if len(chunk) < _RECV and not (hasattr(self.sock, "pending")
                                               and self.sock.pending()):
                    break
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass
        except PipelineError:
            raise
        except (OSError, AttributeError) as exc:
            raise self._lost(exc)
        return self._parse()

    def _parse(self):
        buf = self._in
        done = []
        off = 0
        size = len(buf)
        unpack_int = _INT.unpack_from
        unpack_head = _REPLY_HEAD.unpack_from
        outstanding = self.outstanding
        while size - off >= 4:
            n = unpack_int(buf, off)[0]
            if n < 16 or n > MAX_FRAME:
                raise PipelineError("%s: answer of impossible length %d" % (self.endpoint, n),
                                    "protocol")
            if size - off - 4 < n:
                break
            xid, zxid, err = unpack_head(buf, off + 4)
            frame_end = off + 4 + n
            if xid == PING_XID or xid == WATCH_XID:
                off = frame_end
                continue
            if zxid > self.last_zxid:
                self.last_zxid = zxid
            if not outstanding:
                raise PipelineError("%s: an answer (xid %d) to no request" % (self.endpoint, xid),
                                    "protocol")
            want, request, token = outstanding.popleft()
            if xid != want:
                if err == UNIMPLEMENTED:
                    # A server answers an opcode it does not know at once, ahead of the
                    # requests sent before it (ZooKeeper 3.5 and multiRead).
                    unknown = [r for x, r, _t in outstanding if x == xid]
                    raise PipelineError("%s: the server does not know the %s request (opcode "
                                        "%s): it answered UNIMPLEMENTED" % (
                                            self.endpoint,
                                            type(unknown[0]).__name__ if unknown else "",
                                            unknown[0].type if unknown else "?"),
                                        "unimplemented")
                raise PipelineError("%s: answers out of order (xid %d, expected %d)"
                                    % (self.endpoint, xid, want), "protocol")
            if err:
                done.append((token, request, None, zk_protocol.error_for(err), zxid))
            elif request.type == CLOSE_TYPE:
                done.append((token, request, True, None, zxid))
            else:
                body = bytes(buf[off + 20:frame_end])
                done.append((token, request, request.deserialize(body, 0), None, zxid))
            off = frame_end
        if off:
            del buf[:off]
        return done

    def _lost(self, exc):
        self._drop()
        return PipelineError("%s: the server closed the session%s" % (
            self.endpoint, " (%s)" % exc if exc else ""), "lost")

    def take_outstanding(self):
        """Forget every request in flight and return [(request, token)] to resubmit."""
        left = [(request, token) for _xid, request, token in self.outstanding
                if request.type != CLOSE_TYPE]
        self.outstanding.clear()
        self._out = bytearray()
        self._in = bytearray()
        return left


class _Close(object):
    type = CLOSE_TYPE

    @staticmethod
    def serialize():
        return b""


class Pool(object):
    """Several sessions driven by one select loop.

    ``endpoints`` is a list of (host, port); ``connections`` sessions are spread over
    them round-robin.  A lost session is reopened (on its own member, then on the
    others) and its requests in flight are sent again: reads are idempotent.
    """

    def __init__(self, endpoints, auth=(), session_timeout=10.0, connect_timeout=10.0,
                 ssl_context=None, connections=None, reconnects=5):
        self.endpoints = list(endpoints)
        if not self.endpoints:
            raise PipelineError("no ZooKeeper hosts given", "config")
        self.kw = dict(auth=auth, session_timeout=session_timeout,
                       connect_timeout=connect_timeout, ssl_context=ssl_context)
        self.want = max(1, int(connections or len(self.endpoints)))
        self.sessions = []
        self.reconnects = reconnects
        self.lost = 0

    def open(self):
        """Open the sessions; fail only when no member accepts one."""
        errors = []
        for i in range(self.want):
            host, port = self.endpoints[i % len(self.endpoints)]
            try:
                self.sessions.append(Session(host, port, **self.kw).open())
            except PipelineError as exc:
                if exc.reason == "auth_failed":
                    self.close()
                    raise
                errors.append(exc)
        if not self.sessions:
            seen = []
            for e in errors:
                if str(e) not in seen:
                    seen.append(str(e))
            raise PipelineError("no ZooKeeper member accepted a session: %s" % "; ".join(seen),
                                errors[0].reason if errors else "error")
        return self

    def close(self):
        for s in self.sessions:
            s.close()
        self.sessions = []

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    @property
    def last_zxid(self):
        return max([s.last_zxid for s in self.sessions] or [0])

    def outstanding(self):
        return sum(len(s.outstanding) for s in self.sessions)

    def stalled(self, session, now):
        """True when a session with requests in flight has heard nothing for longer
        than its session timeout (a member cut off without a reset)."""
        limit = max(session.negotiated_timeout or 0, session.session_timeout)
        return bool(session.outstanding) and now - session.last_recv > limit

    def poll(self, timeout=1.0):
        """Send and receive; return the answers that completed (see Session.read_ready)."""
        now = time.time()
        for s in list(self.sessions):
            if self.stalled(s, now):
                self._recover(s)
                continue
            s.ping_if_idle(now)
        done = []
        rlist = []
        wlist = []
        for s in list(self.sessions):
            if s.wants_write:
                try:
                    s.flush()
                except PipelineError:
                    self._recover(s)
                    continue
            if s.wants_write:
                wlist.append(s.sock)
            if hasattr(s.sock, "pending") and s.sock.pending():
                timeout = 0
            rlist.append(s.sock)
        if not rlist:
            return done
        try:
            r, w = select.select(rlist, wlist, [], timeout)[:2]
        except (OSError, ValueError):
            r, w = rlist, wlist
        by_sock = dict((s.sock, s) for s in self.sessions)
        for sock in w:
            s = by_sock.get(sock)
            if s is not None and s.is_open:
                try:
                    s.flush()
                except PipelineError:
                    self._recover(s)
        for sock in set(r) | set(x for x in rlist if hasattr(x, "pending") and x.pending()):
            s = by_sock.get(sock)
            if s is None or not s.is_open:
                continue
            try:
                done.extend(s.read_ready())
            except PipelineError as exc:
                if exc.reason in ("protocol", "unimplemented"):
                    raise
                self._recover(s)
        return done

    def _recover(self, session, resubmit=True, lost=True):
        """Reopen a lost session and resubmit what it had in flight (``lost``: count it
        among the sessions lost, not one replaced on purpose)."""
        pending = session.take_outstanding() if resubmit else []
        session.take_outstanding()
        session._drop()
        if lost:
            self.lost += 1
        order = [(session.host, session.port)] + [e for e in self.endpoints
                                                  if e != (session.host, session.port)]
        last = None
        for attempt in range(self.reconnects):
            host, port = order[attempt % len(order)]
            try:
                fresh = Session(host, port, **self.kw).open()
            except PipelineError as exc:
                last = exc
                if exc.reason == "auth_failed":
                    raise
                time.sleep(min(2.0, 0.2 * (attempt + 1)))
                continue
            self.sessions[self.sessions.index(session)] = fresh
            for request, token in pending:
                fresh.submit(request, token)
            return fresh
        raise PipelineError("lost the session to %s and could not open another (%s); "
                            "retry when the ensemble serves" % (session.endpoint, last),
                            "lost")

    def call(self, session, request, timeout=10.0):
        """Send one request on ``session`` and wait for its answer (for set-up steps)."""
        token = object()
        session.submit(request, token)
        deadline = time.time() + timeout
        while time.time() < deadline:
            for tok, _req, result, exc, _zxid in self.poll(min(0.5, max(0.0, deadline - time.time()))):
                if tok is token:
                    if exc is not None:
                        raise exc
                    return result
        raise PipelineError("%s: no answer within %ss" % (session.endpoint, timeout), "timeout")


def endpoints_from_hosts(hosts):
    """A kazoo connection string -> ([(host, port)], chroot or '')."""
    chroot = ""
    if isinstance(hosts, str) and "/" in hosts:
        hosts, chroot = hosts.split("/", 1)
        chroot = "/" + chroot.strip("/") if chroot.strip("/") else ""
    return [four_letter.split_hostport(h) for h in zk_client.split_hosts(hosts)], chroot


def pool_from_params(params, connections=None):
    """A Pool configured from the common connection options (zk_argument_spec)."""
    endpoints, chroot = endpoints_from_hosts(params.get("hosts") or "")
    auth = [(a.get("scheme") or "digest", a["credential"]) for a in (params.get("auth") or [])]
    pool = Pool(endpoints, auth=auth, session_timeout=params.get("session_timeout") or 10.0,
                connect_timeout=params.get("connect_timeout") or 10.0,
                ssl_context=zk_client.tls_context(params), connections=connections)
    pool.chroot = chroot
    return pool


NO_MULTI_READ = ("ZooKeeper before 3.6 does not know multiRead: each znode is read with "
                 "its own getData and getChildren requests")


def multi_read_support(pool, timeout=5.0):
    """Whether the members answer multiRead (ZooKeeper 3.6+), and why: (bool, reason).

    The probe asks for the root's data in a multiRead.  ZooKeeper 3.5 answers an opcode it
    does not know with UNIMPLEMENTED and closes the session, which is then replaced (not
    counted as lost).  A server that never answers or drops the connection is not assumed
    to know it either: that session is replaced and counted as lost.  One that answers with
    another error keeps its session.  Single reads give the same tree, only more slowly.
    """
    session = pool.sessions[0]
    try:
        pool.call(session, zk_protocol.MultiRead([zk_protocol.GetData("/")]), timeout=timeout)
    except PipelineError as exc:
        if exc.reason == "protocol":
            raise
        if exc.reason == "unimplemented":
            pool._recover(pool.sessions[0], resubmit=False, lost=False)
            return False, "%s (%s)" % (NO_MULTI_READ, exc)
        # A session lost or timed out while waiting is replaced, and counted as lost: it
        # says something about the ensemble, not about multiRead.
        pool._recover(pool.sessions[0], resubmit=False)
        return False, "%s (probe: %s)" % (NO_MULTI_READ, exc)
    except Exception as exc:
        if getattr(exc, "code", None) == UNIMPLEMENTED:
            # ZooKeeper 3.5 closes the session after UNIMPLEMENTED: replaced on purpose.
            pool._recover(pool.sessions[0], resubmit=False, lost=False)
            return False, "%s (%s answered UNIMPLEMENTED)" % (NO_MULTI_READ, session.endpoint)
        # Another error answered in order leaves the session as it was.
        return False, "%s answered the multiRead probe with an error (%s): single reads" % (
            session.endpoint, zk_client.explain_zk_error(exc))
    return True, "%s answered multiRead" % session.endpoint


def probe_multi_read(pool, timeout=5.0):
    """True when the members answer multiRead (see multi_read_support())."""
    return multi_read_support(pool, timeout)[0]


def open_pool(params, connections=None):
    """pool_from_params() opened; a failure says what answers at every address."""
    pool = pool_from_params(params, connections)
    try:
        return pool.open()
    except PipelineError as exc:
        if exc.reason == "auth_failed":
            raise
        raise PipelineError("could not open a ZooKeeper session at %s: %s. %s"
                            % (params.get("hosts"), exc,
                               zk_client.diagnose(params.get("hosts") or "",
                                                  params).rstrip(".")),
                            exc.reason)
