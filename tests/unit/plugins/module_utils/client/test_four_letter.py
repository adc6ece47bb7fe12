"""four_letter: reads answers to EOF, retries empty answers, explains failures."""
import socket
import threading

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.client import four_letter


class FakeServer:
    """A loopback TCP server that answers each connection from a list of byte chunks."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        while self.answers:
            conn, _addr = self.sock.accept()
            self.received.append(conn.recv(4))
            for chunk in self.answers.pop(0):
                conn.sendall(chunk)
            conn.close()

    def close(self):
        self.sock.close()


def test_reads_answer_in_many_chunks_to_eof():
    body = [b"Zookeeper version: 3.8.0\n", b"Mode: follower\n", b"x" * 70000 + b"\n"]
    srv = FakeServer([body])
    try:
        text = four_letter.send("127.0.0.1", srv.port, "srvr")
    finally:
        srv.close()
    assert text == b"".join(body).decode()
    assert srv.received == [b"srvr"]


def test_empty_answer_is_retried():
    srv = FakeServer([[], [b"Mode: leader\nZxid: 0x10\n"]])
    try:
        st = four_letter.srvr("127.0.0.1", srv.port)
    finally:
        srv.close()
    assert st["Mode"] == "leader" and st["serving"] is True


def test_not_serving_and_not_whitelisted():
    srv = FakeServer([[four_letter.NOT_SERVING.encode() + b"\n"],
                      [b"mntr is not executed because it is not in the whitelist.\n"]])
    try:
        assert four_letter.srvr("127.0.0.1", srv.port)["serving"] is False
        with pytest.raises(four_letter.NotWhitelisted):
            four_letter.send("127.0.0.1", srv.port, "mntr")
    finally:
        srv.close()


def test_refused_and_not_zookeeper():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(four_letter.FourLetterError) as e:
        four_letter.send("127.0.0.1", port, "srvr")
    assert e.value.reason == "refused" and "127.0.0.1:%d" % port in str(e.value)
    srv = FakeServer([[b"SSH-2.0-OpenSSH_9.2p1\r\n"]])
    try:
        with pytest.raises(four_letter.FourLetterError) as e:
            four_letter.srvr("127.0.0.1", srv.port)
    finally:
        srv.close()
    assert e.value.reason == "not_zookeeper"


@pytest.mark.parametrize("text,expected", [
    ("zk1:2181", ("zk1", 2181)), ("zk1", ("zk1", 2181)), ("[::1]:2281", ("::1", 2281)),
    ("10.0.0.1:2888", ("10.0.0.1", 2888)),
])
def test_split_hostport(text, expected):
    assert four_letter.split_hostport(text) == expected


def test_parsers():
    assert four_letter.parse_tab_lines("zk_version\t3.8.0\nzk_znode_count\t5\n") == {
        "zk_version": "3.8.0", "zk_znode_count": "5"}
    assert four_letter.parse_equals_lines("clientPort=2181\ndataDir=/var/lib/zookeeper\n")[
        "dataDir"] == "/var/lib/zookeeper"
