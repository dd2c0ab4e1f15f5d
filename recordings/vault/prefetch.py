"""Run a chunk producer in a worker thread, a few chunks ahead of its consumer.

Decrypting, CRC-32, SHA-256 and file I/O each spend most of their time in C; the I/O, CRC-32
and hashing release the GIL, so a producer and a consumer on two threads share two cores. Used by
the access package: the ZIP is built (audio read, decrypted and CRC-ed) in the worker while the
caller encrypts and writes it. AES-GCM holds the GIL, so encryption gains nothing from a thread
of its own: the store step encrypts and writes in one (``recordings.vault.storage``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable

DEFAULT_DEPTH = 2


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def prefetched(chunks: Iterable[bytes], *, name: str, depth: int = DEFAULT_DEPTH) -> Generator[bytes]:
    """Iterate ``chunks`` in a worker thread, at most ``depth`` chunks ahead of the consumer.

    An exception of the worker is raised here, in the consumer; closing this
    generator stops the worker, which closes ``chunks`` (and so the files it had open). ``name``
    names the thread.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        iterator = iter(chunks)
        try:
            for chunk in iterator:
                if not put(chunk):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            put(_Failure(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name=f"prefetch-{name}", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()
