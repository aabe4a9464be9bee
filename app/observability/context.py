"""What one request carries into every Elasticsearch call it causes: its ids and a tally, and
what its answer was, for its log line and the metrics.

Kept in a context variable, so the storage package reads it without knowing about Flask; the
front (app/front/) runs each request on a thread in a context of its own.
"""

import re
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

# W3C trace context: version-traceid-parentid-flags, lower-case hex (version ff is invalid).
TRACEPARENT = re.compile(r"^(?!ff)([0-9a-f]{2})-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})"
                         r"-([0-9a-f]{2})(-.*)?$")
# Longest X-Opaque-Id sent on and logged; a longer one is cut (Elasticsearch keeps any length,
# but a log line is no place for kilobytes a caller chose).
MAX_OPAQUE_ID = 256


@dataclass
class RequestContext:
    """The request's ids, what its calls to Elasticsearch cost so far, and its answer."""

    request_id: str
    trace_id: str
    traceparent: str
    opaque_id: str | None = None
    started: float = field(default_factory=time.perf_counter)
    es_calls: int = 0
    es_seconds: float = 0.0
    # The request and its answer, as its log line and the metrics name them.
    method: str = ""
    path: str = ""
    client: str | None = None
    user_agent: str | None = None
    route: str = "unmatched"
    status: int = 0
    error: tuple[str, str] | None = None  # (type, reason) of an error answer
    # Where the app ran it: "event_loop" for a route served there (app.api.loop_routes), else
    # "app_thread".
    served_on: str = "app_thread"
    # Calls already sent from the event loop whose outcome the thread path must meet in place
    # of its own first send (app.storage.loop_writes), by (kind, index, document id).
    settled: "dict[tuple[str, str, str], SettledCall] | None" = None

    def elasticsearch_headers(self) -> dict[str, str]:
        """Headers every Elasticsearch call of this request carries: the caller's X-Opaque-Id
        (shown by the cluster's tasks, slow and deprecation logs) and the trace context."""
        headers = {"traceparent": self.traceparent}
        if self.opaque_id:
            headers["X-Opaque-Id"] = self.opaque_id
        return headers

    def count_call(self, seconds: float) -> None:
        self.es_calls += 1
        self.es_seconds += seconds

    def settle(self, kind: str, index: str, doc_id: str, *, answer: dict | None = None,
               failure: Exception | None = None) -> None:
        """Leaves the outcome of a `kind` ("get", "update") call of (`index`, `doc_id`) made on
        the event loop for the thread path's first such call (`take_settled`)."""
        if self.settled is None:
            self.settled = {}
        self.settled[(kind, index, doc_id)] = SettledCall(answer, failure)


@dataclass
class SettledCall:
    """A call already made: its 2xx `answer`, or `failure`, what the client would have raised
    (for an update, carrying `sent`: the version judged and the partial written)."""

    answer: dict | None
    failure: Exception | None


def take_settled(kind: str, index: str, doc_id: str) -> SettledCall | None:
    """The current request's settled `kind` call of this document, once."""
    request = _current.get()
    if request is None or not request.settled:
        return None
    return request.settled.pop((kind, index, doc_id), None)


_current: ContextVar[RequestContext | None] = ContextVar("connector_service_request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def new(opaque_id: str | None, traceparent: str | None) -> RequestContext:
    """The context of a new request from the caller's headers.

    The caller's `traceparent` is passed on unchanged when valid; without one the request
    starts a trace of its own, so its Elasticsearch calls still share one `trace.id`. The
    request id is the caller's X-Opaque-Id, else the trace id: a value per request that is
    never sent as X-Opaque-Id (Elasticsearch deduplicates deprecation warnings by that header,
    and asks for a value per client, not per request).
    """
    opaque_id = (opaque_id or "").strip()[:MAX_OPAQUE_ID] or None
    match = TRACEPARENT.match((traceparent or "").strip().lower())
    if match:
        traceparent, trace_id = match.group(0), match.group(2)
    else:
        trace_id = secrets.token_hex(16)
        traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-00"
    return RequestContext(request_id=opaque_id or trace_id, trace_id=trace_id,
                          traceparent=traceparent, opaque_id=opaque_id)


def use(context: RequestContext) -> None:
    """Makes `context` the one the calls of this thread (in its current context) carry."""
    _current.set(context)


def end() -> None:
    _current.set(None)
