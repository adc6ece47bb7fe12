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


def codec_of(filename):
    """The codec an archive file name says (by its suffix before any '.enc')."""
    name = filename[:-4] if filename.endswith(".enc") else filename
    for codec, suffix in SUFFIX.items():
        if suffix and name.endswith(suffix):
            return codec
    return "none"
