"""``ComputeThreads`` (kato/service/compute_threads.py) keeps what ``run_in_threadpool`` gave
the prediction path: another thread, the caller's context, its exception, a started thread
per concurrent call, and a cancelled caller that waits for its computation."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from kato.service.compute_threads import ComputeThreads

_REQUEST = contextvars.ContextVar("request", default="none")


def _where() -> tuple[str, str]:
    return threading.current_thread().name, _REQUEST.get()


def test_runs_in_a_named_thread_with_the_callers_context() -> None:
    threads = ComputeThreads("compute-test")

    async def call() -> tuple[str, str]:
        _REQUEST.set("r-1")
        return await threads.run(_where)

    try:
        name, request = asyncio.run(call())
    finally:
        threads.close()
    assert name == "compute-test-1"
    assert request == "r-1"


def test_an_exception_reaches_the_caller() -> None:
    threads = ComputeThreads("compute-test")

    def fail(message: str) -> None:
        raise KeyError(message)

    try:
        with pytest.raises(KeyError, match="nope"):
            asyncio.run(threads.run(fail, "nope"))
    finally:
        threads.close()


def test_a_thread_per_concurrent_call_and_reuse_after() -> None:
    threads = ComputeThreads("compute-test")
    barrier = threading.Barrier(3, timeout=10)  # passes only with three calls running at once

    def meet() -> str:
        barrier.wait()
        return threading.current_thread().name

    async def calls() -> tuple[set[str], str]:
        together = await asyncio.gather(*(threads.run(meet) for _ in range(3)))
        later = await threads.run(_where)
        return set(together), later[0]

    try:
        together, later = asyncio.run(calls())
    finally:
        threads.close()
    assert together == {"compute-test-1", "compute-test-2", "compute-test-3"}
    assert later in together  # an idle thread is reused, none started


def test_a_cancelled_caller_waits_for_its_computation() -> None:
    threads = ComputeThreads("compute-test")
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def slow() -> None:
        started.set()
        release.wait(timeout=10)
        finished.append(True)

    async def cancel_while_running() -> None:
        task = asyncio.create_task(threads.run(slow))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # still waiting for the thread
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished == [True]

    try:
        asyncio.run(cancel_while_running())
    finally:
        threads.close()


def test_close_ends_the_threads() -> None:
    threads = ComputeThreads("compute-close")
    asyncio.run(threads.run(_where))
    (thread,) = [t for t in threading.enumerate() if t.name == "compute-close-1"]
    threads.close()
    thread.join(timeout=10)
    assert not thread.is_alive()
