"""stream_pipe: chunks arrive in order, errors reach the consumer, cancelling stops the producer."""
import threading

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.common.stream_pipe import BackgroundProducer


def test_output_is_coalesced_and_ordered():
    def produce(write):
        for i in range(1000):
            write(b"%04d" % i)
        return "done"
    with BackgroundProducer(produce, chunk=1000, depth=2) as p:
        chunks = list(p)
    assert b"".join(chunks) == b"".join(b"%04d" % i for i in range(1000))
    assert all(len(c) >= 1000 for c in chunks[:-1])
    assert p.result == "done"


def test_producer_error_is_raised_in_the_consumer():
    def produce(write):
        write(b"x" * 10)
        raise ValueError("disk read failed")
    with pytest.raises(ValueError, match="disk read failed"):
        with BackgroundProducer(produce, chunk=1) as p:
            list(p)


def test_cancel_stops_a_blocked_producer():
    stopped = threading.Event()

    def produce(write):
        try:
            while True:
                write(b"y" * 100)
        finally:
            stopped.set()
    with BackgroundProducer(produce, chunk=100, depth=1) as p:
        next(iter(p))
    assert stopped.wait(5)
