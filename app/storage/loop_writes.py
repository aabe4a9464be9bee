"""A guarded partial update, and the read before it, sent from the event loop for the
worker's heartbeats (`_check_in`, `_stats`).

A heartbeat served on an app thread spends most of its CPU on the hand-off to the thread, on
Flask's request machinery and on a thread blocked on the node's answer (docs/benchmark.md, "The
change of shape, priced"). Here one update is written and its answer read over asyncio
connections of this module's own, to a node the client's node pool chooses, with the request
the client would send (its headers, credentials, request ids and timeout). A job this process
does not remember is read first the same way (`get`).

What happens to a call that was sent and not answered 2xx is not decided here: the answer, or
the loss of it, is built into the exception the client would have raised, for the request's
thread path to meet (`context.RequestContext.settle`) in place of its own first send of that
call (`Storage.update`, `Storage.get`). So a conflict, a missing document, an
Elasticsearch error or a lost answer takes exactly the path it takes today, with the write
that was really sent remembered for the check of whether a lost write landed. A request that
could not be sent whole has reached no node: it is left to the thread path, which sends it.

Only plain HTTP nodes, without a path prefix, compression or sniffing, are written to from the
loop; any other client configuration leaves every update to the thread path.
"""

import asyncio
import io
import re
import time

from elastic_transport import ApiResponseMeta, HttpHeaders
from elastic_transport._transport import NOT_DEAD_NODE_HTTP_STATUSES
from elasticsearch import (
    ApiError,
    ConnectionTimeout,
    NotFoundError,
    UnsupportedProductError,
    __versionstr__,
)
from elasticsearch._sync.client.utils import _quote
from elasticsearch.exceptions import HTTP_EXCEPTIONS

from app.observability import metrics
from app.storage.nodes import AnswerLost
from app.storage.wire import ProtocolError, encode_request, read_response

COMPATIBLE_JSON = "application/vnd.elasticsearch+json; compatible-with={major}"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([^\r]*)")
CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r]*chunked")
# Media types the client's JSON serializer reads.
JSON_TYPES = ("application/json", "application/vnd.elasticsearch+json")
# What a GET answer must carry to be judged and written on.
DOCUMENT_KEYS = {"_source", "_seq_no", "_primary_term"}
# An answer's head longer than this is not Elasticsearch's (wire.MAX_LINE per line).
MAX_HEAD = 65536


class NotSent(Exception):
    """The update reached no node: the thread path sends it."""


class LoopWrites:
    """Updates from the event loop over the client `writer` (Storage.writer): its node pool,
    headers and timeout; keep-alive connections per node, used by one request at a time."""

    def __init__(self, writer):
        self.writer = writer
        self.transport = writer.transport
        self.idle: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        # Open connections per node, at most the client's own pool size per node
        # (ELASTICSEARCH_MAX_CONNECTIONS); past it, updates are left to the thread path.
        self.open: dict[str, int] = {}
        compatible = COMPATIBLE_JSON.format(major=__versionstr__.split(".")[0])
        self.headers = {"accept": compatible, "content-type": compatible,
                        **dict(writer._headers)}
        if self.transport.meta_header:
            self.headers["x-elastic-client-meta"] = ",".join(
                f"{k}={v}" for k, v in self.transport._transport_client_meta)
        self.bodyless_headers = {name: value for name, value in self.headers.items()
                                 if name != "content-type"}
        timeout = writer._request_timeout
        self.timeout = timeout if isinstance(timeout, (int, float)) else None
        # The serializer the client picks for its own media type, looked up once.
        self.serializer = self.transport.serializers.get_serializer(compatible)

    def usable(self) -> bool:
        """Whether the client's configuration is one the loop writes with (module docstring)."""
        if self.transport._sniff_on_node_failure or self.transport._sniff_before_requests:
            return False
        return all(node.config.scheme == "http" and not node.path_prefix
                   and not node._http_compress for node in self.transport.node_pool.all())

    async def update(self, index: str, doc_id: str, partial: dict, *, seq_no: int,
                     primary_term: int, observed) -> dict | None:
        """The update's answer (a 2xx body), as `Storage.writer.update(..., refresh=False,
        require_alias=True)` sends it; None when it reached no node. Any other outcome raises
        `Settled` with what the client would have raised (module docstring)."""
        # As elasticsearch-py's update() writes its target (_quote, _quote_query), in its order.
        target = (f"/{_quote(index)}/_update/{_quote(doc_id)}?if_primary_term={primary_term}"
                  f"&if_seq_no={seq_no}&refresh=false&require_alias=true")
        return await self._call("update", "POST", target, self.serializer.dumps({"doc": partial}),
                                observed)

    async def get(self, index: str, doc_id: str, *, observed) -> dict | None:
        """The document as `Storage.client.get(index=..., id=...)` reads it (a 2xx body with
        its `_source` and version tokens).

        A missing document and a read that timed out raise `Settled`: the client answers them
        once, from no other node. Anything else is None, as is a request that reached no node:
        the thread path reads as the client reads, retries included."""
        try:
            answer = await self._call("get", "GET", f"/{_quote(index)}/_doc/{_quote(doc_id)}",
                                      None, observed)
            return answer if answer is not None and DOCUMENT_KEYS <= answer.keys() else None
        except Settled as settled:
            failure = settled.failure
            if isinstance(failure, NotFoundError) or (
                    isinstance(failure, ConnectionTimeout) and not isinstance(failure, AnswerLost)):
                raise
            return None  # a lost answer included: a read is safe to send again

    async def _call(self, kind: str, method: str, target: str, body: bytes | None,
                    observed) -> dict | None:
        node = self.transport.node_pool.get()
        # The client sends a Content-Type only with a body.
        own = self.headers if body is not None else self.bodyless_headers
        headers = {**node._headers, **own, **observed.elasticsearch_headers()}
        request = encode_request(method, target, node._host_header, headers, body)
        started, status, sent = time.perf_counter(), "unavailable", True
        try:
            try:
                answer = await self._exchange(node, request, method)
            except NotSent:
                sent = False  # counted by the thread path, which sends it
                return None
            except TimeoutError as err:
                self.transport.node_pool.mark_dead(node)
                raise Settled(ConnectionTimeout("Connection timed out during request",
                                                errors=(err,))) from None
            except (OSError, ProtocolError, EOFError) as err:
                self.transport.node_pool.mark_dead(node)
                raise Settled(AnswerLost(f"the answer to {method} {target} was lost: {err!r}",
                                         errors=(err,))) from None
            code, response_headers, data = answer
            status = str(code)
            if 200 <= code < 299 or code in NOT_DEAD_NODE_HTTP_STATUSES:
                self.transport.node_pool.mark_live(node)
            else:
                self.transport.node_pool.mark_dead(node)
            return self._outcome(node, code, response_headers, data, started)
        finally:
            if sent:
                seconds = time.perf_counter() - started
                metrics.record_elasticsearch_call(kind, status, seconds)
                observed.count_call(seconds)

    def _outcome(self, node, status: int, headers: HttpHeaders, data: bytes,
                 started: float) -> dict:
        if (200 <= status < 299 and headers.get("x-elastic-product", "") == "Elasticsearch"
                and headers.get("content-type", "").startswith(JSON_TYPES)):
            body = self.serializer.loads(data)
            if isinstance(body, dict):
                return body
        meta = ApiResponseMeta(node=node.config, duration=time.perf_counter() - started,
                               http_version="1.1", status=status, headers=headers)
        body = self.transport.serializers.loads(data, meta.mimetype) if data else None
        if 200 <= status < 299:
            # As the client checks the product: until one answer of the node's carried it.
            verified = (headers.get("x-elastic-product", "") == "Elasticsearch"
                        or getattr(self.writer, "_verified_elasticsearch", False))
            if verified and isinstance(body, dict):
                return body
            raise Settled(UnsupportedProductError(
                message="The client noticed that the server is not Elasticsearch and we do not "
                        "support this unknown product", meta=meta, body=body))
        # As the client builds the error it raises (elasticsearch._sync.client._base).
        message = str(body)
        if isinstance(body, dict):
            error = body.get("error", message)
            message = error["type"] if isinstance(error, dict) and "type" in error else error
        raise Settled(HTTP_EXCEPTIONS.get(status, ApiError)(message=message, meta=meta, body=body))

    async def _exchange(self, node, request: bytes,
                        method: str) -> tuple[int, HttpHeaders, bytes]:
        """(status, headers, body) of the answer. NotSent when the request never left whole
        (a pooled connection the node closed while idle is replaced once, as wire.py does)."""
        key = node.base_url
        idle = self.idle.setdefault(key, [])
        while idle and idle[-1][0].at_eof():  # closed by the node while idle
            self._close(key, idle.pop()[1])
        for attempt in (1, 2):
            reused = bool(idle)
            if not reused and self.open.get(key, 0) >= node.config.connections_per_node:
                raise NotSent("every connection to the node is in use")
            writer = None
            try:
                if reused:
                    reader, writer = idle.pop()
                else:
                    self.open[key] = self.open.get(key, 0) + 1
                    try:
                        async with asyncio.timeout(self.timeout):
                            reader, writer = await asyncio.open_connection(
                                node.config.host, node.config.port)
                    except BaseException:
                        self.open[key] -= 1
                        raise
                writer.write(request)
                await writer.drain()
            except (OSError, TimeoutError) as err:
                if writer is not None:
                    self._close(key, writer)
                if reused and attempt == 1:
                    continue
                raise NotSent(str(err)) from err
            try:
                async with asyncio.timeout(self.timeout):
                    status, headers, data, keep = await read_answer(reader, method)
            except BaseException:
                self._close(key, writer)
                raise
            if keep:
                idle.append((reader, writer))
            else:
                self._close(key, writer)
            return status, headers, data
        raise NotSent("no connection")

    def _close(self, key: str, writer: asyncio.StreamWriter) -> None:
        self.open[key] -= 1
        writer.close()


async def read_answer(reader: asyncio.StreamReader,
                      method: str) -> tuple[int, HttpHeaders, bytes, bool]:
    """An answer read whole from `reader`, then parsed by wire.read_response as the thread path
    parses it (status, headers, body decoded, keep-alive)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        raise EOFError("the connection closed before an answer") from err
    except asyncio.LimitOverrunError as err:
        raise ProtocolError("an answer's head too long") from err
    if len(head) > MAX_HEAD:
        raise ProtocolError("an answer's head too long")
    # Where the body ends, from the head's framing; read_response then parses it all.
    lowered = head.lower()
    length = CONTENT_LENGTH.search(lowered)
    if CHUNKED.search(lowered):
        rest = await read_chunks(reader)
    elif length is not None:
        try:
            rest = await reader.readexactly(int(length.group(1)))
        except ValueError:
            raise ProtocolError("an invalid Content-Length") from None
        except asyncio.IncompleteReadError as err:
            raise EOFError("the answer was cut short") from err
    else:
        rest = await reader.read()
    return read_response(io.BytesIO(head + rest), method)


async def read_chunks(reader: asyncio.StreamReader) -> bytes:
    """A chunked body as it came (sizes, chunks and trailer), for read_response to decode."""
    parts = []
    try:
        while True:
            line = await reader.readline()
            parts.append(line)
            if not line.endswith(b"\n"):
                raise EOFError("the connection closed inside a chunked answer")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"an invalid chunk size: {line[:100]!r}") from None
            if size == 0:
                while (trailer := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    parts.append(trailer)
                parts.append(trailer)
                return b"".join(parts)
            parts.append(await reader.readexactly(size + 2))
    except asyncio.IncompleteReadError as err:
        raise EOFError("the connection closed inside a chunked answer") from err


class Settled(Exception):
    """An update sent from the loop whose outcome the thread path must meet: `failure` is what
    the client would have raised."""

    def __init__(self, failure: Exception):
        super().__init__(str(failure))
        self.failure = failure
