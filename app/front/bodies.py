"""Request bodies as the front receives them: on the event loop, within a deadline that grows
with what arrives (app.front), whole or streamed to the app's `wsgi.input`."""

import asyncio
import time

from app.exceptions import RestError


class BodyTimeout(RestError):
    """The body did not arrive in time: nothing was forwarded or parsed."""

    status = 408
    error_type = "timeout_exception"


class ClientGone(RestError):
    """The caller closed the connection before its whole body arrived (no one reads the answer)."""

    status = 400
    error_type = "parse_exception"


class BodyClock:
    """When the body's next bytes must have arrived: BODY_TIMEOUT after the headers, plus one
    second for every BODY_MIN_RATE bytes already received."""

    def __init__(self, timeout: float, min_rate: int):
        self.start = time.monotonic()
        self.timeout = timeout
        self.min_rate = min_rate

    def remaining(self, received: int) -> float:
        allowed = self.timeout + (received / self.min_rate if self.min_rate else 0)
        return self.start + allowed - time.monotonic()

    def timeout_error(self, received: int) -> "BodyTimeout":
        return BodyTimeout(f"the request body did not arrive in time: [{received}] bytes in "
                           f"[{time.monotonic() - self.start:.1f}s]")


class BodyReader:
    """Receives a body on the event loop, up to `limit` bytes, within its BodyClock."""

    def __init__(self, receive, clock: BodyClock, limit: int):
        self.receive, self.clock, self.limit = receive, clock, limit
        self.parts, self.received, self.more = [], 0, True
        # A receive() in flight is kept, never cancelled: its bytes would be lost with it.
        self.pending = None

    async def read(self, seconds: float | None = None) -> bool:
        """True once the body has ended or passed `limit` bytes; False if `seconds` passed
        first. BodyTimeout when the body falls behind its clock, ClientGone if the caller left."""
        give_up = None if seconds is None else time.monotonic() + seconds
        while self.more and self.received <= self.limit:
            remaining = self.clock.remaining(self.received)
            wait = remaining if give_up is None else min(remaining, give_up - time.monotonic())
            if self.pending is None:
                self.pending = asyncio.ensure_future(self.receive())
            done, _ = await asyncio.wait({self.pending}, timeout=max(wait, 0))
            if not done:
                if wait >= remaining:
                    raise self.clock.timeout_error(self.received)
                return False
            message, self.pending = self.pending.result(), None
            if message["type"] == "http.disconnect":
                raise ClientGone("the client closed the connection before the whole body arrived")
            self.parts.append(message.get("body", b""))
            self.received += len(self.parts[-1])
            self.more = message.get("more_body", False)
        return True

    def body(self) -> bytes:
        return b"".join(self.parts)

    def abandon(self) -> None:
        if self.pending is not None:
            self.pending.cancel()


async def next_piece(receive, clock: BodyClock, received: int) -> tuple[bytes, bool]:
    remaining = clock.remaining(received)
    try:
        if remaining <= 0:
            raise TimeoutError
        message = await asyncio.wait_for(receive(), remaining)
    except TimeoutError:
        raise clock.timeout_error(received) from None
    if message["type"] == "http.disconnect":
        raise ClientGone("the client closed the connection before the whole body arrived")
    return message.get("body", b""), message.get("more_body", False)


class StreamedBody:
    """`wsgi.input` for a body too large to buffer: each read waits on the event loop, within
    the body's deadline. A body that stops arriving, or a caller that leaves, raises a RestError
    from read(), which stops whatever is consuming it (a forward to Elasticsearch is cut off
    before it is complete, so Elasticsearch never acts on it)."""

    def __init__(self, receive, clock: BodyClock, loop, prefix: bytes = b""):
        self._receive, self._clock, self._loop = receive, clock, loop
        self._buffer = bytearray(prefix)
        self._received = len(prefix)
        self._more = True
        self.on_done = None
        self.on_complete = None

    @property
    def more(self) -> bool:
        """Whether the body has not yet arrived whole."""
        return self._more

    def _fill(self, wanted: int | None) -> None:
        while self._more and (wanted is None or len(self._buffer) < wanted):
            future = asyncio.run_coroutine_threadsafe(
                next_piece(self._receive, self._clock, self._received), self._loop)
            data, self._more = future.result()
            self._buffer += data
            self._received += len(data)
        if not self._more and self.on_complete is not None:
            self.on_complete()
            self.on_complete = None

    def read(self, size: int | None = -1) -> bytes:
        wanted = None if size is None or size < 0 else size
        self._fill(wanted)
        cut = len(self._buffer) if wanted is None else min(wanted, len(self._buffer))
        data = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        while b"\n" not in self._buffer and self._more:
            self._fill(len(self._buffer) + 1)
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        if size is not None and size >= 0:
            end = min(end, size)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    def __iter__(self):
        while line := self.readline():
            yield line

    def done(self) -> None:
        if self.on_done is not None:
            self.on_done()
            self.on_done = None


def content_length(headers) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
