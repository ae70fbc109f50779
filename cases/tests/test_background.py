"""The prefetching thread between reading a file and loading it."""

from __future__ import annotations

import threading

import pytest

from cases.ingest.background import in_background


def test_items_come_in_order_and_at_most_depth_ahead():
    produced = []
    ahead = []

    def numbers():
        for number in range(20):
            produced.append(number)
            yield number

    consumed = []
    for number in in_background(numbers(), depth=2):
        consumed.append(number)
        ahead.append(len(produced) - len(consumed))

    assert consumed == list(range(20))
    # the item in hand, up to two in the queue, and one the thread holds waiting to put
    assert max(ahead) <= 3


def test_an_error_comes_after_the_items_before_it():
    def breaks():
        yield "first"
        yield "second"
        raise ValueError("the stream broke")

    consumed = []
    with pytest.raises(ValueError, match="the stream broke"):
        for item in in_background(breaks()):
            consumed.append(item)

    assert consumed == ["first", "second"]


def test_a_consumer_that_stops_early_stops_the_thread_and_closes_the_source():
    closed = threading.Event()

    def endless():
        try:
            number = 0
            while True:
                yield number
                number += 1
        finally:
            closed.set()

    consumer = in_background(endless(), depth=1)
    assert next(consumer) == 0
    consumer.close()

    assert closed.wait(5)
    assert not any(thread.name == "fraudcase-prefetch" for thread in threading.enumerate())
