"""The least an ASGI app under granian can do: what the floor phase (scripts/bench/floor.py)
measures the service against. `GET /` is answered on the event loop; `GET /hop` after one
round trip to a thread of its own, as the service's front hands every request to an app
thread and takes the answer back (app/front/threads.py)."""

import asyncio
import queue
import threading

ANSWER = b'{"live":true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
_calls: queue.SimpleQueue = queue.SimpleQueue()


def _answer_on_a_thread() -> None:
    while True:
        loop, future = _calls.get()
        loop.call_soon_threadsafe(future.set_result, ANSWER)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                threading.Thread(target=_answer_on_a_thread, daemon=True).start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = ANSWER
    if scope["path"] == "/hop":
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        _calls.put((loop, future))
        body = await future
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})
