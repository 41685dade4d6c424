"""Batches from a stream that may pause.

A pipe that sends five puzzles and then waits must get their answers while it
waits, so records are read on a helper thread and a batch goes out either when
it is full or when the input has been quiet for `stall` seconds. The queue
between the two is bounded, so memory stays bounded however long the input.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_END = object()
STALL_SECONDS = 0.05


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def _pump(items: Iterable, q: queue.Queue) -> None:
    try:
        for item in items:
            q.put(item)
    except BaseException as exc:  # the reader's error belongs to the consumer
        q.put(_Failure(exc))
    finally:
        q.put(_END)


class Feed:
    """Items of an iterable read on a helper thread into a bounded queue, so the
    consumer can wait for the next one with a timeout (or not at all)."""

    END = _END

    def __init__(self, items: Iterable, size: int):
        self.q: queue.Queue = queue.Queue(maxsize=size)
        threading.Thread(target=_pump, args=(items, self.q), daemon=True, name="rsolve-reader").start()

    def get(self, timeout: float):
        """The next item, Feed.END at the end, or raises queue.Empty after `timeout` seconds
        (0: do not wait). The reader's error is raised here."""
        item = self.q.get(timeout=timeout) if timeout > 0 else self.q.get_nowait()
        if isinstance(item, _Failure):
            raise item.exc
        return item


def batches(items: Iterable[T], size: int, stall: float = STALL_SECONDS) -> Iterator[list[T]]:
    """Lists of up to `size` items in order; a partial list when the input stalls."""
    feed = Feed(items, size)  # one batch read ahead
    batch: list[T] = []
    while True:
        try:
            # short waits keep the main thread responsive to Ctrl-C
            item = feed.get(stall if batch else 0.5)
        except queue.Empty:
            if batch:
                yield batch
                batch = []
            continue
        if item is Feed.END:
            break
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
