"""The Flask (WSGI) app run from the front: its environ built from the ASGI scope with the
path as the caller wrote it, its answer sent back whole or streamed, and the caller's leaving
noticed; plus the answers the front gives itself."""

import asyncio
import io
import json
import logging
import threading
from urllib.parse import unquote_to_bytes

from app.exceptions import RestError
from app.urls import RAW_URI, REQUEST_URI

log = logging.getLogger(__name__)

# A streamed answer is handed to the server in pieces of about this size; a shorter one in one go.
FLUSH_BYTES = 64 * 1024


class Disconnect:
    """Fires once when the caller leaves; callbacks run on the event loop's thread."""

    def __init__(self):
        self._fired = False  # a flag, not a threading.Event: nobody waits on it
        self._callbacks = []
        self._lock = threading.Lock()
        self._retired = False

    def is_set(self) -> bool:
        return self._fired

    def on(self, callback) -> None:
        with self._lock:
            if self._retired:
                return
            if not self._fired:
                self._callbacks.append(callback)
                return
        callback()

    def retire(self) -> None:
        """The request is over: later callers' leaving must not touch what it used."""
        with self._lock:
            self._callbacks = []
            self._retired = True

    def set(self) -> None:
        with self._lock:
            self._fired = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("disconnect callback failed")


class DisconnectWatch:
    """What a request that may wait long (a forward) asks for through environ[WATCH_DISCONNECT]:
    calling it, on the app's thread, returns the request's `Disconnect`, and has the event loop
    start reading `receive` for the caller's leaving. Only requests that ask pay for a watch,
    and only once their body is complete (until then, reading it notices a caller who left).
    `stop()`, on the loop when the request is over, cancels the watch or keeps it from starting.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, receive, streamed):
        self.loop, self.receive, self.streamed = loop, receive, streamed
        self.disconnect = Disconnect()
        self.task: asyncio.Task | None = None
        self.stopped = False

    def __call__(self) -> Disconnect:
        if self.streamed is not None and self.streamed.more:
            self.streamed.on_complete = lambda: self.loop.call_soon_threadsafe(self.start)
        else:
            self.loop.call_soon_threadsafe(self.start)
        return self.disconnect

    def start(self) -> None:
        if self.task is None and not self.stopped:
            self.task = self.loop.create_task(self.watch())

    def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            self.task.cancel()

    async def watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self.disconnect.set()


class Exchange:
    """One run of the WSGI app on a worker thread. A short answer is returned whole, for the
    event loop to send in one go; a long one (a forwarded search or scroll) is sent from the
    thread as it comes, and stops when the caller leaves."""

    def __init__(self, app, environ, loop, send, disconnect: Disconnect):
        self.app, self.environ, self.loop, self.send = app, environ, loop, send
        self.disconnect = disconnect
        self.status, self.headers = 500, []
        self.started = False

    def start_response(self, status, headers, exc_info=None):
        self.status = int(status.split(" ", 1)[0])
        self.headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                        for name, value in headers]

    def push(self, message) -> None:
        async def send():
            await self.send(message)  # granian's send() is awaitable, not a coroutine

        asyncio.run_coroutine_threadsafe(send(), self.loop).result()

    def run(self):
        """Runs the app on this (pooled) thread. Returns (status, headers, body) when the whole
        answer is shorter than FLUSH_BYTES, for the event loop to send; otherwise sends it from
        here as it comes (each message handed to the loop and waited for), stops reading the
        app's answer when the caller leaves, and returns None. Either way the answer's source is
        closed here, after the disconnect watch is retired."""
        result = self.app(self.environ, self.start_response)
        try:
            chunks, size = [], 0
            iterator = iter(result)
            for chunk in iterator:
                chunks.append(chunk)
                size += len(chunk)
                if size >= FLUSH_BYTES:
                    break
            else:
                return self.status, self.headers, b"".join(chunks)
            self.started = True
            self.push({"type": "http.response.start", "status": self.status,
                       "headers": self.headers})
            self.push({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
            try:
                for chunk in iterator:
                    if self.disconnect.is_set():
                        return None  # the caller left: stop reading the rest
                    if chunk:
                        self.push({"type": "http.response.body", "body": chunk, "more_body": True})
            except Exception:
                if self.disconnect.is_set():
                    return None  # its source was cut off because the caller left
                raise
            self.push({"type": "http.response.body", "body": b""})
            return None
        finally:
            # Before the answer's source is closed and its connection pooled for someone else.
            self.disconnect.retire()
            close = getattr(result, "close", None)
            if close is not None:
                close()


def build_environ(scope, body, declared: int | None) -> dict:
    """The WSGI environ of the request, with `RAW_URI`/`REQUEST_URI` as the caller wrote them."""
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
    query = scope.get("query_string", b"")
    raw_uri = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client") or ("", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        RAW_URI: raw_uri,
        REQUEST_URI: raw_uri,
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        # A body received whole is read from memory (BytesIO shares the bytes, no copy).
        "wsgi.input": body if not isinstance(body, bytes) else io.BytesIO(body),
        "wsgi.errors": ErrorStream(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        # The body is complete or ends where the stream ends: werkzeug may read chunked bodies.
        "wsgi.input_terminated": True,
    }
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        text = value.decode("latin-1")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    if declared is None:
        environ.pop("CONTENT_LENGTH", None)
    return environ


class ErrorStream:
    def write(self, text: str) -> None:
        log.error("%s", text.rstrip())

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


def header(headers, name: bytes) -> str | None:
    """The first value of the request header `name` (lower-case), as text."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def answer(send, error: RestError, *, close: bool = False, headers=()) -> None:
    """An answer the front gives itself, in Elasticsearch's envelope, with `headers` besides."""
    body = json.dumps(error.to_envelope()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-elastic-product", b"Elasticsearch"),
               *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers)]
    if close:  # the rest of the body must not be read as the next request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
