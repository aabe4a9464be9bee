"""The service's Prometheus metrics, correct under several granian worker processes.

Counters and histograms live in prometheus_client's multiprocess files when the server runs
workers (app.observability.shared_dir), and in this process's registry otherwise. Job figures
(jobs by status, stale jobs) are not kept per process: a scrape reads them from one cached
aggregation (app.services.job_figures), so scrapes cost Elasticsearch nothing that grows with
them.
"""

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

from app.observability.shared_dir import shared_directory

NAMESPACE = "connector_service"
# A multiprocess file starts with its used length and padding (prometheus_client.mmap_dict).
FILE_HEADER_BYTES = 8
# Seconds: from a cached heartbeat (a few ms) to a forwarded _bulk (FORWARD_REQUEST_TIMEOUT).
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120)

HTTP_REQUESTS = Counter(
    "http_requests", "Requests answered, by method, route (the URL rule) and status.",
    ["method", "route", "status"], namespace=NAMESPACE)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer a request, until its body was sent.",
    ["method", "route"], namespace=NAMESPACE, buckets=LATENCY_BUCKETS)
HTTP_IN_FLIGHT = Gauge(
    "http_requests_in_flight", "Requests being answered now.", namespace=NAMESPACE,
    multiprocess_mode="livesum")
WORKER_PROCESSES = Gauge(
    "worker_processes", "Worker processes serving (each counts itself while it lives).",
    namespace=NAMESPACE, multiprocess_mode="livesum")
HTTP_ERRORS = Counter(
    "http_errors", "Error answers by status and Elasticsearch error type (429 "
    "es_rejected_execution_exception, 503 service_unavailable_exception, ...).",
    ["status", "type"], namespace=NAMESPACE)
ES_REQUESTS = Counter(
    "elasticsearch_requests", "Calls to Elasticsearch by kind (the client's endpoint, or "
    "`forward`) and status (`unavailable` when none came).", ["kind", "status"],
    namespace=NAMESPACE)
ES_DURATION = Histogram(
    "elasticsearch_request_duration_seconds", "Time of a call to Elasticsearch (for a forwarded "
    "request: until its answer's headers).", ["kind"], namespace=NAMESPACE,
    buckets=LATENCY_BUCKETS)
GUARDED_CONFLICTS = Counter(
    "guarded_update_conflicts", "Guarded updates that lost a race (version conflict) and "
    "re-read the document.", ["index"], namespace=NAMESPACE)
GUARDED_EXHAUSTED = Counter(
    "guarded_update_exhausted", "Guarded updates that lost every retry and answered 429.",
    ["index"], namespace=NAMESPACE)

RETENTION_JOBS = Counter(
    "retention_sync_jobs", "Finished sync jobs retention deleted, or skipped because they changed "
    "or went since they were found, by outcome and trigger (`policy`: the configured "
    "RETENTION_* policy; `request`: the delete route or the CLI).", ["outcome", "trigger"],
    namespace=NAMESPACE)
RETENTION_RUNS = Counter(
    "retention_runs", "Runs of the configured retention policy in this service, by outcome "
    "(`completed`, `failed`, `lease_lost`, `stopped`).", ["outcome"], namespace=NAMESPACE)


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


def record_error(status: int, error_type: str) -> None:
    HTTP_ERRORS.labels(str(status), error_type).inc()


def record_elasticsearch_call(kind: str, status: str, seconds: float) -> None:
    ES_REQUESTS.labels(kind, status).inc()
    ES_DURATION.labels(kind).observe(seconds)


class Collected:
    """What a scrape exposes: every process's metrics plus `extra` collectors."""

    def __init__(self, extra: Iterable):
        self.extra = list(extra)

    def collect(self) -> Iterable[Metric]:
        directory = shared_directory()
        if directory is None:
            yield from REGISTRY.collect()
        else:
            yield from worker_metrics(directory)
        for collector in self.extra:
            yield from collector.collect()


def exposition(accept: str | None, extra: Iterable = ()) -> tuple[bytes, str]:
    """The metrics in the format the scraper asked for (Prometheus text or OpenMetrics)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(Collected(extra)), content_type


def worker_metrics(directory: Path, alive: Callable[[int], bool] | None = None) -> Iterable[Metric]:
    """Every worker's metrics, merged from the files in `directory`.

    Workers come and go while a scrape reads: a replacement's file is empty for a moment after
    it is created (prometheus_client sizes it next), so one shorter than its header is passed
    over; a dead worker's live gauges may be removed by another worker's scrape meanwhile."""
    forget_dead_workers(directory, alive)
    files = [str(path) for path in directory.glob("*.db") if has_header(path)]
    return multiprocess.MultiProcessCollector.merge(files, accumulate=True)


def has_header(path: Path) -> bool:
    try:
        return path.stat().st_size >= FILE_HEADER_BYTES
    except FileNotFoundError:
        return False


def forget_dead_workers(directory: Path, alive: Callable[[int], bool] | None = None) -> None:
    """Drops the live gauges of worker processes that exited (granian respawns them), as
    prometheus_client's mark_process_dead does; their counters stay, so totals never drop.
    Two workers' scrapes may both find a file: the second finds it gone, which is no error."""
    alive = alive or process_alive
    for path in directory.glob("gauge_live*_*.db"):
        try:
            pid = int(path.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        if not alive(pid):
            path.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not yet reaped by granian, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
