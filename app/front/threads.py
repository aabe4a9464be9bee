"""The threads that run the app for the event loop, each call's outcome handed straight back.

`loop.run_in_executor` goes through a concurrent.futures Future (a condition variable of its
own), a chained asyncio future and two rounds of callbacks for every request; here a call is a
queue entry and its outcome one `call_soon_threadsafe` onto the future the loop awaits, which
is about a third of what the hand-off cost a heartbeat (docs/benchmark.md).
"""

import asyncio
import queue
import threading

_STOP = None


class AppThreads:
    """At most `size` threads named `<name>_<n>`, started as calls find none idle."""

    def __init__(self, size: int, name: str):
        self.size, self.name = size, name
        self.calls: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.idle = 0
        self.lock = threading.Lock()
        self.stopped = False

    def run(self, loop: asyncio.AbstractEventLoop, call) -> asyncio.Future:
        """A future of the loop's, settled with what `call()` returns or raises on a thread."""
        if self.stopped:
            raise RuntimeError("the app's threads are stopped")
        future = loop.create_future()
        with self.lock:
            if self.idle:
                self.idle -= 1
            elif len(self.threads) < self.size:
                thread = threading.Thread(target=self.work, daemon=True,
                                          name=f"{self.name}_{len(self.threads)}")
                self.threads.append(thread)
                thread.start()
        self.calls.put((loop, future, call))
        return future

    def work(self) -> None:
        while True:
            item = self.calls.get()
            if item is _STOP:
                return
            loop, future, call = item
            try:
                outcome, failure = call(), None
            except BaseException as err:  # handed to the awaiting coroutine, as an executor does
                outcome, failure = None, err
            del item, call
            try:
                loop.call_soon_threadsafe(settle, future, outcome, failure)
            except RuntimeError:
                pass  # the loop is closed: nobody awaits the outcome any more
            with self.lock:
                self.idle += 1

    def shutdown(self) -> None:
        """No new calls; each thread ends once the calls queued before are done."""
        self.stopped = True
        for _ in self.threads:
            self.calls.put(_STOP)


def settle(future: asyncio.Future, outcome, failure) -> None:
    if future.cancelled():
        return
    if failure is not None:
        future.set_exception(failure)
    else:
        future.set_result(outcome)
