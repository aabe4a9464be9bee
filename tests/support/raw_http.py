"""Requests written byte by byte on a socket, for callers no HTTP client library imitates:
bodies that stop half-way, trickle, or are never finished."""

import json
import socket
from contextlib import contextmanager
from urllib.parse import urlsplit


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


@contextmanager
def connection(url: str, source: str = "127.0.0.1"):
    sock = socket.create_connection(address(url), timeout=30, source_address=(source, 0))
    try:
        yield sock
    finally:
        sock.close()


def start_body(sock, path: str, length: int, sent: bytes, content_type="application/json",
               headers: dict[str, str] | None = None) -> None:
    """Sends the headers of a request whose body is `length` bytes, then only `sent` of it."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()
    sock.sendall(head + sent)


def read_full_answer(sock, timeout: float) -> tuple[int, dict[str, str], dict]:
    """The status, headers (lower-case names) and JSON body of the answer on `sock` (which
    the server may then close)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed without an answer: {data!r}")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:]}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return int(lines[0].split()[1]), headers, json.loads(body[:length] or b"{}")


def read_answer(sock, timeout: float) -> tuple[int, dict]:
    """The status and JSON body of the answer on `sock`."""
    status, _, body = read_full_answer(sock, timeout)
    return status, body
