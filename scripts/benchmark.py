#!/usr/bin/env python3
"""Measures the service against the physical limit: the same state change sent straight to
Elasticsearch by this process, with the same client library and the same refresh policy.

Starts a local Elasticsearch node of its own (tests.nodes.LocalNode: free ports, a fresh data
folder, removed afterwards) unless --es-url names one, then the service under its production
server (granian, as scripts/serve runs it) on a free loopback port in front of it, and, in one
run:

- latency: p50/p99 of create, claim, check_in, stats and a filtered list, each service call
  alternated with its direct equivalent in the same loop, so machine drift cancels out;
- where the time goes: the ES requests and refreshes each call causes (the node's route
  statistics) and the CPU it takes in the service, in Elasticsearch and in the client;
- throughput: 32 threads checking in 32 jobs, service and direct windows alternating;
- scale: check_in and filtered-list p50 at each --jobs size (jobs bulk-loaded directly);
- forwarding: GET /<index>/_doc/<id> through the service vs direct, when app/api/forwarding.py
  exists;
- replicas: a worker's cycle (claim, check_in, stats, check_in) by 32 threads through 1 and 2
  replicas of the service over 1 and 3 nodes (nodes of the phase's own), windows rotating over
  the four, reported as ratios.
- summary: the dashboard's summary at the largest size with a job created before each call,
  counted for the call and as the previous aggregation, with the node's CPU per call; then
  five tabs polling as the page does while jobs are created.

`--auth` measures instead what checking callers with the cluster costs: a secured node of its
own (tests.secured.SecuredNode: TLS, file-realm users), the service in front of it three times
(AUTH_MODE=none; elasticsearch with answers remembered; elasticsearch asking on every request),
a read and a worker's heartbeat alternated across the three.

It prints Markdown tables with PASS/FAIL beside each target. It changes only what it creates:
a node given with --es-url must be on loopback and must not hold the connector indices yet
(the run is refused, nothing touched, if it does); the benchmark creates them and deletes them
at the end (unless --keep). Traffic goes to 127.0.0.1 only; every phase is bounded by counts or
by time, and --max-seconds bounds the whole run.

    .venv/bin/python scripts/benchmark.py --quick
    .venv/bin/python scripts/benchmark.py            # 10k and 1M jobs
    .venv/bin/python scripts/benchmark.py --es-url http://127.0.0.1:9206   # a node you started
    .venv/bin/python scripts/benchmark.py --auth       # AUTH_MODE=elasticsearch's cost
"""

import argparse
import itertools
import json
import math
import os
import platform
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from urllib.parse import urlencode, urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import urllib3  # noqa: E402
from elasticsearch import Elasticsearch  # noqa: E402

from app.config import Config  # noqa: E402
from app.domain import clock  # noqa: E402
from app.services import sync_jobs  # noqa: E402
from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX, connect  # noqa: E402
from tests.support.nodes import local_cluster, local_node  # noqa: E402

LOOPBACK = "127.0.0.1"
OPERATIONS = ("create", "claim", "check_in", "stats", "list")
# The latency phase also runs check_in and stats on jobs the service never saw.
LATENCY_OPERATIONS = ("create", "claim", "check_in", "stats", "check_in_cold", "stats_cold", "list")
# The client method behind each latency operation.
METHOD = {"check_in_cold": "check_in", "stats_cold": "stats"}
LABEL = {"check_in": "check_in (a worker's heartbeat: the job was claimed through the service)",
         "stats": "stats (the same, on a claimed job)",
         "check_in_cold": "check_in, cold (a bulk-loaded job the service never saw)",
         "stats_cold": "stats, cold (the same)"}
# What each operation costs the node when sent directly: the same state change as the service's.
DIRECT_DESCRIPTION = {
    "create": "index (op_type=create, refresh=true)",
    "claim": "get + update (if_seq_no, refresh=true)",
    "check_in": "get + update (if_seq_no)",
    "stats": "get + update (if_seq_no)",
    "check_in_cold": "get + update (if_seq_no)",
    "stats_cold": "get + update (if_seq_no)",
    "list": "search (same body)",
}
TERMINAL = {"completed", "error", "canceled"}
# Status mix of the bulk-loaded history: mostly finished jobs, as on a long-running cluster.
STATUS_MIX = (["completed"] * 80 + ["error"] * 5 + ["canceled"] * 5 + ["pending"] * 4
              + ["in_progress"] * 4 + ["suspended"] + ["canceling"])
LISTED_STATUS = "completed"
LIST_SIZE = 20
# Calls of each operation and side whose requests and CPU are counted.
ACCOUNTING_CALLS = 50
WORKER_HOSTNAME = "bench-worker"
STATS_BODY = {"deleted_document_count": 1, "indexed_document_count": 10,
              "indexed_document_volume": 100}
TARGETS = {"latency_ratio": 1.3, "throughput_ratio": 0.7, "scale_ratio": 1.2, "list_p50_ms": 50.0,
           "summary_p50_ms": 50.0}


class BenchmarkError(RuntimeError):
    pass


# Statistics


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def timed(call, *args) -> float:
    """Milliseconds one call took."""
    start = time.perf_counter()
    call(*args)
    return (time.perf_counter() - start) * 1000


# The machine


def machine_facts(admin: Elasticsearch) -> dict:
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines()
                   if line.startswith("MemTotal:")), 0)
    node = next(iter(admin.nodes.info(node_id="_local", metric="jvm")["nodes"].values()))
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": _cpu_model(),
        "es_version": node["version"],
        "es_heap": f"{node['jvm']['mem']['heap_max_in_bytes'] / 1024 ** 3:.1f} GiB",
        "python": platform.python_version(),
        "client": f"elasticsearch-py {package_version('elasticsearch')}",
        "granian": package_version("granian"),
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_average() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


# The service under granian


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


# The same state changes, straight to the node


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
        seq_no, primary_term = self.tokens[job_id]
        resp = self.client.update(index=SYNC_JOBS_INDEX, id=job_id, doc={"last_seen": clock.now()},
                                  if_seq_no=seq_no, if_primary_term=primary_term,
                                  require_alias=True)
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


# Data on the node


@dataclass
class Fixture:
    admin: Elasticsearch
    connector_ids: list[str]
    snapshots: dict[str, dict] = field(default_factory=dict)
    loaded: int = 0
    # (_seq_no, _primary_term) of the jobs written by jobs_in, as their bulk answer gave them.
    tokens: dict[str, tuple[int, int]] = field(default_factory=dict)

    def concrete_jobs_index(self) -> str:
        return next(iter(self.admin.indices.get_alias(name=SYNC_JOBS_INDEX)))

    def count(self) -> int:
        self.admin.indices.refresh(index=SYNC_JOBS_INDEX)
        return self.admin.count(index=SYNC_JOBS_INDEX)["count"]

    def bulk(self, docs, *, batch: int, parallel: int = 2, refresh: bool = False,
             remember: bool = False) -> list[str]:
        """Indexes docs in _bulk batches (auto ids); returns the ids in order and, with
        `remember`, keeps their tokens in `self.tokens`."""
        ids: list[str] = []

        def send(payload: bytes) -> list[str]:
            resp = self.admin.bulk(operations=payload, index=SYNC_JOBS_INDEX, refresh=refresh)
            if resp["errors"]:
                failed = next(item["index"] for item in resp["items"] if "error" in item["index"])
                raise BenchmarkError(f"bulk load failed: {failed['error']}")
            if remember:
                self.tokens.update((item["index"]["_id"], (item["index"]["_seq_no"],
                                                           item["index"]["_primary_term"]))
                                   for item in resp["items"])
            return [item["index"]["_id"] for item in resp["items"]]

        action = b'{"index":{}}\n'
        with ThreadPoolExecutor(parallel) as pool:
            pending = []
            iterator = iter(docs)
            while chunk := list(itertools.islice(iterator, batch)):
                payload = b"".join(action + json.dumps(doc).encode() + b"\n" for doc in chunk)
                pending.append(pool.submit(send, payload))
                if len(pending) > parallel:
                    ids += pending.pop(0).result()
            for future in pending:
                ids += future.result()
        return ids

    def jobs_in(self, status: str, count: int) -> list[str]:
        """`count` fresh jobs in `status`, searchable at once."""
        if count <= 0:
            return []
        now = clock.now()
        docs = []
        for i in range(count):
            job = new_job(self.snapshots[self.connector_ids[i % len(self.connector_ids)]], now)
            job["status"] = status
            if status == "in_progress":
                job.update(started_at=now, worker_hostname=WORKER_HOSTNAME)
            docs.append(job)
        return self.bulk(docs, batch=2000, parallel=1, refresh=True, remember=True)

    def history(self, count: int, offset: int):
        """Bulk-loaded past jobs: the shape the service writes, spread over a year."""
        start = datetime.now(UTC) - timedelta(days=365)
        for i in range(offset, offset + count):
            connector_id = self.connector_ids[i % len(self.connector_ids)]
            status = STATUS_MIX[(i * 7919) % len(STATUS_MIX)]
            created = start + timedelta(seconds=(i * 104729) % (365 * 86400))
            created_at = clock.format_instant(created)
            job = new_job(self.snapshots[connector_id], created_at)
            job["status"] = status
            job["trigger_method"] = "scheduled" if i % 3 else "on_demand"
            if status != "pending":
                finished = clock.format_instant(created + timedelta(minutes=5))
                job.update(started_at=created_at, worker_hostname=f"worker-{i % 8}",
                           last_seen=finished, indexed_document_count=i % 1000,
                           indexed_document_volume=i % 5000, total_document_count=i % 1000)
                if status in TERMINAL:
                    job["completed_at"] = finished
                if status == "error":
                    job["error"] = "the source did not answer"
                if status == "canceled":
                    job.update(cancelation_requested_at=finished, canceled_at=finished)
            yield job

    def fill_to(self, target: int) -> tuple[int, float]:
        """Bulk-loads history until the index holds `target` jobs, with refreshes off during
        the load. Returns how many were loaded and the seconds the load took (to searchable)."""
        missing = target - self.count()
        if missing <= 0:
            return 0, 0.0
        concrete = self.concrete_jobs_index()
        settings = self.admin.indices.get_settings(index=concrete, name="index.refresh_interval")
        previous = (settings.body.get(concrete, {}).get("settings", {}).get("index", {})
                    .get("refresh_interval"))
        started = time.perf_counter()
        self.admin.indices.put_settings(index=concrete, settings={"index.refresh_interval": "-1"})
        try:
            self.bulk(self.history(missing, self.loaded), batch=5000, parallel=2)
        finally:
            self.admin.indices.put_settings(index=concrete,
                                            settings={"index.refresh_interval": previous})
        self.admin.indices.refresh(index=concrete)
        seconds = time.perf_counter() - started
        self.loaded += missing
        self.wait_for_merges(concrete)
        return missing, seconds

    def wait_for_merges(self, concrete: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            merges = self.admin.indices.stats(index=concrete, metric="merge")
            if merges["_all"]["total"]["merges"]["current"] == 0:
                return
            time.sleep(2)


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"--es-url must be a loopback address, not {host!r}")


def connector_indices(admin: Elasticsearch) -> set[str]:
    """The concrete indices behind the connector aliases (and any index of those names)."""
    names = set()
    for alias in (CONNECTORS_INDEX, SYNC_JOBS_INDEX):
        if admin.indices.exists(index=alias, expand_wildcards="all"):
            names |= set(admin.indices.get(index=alias, expand_wildcards="all"))
    return names


def refuse_existing_connector_indices(admin: Elasticsearch, url: str) -> None:
    """The benchmark loads a million jobs and deletes its indices at the end: it runs only on a
    node where it creates them itself."""
    names = connector_indices(admin)
    if names:
        raise SystemExit(f"{url} already holds the connector indices ({', '.join(sorted(names))}); "
                         "the benchmark changes nothing it did not create. Run it without "
                         "--es-url (it starts a node of its own) or on a node without them.")


def delete_connector_indices(admin: Elasticsearch) -> None:
    """What the run created: the connector indices, missing at its start."""
    names = connector_indices(admin)
    if names:
        admin.indices.delete(index=",".join(sorted(names)), expand_wildcards="all")


def create_connectors(http: ServiceClient, admin: Elasticsearch, count: int) -> list[str]:
    """`count` connectors: the first created through the service, the others copies of it
    that differ in id, name and index_name."""
    ids = [f"bench-connector-{i:04d}" for i in range(count)]
    http.request("PUT", f"/_connector/{ids[0]}",
                 {"index_name": f"bench-content-{ids[0]}", "service_type": "bench",
                  "name": ids[0]}, expect=None)
    stored = admin.get(index=CONNECTORS_INDEX, id=ids[0])["_source"]
    operations = []
    for connector_id in ids[1:]:
        operations += [{"index": {"_index": CONNECTORS_INDEX, "_id": connector_id}},
                       {**stored, "name": connector_id,
                        "index_name": f"bench-content-{connector_id}"}]
    if operations:
        resp = admin.bulk(operations=operations, refresh=True)
        if resp["errors"]:
            raise BenchmarkError("could not copy the benchmark connectors")
    return ids


def job_snapshots(http: ServiceClient, admin: Elasticsearch, connector_ids: list[str]) -> dict:
    """Each connector's snapshot as the service writes it into a job (one job created through
    the service gives the shape; the others differ only in id and index_name)."""
    job_id = http.create(connector_ids[0])
    sample = admin.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]["connector"]
    snapshots = {}
    for connector_id in connector_ids:
        snapshot = json.loads(json.dumps(sample))
        snapshot["id"] = connector_id
        snapshot["index_name"] = f"bench-content-{connector_id}"
        snapshots[connector_id] = snapshot
    return snapshots


# Phases


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


def node_counters(admin: Elasticsearch, concrete: str) -> dict[str, int]:
    """Requests per REST route (the node's own statistics) and refreshes of the jobs index."""
    http = next(iter(admin.nodes.stats(node_id="_local", metric="http")["nodes"].values()))
    counters = {f"{route}": stats["requests"]["count"]
                for route, stats in http["http"].get("routes", {}).items()
                if "stats" not in route}
    refresh = admin.indices.stats(index=concrete, metric="refresh")["_all"]["total"]["refresh"]
    counters["refresh:external"] = refresh["external_total"]
    return counters


def cpu_seconds(pids: list[int]) -> float:
    """CPU time so far of every thread of these processes (Linux schedstat, nanoseconds)."""
    total = 0
    for pid in pids:
        for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # the thread ended meanwhile
    return total / 1e9


def memory_mib(pids: list[int]) -> list[tuple[float, float]]:
    """(resident, peak resident) MiB of each process, from /proc/<pid>/status."""
    found = []
    for pid in pids:
        try:
            status = dict(line.split(":", 1) for line in
                          Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
            found.append((int(status["VmRSS"].split()[0]) / 1024,
                          int(status["VmHWM"].split()[0]) / 1024))
        except (OSError, KeyError, ValueError):
            pass  # the process ended meanwhile
    return found


def elasticsearch_pid(admin: Elasticsearch) -> int:
    return next(iter(admin.nodes.info(node_id="_local", metric="process")["nodes"]
                     .values()))["process"]["id"]


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


# The node counts requests by route, not by method: a real-time GET and a create with an id the
# service generated (PUT) share `/{index}/_doc/{id}`.
ROUTE_NAMES = {"/{index}/_doc/{id}": "get/put doc", "/{index}/_update/{id}": "update",
               "/{index}/_doc": "index", "/{index}/_search": "search",
               "/{index}/_create/{id}": "index"}


def where_time_goes(sides: Sides, fixture: Fixture, service_pids: list[int], es_pid: int,
                    calls: int) -> dict:
    """Per call, for each operation and side: the ES requests and refreshes it caused (counted
    by the node) and the CPU it took in the service, in Elasticsearch and in this process (the
    client). Sides take turns in quarters, service-direct-direct-service, so that background
    work on the node (merges after the refreshes) falls on both alike."""
    concrete = fixture.concrete_jobs_index()
    jobs = {side: {op: fixture.jobs_in("pending" if op == "claim" else "in_progress", calls)
                   for op in ("claim", "check_in", "stats")} for side in ("service", "direct")}
    quarter = calls // 2
    result = {}
    for op in OPERATIONS:
        totals = {side: {"requests": {}, "refreshes": 0, "cpu": [0.0, 0.0, 0.0]}
                  for side in ("service", "direct")}
        for turn, side in enumerate(("service", "direct", "direct", "service")):
            client, total = getattr(sides, side), totals[side]
            before = node_counters(fixture.admin, concrete)
            cpu_before = (cpu_seconds(service_pids), cpu_seconds([es_pid]), time.thread_time())
            for i in range((turn // 2) * quarter, (turn // 2 + 1) * quarter):
                argument = (fixture.connector_ids[i % len(fixture.connector_ids)]
                            if op in ("create", "list") else jobs[side][op][i])
                getattr(client, op)(argument)
            cpu_after = (cpu_seconds(service_pids), cpu_seconds([es_pid]), time.thread_time())
            after = node_counters(fixture.admin, concrete)
            for route, count in after.items():
                delta = count - before.get(route, 0)
                if route == "refresh:external":
                    total["refreshes"] += delta
                elif delta:
                    name = ROUTE_NAMES.get(route, route)
                    total["requests"][name] = total["requests"].get(name, 0) + delta
            for k, (a, b) in enumerate(zip(cpu_before, cpu_after, strict=True)):
                total["cpu"][k] += b - a
        done = 2 * quarter
        for side, total in totals.items():
            service_cpu, es_cpu, client_cpu = (seconds * 1000 / done for seconds in total["cpu"])
            result[(op, side)] = {
                "requests": {name: count / done for name, count in total["requests"].items()},
                "refreshes": total["refreshes"] / done,
                "service_cpu": service_cpu, "es_cpu": es_cpu, "client_cpu": client_cpu}
    return result


def latency(sides: Sides, fixture: Fixture, samples: int, warmup: int,
            deadline: float) -> dict[tuple[str, str], list[float]]:
    """Every operation, service and direct alternated within one loop.

    check_in and stats go to jobs claimed before the loop, each side through itself, as a
    worker heartbeats the job it claimed; `*_cold` go to bulk-loaded jobs the service never
    saw. Also in the loop: check_in as one guarded update on remembered tokens (direct), and
    the floor of any call through the service, a 404 it answers without Elasticsearch."""
    total = samples + warmup
    jobs = {side: {op: fixture.jobs_in("pending" if op in ("claim", "check_in", "stats")
                                       else "in_progress", total)
                   for op in ("claim", "check_in", "stats", "check_in_cold", "stats_cold")}
            for side in ("service", "direct")}
    for side, client in sides.pair(0):
        for job_id in jobs[side]["check_in"] + jobs[side]["stats"]:
            client.claim(job_id)
    remembered = fixture.jobs_in("in_progress", total)
    times: dict[tuple[str, str], list[float]] = {(op, side): [] for op in LATENCY_OPERATIONS
                                                  for side in ("service", "direct")}
    times[("check_in", "remembered")] = []
    times[("list", "floor")] = []
    for i in range(total):
        if time.monotonic() > deadline:
            break
        connector_id = fixture.connector_ids[i % len(fixture.connector_ids)]
        for op in LATENCY_OPERATIONS:
            calls = [(side, getattr(client, METHOD.get(op, op)),
                      connector_id if op in ("create", "list") else jobs[side][op][i])
                     for side, client in sides.pair(i)]
            if op == "check_in":
                calls.insert(i % 3, ("remembered", sides.direct.check_in_remembered,
                                     remembered[i]))
            if op == "list":
                calls.insert(i % 3, ("floor", sides.service.unrouted, connector_id))
            for side, call, argument in calls:
                took = timed(call, argument)
                if i >= warmup:
                    times[(op, side)].append(took)
    return times


def throughput(sides: Sides, fixture: Fixture, workers: int, window: float,
               rounds: int) -> dict[str, dict]:
    """check_in by `workers` threads, each on its own job, in alternating windows."""
    jobs = {side: fixture.jobs_in("in_progress", workers) for side in ("service", "direct")}
    totals = {side: {"ops": 0, "seconds": 0.0, "latencies": []} for side in jobs}
    for turn in range(rounds * 2):
        side = ("service", "direct")[(turn + turn // 2) % 2]  # S D D S S D ...
        ops, latencies, seconds = _window(getattr(sides, side), jobs[side], window)
        totals[side]["seconds"] += seconds
        totals[side]["ops"] += ops
        totals[side]["latencies"] += latencies
    return totals


def _window(client, job_ids: list[str], window: float) -> tuple[int, list[float], float]:
    """One thread per job checking it in for `window` seconds: calls, their latencies, seconds."""
    latencies: list[list[float]] = [[] for _ in job_ids]
    barrier = threading.Barrier(len(job_ids) + 1)
    stop_at = time.perf_counter() + window + 1

    def work(job_id: str, mine: list[float]) -> None:
        barrier.wait()
        while time.perf_counter() < stop_at:
            mine.append(timed(client.check_in, job_id))

    threads = [threading.Thread(target=work, args=(job_id, mine), daemon=True)
               for job_id, mine in zip(job_ids, latencies, strict=True)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=window + 60)
    flat = [value for mine in latencies for value in mine]
    return len(flat), flat, time.perf_counter() - started


def at_scale(sides: Sides, fixture: Fixture, samples: int, warmup: int) -> dict:
    """check_in and filtered-list p50 at the index's current size, interleaved."""
    total = samples + warmup
    jobs = {side: fixture.jobs_in("in_progress", total) for side in ("service", "direct")}
    times = {(op, side): [] for op in ("check_in", "list") for side in ("service", "direct")}
    for i in range(total):
        connector_id = fixture.connector_ids[(i * 37) % len(fixture.connector_ids)]
        for op in ("check_in", "list"):
            for side, client in sides.pair(i):
                argument = connector_id if op == "list" else jobs[side][i]
                took = timed(getattr(client, op), argument)
                if i >= warmup:
                    times[(op, side)].append(took)
    return {key: percentile(values, 0.5) for key, values in times.items()}


def forwarding(sides: Sides, admin: Elasticsearch, samples: int, warmup: int) -> dict | None:
    """GET /<index>/_doc/<id> through the service vs direct; None when nothing forwards."""
    if not (REPO_ROOT / "app" / "api" / "forwarding.py").exists():
        return None
    index = f"bench-forwarding-{os.getpid()}"
    # op_type=create: an index of that name already there is not this run's to fill or delete.
    admin.index(index=index, id="1", document={"message": "forwarded"}, refresh=True,
                op_type="create")
    times = {"service": [], "direct": []}
    for i in range(samples + warmup):
        for side, client in sides.pair(i):
            took = timed(client.forwarded_get, index, "1")
            if i >= warmup:
                times[side].append(took)
    admin.indices.delete(index=index)
    return times


# Several replicas and nodes

# The phase's own nodes: the same heap for the single node and each of the three.
REPLICA_PHASE_HEAP = "384m"
# Pending jobs loaded per configuration and window: more than a window can claim here.
JOBS_PER_WINDOW = 2000
# A worker's cycle on one job, each call through the next replica (a round-robin balancer).
CYCLE = ("claim", "check_in", "stats", "check_in")


@dataclass
class Deployment:
    """One Elasticsearch (a node or a cluster) with two replicas of the service before it."""

    name: str
    es_pids: list[int]
    services: list[ServiceProcess]
    clients: list[ServiceClient]
    jobs: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)


def replicas_phase(args, stack: ExitStack) -> dict:
    """The worker's cycle through 1 and 2 replicas over 1 and 3 nodes, the four configurations'
    windows rotating (ABCD, then DCBA, ...) so that the machine's drift falls on all alike."""
    single = stack.enter_context(local_node("replicas-1", heap=REPLICA_PHASE_HEAP))
    cluster = stack.enter_context(local_cluster("replicas-3", heap=REPLICA_PHASE_HEAP))
    deployments = [deploy(args, stack, "1 node", single.url, [single.pid]),
                   deploy(args, stack, "3 nodes", cluster.url, [n.pid for n in cluster.nodes])]
    configurations = [(deployment, replicas) for deployment in deployments for replicas in (1, 2)]
    for deployment in deployments:
        load_pending_jobs(deployment, JOBS_PER_WINDOW * 2 * args.rounds)
    progress(f"replicas: {len(configurations)} configurations, {args.rounds} windows each")
    totals = {(d.name, r): {"requests": 0, "seconds": 0.0, "latencies": [], "service_cpu": 0.0,
                            "es_cpu": 0.0, "client_cpu": 0.0} for d, r in configurations}
    for turn in range(args.rounds):
        for deployment, replicas in configurations[::1 if turn % 2 == 0 else -1]:
            window = cycle_window(deployment, replicas, args.workers, args.window)
            total = totals[(deployment.name, replicas)]
            for key, value in window.items():
                total[key] += value
    return {"configurations": totals, "load": load_average(),
            "service_workers": args.server_workers}


def deploy(args, stack: ExitStack, name: str, es_url: str, es_pids: list[int]) -> Deployment:
    services = []
    for _ in range(2):
        service = ServiceProcess(es_url, workers=args.server_workers, threads=args.server_threads,
                                 access_log=not args.no_access_log, extra_env={},
                                 log_dir=Path(tempfile.mkdtemp(prefix="benchmark-")))
        stack.callback(shutil.rmtree, service.log_path.parent, ignore_errors=True)
        stack.callback(service.stop)
        services.append(service)
    clients = [ServiceClient(service.url) for service in services]
    for service, client in zip(services, clients, strict=True):
        service.wait_until_healthy(client)
    return Deployment(name, es_pids, services, clients)


def load_pending_jobs(deployment: Deployment, count: int) -> None:
    """`count` pending jobs, bulk-loaded, shaped as one created through the service."""
    client = deployment.clients[0]
    client.request("PUT", "/_connector/bench-replicas",
                   {"index_name": "bench-content-replicas", "service_type": "bench"}, expect=None)
    sample = client.create("bench-replicas")
    snapshot = client.request("GET", f"/_connector/_sync_job/{sample}", expect=200)[1]["connector"]
    now = clock.now()
    action = b'{"create":{"_index":"' + SYNC_JOBS_INDEX.encode() + b'"}}\n'
    for start in range(0, count, 2000):
        payload = b"".join(action + json.dumps(new_job(snapshot, now)).encode() + b"\n"
                           for _ in range(min(2000, count - start)))
        status, answer = client.request_raw("POST", "/_bulk?refresh=true", payload)
        if status != 200 or answer.get("errors"):
            raise BenchmarkError(f"could not load pending jobs: {str(answer)[:500]}")
        for item in answer["items"]:
            deployment.jobs.put(item["create"]["_id"])


def cycle_window(deployment: Deployment, replicas: int, threads: int, window: float) -> dict:
    """`threads` workers, each taking a pending job and running CYCLE on it, for `window`
    seconds, through the first `replicas` replicas in turn; what it did and what it cost."""
    clients = deployment.clients[:replicas]
    service_pids = [pid for service in deployment.services[:replicas]
                    for pid in children(service.process.pid)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    stop_at = time.perf_counter() + window + 1
    ran_out = threading.Event()

    def work(n: int) -> None:
        mine = latencies[n]
        barrier.wait()
        while time.perf_counter() < stop_at:
            try:
                job_id = deployment.jobs.get_nowait()
            except queue.Empty:
                ran_out.set()
                return
            for step, operation in enumerate(CYCLE):
                mine.append(timed(getattr(clients[(n + step) % replicas], operation), job_id))

    workers = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(threads)]
    for thread in workers:
        thread.start()
    before = (cpu_seconds(service_pids), cpu_seconds(deployment.es_pids), time.process_time())
    barrier.wait()
    started = time.perf_counter()
    for thread in workers:
        thread.join(timeout=window + 60)
    seconds = time.perf_counter() - started
    after = (cpu_seconds(service_pids), cpu_seconds(deployment.es_pids), time.process_time())
    if ran_out.is_set():
        raise BenchmarkError(f"{deployment.name}: the pending jobs ran out; raise JOBS_PER_WINDOW")
    flat = [value for mine in latencies for value in mine]
    service_cpu, es_cpu, client_cpu = (b - a for a, b in zip(before, after, strict=True))
    return {"requests": len(flat), "seconds": seconds, "latencies": flat,
            "service_cpu": service_cpu, "es_cpu": es_cpu, "client_cpu": client_cpu}


# Comparing service settings


def parse_variant(text: str) -> tuple[str, dict]:
    """`NAME=SPEC`; SPEC is comma-separated `workers=N`, `threads=N`,
    `access_log=off` or `ENV_NAME=VALUE` (upper case: the service's environment)."""
    name, _, spec = text.partition("=")
    settings: dict = {"env": {}}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if key.isupper():
            settings["env"][key] = value
        elif key in ("workers", "threads"):
            settings[key] = int(value)
        elif key == "access_log":
            settings["access_log"] = value not in ("off", "false", "0")
        else:
            raise SystemExit(f"--variant {text!r}: unknown setting {key!r}")
    return name, settings


def compare(args, admin: Elasticsearch, results: dict) -> None:
    """Each variant its own server in front of the same node; check_in and list calls rotate
    over the variants in one loop, throughput windows alternate. Reports p50 and the service's
    CPU per call of each."""
    variants = dict(parse_variant(text) for text in args.variant)
    services = {}
    try:
        for name, settings in variants.items():
            services[name] = ServiceProcess(
                args.es_url, workers=settings.get("workers", args.server_workers),
                threads=settings.get("threads", args.server_threads),
                access_log=settings.get("access_log", not args.no_access_log),
                extra_env=settings["env"],
                log_dir=Path(tempfile.mkdtemp(prefix="benchmark-")))
        clients = {name: ServiceClient(service.url) for name, service in services.items()}
        for name, service in services.items():
            service.wait_until_healthy(clients[name])
        first = next(iter(clients.values()))
        fixture = Fixture(admin, create_connectors(first, admin, args.connectors))
        fixture.snapshots = job_snapshots(first, admin, fixture.connector_ids)
        fixture.fill_to(args.jobs[0])
        progress(f"comparing {', '.join(variants)} at {fixture.count():,} jobs")
        pids = {name: children(service.process.pid) for name, service in services.items()}
        names = list(services)
        total = args.samples + max(10, args.samples // 10)
        rows = {name: {"settings": services[name]} for name in names}
        for op in ("check_in", "list"):
            jobs = {name: fixture.jobs_in("in_progress", total) for name in names}
            times = {name: [] for name in names}
            cpu = dict.fromkeys(names, 0.0)
            for i in range(total):
                for name in names[i % len(names):] + names[:i % len(names)]:
                    argument = (fixture.connector_ids[i % len(fixture.connector_ids)]
                                if op == "list" else jobs[name][i])
                    before = cpu_seconds(pids[name])
                    times[name].append(timed(getattr(clients[name], op), argument))
                    cpu[name] += cpu_seconds(pids[name]) - before
            for name in names:
                rows[name][op] = (percentile(times[name][total - args.samples:], 0.5),
                                  cpu[name] * 1000 / total)
        jobs = {name: fixture.jobs_in("in_progress", args.workers) for name in names}
        done = {name: [0, 0.0, 0.0] for name in names}
        for turn in range(args.rounds):
            for name in names[turn % len(names):] + names[:turn % len(names)]:
                before = cpu_seconds(pids[name])
                calls, _, seconds = _window(clients[name], jobs[name], args.window)
                done[name][0] += calls
                done[name][1] += seconds
                done[name][2] += cpu_seconds(pids[name]) - before
        for name, (calls, seconds, cpu_total) in done.items():
            rows[name]["throughput"] = (calls / seconds, cpu_total * 1000 / max(calls, 1))
        results["compare"] = rows
    finally:
        for service in services.values():
            service.stop()
            shutil.rmtree(service.log_path.parent, ignore_errors=True)


def report_compare(results: dict, args) -> list[str]:
    lines = [f"## Service settings compared ({args.samples} calls of each per variant, rotating; "
             f"throughput: {args.workers} threads, {args.rounds} windows of {args.window:g} s "
             "each, alternating)", "",
             "| variant | granian | environment | check_in p50 | service CPU/call | list p50 "
             "| service CPU/call | check_ins/s with 32 threads | service CPU/call |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in results["compare"].items():
        service = row["settings"]
        env = " ".join(f"{k}={v}" for k, v in service.env_shown.items()) or "—"
        server = (f"{service.workers}×{service.threads}, access log "
                    f"{'on' if service.access_log else 'off'}")
        (c50, ccpu), (l50, lcpu), (rate, tcpu) = row["check_in"], row["list"], row["throughput"]
        lines.append(f"| {name} | {server} | {env} | {fmt_ms(c50)} ms | {ccpu:.2f} ms "
                     f"| {fmt_ms(l50)} ms | {lcpu:.2f} ms | {rate:.0f} | {tcpu:.2f} ms |")
    return lines + [""]


# Report


def fmt_ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def describe_requests(requests: dict[str, float]) -> str:
    parts = [f"{count:g} {name}" if count != 1 else name
             for name, count in sorted(requests.items())]
    return " + ".join(parts) or "none"


def report_machine(facts: dict, service: ServiceProcess | None, results: dict) -> list[str]:
    if service is None:
        serving = f"- service: granian {facts['granian']}, settings per variant below"
    else:
        env = " ".join(f"{k}={v}" for k, v in service.env_shown.items())
        serving = (f"- service: granian {facts['granian']}, "
                   f"{service.workers} worker(s) x {service.threads} threads, access log "
                   f"{'on' if service.access_log else 'off'}{', ' + env if env else ''}")
    return [
        "## Machine", "",
        f"- {facts['cores']} cores ({facts['cpu']}), {facts['memory_gib']} GiB memory, "
        f"{facts['os']}; shared with other work while this ran",
        f"- load average (1/5/15 min): at start {results['load_start']}, "
        f"at end {results['load_end']}",
        f"- Elasticsearch {facts['es_version']} (heap {facts['es_heap']}), single node on "
        f"127.0.0.1; Python {facts['python']}, {facts['client']}",
        serving, *report_memory(results),
        f"- run: `{results['command']}`, {results['seconds']:.0f} s", ""]


def report_memory(results: dict) -> list[str]:
    memory = results.get("memory")
    if not memory or not memory["workers"]:
        return []
    workers = ", ".join(f"{rss:.0f} MiB (peak {peak:.0f})" for rss, peak in memory["workers"])
    main = " ".join(f"{rss:.0f} MiB" for rss, _ in memory["main"])
    return [f"- service memory at the end of the run (resident): workers {workers}; granian's "
            f"main process {main}"]


def report_latency(results: dict) -> list[str]:
    lat = results["latency"]
    samples = len(lat[("create", "service")])
    lines = [f"## Latency at {results['latency_jobs']:,} stored jobs ({samples} calls each, "
             f"service and direct alternated; load {results['load_latency']})", "",
             "| operation | direct equivalent | p50 service | p50 direct | p50 ratio "
             "| p99 service | p99 direct | p99 ratio | target p50 ratio ≤ 1.3 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for op in LATENCY_OPERATIONS:
        s, d = lat[(op, "service")], lat[(op, "direct")]
        s50, d50, s99, d99 = (percentile(s, 0.5), percentile(d, 0.5), percentile(s, 0.99),
                              percentile(d, 0.99))
        lines.append(f"| {LABEL.get(op, op)} | {DIRECT_DESCRIPTION[op]} | {fmt_ms(s50)} ms "
                     f"| {fmt_ms(d50)} ms | {s50 / d50:.2f} | {fmt_ms(s99)} ms | {fmt_ms(d99)} ms "
                     f"| {s99 / d99:.2f} | {verdict(s50 / d50 <= TARGETS['latency_ratio'])} |")
    one_trip = percentile(lat[("check_in", "remembered")], 0.5)
    direct = percentile(lat[("check_in_cold", "direct")], 0.5)
    floor = percentile(lat[("list", "floor")], 0.5)
    list_direct = percentile(lat[("list", "direct")], 0.5)
    lines += ["", f"check_in as one guarded update on remembered tokens (direct, in the same loop; "
              f"what the service sends for a heartbeat): p50 {fmt_ms(one_trip)} ms, "
              f"{one_trip / direct:.2f} of get + update.", "",
              f"The floor of any call through the service (a 404 it answers without "
              f"Elasticsearch, in the same loop): p50 {fmt_ms(floor)} ms, "
              f"{floor / list_direct:.2f} of the direct list's p50."]
    return lines + [""]


def report_accounting(results: dict) -> list[str]:
    trips = results["accounting"]
    lines = [f"## Where the time goes (per call; {ACCOUNTING_CALLS} calls of each operation and "
             "side, the sides taking turns)", "",
             "ES requests and refreshes as the node counts them; CPU from Linux schedstat of the "
             "server's workers, of the Elasticsearch process and of the benchmark's calling "
             "thread.", "",
             "| operation | ES requests service · direct | refreshes service · direct "
             "| CPU service | CPU Elasticsearch via service · direct "
             "| CPU client via service · direct | CPU in all, service path · direct path |",
             "|---|---|---|---:|---:|---:|---:|"]
    for op in OPERATIONS:
        ts, td = trips[(op, "service")], trips[(op, "direct")]
        service_path = ts["service_cpu"] + ts["es_cpu"] + ts["client_cpu"]
        direct_path = td["es_cpu"] + td["client_cpu"]
        lines.append(
            f"| {op} | {describe_requests(ts['requests'])} · {describe_requests(td['requests'])} "
            f"| {ts['refreshes']:.1f} · {td['refreshes']:.1f} | {ts['service_cpu']:.2f} ms "
            f"| {ts['es_cpu']:.2f} · {td['es_cpu']:.2f} ms "
            f"| {ts['client_cpu']:.2f} · {td['client_cpu']:.2f} ms "
            f"| {service_path:.1f} · {direct_path:.1f} ms |")
    return lines + [""]


def report_throughput(results: dict, args) -> list[str]:
    tp = results["throughput"]
    rate = {side: tp[side]["ops"] / tp[side]["seconds"] for side in tp}
    ratio = rate["service"] / rate["direct"]
    lines = [f"## Throughput: check_in, {args.workers} threads on {args.workers} jobs "
             f"({args.rounds} windows of {args.window:g} s per side, alternating; load "
             f"{results['load_throughput']})", "",
             "| side | check_ins/s | p50 under load | p99 under load |",
             "|---|---:|---:|---:|"]
    for side in ("service", "direct"):
        values = tp[side]["latencies"]
        lines.append(f"| {side} | {rate[side]:.0f} | {fmt_ms(percentile(values, 0.5))} ms "
                     f"| {fmt_ms(percentile(values, 0.99))} ms |")
    lines.append(f"| **ratio service/direct** | **{ratio:.2f}** | target ≥ 0.7: "
                 f"**{verdict(ratio >= TARGETS['throughput_ratio'])}** | |")
    return lines + [""]


def report_scale(results: dict) -> list[str]:
    scale = results["scale"]
    sizes = sorted(scale)
    lines = ["## Scale: p50 at each number of stored jobs (service and direct alternated)", "",
             "| stored jobs | bulk load (refresh off, then refreshed) | load avg "
             "| check_in service | check_in direct | list service | list direct |",
             "|---:|---|---|---:|---:|---:|---:|"]
    keys = (("check_in", "service"), ("check_in", "direct"), ("list", "service"),
            ("list", "direct"))
    for size in sizes:
        row = scale[size]
        loaded, seconds = row["load"]
        load_text = (f"{loaded:,} jobs in {seconds:.0f} s ({loaded / seconds:,.0f}/s)"
                     if loaded else "—")
        lines.append(f"| {row['stored']:,} | {load_text} | {row['load_avg']} "
                     + "".join(f"| {fmt_ms(row['p50'][key])} ms " for key in keys) + "|")
    if len(sizes) > 1:
        small, large = scale[sizes[0]]["p50"], scale[sizes[-1]]["p50"]
        # The sizes are minutes apart: the direct ratio shows how much the machine drifted.
        lines += ["", f"| {sizes[-1]:,} / {sizes[0]:,} | service ratio | direct ratio "
                  "| service ÷ direct (drift removed) | target ≤ 1.2: service ratio · drift removed |",
                  "|---|---:|---:|---:|---|"]
        for op in ("check_in", "list"):
            service_ratio = large[(op, "service")] / small[(op, "service")]
            direct_ratio = large[(op, "direct")] / small[(op, "direct")]
            lines.append(f"| {op} p50 | {service_ratio:.2f} | {direct_ratio:.2f} "
                         f"| {service_ratio / direct_ratio:.2f} "
                         f"| {verdict(service_ratio <= TARGETS['scale_ratio'])} · "
                         f"{verdict(service_ratio / direct_ratio <= TARGETS['scale_ratio'])} |")
    largest = scale[sizes[-1]]["p50"][("list", "service")]
    lines += ["", f"Filtered list (connector_id + status, size {LIST_SIZE}) p50 through the "
              f"service at {scale[sizes[-1]]['stored']:,} jobs: {fmt_ms(largest)} ms, target "
              f"≤ 50 ms: {verdict(largest <= TARGETS['list_p50_ms'])}", ""]
    return lines


def report_summary(results: dict) -> list[str]:
    summary = results["summary"]
    times, cpu, served = summary["times"], summary["cpu"], summary["served"]
    lines = [f"## The dashboard's summary at {summary['stored']:,} jobs "
             f"({results['connector_count']:,} connectors)", "",
             f"A job created through the service before each call, so each call follows a refresh; "
             f"{len(times['fresh'])} calls of each, alternated.", "",
             "| | p50 | p99 | Elasticsearch CPU per call, p50 |", "|---|---:|---:|---:|"]
    names = {"fresh": "summary counted for the call (`max_age=0`): collapse + composite, one _msearch",
             "previous": "the previous aggregation (terms + top_hits), sent directly"}
    for side in ("fresh", "previous"):
        lines.append(f"| {names[side]} | {fmt_ms(percentile(times[side], 0.5))} ms "
                     f"| {fmt_ms(percentile(times[side], 0.99))} ms "
                     f"| {fmt_ms(percentile(cpu[side], 0.5))} ms |")
    latencies = [took for took, _ in served]
    oldest = max((age for _, age in served), default=0.0)
    p50 = percentile(latencies, 0.5) if latencies else float("nan")
    per_answer = len(served) / summary["computed"] if summary["computed"] else float("inf")
    lines += ["", f"Dashboard load: {DASHBOARD_TABS} tabs each asking every {DASHBOARD_INTERVAL} s "
              f"with `max_age={summary['max_age']}s` (as the page does), a job created every 0.5 s, "
              f"for {summary['window']:.0f} s: {len(served)} answers, p50 {fmt_ms(p50)} ms, "
              f"p99 {fmt_ms(percentile(latencies, 0.99)) if latencies else '—'} ms; oldest figures "
              f"served {oldest:.1f} s old (the page allows {summary['max_age']} s and shows `as_of`); "
              f"{summary['computed']} summaries computed, one per {per_answer:.1f} answers.", "",
              f"Summary p50 at {summary['stored']:,} jobs with jobs being created, as the page asks: "
              f"{fmt_ms(p50)} ms, target ≤ 50 ms: {verdict(p50 <= TARGETS['summary_p50_ms'])}; "
              f"figures within the page's age: {verdict(oldest <= summary['max_age'])}", ""]
    return lines


def report_forwarding(results: dict) -> list[str]:
    fwd = results["forwarding"]
    lines = ["## Forwarded request: GET /<index>/_doc/<id>", ""]
    if fwd is None:
        return lines + ["Not measured: app/api/forwarding.py does not exist.", ""]
    s50, d50 = percentile(fwd["service"], 0.5), percentile(fwd["direct"], 0.5)
    return lines + ["| p50 service | p50 direct | added | ratio | target ≤ 1.3 |",
                    "|---:|---:|---:|---:|---|",
                    f"| {fmt_ms(s50)} ms | {fmt_ms(d50)} ms | {fmt_ms(s50 - d50)} ms "
                    f"| {s50 / d50:.2f} | {verdict(s50 / d50 <= TARGETS['latency_ratio'])} |", ""]


def report_replicas(results: dict, args) -> list[str]:
    phase = results["replicas"]
    rows = phase["configurations"]
    lines = [f"## Several replicas and nodes: a worker's cycle ({' + '.join(CYCLE)}), "
             f"{args.workers} threads, {args.rounds} windows of {args.window:g} s per "
             f"configuration, rotating (load {phase['load']})", "",
             f"Each replica is a granian server with {phase['service_workers']} worker(s); the "
             "calls of a cycle go to the replicas in turn, as a round-robin balancer sends them. "
             "The nodes are the phase's own, 384 MB heap each; with three, the connector indices "
             "have a replica.", "",
             "| Elasticsearch | replicas | requests/s | p50 | p99 | service CPU/request "
             "| Elasticsearch CPU/request | cores busy (service + ES + client) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    rate = {}
    for (name, replicas), row in rows.items():
        rate[(name, replicas)] = row["requests"] / row["seconds"]
        busy = (row["service_cpu"] + row["es_cpu"] + row["client_cpu"]) / row["seconds"]
        lines.append(f"| {name} | {replicas} | {rate[(name, replicas)]:.0f} "
                     f"| {fmt_ms(percentile(row['latencies'], 0.5))} ms "
                     f"| {fmt_ms(percentile(row['latencies'], 0.99))} ms "
                     f"| {row['service_cpu'] * 1000 / row['requests']:.2f} ms "
                     f"| {row['es_cpu'] * 1000 / row['requests']:.2f} ms | {busy:.2f} |")
    lines += ["", "| ratio (requests/s) | value |", "|---|---:|"]
    for name in ("1 node", "3 nodes"):
        lines.append(f"| 2 replicas ÷ 1, on {name} | {rate[(name, 2)] / rate[(name, 1)]:.2f} |")
    for replicas in (1, 2):
        lines.append(f"| 3 nodes ÷ 1 node, {replicas} replica{'s' if replicas > 1 else ''} "
                     f"| {rate[('3 nodes', replicas)] / rate[('1 node', replicas)]:.2f} |")
    return lines + [""]


def report(facts: dict, service: ServiceProcess | None, args, results: dict) -> str:
    lines = report_machine(facts, service, results)
    if "latency" in results:
        lines += report_latency(results)
    if "accounting" in results:
        lines += report_accounting(results)
    if "throughput" in results:
        lines += report_throughput(results, args)
    if results.get("scale"):
        lines += report_scale(results)
    if "forwarding" in results:
        lines += report_forwarding(results)
    if "summary" in results:
        lines += report_summary(results)
    if "replicas" in results:
        lines += report_replicas(results, args)
    if "compare" in results:
        lines += report_compare(results, args)
    return "\n".join(lines)


# The dashboard's summary at scale

# How the page asks while auto-refreshing (app/static/dashboard.js): every interval, figures up
# to two intervals old.
DASHBOARD_INTERVAL = 5
DASHBOARD_TABS = 5


def previous_summary_body() -> dict:
    """The summary's one aggregation before it moved to a collapsed search and a composite
    aggregation: terms on connector.id ordered by the latest created_at, with terms on status
    and top_hits below (global ordinals that every refresh invalidates)."""
    return {"size": 0, "aggs": {
        "statuses": {"terms": {"field": "status", "size": 20}},
        "connector_count": {"cardinality": {"field": "connector.id", "precision_threshold": 40000}},
        "connectors": {"terms": {"field": "connector.id", "size": 1000,
                                 "order": [{"last_created_at": "desc"}, {"_key": "asc"}]},
                       "aggs": {"last_created_at": {"max": {"field": "created_at"}},
                                "statuses": {"terms": {"field": "status", "size": 20}},
                                "last_sync_job": {"top_hits": {"size": 1, "sort": [
                                    {"created_at": {"order": "desc"}}]}}}}}}


def summary_at_scale(sides: Sides, fixture: Fixture, es_pid: int, samples: int,
                     window: float) -> dict:
    """The summary with a job created through the service before each call (so every call
    follows a refresh): counted for the call (max_age=0) and the previous aggregation sent
    directly, alternated, each with the node's CPU for it; then the dashboard's load, tabs
    polling as the page does while jobs are created."""
    http, admin = sides.service, fixture.admin
    times = {"fresh": [], "previous": []}
    cpu = {"fresh": [], "previous": []}
    for i in range(samples):
        for side in (("fresh", "previous") if i % 2 == 0 else ("previous", "fresh")):
            http.create(fixture.connector_ids[i % len(fixture.connector_ids)])
            before = cpu_seconds([es_pid])
            if side == "fresh":
                took = timed(http.summary)
            else:
                took = timed(lambda: admin.search(index=SYNC_JOBS_INDEX,
                                                  body=previous_summary_body(),
                                                  request_cache=False))
            cpu[side].append((cpu_seconds([es_pid]) - before) * 1000)
            times[side].append(took)

    # The dashboard: tabs polling every DASHBOARD_INTERVAL s (staggered), a job created every
    # 0.5 s; each answer's age is checked against what the page asks for.
    concrete = fixture.concrete_jobs_index()
    max_age = 2 * DASHBOARD_INTERVAL
    served: list[tuple[float, float]] = []  # (milliseconds, age of the figures in seconds)
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.wait(0.5):
            http.create(fixture.connector_ids[i % len(fixture.connector_ids)])
            i += 1

    def tab(offset: float):
        if stop.wait(offset):
            return
        while not stop.is_set():
            started = time.perf_counter()
            body = http.summary(max_age)
            took = (time.perf_counter() - started) * 1000
            age = time.time() - datetime.fromisoformat(body["as_of"].replace("Z", "+00:00")).timestamp()
            served.append((took, age))
            stop.wait(DASHBOARD_INTERVAL)

    http.summary()  # the first tab's first call counts now, as the page's first load does
    searches_before = node_counters(admin, concrete).get("/{index}/_msearch", 0)
    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=tab, args=(k * DASHBOARD_INTERVAL / DASHBOARD_TABS,))
        for k in range(DASHBOARD_TABS)]
    for thread in threads:
        thread.start()
    time.sleep(window)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    computed = node_counters(admin, concrete).get("/{index}/_msearch", 0) - searches_before
    return {"stored": fixture.count(), "times": times, "cpu": cpu, "served": served,
            "computed": computed, "max_age": max_age, "window": window}


# Main

PHASES = ("accounting", "latency", "throughput", "forwarding", "replicas", "scale", "summary")
# --auth: the service's settings compared, in front of a secured node.
AUTH_VARIANTS = {
    "AUTH_MODE=none": {"AUTH_MODE": "none"},
    "elasticsearch, answers remembered (AUTH_CACHE_SECONDS=30)": {"AUTH_MODE": "elasticsearch"},
    "elasticsearch, asked every request (AUTH_CACHE_SECONDS=0)":
        {"AUTH_MODE": "elasticsearch", "AUTH_CACHE_SECONDS": "0"},
}


def auth_cost(args) -> str:
    """p50/p99 of a job read and a heartbeat (check_in) through each AUTH_VARIANTS service, the
    calls alternated across them so the machine's drift falls on all three alike."""
    from tests.support.secured import SecuredNode

    node = SecuredNode("benchmark-auth")
    services: dict[str, ServiceProcess] = {}
    progress("starting a secured node of the benchmark's own")
    node.start()
    try:
        log_dir = Path(tempfile.mkdtemp(prefix="benchmark-auth-"))
        for name, env in AUTH_VARIANTS.items():
            services[name] = ServiceProcess(
                node.url, workers=1, threads=args.server_threads, access_log=False,
                extra_env={**node.service_settings(), **env},
                log_dir=Path(tempfile.mkdtemp(dir=log_dir)))
        headers = node.headers("manager")
        pools = {}
        for name, service in services.items():
            service.wait_until_healthy(ServiceClient(service.url))
            parts = urlsplit(service.url)
            pools[name] = urllib3.HTTPConnectionPool(parts.hostname, parts.port, retries=False,
                                                     headers=headers)
        json_headers = {**headers, "Content-Type": "application/json"}
        next(iter(pools.values())).request("PUT", "/_connector/bench-auth", headers=json_headers,
                                           body=json.dumps({"index_name": "search-bench-auth",
                                                            "service_type": "dir"}))
        calls = {}
        for name, pool in pools.items():
            # A job of each setting's own, claimed through it: the heartbeat then skips its read
            # as a worker's does (the process remembers the version it wrote).
            job = json.loads(pool.request("POST", "/_connector/_sync_job", headers=json_headers,
                                          body=json.dumps({"id": "bench-auth"})).data)["id"]
            pool.request("PUT", f"/_connector/_sync_job/{job}/_claim", headers=json_headers,
                         body=json.dumps({"worker_hostname": WORKER_HOSTNAME}))
            calls[name] = {"read (GET job)": ("GET", f"/_connector/_sync_job/{job}"),
                           "heartbeat (check_in)": ("PUT", f"/_connector/_sync_job/{job}/_check_in")}
        kinds = list(next(iter(calls.values())))
        times = {(call, name): [] for call in kinds for name in pools}
        warmup = max(10, args.samples // 10)
        progress(f"auth: {args.samples} calls of each kind and setting")
        for round_ in range(warmup + args.samples):
            for call in kinds:
                for name, pool in pools.items():
                    method, path = calls[name][call]
                    started = time.perf_counter()
                    answer = pool.request(method, path)
                    elapsed = time.perf_counter() - started
                    if answer.status != 200:
                        raise BenchmarkError(f"{name}: {method} {path} answered {answer.status}")
                    if round_ >= warmup:
                        times[(call, name)].append(elapsed)
        lines = [f"Secured Elasticsearch {node.version} (TLS), the service with one granian "
                 f"worker per setting, {args.samples} calls each, load {load_average()}.", "",
                 "| call | setting | p50 | p99 | p50 ÷ none |", "|---|---|---:|---:|---:|"]
        for call in kinds:
            base = percentile(times[(call, "AUTH_MODE=none")], 0.5)
            for name in pools:
                values = times[(call, name)]
                lines.append(f"| {call} | {name} | {fmt_ms(percentile(values, 0.5) * 1000)} ms | "
                             f"{fmt_ms(percentile(values, 0.99) * 1000)} ms | "
                             f"{percentile(values, 0.5) / base:.2f} |")
        shutil.rmtree(log_dir, ignore_errors=True)
        return "\n".join(lines)
    finally:
        for service in services.values():
            service.stop()
        node.remove()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es-url", default=None,
                        help="a loopback node without the connector indices (default: a node of "
                             "the benchmark's own, removed at the end)")
    parser.add_argument("--es-heap", default="2g", help="heap of the benchmark's own node")
    parser.add_argument("--jobs", default=None,
                        help="comma-separated stored-job counts for the scale phase "
                             "(default 10000,1000000; --quick: 1000,10000)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"which phases to run (default all: {','.join(PHASES)})")
    parser.add_argument("--samples", type=int, help="latency calls per operation and side "
                                                    "(default 300; --quick: 100)")
    parser.add_argument("--connectors", type=int, default=100)
    parser.add_argument("--workers", type=int, default=32, help="threads in the throughput phase")
    parser.add_argument("--window", type=float, help="seconds per throughput window")
    parser.add_argument("--rounds", type=int, help="throughput windows per side")
    parser.add_argument("--summary-window", type=float,
                        help="seconds of dashboard load in the summary phase (default 60; "
                             "--quick: 15)")
    # scripts/serve's defaults: one worker per two cores (at most 4), 32 threads each.
    parser.add_argument("--server-workers", type=int,
                        default=int(os.environ.get("WEB_CONCURRENCY",
                                                   min(((os.cpu_count() or 1) + 1) // 2, 4))))
    parser.add_argument("--server-threads", type=int,
                        default=int(os.environ.get("WEB_THREADS", 32)))
    parser.add_argument("--no-access-log", action="store_true",
                        help="run the server without scripts/serve's access log")
    parser.add_argument("--service-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the service (repeatable)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=SPEC",
                        help="compare service settings instead of running the phases (give two "
                             "or more): SPEC is comma-separated workers=N, threads=N, "
                             "access_log=off or ENV_NAME=VALUE; empty: scripts/serve's")
    parser.add_argument("--max-seconds", type=int, default=3600, help="bound on the whole run")
    parser.add_argument("--keep", action="store_true",
                        help="with --es-url: keep the connector indices and their jobs at the end")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.add_argument("--auth", action="store_true",
                        help="measure AUTH_MODE=elasticsearch's cost on a secured node of the "
                             "benchmark's own instead of the phases")
    args = parser.parse_args(argv)
    args.phases = set(args.phases.split(","))
    if args.phases - set(PHASES):
        parser.error(f"unknown phases: {', '.join(sorted(args.phases - set(PHASES)))}")
    if len(args.variant) == 1:
        parser.error("--variant compares settings: give two or more")
    quick = args.quick
    args.jobs = sorted(int(n) for n in (args.jobs or ("1000,10000" if quick else "10000,1000000"))
                       .split(","))
    args.samples = args.samples or (100 if quick else 300)
    args.window = args.window or (3.0 if quick else 5.0)
    args.rounds = args.rounds or (2 if quick else 3)
    args.summary_window = args.summary_window or (15.0 if quick else 60.0)
    return args


def on_alarm(signum, frame):
    raise TimeoutError("the benchmark ran past --max-seconds")


def progress(text: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run_phases(args, admin: Elasticsearch, service: ServiceProcess, results: dict,
               deadline: float) -> None:
    http = ServiceClient(service.url)
    service.wait_until_healthy(http)
    progress(f"service up on {service.url} (server log {service.log_path})")
    # The direct side's client is built as the service builds its own.
    config = Config.from_env().override({"ELASTICSEARCH_URL": args.es_url, **service.extra_env})
    fixture = Fixture(admin, create_connectors(http, admin, args.connectors))
    fixture.snapshots = job_snapshots(http, admin, fixture.connector_ids)
    sides = Sides(http, DirectClient(connect(config).client, fixture.snapshots,
                                           fixture.tokens))
    warmup = max(10, args.samples // 10)
    results["scale"] = {}

    def measure_scale(size: int) -> None:
        loaded = fixture.fill_to(size)
        progress(f"{fixture.count():,} jobs stored (bulk-loaded {loaded[0]:,} in "
                 f"{loaded[1]:.1f} s)")
        check_same_answers(sides, fixture.connector_ids)
        if "scale" in args.phases:
            results["scale"][size] = {"load": loaded, "load_avg": load_average(),
                                      "stored": fixture.count(),
                                      "p50": at_scale(sides, fixture, args.samples, warmup)}

    # The smallest size first, before the other phases add their jobs to the index.
    measure_scale(args.jobs[0])
    if "accounting" in args.phases:
        progress("counting requests and CPU per call")
        es_pid = elasticsearch_pid(admin)
        results["accounting"] = where_time_goes(sides, fixture, children(service.process.pid),
                                                es_pid, calls=ACCOUNTING_CALLS)
    if "latency" in args.phases:
        progress(f"latency: {args.samples} calls of each operation and side")
        results["load_latency"] = load_average()
        results["latency_jobs"] = fixture.count()
        results["latency"] = latency(sides, fixture, args.samples, warmup, deadline)
    if "throughput" in args.phases:
        progress(f"throughput with {args.workers} threads")
        results["load_throughput"] = load_average()
        results["throughput"] = throughput(sides, fixture, args.workers, args.window, args.rounds)
    if "forwarding" in args.phases:
        results["forwarding"] = forwarding(sides, admin, args.samples, warmup)
    if "replicas" in args.phases:
        progress("replicas: starting a node and a three-node cluster of the phase's own")
        with ExitStack() as stack:
            results["replicas"] = replicas_phase(args, stack)
    for size in args.jobs[1:] if "scale" in args.phases else []:
        if time.monotonic() > deadline:
            progress(f"out of time before {size:,} jobs")
            break
        measure_scale(size)
    if "summary" in args.phases:
        fixture.fill_to(args.jobs[-1])
        progress(f"summary at {fixture.count():,} jobs")
        es_pid = elasticsearch_pid(admin)
        results["connector_count"] = len(fixture.connector_ids)
        results["summary"] = summary_at_scale(sides, fixture, es_pid,
                                              samples=min(args.samples, 60),
                                              window=args.summary_window)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.auth:
        text = auth_cost(args)
        print(text)
        if args.output:
            args.output.write_text(text + "\n")
        return 0
    if args.es_url:
        require_loopback(args.es_url)
        return benchmark(args, argv)
    with local_node("benchmark", heap=args.es_heap) as node:
        progress(f"Elasticsearch node of the benchmark's own on {node.url}")
        args.es_url = node.url
        return benchmark(args, argv)


def benchmark(args, argv) -> int:
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.max_seconds)
    started = time.monotonic()
    results: dict = {"command": " ".join(["scripts/benchmark.py", *(argv or sys.argv[1:])]),
                     "load_start": load_average()}
    admin = Elasticsearch(args.es_url, request_timeout=300)
    facts = machine_facts(admin)
    refuse_existing_connector_indices(admin, args.es_url)
    service = None
    try:
        if args.variant:
            compare(args, admin, results)
        else:
            service = ServiceProcess(
                args.es_url, workers=args.server_workers, threads=args.server_threads,
                access_log=not args.no_access_log,
                extra_env=dict(pair.split("=", 1) for pair in args.service_env),
                log_dir=Path(tempfile.mkdtemp(prefix="benchmark-")),
                )
            run_phases(args, admin, service, results, deadline=started + args.max_seconds - 60)
            results["memory"] = {"main": memory_mib([service.process.pid]),
                                 "workers": memory_mib(children(service.process.pid))}
    finally:
        if service is not None:
            service.stop()
        signal.alarm(0)
    if service is not None:
        shutil.rmtree(service.log_path.parent, ignore_errors=True)  # kept when the run failed
    results["load_end"] = load_average()
    results["seconds"] = time.monotonic() - started
    text = report(facts, service, args, results)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    if not args.keep:
        delete_connector_indices(admin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
