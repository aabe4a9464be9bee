"""The threads that run the app for the front's event loop (app.front.threads): each call's
outcome or failure reaches the coroutine that awaits it, no more threads run than allowed, and
shutting down lets the calls already queued finish."""

import asyncio
import threading

import pytest

from app.front.threads import AppThreads


def test_a_calls_outcome_reaches_the_coroutine_awaiting_it_from_a_named_thread():
    threads = AppThreads(2, "app")

    async def main():
        return await threads.run(asyncio.get_running_loop(), lambda: threading.current_thread().name)

    assert asyncio.run(main()) == "app_0"
    threads.shutdown()


def test_a_calls_exception_is_raised_in_the_coroutine_awaiting_it():
    threads = AppThreads(1, "app")

    async def main():
        return await threads.run(asyncio.get_running_loop(), lambda: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        asyncio.run(main())
    threads.shutdown()


def test_calls_beyond_the_threads_wait_their_turn_and_all_finish():
    threads = AppThreads(3, "app")
    release = threading.Event()

    def call(number):
        release.wait(5)
        return number, threading.current_thread().name

    async def main():
        loop = asyncio.get_running_loop()
        futures = [threads.run(loop, lambda n=n: call(n)) for n in range(10)]
        await asyncio.sleep(0.1)
        release.set()
        return await asyncio.gather(*futures)

    outcomes = asyncio.run(main())
    assert [number for number, _ in outcomes] == list(range(10))
    assert {name for _, name in outcomes} <= {"app_0", "app_1", "app_2"}
    assert len(threads.threads) == 3
    threads.shutdown()


def test_shutting_down_finishes_queued_calls_and_then_refuses_new_ones():
    threads = AppThreads(1, "app")
    release = threading.Event()

    async def main():
        loop = asyncio.get_running_loop()
        first = threads.run(loop, lambda: release.wait(5))
        second = threads.run(loop, lambda: "queued before the shutdown")
        threads.shutdown()
        with pytest.raises(RuntimeError):
            threads.run(loop, lambda: "after")
        release.set()
        return await first, await second

    assert asyncio.run(main()) == (True, "queued before the shutdown")
    threads.threads[0].join(5)
    assert not threads.threads[0].is_alive()


def test_a_call_whose_awaiting_coroutine_gave_up_leaves_the_thread_working():
    threads = AppThreads(1, "app")
    release = threading.Event()

    async def main():
        loop = asyncio.get_running_loop()
        abandoned = threads.run(loop, lambda: release.wait(5))
        abandoned.cancel()
        release.set()
        return await threads.run(loop, lambda: "next")

    assert asyncio.run(main()) == "next"
    threads.shutdown()
