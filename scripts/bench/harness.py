"""The two sides every phase compares: the service under granian with its HTTP client, and the
same state changes sent straight to Elasticsearch."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import urllib3
from elasticsearch import Elasticsearch

from app.domain import clock
from app.services import sync_jobs
from app.storage import SYNC_JOBS_INDEX

REPO_ROOT = Path(__file__).resolve().parents[2]

LOOPBACK = "127.0.0.1"
TERMINAL = {"completed", "error", "canceled"}
LISTED_STATUS = "completed"
LIST_SIZE = 20
WORKER_HOSTNAME = "bench-worker"
STATS_BODY = {"deleted_document_count": 1, "indexed_document_count": 10,
              "indexed_document_volume": 100}


class BenchmarkError(RuntimeError):
    pass


def progress(text: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def in_threads(work, arguments: list[tuple], timeout: float) -> float:
    """`work(*args)` on a thread of its own for each args, all let go together: the seconds from
    then until the last one ended (or `timeout` passed)."""
    barrier = threading.Barrier(len(arguments) + 1)

    def start(*args) -> None:
        barrier.wait()
        work(*args)

    threads = [threading.Thread(target=start, args=args, daemon=True) for args in arguments]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=timeout)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """granian serving app.asgi:app with scripts/serve's flags, on a free loopback port."""

    def __init__(self, es_url: str, *, workers: int, threads: int, access_log: bool,
                 extra_env: dict[str, str], log_dir: Path):
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.workers, self.threads, self.access_log = workers, threads, access_log
        self.extra_env = extra_env
        self.log_path = log_dir / "server.log"
        command = [str(REPO_ROOT / ".venv" / "bin" / "granian"), "--interface", "asgi",
                   "app.asgi:app", "--host", LOOPBACK, "--port", str(self.port),
                   "--workers", str(workers),
                   "--respawn-failed-workers", "--workers-kill-timeout", "30",
                   "--no-access-log", "--log-config",
                   str(REPO_ROOT / "app" / "observability" / "granian-ecs.json")]
        # The service writes the access log itself (ECS, its output not being a terminal).
        env = {**os.environ, "ELASTICSEARCH_URL": es_url, "AUTH_MODE": "none", "HOST": LOOPBACK,
               "PORT": str(self.port), "WEB_THREADS": str(threads),
               "ACCESS_LOG": "on" if access_log else "off", **extra_env}
        self.command = command
        self.env_shown = {key: env[key] for key in sorted(extra_env)}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_until_healthy(self, http: "ServiceClient", timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkError(f"the server exited: {self.log_path.read_text()[-2000:]}")
            try:
                status, body = http.request("GET", "/_connector_service/health")
                if status == 200 and body.get("status") == "green":
                    return
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(0.5)
        raise BenchmarkError(f"the service did not become healthy on {self.url}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


class ServiceClient:
    """The service's routes over keep-alive HTTP (urllib3, which the ES client uses too)."""

    def __init__(self, url: str, pool_size: int = 64):
        parts = urlsplit(url)
        self.pool = urllib3.HTTPConnectionPool(parts.hostname, parts.port, maxsize=pool_size,
                                               block=True, retries=False,
                                               timeout=urllib3.Timeout(total=60))

    def request(self, method: str, path: str, body: dict | None = None,
                expect: int | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        payload = json.dumps(body).encode() if body is not None else None
        resp = self.pool.request(method, path, body=payload, headers=headers)
        data = json.loads(resp.data) if resp.data else {}
        if expect is not None and resp.status != expect:
            raise BenchmarkError(f"{method} {path} answered {resp.status}: {resp.data[:500]!r}")
        return resp.status, data

    def request_raw(self, method: str, path: str, payload: bytes) -> tuple[int, dict]:
        """A forwarded request with an NDJSON body (a _bulk)."""
        resp = self.pool.request(method, path, body=payload,
                                 headers={"Content-Type": "application/x-ndjson"})
        return resp.status, json.loads(resp.data) if resp.data else {}

    def create(self, connector_id: str) -> str:
        return self.request("POST", "/_connector/_sync_job",
                            {"id": connector_id, "job_type": "full",
                             "trigger_method": "on_demand"}, expect=201)[1]["id"]

    def claim(self, job_id: str) -> None:
        self.request("PUT", f"/_connector/_sync_job/{job_id}/_claim",
                     {"worker_hostname": WORKER_HOSTNAME}, expect=200)

    def check_in(self, job_id: str) -> None:
        self.request("PUT", f"/_connector/_sync_job/{job_id}/_check_in", expect=200)

    def stats(self, job_id: str) -> None:
        self.request("PUT", f"/_connector/_sync_job/{job_id}/_stats", STATS_BODY, expect=200)

    def list(self, connector_id: str) -> dict:
        query = urlencode({"connector_id": connector_id, "status": LISTED_STATUS,
                           "size": LIST_SIZE})
        return self.request("GET", f"/_connector/_sync_job?{query}", expect=200)[1]

    def forwarded_get(self, index: str, doc_id: str) -> None:
        self.request("GET", f"/{index}/_doc/{doc_id}", expect=200)

    def summary(self, max_age: int = 0) -> dict:
        query = f"?max_age={max_age}s" if max_age else ""
        return self.request("GET", f"/_connector_service/sync_job_summary{query}", expect=200)[1]

    def unrouted(self, connector_id: str) -> None:
        """A path under /_connector that no route serves: a 404 made without Elasticsearch."""
        self.request("GET", f"/_connector/{connector_id}/_benchmark_floor", expect=404)


def list_body(connector_id: str) -> dict:
    """The body the service's list sends for connector_id + status, size 20, with the flag
    app.storage.documents.Storage.search adds (the list counts as ES does by default)."""
    return {**sync_jobs.list_body(0, LIST_SIZE, connector_id, [LISTED_STATUS], None),
            "seq_no_primary_term": True}


class DirectClient:
    """Each operation as the fewest requests that make the same guarded state change."""

    def __init__(self, client: Elasticsearch, snapshots: dict[str, dict],
                 tokens: dict[str, tuple[int, int]]):
        self.client = client
        self.snapshots = snapshots
        self.tokens = tokens

    def create(self, connector_id: str) -> str:
        now = clock.now()
        job = new_job(self.snapshots[connector_id], now)
        return self.client.index(index=SYNC_JOBS_INDEX, document=job, op_type="create",
                                 refresh=True, require_alias=True)["_id"]

    def _guarded(self, job_id: str, change, refresh: bool) -> None:
        doc = self.client.get(index=SYNC_JOBS_INDEX, id=job_id)
        partial = change(doc["_source"])
        self.client.update(index=SYNC_JOBS_INDEX, id=job_id, doc=partial,
                           if_seq_no=doc["_seq_no"], if_primary_term=doc["_primary_term"],
                           refresh=refresh, require_alias=True)

    def claim(self, job_id: str) -> None:
        def change(job):
            if job["status"] not in ("pending", "suspended"):
                raise BenchmarkError(f"job {job_id} is {job['status']}")
            now = clock.now()
            return {"status": "in_progress", "worker_hostname": WORKER_HOSTNAME,
                    "started_at": now, "last_seen": now}

        self._guarded(job_id, change, refresh=True)

    def check_in(self, job_id: str) -> None:
        def change(job):
            if job["status"] in TERMINAL:
                raise BenchmarkError(f"job {job_id} is {job['status']}")
            return {"last_seen": clock.now()}

        self._guarded(job_id, change, refresh=False)

    def stats(self, job_id: str) -> None:
        def change(job):
            if job["status"] in TERMINAL:
                raise BenchmarkError(f"job {job_id} is {job['status']}")
            return {**STATS_BODY, "last_seen": clock.now()}

        self._guarded(job_id, change, refresh=False)

    def check_in_remembered(self, job_id: str) -> None:
        """check_in as one guarded update on the version this process last wrote (whose status
        it knows): what a service that remembers its writes' tokens would send."""
        self._remembered(job_id, {"last_seen": clock.now()})

    def stats_remembered(self, job_id: str) -> None:
        """stats as one guarded update on the version this process last wrote."""
        self._remembered(job_id, {**STATS_BODY, "last_seen": clock.now()})

    def _remembered(self, job_id: str, partial: dict) -> None:
        seq_no, primary_term = self.tokens[job_id]
        resp = self.client.update(index=SYNC_JOBS_INDEX, id=job_id, doc=partial,
                                  if_seq_no=seq_no, if_primary_term=primary_term,
                                  require_alias=True)
        if resp["result"] != "updated":
            raise BenchmarkError(f"the update of {job_id} was a {resp['result']}")
        self.tokens[job_id] = (resp["_seq_no"], resp["_primary_term"])

    def list(self, connector_id: str) -> dict:
        resp = self.client.search(index=SYNC_JOBS_INDEX, body=list_body(connector_id))
        return {"count": resp["hits"]["total"]["value"],
                "results": [{"id": hit["_id"]} for hit in resp["hits"]["hits"]]}

    def forwarded_get(self, index: str, doc_id: str) -> None:
        self.client.get(index=index, id=doc_id)


def new_job(snapshot: dict, now: str) -> dict:
    """A pending full job as the service's create writes it."""
    return sync_jobs.pending_job(snapshot, "full", "on_demand", now)


@dataclass
class Sides:
    service: ServiceClient
    direct: DirectClient

    def pair(self, order: int):
        """Service first on even turns, direct first on odd ones."""
        both = (("service", self.service), ("direct", self.direct))
        return both if order % 2 == 0 else both[::-1]


def check_same_answers(sides: Sides, connector_ids: list[str]) -> None:
    """The direct list must be the service's query: same count and same ids."""
    for connector_id in connector_ids[:3]:
        via_service = sides.service.list(connector_id)
        direct = sides.direct.list(connector_id)
        service_ids = [job["id"] for job in via_service["results"]]
        direct_ids = [job["id"] for job in direct["results"]]
        if via_service["count"] != direct["count"] or service_ids != direct_ids:
            raise BenchmarkError(f"service and direct lists differ for {connector_id}: "
                                 f"{via_service['count']} vs {direct['count']}")
