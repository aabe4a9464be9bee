"""The least an ASGI app under granian can do: what the floor phase (scripts/bench/floor.py)
measures the service against. `GET /` is answered on the event loop; `GET /hop` after one
round trip to a thread of its own, as the service's front hands every request to an app
thread and takes the answer back (app/front/threads.py).

`PUT /_connector/_sync_job/<id>/_check_in` is the least a heartbeat served on the event loop
can cost: one partial update of `last_seen` guarded by the tokens this process last saw (a get
first when it has none, again after a conflict), sent to FLOOR_ES_URL over keep-alive asyncio
connections, and `{"result": ...}` answered. No auth, ids, access line, metrics or failover:
what a service that kept those would add comes on top. With `?accounted` the request is also
begun and reported as the service's front does it (app.observability.requests: its ids, its
ECS access line, its metrics in the shared directory).
"""

import asyncio
import json
import os
import queue
import threading
from urllib.parse import urlsplit

from app.observability import shared_dir

shared_dir.prepare_for_workers()  # before the metrics library is imported, as app.asgi does

from app import about  # noqa: E402
from app.config import Config  # noqa: E402
from app.domain import clock  # noqa: E402
from app.observability import logs, requests  # noqa: E402

ANSWER = b'{"live":true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
JOBS_INDEX = ".elastic-connectors-sync-jobs"
CHECK_IN = ("/_connector/_sync_job/", "/_check_in")
_calls: queue.SimpleQueue = queue.SimpleQueue()


def _answer_on_a_thread() -> None:
    while True:
        loop, future = _calls.get()
        loop.call_soon_threadsafe(future.set_result, ANSWER)


class Node:
    """HTTP/1.1 to one node over pooled asyncio connections; answers read by Content-Length."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 9200
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, dict]:
        reader, writer = (self.idle.pop() if self.idle
                          else await asyncio.open_connection(self.host, self.port))
        writer.write(f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                     .encode() + body)
        status = int((await reader.readline()).split(b" ", 2)[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        data = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status, json.loads(data)


class Heartbeats:
    """check_in as one guarded partial update on the version this process last wrote."""

    def __init__(self, node: Node):
        self.node = node
        self.tokens: dict[str, tuple[int, int]] = {}

    async def check_in(self, job_id: str) -> tuple[int, bytes]:
        for _ in range(10):
            if job_id not in self.tokens:
                status, doc = await self.node.request("GET", f"/{JOBS_INDEX}/_doc/{job_id}")
                if status != 200:
                    return 404, b'{"error":"not found"}'
                self.tokens[job_id] = doc["_seq_no"], doc["_primary_term"]
            seq_no, term = self.tokens[job_id]
            body = json.dumps({"doc": {"last_seen": clock.now()}}).encode()
            status, answer = await self.node.request(
                "POST", f"/{JOBS_INDEX}/_update/{job_id}?if_seq_no={seq_no}"
                        f"&if_primary_term={term}&require_alias=true", body)
            if status == 409:
                del self.tokens[job_id]
                continue
            if status != 200:
                return status, json.dumps(answer).encode()
            self.tokens[job_id] = answer["_seq_no"], answer["_primary_term"]
            return 200, json.dumps({"result": answer["result"]}).encode()
        return 429, b'{"error":"too many conflicts"}'


_heartbeats: Heartbeats | None = None


async def app(scope, receive, send):
    global _heartbeats
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                threading.Thread(target=_answer_on_a_thread, daemon=True).start()
                if os.environ.get("FLOOR_ES_URL"):
                    _heartbeats = Heartbeats(Node(os.environ["FLOOR_ES_URL"]))
                    logs.configure(Config.from_env(), about.service_version())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    status, body, headers, path = 200, ANSWER, HEADERS, scope["path"]
    if path == "/hop":
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        _calls.put((loop, future))
        body = await future
    elif (_heartbeats is not None and scope["method"] == "PUT" and path.startswith(CHECK_IN[0])
          and path.endswith(CHECK_IN[1])):
        observed = None
        if scope["query_string"] == b"accounted":
            observed = requests.arrived(None, None, method="PUT", path=path,
                                        client=scope["client"][0], user_agent=None)
            observed.route = "/_connector/_sync_job/<job_id>/_check_in"
            observed.es_calls = 1
        status, body = await _heartbeats.check_in(path[len(CHECK_IN[0]):-len(CHECK_IN[1])])
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        if observed is not None:
            headers += [(name.lower().encode(), value.encode())
                        for name, value in requests.echo_headers(observed)]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            observed.status = status
            requests.request_done(observed, log=True)
            return
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
