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
import logging
from collections import Counter
from collections.abc import Sequence
from functools import partial

from werkzeug.exceptions import HTTPException

from app.api.loop_routes import LoopRoutes
from app.config import Config
from app.exceptions import RestError, TooManyRequests
from app.front.bodies import BodyClock, BodyReader, BodyTimeout, ClientGone, StreamedBody, content_length
from app.front.threads import AppThreads
from app.front.wsgi import DisconnectWatch, Exchange, answer, build_environ, header
from app.observability import context, requests
from app.urls import PROBE_PATHS, WATCH_DISCONNECT, routing_path

log = logging.getLogger(__name__)

# A body still arriving this many seconds after its headers counts as slow (BODIES_PER_CLIENT).
SLOW_AFTER = 0.5
# Probes (app.urls.PROBE_PATHS) are answered on threads of their own, so they get an answer
# while every app thread is busy.
PROBE_THREADS = 2


class Front:
    """The ASGI application granian runs (`app.asgi:app`); `wsgi_app` is the Flask app."""

    def __init__(self, wsgi_app, settings: Config, tasks: Sequence = ()):
        self.app = wsgi_app
        # Views the app lets answer on the event loop (app.api.loop_routes): the heartbeats.
        self.loop_routes = LoopRoutes(wsgi_app) if hasattr(wsgi_app, "view_functions") else None
        # Background work of this process (`start()`, `stop()`): begun once the server has
        # started it, told to stop when it stops.
        self.tasks = list(tasks)
        self.access_log = getattr(wsgi_app, "config", {}).get("ACCESS_LOG", True)
        self.body_timeout = settings.BODY_TIMEOUT
        self.min_rate = settings.BODY_MIN_RATE
        self.buffer_bytes = settings.BODY_BUFFER_BYTES
        self.bodies_per_client = settings.BODIES_PER_CLIENT
        self.threads = AppThreads(settings.WEB_THREADS, "app")
        self.probe_threads = AppThreads(PROBE_THREADS, "probe")
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
                for task in self.tasks:
                    task.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self.tasks:
                    task.stop()
                self.threads.shutdown()
                self.probe_threads.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope, receive, send):
        """One request, on the event loop: begin its accounting (ids, log line, metrics), read
        its body under the deadline (or refuse it: 408 for a body too slow, 429 for too many
        from one address, nothing for a caller who left), then run the app on a thread
        (`run_app`); the accounting is closed whatever happened."""
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
            if self.loop_routes is not None and streamed is None and not chunked \
                    and await self.serve_on_loop(scope, send, observed, body):
                return
            environ = build_environ(scope, body if streamed is None else streamed, declared)
            environ[requests.BEGUN_BY_SERVER] = observed
            await self.run_app(environ, receive, send, streamed, observed)
        finally:
            requests.request_done(observed, log=self.access_log)

    async def serve_on_loop(self, scope, send, observed, body: bytes) -> bool:
        """Whether the request was answered on the event loop (app.api.loop_routes)."""
        try:
            served = await self.loop_routes.serve(scope, observed, body)
        except Exception:
            log.exception("%s %s failed on the event loop; the app's thread answers it",
                          scope["method"], scope["path"],
                          extra={"trace.id": observed.trace_id,
                                 "http.request.id": observed.request_id})
            served = None
        if served is None:
            return False
        status, headers, body = served
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

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
        """Runs the app on a pooled thread (probes on their own pool) in a context of the
        request's own, and sends what it returns. The view may ask, through
        environ[WATCH_DISCONNECT], to learn when its caller leaves (DisconnectWatch); the watch
        ends with the request. An app failure before the answer started is a 500 in
        Elasticsearch's envelope; after, the answer is cut off and logged as such."""
        loop = asyncio.get_running_loop()
        watch = DisconnectWatch(loop, receive, streamed)
        environ[WATCH_DISCONNECT] = watch
        pool = self.probe_threads if environ["PATH_INFO"] in PROBE_PATHS else self.threads
        exchange = Exchange(self.app, environ, loop, send, watch.disconnect)
        # A context of its own on the pooled thread: the request's ids reach every call to
        # Elasticsearch it makes, and nothing of it is left for the thread's next request.
        request_context = contextvars.Context()
        request_context.run(context.use, observed)
        try:
            whole = await pool.run(loop, partial(request_context.run, exchange.run))
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
            watch.stop()
            if streamed is not None:
                streamed.done()
