# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming compression codecs for archives: none, gzip, zstd, lz4.

``gzip`` needs only the standard library.  ``zstd`` uses the ``zstandard`` library
(Debian's python3-zstandard or PyPI) and ``lz4`` the ``lz4`` library (python3-lz4);
both write their standard frame format, so ``zstd -d`` and ``lz4 -d`` read the result.
``auto`` picks the fastest codec available: zstd, then lz4, then gzip.

A compressor is an object with ``compress(bytes) -> bytes`` and ``flush() -> bytes``;
a decompressor has ``decompress(bytes) -> bytes`` and ``flush() -> bytes``.

Reading archives goes through ``reader(codec, source)`` instead: a file object whose
``read(n)`` never returns more than ``n`` bytes, however much one input chunk expands
(a few KB of zstd or gzip can stand for gigabytes), so the memory a read takes is
bounded by what the caller asks for, and a caller that counts can stop at its limit.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import zlib

try:
    import zstandard
    HAS_ZSTD = True
except ImportError:  # pragma: no cover - depends on the host
    zstandard = None
    HAS_ZSTD = False

try:
    import lz4.frame as lz4_frame
    HAS_LZ4 = True
except ImportError:  # pragma: no cover - depends on the host
    lz4_frame = None
    HAS_LZ4 = False

CODECS = ("none", "gzip", "zstd", "lz4")
CHOICES = ("auto",) + CODECS
SUFFIX = {"none": "", "gzip": ".gz", "zstd": ".zst", "lz4": ".lz4"}
# Fast levels: a backup competes with the server for the CPU.
DEFAULT_LEVEL = {"none": None, "gzip": 1, "zstd": 1, "lz4": 0}
LIBRARY = {"zstd": ("zstandard", "python3-zstandard"), "lz4": ("lz4", "python3-lz4")}


class CompressionError(Exception):
    pass


def available():
    """The codecs usable on this host."""
    out = ["none", "gzip"]
    if HAS_ZSTD:
        out.append("zstd")
    if HAS_LZ4:
        out.append("lz4")
    return out


def resolve(name):
    """The codec to use for ``name`` (``auto`` picks one); raise when it is missing."""
    if name == "auto":
        if HAS_ZSTD:
            return "zstd"
        if HAS_LZ4:
            return "lz4"
        return "gzip"
    if name not in CODECS:
        raise CompressionError("unknown compression %r (choose from %s)" % (name, ", ".join(CHOICES)))
    if name not in available():
        lib, pkg = LIBRARY[name]
        raise CompressionError("compression %s needs the Python library %s on this host (pip install %s, "
                               "or apt install %s), or choose another compression (available: %s)"
                               % (name, lib, lib, pkg, ", ".join(available())))
    return name


class _Identity:
    eof = True

    def compress(self, data):
        return data

    def decompress(self, data):
        return data

    def flush(self):
        return b""


class _Lz4Compressor:
    def __init__(self, level):
        self._c = lz4_frame.LZ4FrameCompressor(compression_level=level or 0)
        self._head = self._c.begin()

    def compress(self, data):
        out = self._c.compress(data)
        if self._head:
            out, self._head = self._head + out, b""
        return out

    def flush(self):
        return self._head + self._c.flush()


class _FramesDecompressor:
    """A decompressor of concatenated frames (the libraries' objects read one)."""

    def __init__(self, factory):
        self._factory = factory
        self._obj = factory()

    def decompress(self, data):
        out = []
        while data:
            out.append(self._obj.decompress(data))
            rest = getattr(self._obj, "unused_data", b"")
            if not rest:
                break
            self._obj = self._factory()
            data = rest
        return b"".join(out)

    def flush(self):
        return b""

    @property
    def eof(self):
        return getattr(self._obj, "eof", True)


def compressor(codec, level=None, threads=0):
    """A compressor; ``threads`` > 0 lets zstd compress in that many worker threads
    (outside the GIL), so compression overlaps reading and hashing."""
    if level is None:
        level = DEFAULT_LEVEL[codec]
    if codec == "none":
        return _Identity()
    if codec == "gzip":
        return zlib.compressobj(level, zlib.DEFLATED, 31)
    if codec == "zstd":
        return zstandard.ZstdCompressor(level=level, threads=max(0, threads or 0)).compressobj()
    if codec == "lz4":
        return _Lz4Compressor(level)
    raise CompressionError("unknown compression %r" % codec)


def complete(decompressor_obj):
    """True when the compressed stream fed to ``decompressor_obj`` ended properly."""
    return bool(getattr(decompressor_obj, "eof", True))


def decompressor(codec):
    """A decompressor; after the last input, ``complete()`` tells whether the stream ended."""
    if codec == "none":
        return _Identity()
    if codec == "gzip":
        return zlib.decompressobj(31)
    if codec == "zstd":
        return _FramesDecompressor(zstandard.ZstdDecompressor().decompressobj)
    if codec == "lz4":
        return _FramesDecompressor(lz4_frame.LZ4FrameDecompressor)
    raise CompressionError("unknown compression %r" % codec)


class _Reader:
    """Decompressed bytes of ``source`` (a file object of compressed bytes), ``n`` at most per read."""

    def __init__(self, source, chunk):
        self._source = source
        self._chunk = chunk
        self._pending = b""
        self._source_eof = False

    def _more(self):
        """The next input (b"" once the source ended)."""
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        if self._source_eof:
            return b""
        data = self._source.read(self._chunk)
        if not data:
            self._source_eof = True
        return data

    def _trailing(self):
        if self._more():
            raise CompressionError("there are bytes after the end of the compressed stream")


class _PlainReader(_Reader):
    def read(self, n):
        return self._source.read(n) if n > 0 else b""


class _GzipReader(_Reader):
    def __init__(self, source, chunk):
        super(_GzipReader, self).__init__(source, chunk)
        self._obj = zlib.decompressobj(31)
        self._done = False

    def read(self, n):
        if n <= 0:
            return b""
        while not self._done:
            data = self._obj.unconsumed_tail or self._more()
            try:
                out = self._obj.decompress(data, n)
            except zlib.error as exc:
                raise CompressionError("the archive does not decompress: %s" % exc)
            if self._obj.eof:
                self._pending = self._obj.unused_data
                self._done = True
                self._trailing()
            if out:
                return out
            if not data and not self._done:
                raise CompressionError("the compressed stream is truncated (it does not end properly)")
        return b""


class _Lz4Reader(_Reader):
    def __init__(self, source, chunk):
        super(_Lz4Reader, self).__init__(source, chunk)
        self._obj = lz4_frame.LZ4FrameDecompressor()
        self._started = False

    def read(self, n):
        if n <= 0:
            return b""
        stalled = False
        while True:
            need = self._obj.needs_input or stalled
            data = self._more() if need else b""
            if need and not data:
                if self._started and not self._obj.eof:
                    raise CompressionError("the compressed stream is truncated (it does not end properly)")
                return b""
            self._started = True
            try:
                out = self._obj.decompress(data, max_length=n)
            except RuntimeError as exc:
                raise CompressionError("the archive does not decompress: %s" % exc)
            if self._obj.eof:
                self._pending = self._obj.unused_data or b""
                self._obj = lz4_frame.LZ4FrameDecompressor()
                self._started = False
            if out:
                return out
            stalled = not data


class _ZstdReader(_Reader):
    """zstd's stream reader bounds its output by itself; it cannot tell a stream cut at a
    frame boundary from a complete one: the archive's own end and length tell that."""

    def __init__(self, source, chunk):
        super(_ZstdReader, self).__init__(source, chunk)
        self._obj = zstandard.ZstdDecompressor().stream_reader(source, read_size=chunk, read_across_frames=True,
                                                               closefd=False)

    def read(self, n):
        if n <= 0:
            return b""
        try:
            return self._obj.read(n)
        except zstandard.ZstdError as exc:
            raise CompressionError("the archive does not decompress: %s" % exc)


def reader(codec, source, chunk=1 << 16):
    """A file object of the decompressed bytes of ``source``: ``read(n)`` returns at most
    ``n`` bytes (b"" at the end), and raises CompressionError on a damaged or truncated
    stream, or on bytes after its end."""
    if codec == "none":
        return _PlainReader(source, chunk)
    if codec == "gzip":
        return _GzipReader(source, chunk)
    if codec == "zstd":
        return _ZstdReader(source, chunk)
    if codec == "lz4":
        return _Lz4Reader(source, chunk)
    raise CompressionError("unknown compression %r" % codec)


def codec_of(filename):
    """The codec an archive file name says (by its suffix before any '.enc')."""
    name = filename[:-4] if filename.endswith(".enc") else filename
    for codec, suffix in SUFFIX.items():
        if suffix and name.endswith(suffix):
            return codec
    return "none"
