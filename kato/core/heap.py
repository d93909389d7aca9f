"""Cyclic garbage collection kept out of the request path (issue 10 req 4).

A serving process holds a large heap that lives as long as the process: the imported
modules (FastAPI, pydantic, the storage clients) and every node's pattern index. CPython's
full (generation-2) collection walks all of it: measured at 0.5-0.9 s per pass on this
project's 2-core machine with 1,000-10,000 patterns indexed, landing on whichever request
allocated at that moment (the p99 of GET predictions was ~150 ms against a p50 of ~3 ms).
``gc.freeze()`` moves the objects alive at that moment into a permanent generation that
collections never scan; what a request allocates is still collected as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between two young-generation collections (CPython's default is 700). A GET
# predictions builds ~3,000 containers; most are freed by reference counting as soon as the
# response is sent, so a larger window lets fewer, not larger, collections find them dead.
# The same figure as the bulk commands (kato/cli_data.py); memory stays bounded because
# acyclic garbage never waits for a collection.
YOUNG_THRESHOLD = 50_000


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection while a large, long-lived structure is built (an index load):
    every pass would walk the growing structure again, doubling the load's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def settle() -> None:
    """Everything alive now is long-lived: keep it out of every later collection.

    Called after loading a large index. Garbage cycles allocated just before stay in memory
    (frozen objects are never collected), which is why callers do it after a load, not per
    request.
    """
    gc.freeze()


def tune_for_serving() -> None:
    """When a serving process has started: drop the start-up garbage, freeze the rest
    (modules, app, settings), and collect the young generation less often.

    Once per process: a process that already froze (a second app in one test process) skips
    the full collection, which costs a fraction of a second on a large heap.
    """
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
