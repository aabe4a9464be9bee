"""Data on the node: the connectors, bulk-loaded jobs and history, and the connector indices the
run creates and deletes."""

import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from elasticsearch import Elasticsearch

from app.domain import clock
from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX
from scripts.bench.harness import (
    TERMINAL,
    WORKER_HOSTNAME,
    BenchmarkError,
    ServiceClient,
    new_job,
)

# Status mix of the bulk-loaded history: mostly finished jobs, as on a long-running cluster.
STATUS_MIX = (["completed"] * 80 + ["error"] * 5 + ["canceled"] * 5 + ["pending"] * 4
              + ["in_progress"] * 4 + ["suspended"] + ["canceling"])


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
