# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a producer of bytes in a thread and hand its output over in chunks.

Reading, hashing and compressing (which release the GIL in C) then overlap with
sending over SSH in the calling thread.  The queue is bounded: memory stays at about
``depth`` x ``chunk`` bytes however large the stream is.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import sys
import threading

import queue

_END = object()


class Cancelled(Exception):
    pass


class BackgroundProducer:
    """``produce(write)`` runs in a thread; iterating yields what it wrote.

    An exception in the producer is raised again in the consumer at the end of the
    iteration.  ``cancel()`` (or leaving a ``with`` block early) makes the producer's
    next ``write`` raise Cancelled and waits for the thread to end.
    """

    def __init__(self, produce, chunk=1 << 20, depth=8):
        self._produce = produce
        self._chunk = chunk
        self._queue = queue.Queue(maxsize=depth)
        self._cancel = threading.Event()
        self._buf = []
        self._size = 0
        self._error = None
        self.result = None
        self._thread = threading.Thread(target=self._run, name="zkops-producer")
        self._thread.daemon = True

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.cancel()
        return False

    def _put(self, item):
        while True:
            if self._cancel.is_set():
                raise Cancelled()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def write(self, data):
        if self._cancel.is_set():
            raise Cancelled()
        if not data:
            return
        self._buf.append(data)
        self._size += len(data)
        if self._size >= self._chunk:
            self._flush()

    def _flush(self):
        if self._buf:
            data = b"".join(self._buf) if len(self._buf) > 1 else self._buf[0]
            self._buf, self._size = [], 0
            self._put(data)

    def _run(self):
        try:
            self.result = self._produce(self.write)
            self._flush()
        except Cancelled:
            pass
        except BaseException:  # handed to the consumer
            self._error = sys.exc_info()
        try:
            self._put(_END)
        except Cancelled:
            pass

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is _END:
                break
            yield item
        self._thread.join()
        if self._error is not None:
            raise self._error[1].with_traceback(self._error[2])

    def cancel(self):
        self._cancel.set()
        if self._thread.ident is None:
            return
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()
