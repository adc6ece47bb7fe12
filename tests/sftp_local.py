"""OpenSSH's own sftp-server on this machine, reached by paramiko's SFTP client through a
socket pair (no sshd, no network), with a proxy in between that reads the protocol.

The proxy takes the server's answers as fast as the server writes them and holds them until
the client reads them, as an SSH channel with a large window does; it records every read
request (offset and length), so a test can tell how far ahead of its reader a client asked.
"""
import collections
import io
import os
import socket
import struct
import subprocess
import threading

import paramiko

SFTP_SERVER = "/usr/lib/openssh/sftp-server"
OPEN, READ, HANDLE = 3, 5, 102


def _string(payload, at):
    n = struct.unpack(">I", payload[at:at + 4])[0]
    return payload[at + 4:at + 4 + n], at + 4 + n


def _packets(sock):
    """(raw bytes, payload) of each SFTP packet read from ``sock``, until it closes."""
    buf = b""
    while True:
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
            n = struct.unpack(">I", buf[:4])[0]
            yield buf[:4 + n], buf[4:4 + n]
            buf = buf[4 + n:]
        try:
            data = sock.recv(1 << 16)
        except OSError:
            return
        if not data:
            return
        buf += data


class Proxy(object):
    """Between the client's socket and the server's; ``reads`` lists (offset, length) of the
    read requests in the order the client sent them, ``asked_end`` the highest offset + length
    asked for so far; reads_of() and asked_end_of() the same for one file."""

    def __init__(self, client_side, server_side):
        self.reads = []
        self.asked_end = 0
        self._file_reads = []
        self._opening = {}
        self._names = {}
        self._client, self._server = client_side, server_side
        self._answers = collections.deque()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=f, daemon=True)
                         for f in (self._requests, self._take_answers, self._give_answers)]
        for t in self._threads:
            t.start()

    def reads_of(self, path):
        return [(o, n) for name, o, n in self._file_reads if name == path]

    def asked_end_of(self, path):
        return max((o + n for o, n in self.reads_of(path)), default=0)

    def _requests(self):
        for raw, payload in _packets(self._client):
            if payload[:1] == bytes([OPEN]):
                self._opening[payload[1:5]] = _string(payload, 5)[0].decode()
            if payload[:1] == bytes([READ]):
                handle, at = _string(payload, 5)
                offset, length = struct.unpack(">QI", payload[at:at + 12])
                self.reads.append((offset, length))
                self._file_reads.append((self._names.get(handle), offset, length))
                self.asked_end = max(self.asked_end, offset + length)
            if not _send(self._server, raw):
                break
        _shut_write(self._server)

    def _take_answers(self):
        for raw, payload in _packets(self._server):
            if payload[:1] == bytes([HANDLE]) and payload[1:5] in self._opening:
                self._names[_string(payload, 5)[0]] = self._opening.pop(payload[1:5])
            with self._ready:
                self._answers.append(raw)
                self._ready.notify()
        with self._ready:
            self._closed = True
            self._ready.notify()

    def _give_answers(self):
        while True:
            with self._ready:
                while not self._answers and not self._closed:
                    self._ready.wait()
                if not self._answers:
                    break
                raw = self._answers.popleft()
            if not _send(self._client, raw):
                break
        _shut_write(self._client)

    def join(self):
        for t in self._threads:
            t.join(10)


class _Socket(socket.socket):
    """A socket with the name paramiko's SFTP client logs for its channel."""

    def get_name(self):
        return "sftp-server"


class LocalSftp(object):
    """``client`` (a paramiko SFTPClient) talking to a new sftp-server process through
    ``proxy``; close() ends both."""

    def __init__(self):
        a, proxy_client = socket.socketpair()
        ours = _Socket(fileno=a.detach())
        proxy_server, theirs = socket.socketpair()
        self._socks = [proxy_client, proxy_server]
        self.server = subprocess.Popen([SFTP_SERVER], stdin=theirs, stdout=theirs, close_fds=True)
        theirs.close()
        self.proxy = Proxy(proxy_client, proxy_server)
        try:
            self.client = paramiko.SFTPClient(ours)
        except BaseException:
            ours.close()
            self.server.kill()
            self.server.wait(10)
            self.proxy.join()
            for s in self._socks:
                s.close()
            raise

    def close(self):
        self.client.close()
        self.server.wait(10)
        self.proxy.join()
        for s in self._socks:
            s.close()


class LocalFile(io.FileIO):
    """A local file read with the calls of paramiko's SFTPFile that transport.reading makes:
    for the stand-ins of a backup host's SFTP that map its paths to local directories."""

    def __init__(self, path):
        super(LocalFile, self).__init__(path, "r")

    def stat(self):
        return os.fstat(self.fileno())

    def readv(self, chunks):
        for offset, size in chunks:
            self.seek(offset)
            yield self.read(size)


def write_file(path, size, seed=b"x"):
    """A file of ``size`` bytes that differ from block to block; returns its bytes."""
    data = b"".join(seed + struct.pack(">Q", i) for i in range(size // 9 + 1))[:size]
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    return data


def _send(sock, raw):
    """Whether ``raw`` went out whole (the other end may have gone)."""
    try:
        sock.sendall(raw)
        return True
    except OSError:
        return False


def _shut_write(sock):
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
