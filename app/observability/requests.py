"""Per-request accounting: ids in, ids out, and once the answer is sent one log line and the
request metrics.

Whoever begins a request reports it once its answer has been sent. As the service is deployed
that is the front (app/front/), for every request: those it answers itself (a body too slow,
too many slow bodies from one address, a caller gone before its body arrived) and those the
app answers, when their last chunk has been handed to the server, streamed or not; the app's
hooks add what only the route knows (the URL rule, the error type). Without the front (`flask
run`, the test client, granian's WSGI interface) the app's hooks begin the request and a WSGI
wrapper reports it when the server has taken its last chunk or closed it (a streamed
passthrough response never runs its own `call_on_close`).
"""

import logging
import time

from flask import Flask, Response, current_app, g, request

from app.observability import context, logs, metrics

access_log = logging.getLogger("connector_service.access")

FORWARDED_RULE = "/<forwarded:path>"
# The environ key of a request's RequestContext when the server (the front) began it and
# reports it.
BEGUN_BY_SERVER = "connector_service.request"
DONE = "connector_service.request_done"
# The status logged and counted for a caller that left before its request could be answered
# (nginx's "client closed request"); nothing is sent.
CLIENT_CLOSED = 499


def arrived(opaque_id: str | None, traceparent: str | None, *, method: str, path: str,
            client: str | None, user_agent: str | None) -> context.RequestContext:
    """A request begins: its context from the caller's headers, counted in flight until
    `request_done`."""
    observed = context.new(opaque_id, traceparent)
    observed.method, observed.path = method, path
    observed.client, observed.user_agent = client, user_agent
    metrics.HTTP_IN_FLIGHT.inc()
    return observed


def echo_headers(observed: context.RequestContext) -> list[tuple[str, str]]:
    """The ids every answer carries: the caller's X-Opaque-Id (as Elasticsearch echoes it) and
    the request's own id."""
    headers = [("X-Request-Id", observed.request_id)]
    if observed.opaque_id:
        headers.insert(0, ("X-Opaque-Id", observed.opaque_id))
    return headers


def route_label(rule) -> str:
    """The URL rule, so ids do not multiply the series: `forwarded` for anything sent on to
    Elasticsearch, `unmatched` for a path no route serves."""
    if rule is None:
        return "unmatched"
    return "forwarded" if rule.rule == FORWARDED_RULE else rule.rule


def request_done(observed: context.RequestContext, *, log: bool) -> None:
    """The answer has been sent (or there is no one left to send it to): count and log it."""
    seconds = time.perf_counter() - observed.started
    metrics.HTTP_IN_FLIGHT.dec()
    metrics.record_request(observed.method, observed.route, observed.status, seconds)
    if observed.error:
        metrics.record_error(observed.status, observed.error[0])
    if log:
        log_request(observed, seconds)


def log_request(observed: context.RequestContext, seconds: float) -> None:
    """The request's access line: its ECS fields built here, nested as ECS nests them, so that
    writing it costs one JSON encoding (logs.ECS_DOCUMENT) and not ecs-logging's generic merge
    of dotted names, which cost a fifth of a heartbeat's CPU."""
    status = observed.status
    document = {
        "event": {"kind": "event", "category": ["web"], "type": ["access"],
                  "dataset": "connector_sync_jobs.access",
                  "outcome": "failure" if status >= 400 else "success",
                  "duration": int(seconds * 1e9)},
        "http": {"request": {"method": observed.method, "id": observed.request_id},
                 "response": {"status_code": status}},
        "url": {"path": observed.path},
        "trace": {"id": observed.trace_id},
        "client": {"address": observed.client},
        "connector_service": {
            "route": observed.route, "served_on": observed.served_on,
            "elasticsearch": {"calls": observed.es_calls,
                              "duration_ms": round(observed.es_seconds * 1000, 2)}},
    }
    if observed.user_agent:
        document["user_agent"] = {"original": observed.user_agent}
    error = observed.error
    if error:
        document["error"] = {"type": error[0], "message": error[1]}
    message = (f"{observed.method} {observed.path} {status} {seconds * 1000:.1f} ms "
               f"es_calls={observed.es_calls}")
    if error:
        message += f" {error[0]}"
    logs.emit(access_log, logging.INFO, message, {logs.ECS_DOCUMENT: document,
                                                 "trace.id": observed.trace_id,
                                                 "http.request.id": observed.request_id})


# The app's hooks


class AnswerSent:
    """WSGI wrapper: runs the request's `DONE` callback once the server has sent the answer
    (when the app's hooks began the request; the front reports those it began itself)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        iterable = self.wsgi_app(environ, start_response)
        done = environ.pop(DONE, None)
        return iterable if done is None else Sending(iterable, done)


_END = object()


class Sending:
    """The answer's chunks, one read ahead: `done` runs as the last chunk is handed to the
    server (a worker that stops right after sending it still logs), or at close if earlier."""

    def __init__(self, iterable, done):
        self.chunks = iter(iterable)
        self.iterable, self.done = iterable, done
        self.ahead = None

    def __iter__(self):
        return self

    def __next__(self):
        if self.ahead is None:
            self.ahead = next(self.chunks, _END)
        current = self.ahead
        if current is _END:
            self.finish()
            raise StopIteration
        self.ahead = next(self.chunks, _END)
        if self.ahead is _END:
            self.finish()
        return current

    def close(self):
        try:
            if hasattr(self.iterable, "close"):
                self.iterable.close()
        finally:
            self.finish()

    def finish(self):
        done, self.done = self.done, None
        if done is not None:
            done()


def register(app: Flask) -> None:
    """Installed before every other hook, so even a refused caller gets an id and a line."""
    app.wsgi_app = AnswerSent(app.wsgi_app)
    app.before_request_funcs.setdefault(None, []).insert(0, begin_request)
    app.after_request(finish_request)
    app.teardown_request(abandon_request)


def begin_request() -> None:
    observed = request.environ.get(BEGUN_BY_SERVER)
    g.reports = observed is None
    if observed is None:
        observed = arrived(request.headers.get("X-Opaque-Id"), request.headers.get("traceparent"),
                           method=request.method, path=request.path, client=request.remote_addr,
                           user_agent=request.user_agent.string)
    g.observed = observed
    context.use(observed)


def finish_request(response: Response) -> Response:
    observed = g.pop("observed", None)
    if observed is None:
        return response
    for name, value in echo_headers(observed):
        response.headers[name] = value
    observed.route = route_label(request.url_rule)
    observed.status = response.status_code
    observed.error = g.get("error")
    if g.pop("reports", False):
        log = current_app.config["ACCESS_LOG"]
        request.environ[DONE] = lambda: request_done(observed, log=log)
    context.end()
    return response


def abandon_request(_error=None) -> None:
    """A request that ended without an answer (an exception propagated, as in TESTING)."""
    if g.pop("observed", None) is not None:
        if g.pop("reports", False):
            metrics.HTTP_IN_FLIGHT.dec()
        context.end()
