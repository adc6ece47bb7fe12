# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ZooKeeper four-letter words (srvr, mntr, conf, stat, ...) over a plain or TLS socket.

The server writes the answer and closes the connection; the answer is read to EOF (a
single recv() loses answers now and then).  An empty answer is retried.  Pure standard
library: usable where kazoo is not installed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import ssl
import time


class FourLetterError(Exception):
    """The command could not be answered; ``reason`` is a short machine-readable word."""

    def __init__(self, msg, reason):
        super(FourLetterError, self).__init__(msg)
        self.reason = reason


class NotWhitelisted(FourLetterError):
    def __init__(self, cmd, endpoint):
        super(NotWhitelisted, self).__init__(
            "%s: the four-letter word '%s' is not in the server's 4lw.commands.whitelist"
            % (endpoint, cmd), "not_whitelisted")


def split_hostport(hostport, default_port=2181):
    """'host:port', '[v6]:port' or 'host' -> (host, port)."""
    hostport = hostport.strip()
    if hostport.startswith("["):
        host, dummy, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    else:
        host, port = hostport, ""
    return host, int(port) if port else default_port


def tls_context(ca_file=None, cert_file=None, key_file=None, key_password=None, verify=True):
    """An SSL context for the secure client port (the same material as the kazoo client)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file, key_password)
    return ctx


class _Foreign(Exception):
    """Something answered and then stalled: not a four-letter-word answer."""

    def __init__(self, data, stalled):
        super(_Foreign, self).__init__()
        self.data = data
        self.stalled = stalled


def send(host, port, cmd, timeout=5.0, ssl_context=None, retries=3):
    """Send ``cmd`` to host:port and return the whole answer as text.

    Raises FourLetterError (reason ``refused``, ``unreachable``, ``timeout``, ``empty``,
    ``not_whitelisted``, ``not_zookeeper``) with a message that names the endpoint.
    """
    endpoint = "%s:%d" % (host, port)
    last = None
    for attempt in range(max(1, retries)):
        try:
            answer = _send_once(host, port, cmd, timeout, ssl_context)
        except _Foreign as exc:
            text = exc.data.decode("utf-8", "replace")
            raise FourLetterError(
                "%s answered '%s' with %r%s: that is not ZooKeeper (wrong port?)"
                % (endpoint, cmd, text[:60], " and then nothing for %ss" % exc.stalled),
                "not_zookeeper")
        except ConnectionRefusedError:
            raise FourLetterError("%s: connection refused (nothing listens on that port; "
                                  "is the server running?)" % endpoint, "refused")
        except socket.timeout:
            last = FourLetterError("%s: no answer within %ss" % (endpoint, timeout), "timeout")
            continue
        except ssl.SSLError as exc:
            raise FourLetterError("%s: TLS handshake failed: %s" % (endpoint, exc), "tls")
        except (socket.gaierror, OSError) as exc:
            raise FourLetterError("%s: cannot connect: %s" % (endpoint, exc), "unreachable")
        if answer:
            if answer.startswith("%s is not executed because it is not in the whitelist"
                                 % cmd):
                raise NotWhitelisted(cmd, endpoint)
            return answer
        last = FourLetterError("%s: empty answer to '%s'" % (endpoint, cmd), "empty")
        time.sleep(0.05 * (attempt + 1))
    raise last


# ZooKeeper writes its answer at once and closes: a pause this long after the first bytes
# means something else answered.
STALL = 2.0


def _send_once(host, port, cmd, timeout, ssl_context):
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        sock.sendall(cmd.encode("ascii"))
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                # ZooKeeper answers and closes; a peer that said something and then
                # stalls is something else (an SSH server greets and waits, ...).
                if chunks:
                    raise _Foreign(b"".join(chunks), sock.gettimeout())
                raise
            if not data:
                break
            chunks.append(data)
            sock.settimeout(min(timeout, STALL))
    finally:
        sock.close()
    return b"".join(chunks).decode("utf-8", "replace")


def parse_colon_lines(text):
    """'Key: value' lines (srvr, stat) -> dict; other lines are ignored."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not key.startswith(" "):
            out[key.strip()] = value.strip()
    return out


def parse_tab_lines(text):
    """'key<TAB>value' lines (mntr) -> dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("\t")
        if sep:
            out[key.strip()] = value.strip()
    return out


def parse_equals_lines(text):
    """'key=value' lines (conf, envi) -> dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


NOT_SERVING = "This ZooKeeper instance is not currently serving requests"


def srvr(host, port, timeout=5.0, ssl_context=None, retries=3):
    """Parsed ``srvr``: a dict, with ``serving`` False when the member is not serving."""
    text = send(host, port, "srvr", timeout, ssl_context, retries)
    if NOT_SERVING in text:
        return {"serving": False, "raw": text.strip()}
    parsed = parse_colon_lines(text)
    if "Mode" not in parsed:
        raise FourLetterError("%s:%d answered 'srvr' with something that is not ZooKeeper: %r"
                              % (host, port, text[:80]), "not_zookeeper")
    parsed["serving"] = True
    return parsed
