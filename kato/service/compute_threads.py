"""Prediction computations off the event loop, handed over for less than anyio's hand-over.

A GET predictions at 1,000 patterns computes for ~0.4 ms; handing that computation to a
thread with Starlette's ``run_in_threadpool`` (anyio's ``to_thread.run_sync``) cost ~0.2 ms
more (measured: the same requests computed inline took that much less server CPU, issue 10
req 4) — two checkpoints (loop iterations), a capacity limiter, a cancel scope, a Python
``queue.Queue`` and its condition variable on each side. The computation must still leave
the loop (it may reach a store: the node's revision check, a catch-up), so this keeps the
thread and drops the rest: a C ``SimpleQueue`` to the thread, ``call_soon_threadsafe`` back
(~0.07 ms less per request, in-process).

What stays as anyio does it: the call runs in a copy of the caller's context, its exception
reaches the caller, and a cancelled caller still waits for its computation to end (so a
prediction slot is held exactly as long as a thread computes for it). The caller bounds the
concurrency (the service's ``prediction_slots``); a call never waits for a thread, because
one is started whenever every started thread is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# A job: where to report, and what to call.
_Job = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    contextvars.Context,
    Callable[..., Any],
    tuple[Any, ...],
]


class ComputeThreads:
    """Daemon threads, started on demand, that run calls for the event loop."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        # Jobs not yet reported back; counted on the event loop only (``run``, ``_report``).
        self._busy = 0

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in one of the threads; its result, or its exception raised."""
        loop = asyncio.get_running_loop()
        if self._busy == len(self._threads):
            self._start_thread()
        self._busy += 1
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, contextvars.copy_context(), function, args))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # As anyio's run_sync: the caller's cancellation waits for the computation.
            await asyncio.wait((future,))
            raise

    def close(self) -> None:
        """Let every thread end once it has finished its current job."""
        for _ in self._threads:
            self._jobs.put(None)
        self._threads.clear()

    def _start_thread(self) -> None:
        number = len(self._threads) + 1
        thread = threading.Thread(target=self._work, name=f"{self._name}-{number}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, context, function, args = job
            try:
                outcome, failure = context.run(function, *args), None
            except BaseException as exc:  # reported to the caller, as anyio does
                outcome, failure = None, exc
            # A RuntimeError: the loop closed meanwhile, nobody is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._report, future, outcome, failure)
            del job, future, outcome, failure  # no reference kept while the thread waits

    def _report(
        self, future: asyncio.Future[Any], outcome: Any, failure: BaseException | None
    ) -> None:
        self._busy -= 1
        if failure is not None:
            future.set_exception(failure)
        else:
            future.set_result(outcome)
