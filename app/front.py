"""The HTTP front: granian's ASGI side, in the same process, in front of the Flask (WSGI) app.

granian's WSGI interface calls the app as soon as the headers arrive and hands it a body that a
thread reads with no deadline (a client that sends one byte and waits holds that thread for
ever), and a PATH_INFO already percent-decoded with no raw path beside it (`a%2Fb` and `a/b`
look the same). This front reads bodies on the event loop, where waiting costs no thread, with
a deadline that grows with what arrives (BODY_TIMEOUT plus one second per BODY_MIN_RATE bytes,
the model of Apache's mod_reqtimeout), and bounds the bodies one client address may have in
flight. Only then does a thread run the app, with the path as the caller wrote it in `RAW_URI`.
Bodies larger than BODY_BUFFER_BYTES (a worker's `_bulk`) are streamed to the app under the same
deadline instead of being held whole. docs/security.md lists what each bound guarantees.

The front also begins and reports every request (app.observability.requests): its ids, its
log line and its metrics, those it answers itself included, once the answer has been sent.
"""

import asyncio
import contextvars
import json
import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_to_bytes

from werkzeug.exceptions import HTTPException

from app.api.paths import routing_path
from app.config import Config
from app.exceptions import RestError, TooManyRequests
from app.observability import context, requests

log = logging.getLogger(__name__)

# A body still arriving this many seconds after its headers counts as slow (BODIES_PER_CLIENT).
SLOW_AFTER = 0.5
# Answered on threads of their own, so probes get an answer while every app thread is busy.
PROBE_PATHS = frozenset({"/_connector_service/health", "/_connector_service/live",
                         "/_connector_service/ready"})
PROBE_THREADS = 2
# A streamed answer is handed to the server in pieces of about this size; a shorter one in one go.
FLUSH_BYTES = 64 * 1024
# The environ key of a function a view calls to learn when its caller leaves (app.api.forwarding).
WATCH_DISCONNECT = "connector_service.watch_disconnect"


class BodyTimeout(RestError):
    """The body did not arrive in time: nothing was forwarded or parsed."""

    status = 408
    error_type = "timeout_exception"


class ClientGone(RestError):
    """The caller closed the connection before its whole body arrived (no one reads the answer)."""

    status = 400
    error_type = "parse_exception"


class BodyClock:
    """When the body's next bytes must have arrived: BODY_TIMEOUT after the headers, plus one
    second for every BODY_MIN_RATE bytes already received."""

    def __init__(self, timeout: float, min_rate: int):
        self.start = time.monotonic()
        self.timeout = timeout
        self.min_rate = min_rate

    def remaining(self, received: int) -> float:
        allowed = self.timeout + (received / self.min_rate if self.min_rate else 0)
        return self.start + allowed - time.monotonic()

    def timeout_error(self, received: int) -> "BodyTimeout":
        return BodyTimeout(f"the request body did not arrive in time: [{received}] bytes in "
                           f"[{time.monotonic() - self.start:.1f}s]")


class Front:
    """The ASGI application granian runs (`app.asgi:app`); `wsgi_app` is the Flask app."""

    def __init__(self, wsgi_app, settings: Config):
        self.app = wsgi_app
        self.access_log = getattr(wsgi_app, "config", {}).get("ACCESS_LOG", True)
        self.body_timeout = settings.BODY_TIMEOUT
        self.min_rate = settings.BODY_MIN_RATE
        self.buffer_bytes = settings.BODY_BUFFER_BYTES
        self.bodies_per_client = settings.BODIES_PER_CLIENT
        self.threads = ThreadPoolExecutor(settings.WEB_THREADS, thread_name_prefix="app")
        self.probe_threads = ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="probe")
        # Bodies still arriving, by client address; only the event loop's thread touches it.
        self.arriving: Counter[str] = Counter()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            await self.http(scope, receive, send)

    async def lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.threads.shutdown(wait=False)
                self.probe_threads.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope, receive, send):
        headers = scope["headers"]
        declared = content_length(headers)
        chunked = any(name == b"transfer-encoding" for name, _ in headers)
        client = (scope.get("client") or ("", 0))[0]
        observed = requests.arrived(
            header(headers, b"x-opaque-id"), header(headers, b"traceparent"),
            method=scope["method"], path=scope["path"], client=client or None,
            user_agent=header(headers, b"user-agent"))
        try:
            body, streamed = b"", None
            if chunked or declared:
                try:
                    body, streamed = await self.receive_body(receive, client, declared)
                except ClientGone as gone:
                    # No one is left to answer.
                    self.account(observed, scope, requests.CLIENT_CLOSED,
                                 ("client_closed_request", gone.reason))
                    return
                except (BodyTimeout, TooManyRequests) as refused:
                    self.account(observed, scope, refused.status,
                                 (refused.error_type, refused.reason))
                    await answer(send, refused, close=True, headers=requests.echo_headers(observed))
                    return
            environ = build_environ(scope, body if streamed is None else streamed, declared)
            environ[requests.BEGUN_BY_SERVER] = observed
            await self.run_app(environ, receive, send, streamed, observed)
        finally:
            requests.request_done(observed, log=self.access_log)

    def account(self, observed, scope, status: int, error: tuple[str, str]) -> None:
        """What a request the front answered itself is logged and counted as: the route the
        app would have served it with, the status, the error's type and reason."""
        observed.status, observed.error = status, error
        if not hasattr(self.app, "url_map"):
            return
        environ = build_environ(scope, b"", None)
        environ["PATH_INFO"] = routing_path(environ)
        try:
            rule, _ = self.app.url_map.bind_to_environ(environ).match(return_rule=True)
        except HTTPException:
            rule = None
        observed.route = requests.route_label(rule)

    async def receive_body(self, receive, client: str, declared: int | None):
        """The body whole (bytes, None), or its start and the stream of the rest (b"", stream).

        A body still arriving after SLOW_AFTER seconds, or one streamed (which takes a thread
        while it arrives), counts against its address's BODIES_PER_CLIENT until it is complete.
        """
        reader = BodyReader(receive, BodyClock(self.body_timeout, self.min_rate),
                            self.buffer_bytes)
        counted = False
        try:
            if not await reader.read(SLOW_AFTER) or reader.more:
                self.count(client)
                counted = True
                await reader.read()
            if not reader.more:
                return reader.body(), None
            stream = StreamedBody(receive, reader.clock, asyncio.get_running_loop(), reader.body())
            stream.on_done = lambda: self.release(client)
            counted = False  # released by the stream when the request is over
            return b"", stream
        finally:
            reader.abandon()
            if counted:
                self.release(client)

    def count(self, client: str) -> None:
        if self.bodies_per_client and self.arriving[client] >= self.bodies_per_client:
            raise TooManyRequests(
                f"too many requests from [{client}] are still sending their bodies (at most "
                f"[{self.bodies_per_client}] at once); retry once they are complete")
        self.arriving[client] += 1

    def release(self, client: str) -> None:
        self.arriving[client] -= 1
        if self.arriving[client] <= 0:
            del self.arriving[client]

    async def run_app(self, environ, receive, send, streamed, observed):
        loop = asyncio.get_running_loop()
        disconnect = Disconnect()
        watchers = []

        def start_watching() -> None:
            if not watchers:
                watchers.append(loop.create_task(watch_disconnect(receive, disconnect)))

        def watch() -> Disconnect:
            """Asked for by a request that may wait long (a forward): `Disconnect` fires when the
            caller leaves. Other requests skip the cost of watching. Only after the body: until
            then, reading it notices a caller who left."""
            if streamed is not None and streamed.more:
                streamed.on_complete = lambda: loop.call_soon_threadsafe(start_watching)
            else:
                loop.call_soon_threadsafe(start_watching)
            return disconnect

        environ[WATCH_DISCONNECT] = watch
        pool = self.probe_threads if environ["PATH_INFO"] in PROBE_PATHS else self.threads
        exchange = Exchange(self.app, environ, loop, send, disconnect)
        # A context of its own on the pooled thread: the request's ids reach every call to
        # Elasticsearch it makes, and nothing of it is left for the thread's next request.
        request_context = contextvars.Context()
        request_context.run(context.use, observed)
        try:
            whole = await loop.run_in_executor(pool, request_context.run, exchange.run)
            if whole is not None:
                status, headers, body = whole
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            observed.status = exchange.status  # what was sent, whatever the app reported
        except Exception as failure:
            log.exception("%s %s failed", environ["REQUEST_METHOD"], environ["PATH_INFO"],
                          extra={"trace.id": observed.trace_id,
                                 "http.request.id": observed.request_id})
            if exchange.started:  # the status is sent; the answer was cut off
                observed.status = exchange.status
                observed.error = (type(failure).__name__, f"the answer was cut off: {failure}")
            else:
                error = RestError("internal server error")
                observed.status, observed.error = error.status, (error.error_type, error.reason)
                await answer(send, error, close=True, headers=requests.echo_headers(observed))
        finally:
            for watcher in watchers:
                watcher.cancel()
            if streamed is not None:
                streamed.done()


class Disconnect:
    """Fires once when the caller leaves; callbacks run on the event loop's thread."""

    def __init__(self):
        self._set = threading.Event()
        self._callbacks = []
        self._lock = threading.Lock()
        self._retired = False

    def is_set(self) -> bool:
        return self._set.is_set()

    def on(self, callback) -> None:
        with self._lock:
            if self._retired:
                return
            if not self._set.is_set():
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
            self._set.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("disconnect callback failed")


async def watch_disconnect(receive, disconnect: Disconnect) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    disconnect.set()


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


class BodyReader:
    """Receives a body on the event loop, up to `limit` bytes, within its BodyClock."""

    def __init__(self, receive, clock: BodyClock, limit: int):
        self.receive, self.clock, self.limit = receive, clock, limit
        self.parts, self.received, self.more = [], 0, True
        # A receive() in flight is kept, never cancelled: its bytes would be lost with it.
        self.pending = None

    async def read(self, seconds: float | None = None) -> bool:
        """True once the body has ended or passed `limit` bytes; False if `seconds` passed
        first. BodyTimeout when the body falls behind its clock, ClientGone if the caller left."""
        give_up = None if seconds is None else time.monotonic() + seconds
        while self.more and self.received <= self.limit:
            remaining = self.clock.remaining(self.received)
            wait = remaining if give_up is None else min(remaining, give_up - time.monotonic())
            if self.pending is None:
                self.pending = asyncio.ensure_future(self.receive())
            done, _ = await asyncio.wait({self.pending}, timeout=max(wait, 0))
            if not done:
                if wait >= remaining:
                    raise self.clock.timeout_error(self.received)
                return False
            message, self.pending = self.pending.result(), None
            if message["type"] == "http.disconnect":
                raise ClientGone("the client closed the connection before the whole body arrived")
            self.parts.append(message.get("body", b""))
            self.received += len(self.parts[-1])
            self.more = message.get("more_body", False)
        return True

    def body(self) -> bytes:
        return b"".join(self.parts)

    def abandon(self) -> None:
        if self.pending is not None:
            self.pending.cancel()


async def next_piece(receive, clock: BodyClock, received: int) -> tuple[bytes, bool]:
    remaining = clock.remaining(received)
    try:
        if remaining <= 0:
            raise TimeoutError
        message = await asyncio.wait_for(receive(), remaining)
    except TimeoutError:
        raise clock.timeout_error(received) from None
    if message["type"] == "http.disconnect":
        raise ClientGone("the client closed the connection before the whole body arrived")
    return message.get("body", b""), message.get("more_body", False)


class StreamedBody:
    """`wsgi.input` for a body too large to buffer: each read waits on the event loop, within
    the body's deadline. A body that stops arriving, or a caller that leaves, raises a RestError
    from read(), which stops whatever is consuming it (a forward to Elasticsearch is cut off
    before it is complete, so Elasticsearch never acts on it)."""

    def __init__(self, receive, clock: BodyClock, loop, prefix: bytes = b""):
        self._receive, self._clock, self._loop = receive, clock, loop
        self._buffer = bytearray(prefix)
        self._received = len(prefix)
        self._more = True
        self.on_done = None
        self.on_complete = None

    @property
    def more(self) -> bool:
        """Whether the body has not yet arrived whole."""
        return self._more

    def _fill(self, wanted: int | None) -> None:
        while self._more and (wanted is None or len(self._buffer) < wanted):
            future = asyncio.run_coroutine_threadsafe(
                next_piece(self._receive, self._clock, self._received), self._loop)
            data, self._more = future.result()
            self._buffer += data
            self._received += len(data)
        if not self._more and self.on_complete is not None:
            self.on_complete()
            self.on_complete = None

    def read(self, size: int | None = -1) -> bytes:
        wanted = None if size is None or size < 0 else size
        self._fill(wanted)
        cut = len(self._buffer) if wanted is None else min(wanted, len(self._buffer))
        data = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        while b"\n" not in self._buffer and self._more:
            self._fill(len(self._buffer) + 1)
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        if size is not None and size >= 0:
            end = min(end, size)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    def __iter__(self):
        while line := self.readline():
            yield line

    def done(self) -> None:
        if self.on_done is not None:
            self.on_done()
            self.on_done = None


def content_length(headers) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


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
        "RAW_URI": raw_uri,
        "REQUEST_URI": raw_uri,
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body if not isinstance(body, bytes) else BufferedBody(body),
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


class BufferedBody:
    """`wsgi.input` over a body already received whole."""

    def __init__(self, data: bytes):
        self._data = memoryview(data)
        self._position = 0

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else self._position + size
        data = bytes(self._data[self._position:end])
        self._position += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        rest = self._data[self._position:]
        end = bytes(rest).find(b"\n") + 1 or len(rest)
        if size is not None and size >= 0:
            end = min(end, size)
        return self.read(end)

    def __iter__(self):
        while line := self.readline():
            yield line


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
