"""Several Elasticsearch nodes behind one client, and which failures may move on to another.

`ELASTICSEARCH_URL` lists one node or several, comma-separated. elastic-transport's node pool
spreads the calls over them round-robin and leaves a node that failed aside for a back-off that
grows with each failure (1 s, 2 s, ... up to 30 s), then tries it again. What is retried on the
next node is decided here, by whether the request can have had an effect:

- **never sent** (connection refused, connect timeout, unknown host, TLS handshake, a request
  not written whole): any
  request, read or write, goes to the next node; nothing reached Elasticsearch;
- **a read whose answer was lost** (the connection closed after the request went out): the next
  node; reading twice changes nothing;
- **a write whose answer was lost**: never resent by the client. It may have landed: sent again
  blindly, a create with a generated id would make a second job, and a guarded update would
  fail against its own write and be judged as somebody else's. It raises `AnswerLost`, and the
  layers that know the write resolve it: a create under an id the service generated, and a
  guarded update (app.services.guarded), read the document again and send again only what
  cannot land twice; any other write answers 503 (the outcome is unknown);
- **a timeout**: not retried, read or write: the node may still be working on it, and a caller
  must get its answer within ELASTICSEARCH_REQUEST_TIMEOUT;
- **an answer of 502, 503 or 504**: a read goes to the next node (a node cut off from the
  master, or a proxy before a dead node, answers so while the others can serve); a write is
  passed to the caller as it is (behind a proxy, such an answer may come after the write went
  through; from Elasticsearch it is usually the whole cluster's verdict, such as no primary);
- **any other answer** (429 included): Elasticsearch's own, passed to the caller as it is.
"""

import logging

import urllib3
from elastic_transport import ConnectionError, ConnectionTimeout

from app.storage.wire import NotSent, WireNode

# Endpoints that only read, though sent with POST (a search body).
READ_ENDPOINTS = frozenset({"_search", "_msearch", "_count", "_mget", "_field_caps", "_refresh"})


def node_urls(value: str) -> list[str]:
    """The nodes of a comma-separated ELASTICSEARCH_URL, each without a trailing slash."""
    urls = [url.strip().rstrip("/") for url in value.split(",") if url.strip()]
    if not urls:
        raise ValueError("ELASTICSEARCH_URL names no node")
    return urls


def is_read(method: str, target: str) -> bool:
    """Whether sending the request twice does what sending it once does."""
    if method in ("GET", "HEAD"):
        return True
    path = target.split("?", 1)[0].rstrip("/")
    return method == "POST" and path.rsplit("/", 1)[-1] in READ_ENDPOINTS


def never_sent(err: Exception) -> bool:
    """Whether a failed request never reached the node: no connection was made, or the request
    was not written whole (app.storage.wire says so with NotSent).

    (urllib3's NewConnectionError, refused or unresolvable, is a ConnectTimeoutError too.)"""
    causes = getattr(err, "errors", ()) or (err,)
    return any(isinstance(cause, (NotSent, urllib3.exceptions.ConnectTimeoutError))
               for cause in causes)


class AnswerLost(ConnectionTimeout):
    """A write went out and its answer never came back: it may have landed.

    A ConnectionTimeout to the transport, which therefore marks the node dead but does not
    resend (retry_on_timeout stays off)."""


class FailoverNode(WireNode):
    """A node whose failures say whether the next node may be tried (module docstring), over
    the service's own HTTP/1.1 on urllib3's connections (app.storage.wire)."""

    def perform_request(self, method, target, *args, **kwargs):
        try:
            return super().perform_request(method, target, *args, **kwargs)
        except ConnectionTimeout as err:
            if never_sent(err):  # the connection itself timed out: safe anywhere
                raise ConnectionError(str(err), errors=err.errors) from err
            raise
        except ConnectionError as err:
            if never_sent(err) or is_read(method, target):
                raise
            raise AnswerLost(f"the answer to {method} {target} was lost: {err}",
                             errors=err.errors) from err


class WithoutTraceback(logging.Filter):
    """Keeps the transport's "Retrying request after failure" line, drops its traceback: a node
    that dies sends dozens of calls on at once, and the node pool's own warning already says
    which node failed and for how long it is left aside."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Retrying request"):
            record.exc_info = record.exc_text = None
        return True


def quiet_retries() -> None:
    transport_log = logging.getLogger("elastic_transport.transport")
    if not any(isinstance(f, WithoutTraceback) for f in transport_log.filters):
        transport_log.addFilter(WithoutTraceback())
