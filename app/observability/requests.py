"""Per-request hooks: ids in, ids out, one log line and the request metrics once the answer
is sent (its body included, which for a forwarded answer is streamed).

"Sent" is when the server takes the answer's last chunk, or closes it: a WSGI wrapper adds
the callback there, because a streamed passthrough response never runs its own
`call_on_close`, and a worker stopping may exit before it would close the answer."""

import logging
import time

from flask import Flask, Response, current_app, g, request

from app.observability import context, metrics

access_log = logging.getLogger("connector_service.access")

FORWARDED_RULE = "/<forwarded:path>"


def route_label() -> str:
    """The URL rule, so ids do not multiply the series: `forwarded` for anything sent on to
    Elasticsearch, `unmatched` for a path no route serves."""
    rule = request.url_rule
    if rule is None:
        return "unmatched"
    return "forwarded" if rule.rule == FORWARDED_RULE else rule.rule


DONE = "connector_service.request_done"


class AnswerSent:
    """WSGI wrapper: runs the request's `DONE` callback once the server has sent the answer."""

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
    g.observed = context.begin(request.headers.get("X-Opaque-Id"),
                               request.headers.get("traceparent"))
    metrics.HTTP_IN_FLIGHT.inc()


def finish_request(response: Response) -> Response:
    observed = g.pop("observed", None)
    if observed is None:
        return response
    if observed.opaque_id:
        response.headers["X-Opaque-Id"] = observed.opaque_id  # echoed, as Elasticsearch does
    response.headers["X-Request-Id"] = observed.request_id
    details = {
        "method": request.method, "path": request.path, "route": route_label(),
        "status": response.status_code, "error": g.get("error"),
        "client": request.remote_addr, "user_agent": request.user_agent.string,
        "log": current_app.config["ACCESS_LOG"],
    }
    request.environ[DONE] = lambda: request_done(observed, details)
    context.end()
    return response


def request_done(observed: context.RequestContext, details: dict) -> None:
    seconds = time.perf_counter() - observed.started
    metrics.HTTP_IN_FLIGHT.dec()
    metrics.record_request(details["method"], details["route"], details["status"], seconds)
    error = details["error"]
    if error:
        metrics.record_error(details["status"], error[0])
    if details["log"]:
        log_request(observed, details, seconds)


def log_request(observed: context.RequestContext, details: dict, seconds: float) -> None:
    status = details["status"]
    fields = {
        "event.kind": "event", "event.category": ["web"], "event.type": ["access"],
        "event.dataset": "connector_sync_jobs.access",
        "event.outcome": "failure" if status >= 400 else "success",
        "event.duration": int(seconds * 1e9),
        "http.request.method": details["method"], "http.request.id": observed.request_id,
        "http.response.status_code": status, "url.path": details["path"],
        "trace.id": observed.trace_id, "client.address": details["client"],
        "user_agent.original": details["user_agent"] or None,
        "connector_service.route": details["route"],
        "connector_service.elasticsearch.calls": observed.es_calls,
        "connector_service.elasticsearch.duration_ms": round(observed.es_seconds * 1000, 2),
    }
    error = details["error"]
    if error:
        fields["error.type"], fields["error.message"] = error
    message = (f"{details['method']} {details['path']} {status} {seconds * 1000:.1f} ms "
               f"es_calls={observed.es_calls}")
    if error:
        message += f" {error[0]}"
    access_log.info(message, extra={key: value for key, value in fields.items()
                                    if value is not None})


def abandon_request(_error=None) -> None:
    """A request that ended without an answer (an exception propagated, as in TESTING)."""
    if g.pop("observed", None) is not None:
        metrics.HTTP_IN_FLIGHT.dec()
        context.end()
