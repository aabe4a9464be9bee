"""The configured retention policy (RETENTION_KEEP_LAST, RETENTION_OLDER_THAN), applied every
RETENTION_INTERVAL seconds by one process at a time across every worker and replica.

Whoever takes the `retention` lease (app.storage.leases) runs the policy, renewing the lease
before each batch; when the run ends it keeps the lease until the next run is due, so the
policy runs once per interval however many processes try. A process that dies mid-run stops
renewing: its lease lapses LEASE_SECONDS later and another process takes the policy over.
"""

import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from app.exceptions import BadRequest
from app.observability import metrics
from app.schemas.loading import load_query
from app.schemas.sync_jobs import RetentionQuery
from app.services import retention
from app.services.retention import RetentionRule
from app.storage import Storage

log = logging.getLogger(__name__)

LEASE_NAME = "retention"
# How long a running policy's lease lasts without renewal: many batches' time, and well above
# the clock skew between replicas (expiry is judged by each reader's clock).
LEASE_SECONDS = 120.0
# How often each process asks for the lease at most: a run is late by at most this much.
MAX_TICK_SECONDS = 60.0
MAX_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class RetentionPolicy:
    rule: RetentionRule
    interval: float = 300.0
    batch_size: int = 500
    pause: float = 0.2


def policy_from_settings(settings) -> RetentionPolicy | None:
    """The policy the RETENTION_* settings describe, read as the retention routes read their
    parameters; None when neither RETENTION_KEEP_LAST nor RETENTION_OLDER_THAN is set. A bad
    value is a ValueError naming the variable, so the service does not start with it."""
    arguments = {name: value for name, value in (
        ("keep_last", str(settings.RETENTION_KEEP_LAST).strip()),
        ("older_than", str(settings.RETENTION_OLDER_THAN).strip())) if value}
    if not arguments:
        return None
    try:
        loaded = load_query(RetentionQuery(), arguments)
    except BadRequest as err:
        raise ValueError(f"RETENTION_KEEP_LAST / RETENTION_OLDER_THAN: {err.reason}") from None
    if not settings.RETENTION_INTERVAL_SECONDS > 0:
        raise ValueError("RETENTION_INTERVAL_SECONDS must be more than 0")
    if not 1 <= settings.RETENTION_BATCH_SIZE <= MAX_BATCH_SIZE:
        raise ValueError(f"RETENTION_BATCH_SIZE must be between 1 and {MAX_BATCH_SIZE}")
    if not settings.RETENTION_BATCH_PAUSE_SECONDS >= 0:
        raise ValueError("RETENTION_BATCH_PAUSE_SECONDS cannot be negative")
    return RetentionPolicy(RetentionRule.from_request(loaded),
                           interval=settings.RETENTION_INTERVAL_SECONDS,
                           batch_size=settings.RETENTION_BATCH_SIZE,
                           pause=settings.RETENTION_BATCH_PAUSE_SECONDS)


class LeaseLost(Exception):
    """Another process holds the lease now: this run stops before its next batch."""


class Stopped(Exception):
    """The process is stopping: the run ends before its next batch."""


def holder_name() -> str:
    """This process among every replica's: host, process id and a random part (pids repeat
    across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def apply_policy(store: Storage, policy: RetentionPolicy, holder: str, *,
                 stopping: threading.Event | None = None) -> dict | None:
    """Runs the policy if `holder` takes the lease; None when the lease is held (a process
    runs the policy now, or one ran it less than `policy.interval` ago). Returns the run's outcome:
    `deleted`, `skipped`, `seconds` and `outcome` (`completed`, `lease_lost` or `stopped`).
    Logs one line per run and counts it in the metrics."""
    lease = store.leases.take(LEASE_NAME, holder, LEASE_SECONDS)
    if lease is None:
        return None
    held = [lease]

    def renew() -> None:
        if stopping is not None and stopping.is_set():
            raise Stopped()
        renewed = store.leases.extend(held[0], LEASE_SECONDS)
        if renewed is None:
            raise LeaseLost()
        held[0] = renewed

    started = time.monotonic()
    progress = {"deleted": 0, "skipped": 0}
    outcome = "failed"
    try:
        retention.delete(store, policy.rule, batch_size=policy.batch_size, pause=policy.pause,
                         trigger="policy", before_batch=renew, progress=progress)
        outcome = "completed"
    except LeaseLost:
        outcome = "lease_lost"
    except Stopped:
        outcome = "stopped"
    finally:
        seconds = round(time.monotonic() - started, 3)
        metrics.RETENTION_RUNS.labels(outcome).inc()
        log.log(logging.WARNING if outcome == "failed" else logging.INFO,
                "retention policy run %s: %d finished sync jobs deleted, %d skipped (changed "
                "since found) in %.1f s", outcome, progress["deleted"], progress["skipped"],
                seconds)
        if outcome != "lease_lost":
            _hold_until_next_run(store, held[0], policy.interval)
    return {"outcome": outcome, **progress, "seconds": seconds}


def _hold_until_next_run(store: Storage, lease, interval: float) -> None:
    """The next run is due one interval from now, whoever runs it."""
    try:
        store.leases.extend(lease, interval)
    except Exception:  # the lease lapses by itself; the next run may come a little early
        log.warning("could not keep the retention lease until the next run", exc_info=True)


class PolicySchedule:
    """A daemon thread of one worker process that asks for the lease about every
    `min(interval, MAX_TICK_SECONDS)` seconds (with jitter, so replicas started together do
    not ask at once) and runs the policy when it gets it."""

    def __init__(self, store: Storage, policy: RetentionPolicy):
        self.store = store
        self.policy = policy
        self.holder = holder_name()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="retention-policy", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Ends the loop; a run in progress stops before its next batch."""
        self.stopping.set()

    def _run(self) -> None:
        tick = min(self.policy.interval, MAX_TICK_SECONDS)
        while not self.stopping.wait(tick * random.uniform(0.5, 1.0)):
            try:
                apply_policy(self.store, self.policy, self.holder, stopping=self.stopping)
            except Exception:  # Elasticsearch down, say: the next tick tries again
                log.warning("retention policy could not run", exc_info=True)
