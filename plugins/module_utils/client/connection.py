# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way modules connect to ZooKeeper: common options and a kazoo client factory.

Every module that talks the client protocol takes ``zk_argument_spec()`` (documented once
in the ``zkops.zookeeper.zookeeper`` doc fragment) and calls ``connect()``.  Errors come
back as ZkConnectError with a message that says what was found at each address and what
to check next.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import logging
import ssl
import time
import traceback

from ansible_collections.zkops.zookeeper.plugins.module_utils.client import four_letter

KAZOO_IMP_ERR = None
try:
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry
    from kazoo import exceptions as kazoo_exceptions
    from kazoo.handlers.threading import SequentialThreadingHandler
    HAS_KAZOO = True
except ImportError:  # pragma: no cover - exercised on hosts without kazoo
    KazooClient = KazooRetry = kazoo_exceptions = None
    SequentialThreadingHandler = object
    KAZOO_IMP_ERR = traceback.format_exc()
    HAS_KAZOO = False

_ARGSPEC = dict(
    hosts=dict(type="str"),
    session_timeout=dict(type="float", default=10.0),
    connect_timeout=dict(type="float", default=10.0),
    auth=dict(type="list", elements="dict", no_log=False, options=dict(
        scheme=dict(type="str", default="digest"),
        credential=dict(type="str", required=True, no_log=True),
    )),
    tls=dict(type="bool", default=False),
    tls_ca_file=dict(type="path"),
    tls_cert_file=dict(type="path"),
    tls_key_file=dict(type="path"),
    tls_key_password=dict(type="str", no_log=True),
    tls_verify=dict(type="bool", default=True),
)


def zk_argument_spec():
    """A fresh copy of the common options; modules .update() it with their own."""
    return copy.deepcopy(_ARGSPEC)


class ZkConnectError(Exception):
    """``transient`` is True when trying again later may succeed (no answer in time, a lost
    connection), False when it cannot (credentials or permissions refused, no such znode)."""

    def __init__(self, msg, transient=False):
        super(ZkConnectError, self).__init__(msg)
        self.transient = transient


def require_kazoo(module):
    """Fail the module with Ansible's standard message when kazoo is missing."""
    if not HAS_KAZOO:
        from ansible.module_utils.basic import missing_required_lib
        reason = ("to talk to ZooKeeper (pip install kazoo, or apt install python3-kazoo on "
                  "the host the module runs on)")
        module.fail_json(msg=missing_required_lib("kazoo", reason=reason),
                         exception=KAZOO_IMP_ERR)


def tls_context(params):
    """An ssl.SSLContext for four-letter words, or None when TLS is off."""
    if not params.get("tls"):
        return None
    return four_letter.tls_context(params.get("tls_ca_file"), params.get("tls_cert_file"),
                                   params.get("tls_key_file"), params.get("tls_key_password"),
                                   params.get("tls_verify", True))


def close_tls_sockets(tb):
    """Close the TLS sockets that the frames of traceback ``tb`` still hold."""
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, ssl.SSLSocket):
                value.close()
        tb = tb.tb_next


class ClosingHandler(SequentialThreadingHandler):
    """kazoo's threading handler, closing the socket of a failed TLS handshake.

    kazoo wraps the socket in TLS before it connects; when the handshake fails (a server
    certificate of another CA, a port that does not speak TLS) it raises ssl.SSLError and
    leaves that socket open, held only by the frames of the exception."""

    def create_connection(self, *args, **kwargs):
        try:
            return SequentialThreadingHandler.create_connection(self, *args, **kwargs)
        except ssl.SSLError as exc:
            close_tls_sockets(exc.__traceback__)
            raise


def make_client(params, hosts=None, read_only=None):
    """A KazooClient configured from the common options (not started)."""
    hosts = hosts or params.get("hosts")
    if not hosts:
        raise ZkConnectError("no ZooKeeper hosts given (set 'hosts', e.g. "
                             "'zk1:2181,zk2:2181,zk3:2181')")
    logger = logging.getLogger("zkops.kazoo")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    kwargs = dict(
        hosts=hosts,
        timeout=params.get("session_timeout") or 10.0,
        auth_data=[(a.get("scheme") or "digest", a["credential"])
                   for a in (params.get("auth") or [])] or None,
        connection_retry=KazooRetry(max_tries=-1, delay=0.2, backoff=1.5, max_delay=2.0),
        command_retry=KazooRetry(max_tries=3, delay=0.2, backoff=2, max_delay=2.0),
        logger=logger,
    )
    if read_only is not None:
        kwargs["read_only"] = read_only
    if params.get("tls"):
        kwargs.update(use_ssl=True, ca=params.get("tls_ca_file"),
                      certfile=params.get("tls_cert_file"),
                      keyfile=params.get("tls_key_file"),
                      keyfile_password=params.get("tls_key_password"),
                      verify_certs=params.get("tls_verify", True),
                      handler=ClosingHandler())
    return KazooClient(**kwargs)


def connect(params, hosts=None, read_only=None):
    """Start and return a connected KazooClient; raise ZkConnectError when none answers.

    The caller stops it with close_quietly().
    """
    client = make_client(params, hosts, read_only)
    timeout = params.get("connect_timeout") or 10.0
    try:
        client.start(timeout=timeout)
    except kazoo_exceptions.AuthFailedError:
        close_quietly(client)
        raise ZkConnectError("authentication failed for %s: the server rejected the "
                             "credentials in 'auth' (check the scheme and the "
                             "'user:password' credential)" % client.hosts)
    except Exception as exc:  # kazoo raises the handler's timeout exception
        close_quietly(client)
        raise ZkConnectError("could not connect to ZooKeeper at %s within %ss (%s). %s"
                             % (hosts or params.get("hosts"), timeout,
                                exc.__class__.__name__, diagnose(hosts or params["hosts"],
                                                                 params)),
                             transient=True)
    return client


def close_quietly(client):
    if client is None:
        return
    try:
        client.stop()
    except Exception:
        pass
    try:
        client.close()
    except Exception:
        pass


def diagnose(hosts, params=None):
    """One sentence per address saying what answers there (for error messages)."""
    params = params or {}
    ctx = None
    try:
        ctx = tls_context(params)
    except Exception as exc:
        return "TLS settings are unusable: %s" % exc
    notes = []
    for hp in split_hosts(hosts):
        host, port = four_letter.split_hostport(hp)
        try:
            st = four_letter.srvr(host, port, timeout=3.0, ssl_context=ctx, retries=1)
        except four_letter.NotWhitelisted:
            notes.append("%s: ZooKeeper answers (srvr not whitelisted)" % hp)
        except four_letter.FourLetterError as exc:
            notes.append(_explain(hp, exc))
        else:
            if st.get("serving"):
                notes.append("%s: ZooKeeper is serving as %s" % (hp, st.get("Mode")))
            else:
                notes.append("%s: ZooKeeper runs but is not serving (no quorum?)" % hp)
    return "What answers: " + "; ".join(notes) + "."


def _explain(hp, exc):
    reason = getattr(exc, "reason", "")
    if reason == "refused":
        return "%s: connection refused (no server listens on that port)" % hp
    if reason in ("timeout", "unreachable"):
        return "%s: unreachable (host down, wrong address, or a firewall)" % hp
    if reason == "not_zookeeper":
        return "%s: something answers, but it is not ZooKeeper (wrong port?)" % hp
    if reason == "empty":
        return "%s: the port accepts connections but does not answer like ZooKeeper" % hp
    return "%s: %s" % (hp, exc)


def client_check(params, address, path="/"):
    """Open a session to the member at ``address`` alone, sync ``path`` and read it.

    Proves that the member serves clients with the given credentials and TLS settings.
    Returns {'address', 'path', 'ok', 'seconds'}; raises ZkConnectError with the reason.
    """
    t0 = time.time()
    client = connect(params, hosts=address)
    try:
        client.sync(path)
        client.get(path)
    except Exception as exc:
        lost = kazoo_exceptions is not None and isinstance(
            exc, (kazoo_exceptions.ConnectionLoss, kazoo_exceptions.SessionExpiredError,
                  kazoo_exceptions.OperationTimeoutError))
        raise ZkConnectError("%s: %s" % (address, explain_zk_error(exc, path)), transient=lost)
    finally:
        close_quietly(client)
    return {"address": address, "path": path, "ok": True,
            "seconds": round(time.time() - t0, 3)}


def split_hosts(hosts):
    """A kazoo connection string (with an optional /chroot) -> ['host:port', ...]."""
    if isinstance(hosts, (list, tuple)):
        return [h.strip() for h in hosts if h.strip()]
    hosts = hosts.split("/", 1)[0]
    return [h.strip() for h in hosts.split(",") if h.strip()]


def explain_zk_error(exc, path=None):
    """A message for a kazoo exception raised while working on ``path``."""
    where = " on %s" % path if path else ""
    if kazoo_exceptions is not None:
        if isinstance(exc, kazoo_exceptions.NoAuthError):
            return ("not authorised%s: the ACL does not grant this client the permission "
                    "(check 'auth' credentials)" % where)
        if isinstance(exc, kazoo_exceptions.NoNodeError):
            return "no such znode%s" % where
        if isinstance(exc, (kazoo_exceptions.ConnectionLoss,
                            kazoo_exceptions.SessionExpiredError)):
            return "lost the connection to ZooKeeper%s; retry when the ensemble serves" % where
    return "%s%s: %s" % (exc.__class__.__name__, where, exc)
