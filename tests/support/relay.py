"""Network faults between the service and a real Elasticsearch node: an HTTP/1.1 relay on a
free loopback port that passes requests to the node and its answers back, except that

- an answer can be lost on the way: for requests `lose_answer` picks, the node receives and
  executes the request, and the relay closes the caller's connection instead of answering (as
  when a node dies after a write reached the primary), or holds the answer past the caller's
  timeout (`hold_seconds`);
- a request can be lost on the way: for requests `drop_request` picks, the relay reads the
  whole request and closes the caller's connection without passing it on (as when a node dies
  before the write reached the primary);
- a request can arrive twice: for requests `repeat` picks, the node executes the request, then
  the same request again, and the caller gets the second answer (as when Elasticsearch resends
  a write to a promoted replica that already holds it).

Nothing here answers for Elasticsearch: every request reaches the real node. A node served over
https (`ca_certs` its CA) is reached over TLS while the relay itself speaks plain HTTP, as a
cluster behind a TLS-terminating proxy is reached.
"""

import socket
import ssl
import threading
from collections.abc import Callable

REQUEST_LINE_LIMIT = 65536


class FaultyRelay:
    def __init__(self, node_url: str, *, lose_answer: Callable[[str, str], bool] = lambda m, p: False,
                 hold_seconds: float = 0.0, repeat: Callable[[str, str], bool] = lambda m, p: False,
                 drop_request: Callable[[str, str], bool] = lambda m, p: False,
                 ca_certs: str | None = None):
        scheme, _, address = node_url.rstrip("/").partition("://")
        host, port = address.split(":")
        self.node = (host, int(port))
        self.tls = ssl.create_default_context(cafile=ca_certs) if scheme == "https" else None
        self.lose_answer = lose_answer
        self.repeat = repeat
        self.drop_request = drop_request
        self.hold_seconds = hold_seconds
        self.requests: list[tuple[str, str]] = []  # (method, target) of each request relayed
        self.lost: list[tuple[str, str]] = []
        self.repeated: list[tuple[str, str]] = []
        self.dropped: list[tuple[str, str]] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._server.close()

    def __enter__(self) -> "FaultyRelay":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                caller, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(caller,), daemon=True).start()

    def _serve(self, caller: socket.socket) -> None:
        """One caller connection, request by request (keep-alive), each on a fresh connection
        to the node."""
        with caller:
            reader = caller.makefile("rb")
            while True:
                request = read_message(reader)
                if request is None:
                    return
                head, body = request
                method, target = head.split(b" ", 2)[:2]
                method, target = method.decode(), target.decode()
                self.requests.append((method, target))
                if self.drop_request(method, target):
                    self.dropped.append((method, target))
                    return  # the caller's connection closes; the node never saw the request
                answer = self._send(head + body, method)
                if self.repeat(method, target):
                    self.repeated.append((method, target))
                    answer = self._send(head + body, method)
                if answer is None:
                    return
                if self.lose_answer(method, target):
                    self.lost.append((method, target))
                    if self.hold_seconds:
                        self._closed.wait(self.hold_seconds)
                    return  # the caller's connection closes without an answer
                caller.sendall(answer[0] + answer[1])


    def _send(self, request: bytes, method: str) -> tuple[bytes, bytes] | None:
        connection = socket.create_connection(self.node)
        try:
            upstream = (self.tls.wrap_socket(connection, server_hostname=self.node[0])
                        if self.tls else connection)
        except BaseException:
            connection.close()
            raise
        with upstream:
            upstream.sendall(request)
            return read_message(upstream.makefile("rb"), response_to=method)


def read_message(reader, *, response_to: str | None = None) -> tuple[bytes, bytes] | None:
    """One HTTP/1.1 message (head, body) with a Content-Length or chunked body; None at EOF."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline(REQUEST_LINE_LIMIT)
        if not line:
            return None
        head += line
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
    if response_to == "HEAD":
        return head, b""
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            size_line = reader.readline(REQUEST_LINE_LIMIT)
            body += size_line
            size = int(size_line.split(b";")[0], 16)
            body += reader.read(size + 2)
            if size == 0:
                return head, body
    return head, reader.read(int(headers.get(b"content-length", b"0")))
