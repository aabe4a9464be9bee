"""Forwarding: what the service does not answer itself reaches Elasticsearch unchanged
(app.api.forwarding).

Plain HTTP over one urllib3 pool, not the Elasticsearch client: bodies and answers are streamed
as bytes and never parsed, and Elasticsearch authorizes each request with the caller's own
credentials.
"""

import base64
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from urllib.parse import unquote

import urllib3

from app.exceptions import StorageUnavailable

log = logging.getLogger(__name__)

# Headers that belong to one connection, not to the request (RFC 9110, 7.6.1).
HOP_BY_HOP_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade"})
# Framing the forwarder sets itself for its own connection to Elasticsearch.
FRAMING_HEADERS = frozenset({"host", "content-length", "expect"})
FORWARD_CHUNK_BYTES = 64 * 1024


def connection_headers(headers: list[tuple[str, str]]) -> set[str]:
    """Lower-case names that apply to this connection only, with any its `Connection` lists."""
    names = set(HOP_BY_HOP_HEADERS)
    for name, value in headers:
        if name.lower() == "connection":
            names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return names


def forwarded_request_headers(headers, *, service_authorization: str | None = None
                              ) -> list[tuple[str, str]]:
    """The caller's headers as Elasticsearch receives them: every end-to-end header unchanged,
    `Authorization` included; hop-by-hop and framing headers dropped.

    With `service_authorization` (FORWARD_WITH_SERVICE_CREDENTIALS), the service's own
    credentials replace the caller's.
    """
    headers = list(headers)
    dropped = connection_headers(headers) | FRAMING_HEADERS
    if service_authorization:
        dropped.add("authorization")
    kept = [(name, value) for name, value in headers if name.lower() not in dropped]
    if service_authorization:
        kept.append(("Authorization", service_authorization))
    return kept


def forwarded_response_headers(headers) -> list[tuple[str, str]]:
    """Elasticsearch's headers as the caller receives them: all but the hop-by-hop ones
    (Content-Type, Content-Encoding, Content-Length, Warning, X-Elastic-Product, ...)."""
    headers = list(headers)
    dropped = connection_headers(headers)
    return [(name, value) for name, value in headers if name.lower() not in dropped]


def service_authorization(config) -> str | None:
    """The `Authorization` value of the service's own Elasticsearch credentials, if it has any."""
    if config.ELASTICSEARCH_API_KEY:
        return f"ApiKey {config.ELASTICSEARCH_API_KEY}"
    user, password = config.ELASTICSEARCH_USERNAME, config.ELASTICSEARCH_PASSWORD
    if not user:
        userinfo = urllib3.util.parse_url(config.ELASTICSEARCH_URL).auth or ""
        user, _, password = (unquote(part) for part in userinfo.partition(":"))
    if user:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return None


_tracking = threading.local()


class _Tracked:
    """A pooled connection that records itself while it serves a forward, so the forward can be
    cut off from another thread when its caller leaves (Forwarder.forward's `abort_when`)."""

    def request(self, *args, **kwargs):
        held = getattr(_tracking, "held", None)
        if held is not None:
            held.append(self)
        return super().request(*args, **kwargs)


class TrackedHTTPConnection(_Tracked, urllib3.connection.HTTPConnection):
    pass


class TrackedHTTPSConnection(_Tracked, urllib3.connection.HTTPSConnection):
    pass


def _cut_off(connections: list) -> None:
    """Wakes a thread blocked reading from Elasticsearch: its read ends, the connection is
    dropped rather than pooled."""
    for connection in connections:
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ForwardedResponse:
    """Elasticsearch's answer: status and headers at once, the body as it arrives."""

    def __init__(self, upstream: urllib3.BaseHTTPResponse):
        self.status = upstream.status
        self.headers = forwarded_response_headers(upstream.headers.items())
        self._upstream = upstream
        self._finished = False

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes exactly as sent (still compressed if Elasticsearch compressed it)."""
        yield from self._upstream.stream(FORWARD_CHUNK_BYTES, decode_content=False)
        self._finished = True

    def close(self) -> None:
        """Returns the connection to the pool; drops it instead if the body was left unread."""
        if not self._finished:
            if self._upstream.length_remaining == 0:
                self._upstream.drain_conn()
            else:
                self._upstream.close()
        self._upstream.release_conn()


class Forwarder:
    """Sends a caller's request to Elasticsearch over pooled connections, body streamed."""

    def __init__(self, url: str, *, connect_timeout: float, read_timeout: float,
                 max_connections: int = 10, ca_certs: str = "", verify_certs: bool = True,
                 service_authorization: str | None = None):
        parsed = urllib3.util.parse_url(url)
        self.base_path = (parsed.path or "").rstrip("/")
        tls = {}
        if parsed.scheme == "https":
            tls = {"cert_reqs": "CERT_REQUIRED" if verify_certs else "CERT_NONE"}
            if ca_certs:
                tls["ca_certs"] = ca_certs
        origin = parsed._replace(auth=None, path=None, query=None, fragment=None).url
        # block=False: a burst opens extra connections rather than queueing callers.
        self.pool = urllib3.connection_from_url(origin, maxsize=max_connections, block=False, **tls)
        self.pool.ConnectionCls = (TrackedHTTPSConnection if parsed.scheme == "https"
                                   else TrackedHTTPConnection)
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.service_authorization = service_authorization

    @classmethod
    def from_config(cls, config) -> "Forwarder":
        lend = config.FORWARD_WITH_SERVICE_CREDENTIALS
        return cls(config.ELASTICSEARCH_URL, connect_timeout=config.ELASTICSEARCH_REQUEST_TIMEOUT,
                   read_timeout=config.FORWARD_REQUEST_TIMEOUT,
                   max_connections=config.ELASTICSEARCH_MAX_CONNECTIONS,
                   ca_certs=config.ELASTICSEARCH_CA_CERTS,
                   verify_certs=config.ELASTICSEARCH_VERIFY_CERTS,
                   service_authorization=service_authorization(config) if lend else None)

    def forward(self, method: str, path: str, query: str, headers, body=None,
                content_length: int | None = None,
                abort_when: Callable[[Callable[[], None]], None] | None = None
                ) -> ForwardedResponse:
        """Sends one request: `path` and `query` as the caller wrote them (still encoded),
        `body` a readable stream or None, sent with `content_length` or else chunked.
        `abort_when(callback)`, if given, registers a callback to run when the caller leaves:
        it cuts the connection to Elasticsearch, so the waiting thread is free at once.

        Raises StorageUnavailable when Elasticsearch cannot be reached or does not answer in
        time; any answer it gives, errors included, is returned as it is.
        """
        outgoing = urllib3.HTTPHeaderDict()
        for name, value in forwarded_request_headers(
                headers, service_authorization=self.service_authorization):
            outgoing.add(name, value)
        if body is not None and content_length is not None:
            outgoing["Content-Length"] = str(content_length)
        target = self.base_path + path + (f"?{query}" if query else "")
        # Never sent twice: a write may have reached Elasticsearch, and a body is a stream read
        # once. A pooled connection found closed is replaced before sending; any other failure
        # is a 503, which callers retry (the connectors worker does).
        held = _tracking.held = []
        if abort_when is not None:
            abort_when(lambda: _cut_off(held))
        try:
            upstream = self.pool.urlopen(
                method, target, body=body, headers=outgoing, retries=False, redirect=False,
                timeout=self.timeout, preload_content=False, decode_content=False,
                release_conn=False)
        except urllib3.exceptions.HTTPError as err:
            cause = getattr(err, "reason", None) or err
            log.warning("forwarding %s %s failed: %s", method, path, cause)
            raise StorageUnavailable(
                f"Elasticsearch is unavailable: {type(cause).__name__}") from err
        finally:
            _tracking.held = None
        return ForwardedResponse(upstream)
