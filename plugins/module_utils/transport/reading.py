# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a file of a storage host through SFTP from its start to its end, with a bounded
read-ahead.

paramiko's ``prefetch()`` asks for the whole file at once: one read request per 32 KiB,
each remembered until its answer is read, and the server sends answers as fast as the
channel's window lets it, whatever the reader has taken.  Memory then grows with the file
(and with the size asked for, which a caller may have taken from a manifest that nothing
authenticated yet).  ``SftpReader`` keeps at most ``window`` bytes asked for ahead of what
was read: before each block it asks, with ``readv()`` (paramiko 2.12 and later), for the
blocks up to ``window`` bytes ahead not asked for yet.  The end is the size the server
gives for the open file, never a size claimed elsewhere.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time

BLOCK = 1 << 20
WINDOW = 16 << 20
# Seconds close() waits, at most, for the threads sending read requests.
SENDERS_WAIT = 10.0


class SftpReader(object):
    """A file-like reader (``read(n)``, ``close()``) of the paramiko SFTP file ``f``, opened
    for reading at its start; ``size`` is its size as the server gives it."""

    def __init__(self, f, window=WINDOW, block=BLOCK):
        self._f = f
        self._block = block
        self._window = max(window, block)
        self.size = f.stat().st_size
        self._pos = 0
        self._asked = 0
        self._senders = []
        # The block being read, and how much of it was.
        self._buf = b""
        self._off = 0

    def _next_block(self):
        """The next block (empty at the end), once the blocks up to a window ahead of it
        were asked for."""
        if self._pos >= self.size:
            return b""
        end = min(self.size, self._pos + self._window)
        ahead = [(o, min(self._block, end - o)) for o in range(max(self._asked, self._pos), end, self._block)]
        self._asked = max(self._asked, end)
        if not ahead or ahead[0][0] != self._pos:
            ahead.insert(0, (self._pos, min(self._block, self.size - self._pos)))
        # The requests asked for before are all sent first (their threads done): while the
        # reader reads the block, paramiko then always has later requests outstanding, and
        # never takes its prefetch for finished early (it would read the rest of the block
        # again, request by request).  readv() asks for the blocks not asked for yet (the
        # first one was, unless the reader just started), then reads the first one.
        self._join_senders()
        before = set(threading.enumerate())
        gen = self._f.readv(ahead)
        try:
            data = next(gen, b"")
        except EOFError:
            data = b""
        finally:
            gen.close()
            # readv() sends its requests from a thread of its own: close() waits for them.
            self._senders = [t for t in threading.enumerate() if t not in before and t.daemon and t.is_alive()]
        if not data:
            # The file is shorter than the server said when the reader started.
            self.size = self._pos
        self._pos += len(data)
        return data

    def read(self, n=-1):
        """Up to ``n`` bytes (all that is left when ``n`` is negative or None); b"" at the end."""
        parts = []
        want = -1 if n is None or n < 0 else n
        while want != 0:
            if self._off >= len(self._buf):
                self._buf, self._off = self._next_block(), 0
                if not self._buf:
                    break
            end = len(self._buf) if want < 0 else self._off + want
            piece = self._buf[self._off:end]
            self._off += len(piece)
            if want > 0:
                want -= len(piece)
            parts.append(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)  # b"" when there is none

    def _join_senders(self):
        deadline = time.time() + SENDERS_WAIT
        for t in self._senders:
            t.join(max(0.0, deadline - time.time()))
        self._senders = []

    def close(self):
        """Close the file once the requests asked for are sent (a request sent after its
        channel was closed would fail in its thread)."""
        self._join_senders()
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_reader(sftp, path, window=WINDOW, block=BLOCK):
    """An SftpReader of ``path`` opened through the paramiko SFTP client ``sftp``
    (IOError as paramiko raises it when the file cannot be opened or stat'ed)."""
    f = sftp.open(path, "rb")
    try:
        return SftpReader(f, window, block)
    except BaseException:
        f.close()
        raise
