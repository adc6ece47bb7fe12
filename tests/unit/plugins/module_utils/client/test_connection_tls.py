"""A failed TLS handshake leaves no socket open."""
import gc
import socket
import ssl
import threading
import warnings

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection


@pytest.fixture
def not_tls():
    """A local port that answers a TLS client hello with plain text, then closes."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _addr = srv.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"this is not TLS\n" * 8)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()
    t.join(5)
    srv.close()


def test_failed_handshake_closes_its_socket(not_tls):
    handler = connection.ClosingHandler()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ssl.SSLError):
            handler.create_connection(not_tls, timeout=5.0, use_ssl=True, verify_certs=False)
        gc.collect()
    leaks = [w for w in seen if issubclass(w.category, ResourceWarning)]
    assert leaks == [], [str(w.message) for w in leaks]


def test_tls_client_uses_the_closing_handler():
    c = connection.make_client({"hosts": "127.0.0.1:1", "tls": True, "tls_verify": False})
    try:
        assert isinstance(c.handler, connection.ClosingHandler)
    finally:
        c.close()
