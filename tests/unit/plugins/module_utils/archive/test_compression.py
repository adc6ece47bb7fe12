"""compression: every codec round-trips, auto picks what is installed, names map to codecs."""
import os

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import compression as C

DATA = os.urandom(300000) + b"zookeeper " * 100000


@pytest.mark.parametrize("codec", C.available())
@pytest.mark.parametrize("threads", [0, 1])
def test_round_trip_in_pieces(codec, threads):
    comp = C.compressor(codec, threads=threads)
    parts = [comp.compress(DATA[i:i + 65536]) for i in range(0, len(DATA), 65536)] + [comp.flush()]
    blob = b"".join(parts)
    if codec != "none":
        assert len(blob) < len(DATA)
    dec = C.decompressor(codec)
    out = b"".join(dec.decompress(blob[i:i + 1000]) for i in range(0, len(blob), 1000)) + dec.flush()
    assert out == DATA


@pytest.mark.parametrize("codec", [c for c in C.available() if c in ("zstd", "lz4")])
def test_concatenated_frames_are_read(codec):
    one = C.compressor(codec)
    a = one.compress(b"first ") + one.flush()
    two = C.compressor(codec)
    b = two.compress(b"second") + two.flush()
    assert C.decompressor(codec).decompress(a + b) == b"first second"


def test_auto_prefers_fast_codecs(monkeypatch):
    assert C.resolve("auto") == ("zstd" if C.HAS_ZSTD else "lz4" if C.HAS_LZ4 else "gzip")
    monkeypatch.setattr(C, "HAS_ZSTD", False)
    monkeypatch.setattr(C, "HAS_LZ4", False)
    assert C.resolve("auto") == "gzip"
    with pytest.raises(C.CompressionError) as err:
        C.resolve("zstd")
    assert "python3-zstandard" in str(err.value) and "available: none, gzip" in str(err.value)


def test_unknown_codec_is_refused():
    with pytest.raises(C.CompressionError):
        C.resolve("brotli")


@pytest.mark.parametrize("name,codec", [("archive.tar", "none"), ("archive.tar.gz", "gzip"),
                                        ("archive.tar.zst", "zstd"), ("archive.tar.lz4.enc", "lz4")])
def test_codec_of_name(name, codec):
    assert C.codec_of(name) == codec
