"""The worker-thread prefetch used by the store step and the access package."""

from __future__ import annotations

import threading

import pytest

from recordings.vault.prefetch import prefetched


def test_chunks_arrive_in_order_and_the_worker_ends():
    produced = (bytes([n]) * 10 for n in range(50))

    received = list(prefetched(produced, name="test"))

    assert received == [bytes([n]) * 10 for n in range(50)]
    assert not [t for t in threading.enumerate() if t.name == "prefetch-test"]


def test_an_error_of_the_producer_is_raised_in_the_consumer():
    def failing():
        yield b"first"
        raise OSError("disk gone")

    chunks = prefetched(failing(), name="test")

    assert next(chunks) == b"first"
    with pytest.raises(OSError, match="disk gone"):
        next(chunks)


def test_closing_the_consumer_stops_the_worker_and_closes_the_producer():
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield b"x" * 1000
        finally:
            closed.set()

    chunks = prefetched(endless(), name="test", depth=2)
    next(chunks)
    chunks.close()

    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "prefetch-test"]
