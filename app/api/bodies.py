"""The body of a request to the service's own routes, as Elasticsearch reads it: decompressed
when it is sent with `Content-Encoding: gzip` or `deflate` (the official clients'
`http_compress=True`), within MAX_BODY_BYTES after decompression, and with large bodies read and
parsed one at a time per worker process, so that many at once cannot exhaust its memory.
"""

import threading
import zlib

from flask import current_app, g, request

from app.exceptions import BodyTooLarge, ParseFailed, RestError, TooManyRequests

# zlib's window bits: gzip's header, zlib's, or none (raw deflate, which ES accepts too).
WINDOW_BITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
               "deflate": zlib.MAX_WBITS, "x-deflate": zlib.MAX_WBITS}
RAW_DEFLATE = -zlib.MAX_WBITS
# A large body waits at most this long for its turn, then gets a 429 (retried by clients).
LARGE_BODY_WAIT_SECONDS = 30

_large_bodies = threading.BoundedSemaphore(1)


class UnsupportedEncoding(RestError):
    status = 415
    error_type = "illegal_argument_exception"


def content() -> bytes:
    """The request's body, decompressed; cached for the request."""
    if "body_content" not in g:
        g.body_content = _read()
    return g.body_content


def _read() -> bytes:
    limit = current_app.config["MAX_BODY_BYTES"]
    large = current_app.config["BODY_BUFFER_BYTES"]
    declared = request.content_length
    if declared is None and request.headers.get("Transfer-Encoding") or (declared or 0) > large:
        take_large_body_turn()
    raw = request.get_data(cache=True)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if not raw or encoding in ("", "identity"):
        return raw
    if encoding not in WINDOW_BITS:
        raise UnsupportedEncoding(f"Content-Encoding [{encoding}] is not supported: send the "
                                  "body as is, or compressed with gzip or deflate")
    return _inflate(raw, WINDOW_BITS[encoding], limit, large)


def _inflate(raw: bytes, bits: int, limit: int, large: int) -> bytes:
    """`raw` decompressed, refused past `limit` bytes (a zip bomb is a 413, never a whole
    inflation); past `large` bytes it waits for the large-body turn first."""
    try:
        inflater = zlib.decompressobj(bits)
        try:
            out = inflater.decompress(raw, large + 1)
        except zlib.error:
            if bits != zlib.MAX_WBITS:
                raise
            inflater = zlib.decompressobj(RAW_DEFLATE)  # deflate without zlib's header
            out = inflater.decompress(raw, large + 1)
        if len(out) > large:
            take_large_body_turn()
            out += inflater.decompress(inflater.unconsumed_tail, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyTooLarge(limit)
        if not inflater.eof:
            raise ParseFailed("the compressed request body ends before its end of stream",
                              error_type="parse_exception")
        return out
    except zlib.error as err:
        raise ParseFailed(f"failed to decompress the request body: {err}",
                          error_type="parse_exception") from None


def take_large_body_turn() -> None:
    """Waits until no other large body is being read or parsed in this process."""
    if g.get("large_body_turn"):
        return
    if not _large_bodies.acquire(timeout=LARGE_BODY_WAIT_SECONDS):
        raise TooManyRequests("another large request body is being processed; retry")
    g.large_body_turn = True


def release_large_body_turn(_error=None) -> None:
    """Teardown: the request is over, and with it the memory its body took."""
    if g.pop("large_body_turn", False):
        _large_bodies.release()
