"""transport.reading: a file read through SFTP from start to end with a bounded read-ahead,
against OpenSSH's sftp-server (tests/sftp_local.py: paramiko's client, the real server, a
proxy that records every read request)."""
import os
import time

import pytest

from sftp_local import LocalSftp, write_file

from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import reading

KIB = 1024
BLOCK = 64 * KIB
WINDOW = 256 * KIB


@pytest.fixture
def sftp():
    s = LocalSftp()
    yield s
    s.close()


@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * WINDOW + 12345])
def test_every_byte_in_order_whatever_the_sizes_read(sftp, tmp_path, size):
    path = str(tmp_path / "f")
    data = write_file(path, size)
    for pattern in ([1, 0, 1000, 70000, -1], [BLOCK], [None], [3 * WINDOW, 7]):
        got = []
        with reading.open_reader(sftp.client, path, window=WINDOW, block=BLOCK) as r:
            assert r.size == size
            i = 0
            while True:
                n = pattern[min(i, len(pattern) - 1)]
                i += 1
                piece = r.read(n) if n is not None else r.read()
                if n == 0:
                    assert piece == b""
                    continue
                if not piece:
                    break
                got.append(piece)
            assert r.read(10) == b"" and r.read(0) == b"" and r.read() == b""
        assert b"".join(got) == data, pattern


def _ahead(sftp, r, reads, pause=0.3):
    """The most bytes asked for ahead of what the reader took, reading ``reads`` blocks with a
    pause after the first (the server answers meanwhile, as it does for a slow reader)."""
    taken, most = 0, 0
    for i in range(reads):
        piece = r.read(BLOCK)
        if not piece:
            break
        taken += len(piece)
        if i == 0:
            time.sleep(pause)
        most = max(most, sftp.proxy.asked_end - taken)
    return most, taken


def test_never_more_than_a_window_is_asked_for_ahead_of_the_reader(sftp, tmp_path):
    size = 8 * 1024 * KIB
    path = str(tmp_path / "big")
    write_file(path, size)
    with reading.open_reader(sftp.client, path, window=WINDOW, block=BLOCK) as r:
        most, taken = _ahead(sftp, r, reads=size // BLOCK)
    assert taken == size
    assert most <= WINDOW + BLOCK, most
    # Every byte asked for once, give or take the block paramiko reads again on its own when
    # its prefetch thread falls behind the reader (it then reads that block request by request).
    assert size <= sum(n for _o, n in sftp.proxy.reads) <= size + BLOCK


def test_paramikos_prefetch_asks_for_the_whole_file_at_once(sftp, tmp_path):
    # What the reader replaces: prefetch() asks for everything before the reader took more
    # than a block (the measure above would see the whole file).
    size = 8 * 1024 * KIB
    path = str(tmp_path / "big")
    write_file(path, size)
    with sftp.client.open(path, "rb") as f:
        f.prefetch(size)
        f.read(BLOCK)
        time.sleep(0.3)
        assert sftp.proxy.asked_end == size
        while f.read(BLOCK):
            pass


def test_the_end_is_the_size_the_server_gives_even_when_the_file_shrinks(sftp, tmp_path):
    path = str(tmp_path / "f")
    data = write_file(path, 4 * WINDOW)
    with reading.open_reader(sftp.client, path, window=WINDOW, block=BLOCK) as r:
        first = r.read(BLOCK)
        os.truncate(path, 2 * WINDOW + 100)
        rest = r.read()
    got = first + rest
    # What was there when asked for: never more than the file held, never past its start.
    assert data.startswith(got) and BLOCK <= len(got) <= 4 * WINDOW
    assert sftp.proxy.asked_end <= 4 * WINDOW


def test_a_missing_file_raises_ioerror(sftp, tmp_path):
    with pytest.raises(IOError):
        reading.open_reader(sftp.client, str(tmp_path / "missing"))
