"""Forwarding: what the service does not answer itself reaches Elasticsearch unchanged
(app.api.forwarding).

Plain HTTP over urllib3 pools, not the Elasticsearch client: bodies and answers are streamed
as bytes and never parsed, and Elasticsearch authorizes each request with the caller's own
credentials. The nodes, and which of them are left aside, are the client's.
"""

import base64
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from urllib.parse import unquote

import urllib3
from elastic_transport import BaseNode, NodePool

from app.exceptions import StorageUnavailable
from app.storage.nodes import is_read, never_sent, node_urls

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
        userinfo = next((auth for auth in (urllib3.util.parse_url(url).auth
                                           for url in node_urls(config.ELASTICSEARCH_URL)) if auth), "")
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
    """Sends a caller's request to Elasticsearch over pooled connections, body streamed.

    The nodes are the client's node pool (app.storage.nodes), so both agree on which nodes are
    listed or sniffed and which are left aside as dead; the connections are the forwarder's own,
    one pool per node, so that long forwarded answers never hold the service's own calls up.
    """

    def __init__(self, nodes: NodePool, *, connect_timeout: float, read_timeout: float,
                 max_connections: int = 10, ca_certs: str = "", verify_certs: bool = True,
                 service_authorization: str | None = None):
        self.nodes = nodes
        self.max_connections = max_connections
        self.tls = {"cert_reqs": "CERT_REQUIRED" if verify_certs else "CERT_NONE"}
        if ca_certs:
            self.tls["ca_certs"] = ca_certs
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.service_authorization = service_authorization
        self._pools: dict[str, urllib3.HTTPConnectionPool] = {}
        self._pools_lock = threading.Lock()

    @classmethod
    def from_config(cls, config, nodes: NodePool) -> "Forwarder":
        lend = config.FORWARD_WITH_SERVICE_CREDENTIALS
        return cls(nodes, connect_timeout=config.ELASTICSEARCH_REQUEST_TIMEOUT,
                   read_timeout=config.FORWARD_REQUEST_TIMEOUT,
                   max_connections=config.ELASTICSEARCH_MAX_CONNECTIONS,
                   ca_certs=config.ELASTICSEARCH_CA_CERTS,
                   verify_certs=config.ELASTICSEARCH_VERIFY_CERTS,
                   service_authorization=service_authorization(config) if lend else None)

    def pool(self, node: BaseNode) -> urllib3.HTTPConnectionPool:
        """The forwarder's connections to `node`, opened on first use."""
        pool = self._pools.get(node.base_url)
        if pool is None:
            with self._pools_lock:
                pool = self._pools.get(node.base_url)
                if pool is None:
                    https = node.scheme == "https"
                    pool_class = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
                    # block=False: a burst opens extra connections rather than queueing callers.
                    pool = self._pools[node.base_url] = pool_class(
                        node.host, port=node.port, maxsize=self.max_connections, block=False,
                        **(self.tls if https else {}))
                    # Connections that record themselves, for `forward`'s `abort_when`.
                    pool.ConnectionCls = TrackedHTTPSConnection if https else TrackedHTTPConnection
        return pool

    def forward(self, method: str, path: str, query: str, headers, body=None,
                content_length: int | None = None,
                abort_when: Callable[[Callable[[], None]], None] | None = None
                ) -> ForwardedResponse:
        """Sends one request: `path` and `query` as the caller wrote them (still encoded),
        `body` a readable stream or None, sent with `content_length` or else chunked.
        `abort_when(callback)`, if given, registers a callback to run when the caller leaves:
        it cuts the connection to Elasticsearch, so the waiting thread is free at once.

        Raises StorageUnavailable when no node can be reached or none answers in time; any
        answer Elasticsearch gives, errors included, is returned as it is.
        """
        outgoing = urllib3.HTTPHeaderDict()
        for name, value in forwarded_request_headers(
                headers, service_authorization=self.service_authorization):
            outgoing.add(name, value)
        if body is not None and content_length is not None:
            outgoing["Content-Length"] = str(content_length)
        target = path + (f"?{query}" if query else "")
        held = _tracking.held = []
        if abort_when is not None:
            abort_when(lambda: _cut_off(held))
        # The next node only when resending cannot do anything twice (app.storage.nodes): the
        # request never left (its body, a stream read once, still unread), or it was a read
        # without a body. A write whose answer was lost, or a timeout, is a 503; callers retry
        # (the connectors worker does).
        try:
            for attempt in range(len(self.nodes.all())):
                node = self.nodes.get()
                try:
                    upstream = self.pool(node).urlopen(
                        method, node.path_prefix + target, body=body, headers=outgoing,
                        retries=False, redirect=False, timeout=self.timeout,
                        preload_content=False, decode_content=False, release_conn=False)
                except urllib3.exceptions.HTTPError as err:
                    cause = getattr(err, "reason", None) or err
                    log.warning("forwarding %s %s to %s failed: %s", method, path, node.base_url,
                                cause)
                    if not isinstance(err, urllib3.exceptions.ReadTimeoutError):
                        self.nodes.mark_dead(node)
                    resend = never_sent(err) or (body is None and is_read(method, path))
                    if resend and attempt + 1 < len(self.nodes.all()):
                        continue
                    raise StorageUnavailable(
                        f"Elasticsearch is unavailable: {type(cause).__name__}") from err
                self.nodes.mark_live(node)
                return ForwardedResponse(upstream)
            raise AssertionError("unreachable: the last attempt returns or raises")
        finally:
            _tracking.held = None
