"""The client and forwarder as the service uses them: every call carries the request's ids
(X-Opaque-Id, traceparent) and is counted and timed for the request's log line and the metrics."""

import time

import elasticsearch
from elasticsearch import Elasticsearch

from app.observability import context, metrics
from app.storage.forwarding import Forwarder


class InstrumentedElasticsearch(Elasticsearch):
    """`options()` keeps the class, so every call of every part of storage goes through here."""

    def perform_request(self, method, path, *, params=None, headers=None, body=None,
                        endpoint_id=None, path_parts=None):
        request = context.current()
        if request is not None:
            headers = {**request.elasticsearch_headers(), **(headers or {})}
        started, status = time.perf_counter(), "unavailable"
        try:
            response = super().perform_request(method, path, params=params, headers=headers,
                                               body=body, endpoint_id=endpoint_id,
                                               path_parts=path_parts)
            status = str(response.meta.status)
            return response
        except elasticsearch.ApiError as err:
            status = str(err.meta.status)
            raise
        finally:
            observe(endpoint_id or method.lower(), status, time.perf_counter() - started)


class InstrumentedForwarder(Forwarder):
    """Forwards with the caller's headers unchanged, adding only the trace context when the
    caller sent none, so Elasticsearch's logs name the same trace as ours."""

    def forward(self, method, path, query, headers, body=None, content_length=None,
                abort_when=None):
        request = context.current()
        headers = list(headers)
        if request is not None and not any(name.lower() == "traceparent" for name, _ in headers):
            headers.append(("traceparent", request.traceparent))
        started, status = time.perf_counter(), "unavailable"
        try:
            answer = super().forward(method, path, query, headers, body, content_length,
                                     abort_when=abort_when)
            status = str(answer.status)
            return answer
        finally:
            observe("forward", status, time.perf_counter() - started)


def observe(kind: str, status: str, seconds: float) -> None:
    metrics.record_elasticsearch_call(kind, status, seconds)
    request = context.current()
    if request is not None:
        request.count_call(seconds)
