"""HTTP/1.1 to a node over urllib3's pooled connections, written and read by the service itself.

urllib3 stays in charge of the connections: the pool, the TCP connect, TLS with every option
the client was given, the check that a pooled connection was not dropped. What a call then
costs in urllib3 and http.client (re-encoding a target the client already encoded, one
`putheader` at a time, the email parser for the answer's headers, a response object and its
decoder chain) is about as much CPU as Elasticsearch spends on the update it carries
(docs/benchmark.md). Here the request goes out as one buffer and the answer is read with a
buffered reader: the status line, the headers, a body by Content-Length or chunked, gzip or
deflate decoded as urllib3 would.

What a failure means is said exactly, for app.storage.nodes to judge: a request that never
left (the connection could not be made, or not all of it was written) carries `NotSent` among
its causes and may go anywhere; one that left and got no answer is a ConnectionError (or a
ConnectionTimeout when the answer did not come in time), whose write may have landed.
"""

import gzip
import ssl
import time
import zlib
from urllib.parse import quote

import urllib3
from elastic_transport import (
    ApiResponseMeta,
    ConnectionError,
    ConnectionTimeout,
    HttpHeaders,
    TlsError,
    Urllib3HttpNode,
)
from elastic_transport._models import DEFAULT
from elastic_transport._node._base import BUILTIN_EXCEPTIONS, RERAISE_EXCEPTIONS, NodeApiResponse

# Bounds on an answer's head, as http.client's.
MAX_LINE = 65536
MAX_HEADERS = 100
# Every printable ASCII character but space is sent as it is; anything else percent-encoded
# (urllib3 does the same for a target the client did not encode).
TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
METHODS_WITH_BODY = ("POST", "PUT", "PATCH")


class NotSent(Exception):
    """A failure's cause when the request never left whole: Elasticsearch cannot have acted."""


class ProtocolError(Exception):
    """An answer that is not HTTP/1.1 as Elasticsearch writes it."""


class WireNode(Urllib3HttpNode):
    """elastic-transport's node interface over urllib3's connection pool (module docstring)."""

    def __init__(self, config):
        super().__init__(config)
        host = config.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        default_port = 443 if config.scheme == "https" else 80
        self._host_header = host if config.port == default_port else f"{host}:{config.port}"
        self._timeout = config.request_timeout

    def perform_request(self, method, target, body=None, headers=None, request_timeout=DEFAULT):
        if self.path_prefix:
            target = f"{self.path_prefix}{target}"
        request_headers = self._headers.copy()
        if headers:
            request_headers.update(headers)
        to_send = body or None
        if to_send is not None and self._http_compress:
            to_send = gzip.compress(to_send)
            request_headers["content-encoding"] = "gzip"
        timeout = self._timeout if request_timeout is DEFAULT else request_timeout
        start = time.time()
        try:
            request = encode_request(method, target, self._host_header, request_headers, to_send)
            status, response_headers, data = self._exchange(request, method, timeout)
        except RERAISE_EXCEPTIONS + BUILTIN_EXCEPTIONS:
            raise
        except Exception as err:
            self._log_request(method=method, target=target, headers=request_headers, body=body,
                              exception=err)
            raise
        meta = ApiResponseMeta(node=self.config, duration=time.time() - start,
                               http_version="1.1", status=status, headers=response_headers)
        self._log_request(method=method, target=target, headers=request_headers, body=body,
                          meta=meta, response=data)
        return NodeApiResponse(meta, data)

    def _exchange(self, request: bytes, method: str, timeout):
        """(status, headers, body) of the answer to `request`. A pooled connection that fails
        before the request is written whole is replaced once by a new one (the node may have
        closed it while it was idle); the second failure is the caller's."""
        for attempt in (1, 2):
            conn = self.pool._get_conn()
            try:
                reused = connect(conn, timeout)
                try:
                    conn.sock.sendall(request)
                except (OSError, ssl.SSLError) as err:
                    if reused and attempt == 1:
                        conn.close()
                        self.pool._put_conn(None)
                        continue
                    raise ConnectionError(f"the request could not be sent: {err}",
                                          errors=(err, NotSent(str(err)))) from err
                # A reader of this answer's own: Elasticsearch sends nothing between answers,
                # so what it buffers ahead is never the next answer's.
                stream = conn.sock.makefile("rb")
                try:
                    status, headers, data, keep = read_response(stream, method)
                except TimeoutError as err:
                    raise ConnectionTimeout("Connection timed out during request",
                                            errors=(err,)) from err
                except (OSError, ssl.SSLError, ProtocolError, zlib.error, EOFError) as err:
                    raise ConnectionError(f"the answer was lost: {err!r}", errors=(err,)) from err
                finally:
                    stream.close()
            except BaseException:
                conn.close()
                self.pool._put_conn(None)
                raise
            if not keep:
                conn.close()
                conn = None
            self.pool._put_conn(conn)
            return status, headers, data
        raise AssertionError("unreachable")


def connect(conn, timeout) -> bool:
    """Connects `conn` unless it is; whether it was (a pooled connection reused)."""
    if conn.sock is not None:
        if conn.sock.gettimeout() != timeout:
            conn.sock.settimeout(timeout)
        return True
    conn.timeout = timeout
    try:
        conn.connect()
    except (ssl.SSLError, ssl.CertificateError, urllib3.exceptions.SSLError) as err:
        raise TlsError(str(err), errors=(err, NotSent(str(err)))) from err
    except Exception as err:
        if isinstance(err, RERAISE_EXCEPTIONS):
            raise
        if isinstance(err.__context__, (ssl.SSLError, ssl.CertificateError)):
            raise TlsError(str(err), errors=(err, NotSent(str(err)))) from err
        raise ConnectionError(str(err), errors=(err, NotSent(str(err)))) from err
    conn.sock.settimeout(timeout)
    return False


def encode_request(method: str, target: str, host: str, headers, body: bytes | None) -> bytes:
    """The request as it goes on the wire. Like http.client, a header breaking the request's
    lines is refused (ValueError), and a POST, PUT or PATCH without a body says so."""
    if not target.isascii() or not target.isprintable() or " " in target:
        target = quote(target, safe=TARGET_SAFE)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    accept_encoding = False
    for name, value in headers.items():
        value = str(value)
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"invalid header {name!r}")
        if name.lower() == "accept-encoding":
            accept_encoding = True
        lines.append(f"{name}: {value}")
    if not accept_encoding:
        lines.append("Accept-Encoding: identity")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    elif method in METHODS_WITH_BODY:
        lines.append("Content-Length: 0")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body is not None else head


def read_response(stream, method: str):
    """(status, headers, body, keep-alive) of the answer read from `stream`."""
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            raise ProtocolError("the connection closed before an answer")
        version, _, rest = line.partition(b" ")
        if not version.startswith(b"HTTP/1.") or len(line) > MAX_LINE:
            raise ProtocolError(f"not an HTTP/1.x status line: {line[:100]!r}")
        try:
            status = int(rest[:3])
        except ValueError:
            raise ProtocolError(f"not an HTTP/1.x status line: {line[:100]!r}") from None
        headers = read_headers(stream)
        if status >= 200 or status == 101:
            break  # 1xx interim answers are skipped, as http.client does
    fields = HttpHeaders(headers)
    connection = fields.get("connection", "").lower()
    keep = "close" not in connection and (version != b"HTTP/1.0" or "keep-alive" in connection)
    if method == "HEAD" or status in (204, 304) or status < 200:
        return status, fields, b"", keep
    if "chunked" in fields.get("transfer-encoding", "").lower():
        data = read_chunked(stream)
    elif "content-length" in fields:
        try:
            length = int(fields["content-length"])
        except ValueError:
            raise ProtocolError("an invalid Content-Length") from None
        data = stream.read(length)
        if len(data) != length:
            raise ProtocolError(f"the answer ended after {len(data)} of {length} bytes")
    else:
        data, keep = stream.read(), False  # the body ends with the connection
    encoding = fields.get("content-encoding", "").lower()
    if data and encoding in ("gzip", "x-gzip"):
        data = gzip.decompress(data)
    elif data and encoding == "deflate":
        try:
            data = zlib.decompress(data)
        except zlib.error:
            data = zlib.decompress(data, -zlib.MAX_WBITS)
    return status, fields, data, keep


def read_headers(stream) -> dict[str, str]:
    headers: dict[str, str] = {}
    name = None
    for _ in range(MAX_HEADERS + 1):
        line = stream.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ProtocolError("a header line too long")
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise ProtocolError("the connection closed inside the answer's headers")
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and name is not None:  # a folded line continues the last
            headers[name] += " " + text.strip()
            continue
        name, sep, value = text.partition(":")
        if not sep:
            raise ProtocolError(f"not a header line: {text[:100]!r}")
        name, value = name.strip(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raise ProtocolError(f"more than {MAX_HEADERS} headers")


def read_chunked(stream) -> bytes:
    parts = []
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            raise ProtocolError("the connection closed inside a chunked answer")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError(f"an invalid chunk size: {line[:100]!r}") from None
        if size == 0:
            read_headers(stream)  # the trailer, up to the empty line
            return b"".join(parts)
        chunk = stream.read(size)
        if len(chunk) != size or stream.read(2) not in (b"\r\n",):
            raise ProtocolError("a chunk cut short")
        parts.append(chunk)
