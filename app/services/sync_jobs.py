"""Sync-job operations, named after the reference APIs. No Flask here."""

from elasticsearch.dsl import Q, Search

from app.domain import clock, job_changes
from app.domain.job_changes import ClaimedByThisWorker
from app.domain.job_states import JobStatus, JobType
from app.exceptions import (
    ConnectorNotFound,
    InvalidStatusTransition,
    StatusConflict,
    SyncJobNotFound,
)
from app.services import connectors
from app.services.guarded import guarded_update, guarded_update_on_loop
from app.storage import SYNC_JOBS_INDEX, Storage, StoredDoc

ACCESS_CONTROL_INDEX_PREFIX = ".search-acl-filter-"


def create(store: Storage, connector_id: str, job_type: str, trigger_method: str) -> str:
    """Create connector sync job: a pending job holding a snapshot of its connector."""
    connector = connectors.get_source(store, connector_id)
    if connector is None:
        raise ConnectorNotFound(connector_id, when="sync")
    if not connector.get("index_name"):
        raise StatusConflict(
            f"Cannot start a sync for connector [{connector_id}] with no index attached. "
            "Set the [index_name] property for the connector to enable syncing data.")
    if not connector.get("service_type"):
        raise StatusConflict(
            f"Cannot start a sync for connector [{connector_id}] with [service_type] not "
            "defined. Set the service type of your connector before starting the sync.")
    job = pending_job(connector_snapshot(connector_id, connector, job_type), job_type,
                      trigger_method, clock.now())
    # Refreshed so that a list or a worker's own search finds the new job at once.
    return store.create(SYNC_JOBS_INDEX, job, refresh=True).id


def pending_job(snapshot: dict, job_type: str, trigger_method: str, now: str) -> dict:
    """A new job's document, as the reference writes it: fields that later calls set are
    absent, not null."""
    return {
        "connector": snapshot,
        "created_at": now,
        "deleted_document_count": 0,
        "indexed_document_count": 0,
        "indexed_document_volume": 0,
        "job_type": job_type,
        "last_seen": now,
        "metadata": {},
        "status": JobStatus.PENDING.value,
        "total_document_count": 0,
        "trigger_method": trigger_method,
    }


def connector_snapshot(connector_id: str, connector: dict, job_type: str) -> dict:
    """The connector as the job sees it: the active rules of its first filtering entry, and
    for access-control jobs the connector's access-control index. Null fields are left out."""
    index_name = connector["index_name"]
    if job_type == JobType.ACCESS_CONTROL:
        index_name = ACCESS_CONTROL_INDEX_PREFIX + index_name
    filtering = connector.get("filtering") or []
    snapshot = {
        "id": connector_id,
        "filtering": filtering[0].get("active") if filtering else None,
        "index_name": index_name,
        "language": connector.get("language"),
        "pipeline": connector.get("pipeline"),
        "service_type": connector.get("service_type"),
        "configuration": connector.get("configuration") or {},
    }
    return {key: value for key, value in snapshot.items() if value is not None}


def get(store: Storage, job_id: str) -> dict:
    """Get connector sync job."""
    doc = store.get(SYNC_JOBS_INDEX, job_id)
    if doc is None:
        raise SyncJobNotFound(job_id)
    return with_id(doc)


def with_id(doc: StoredDoc) -> dict:
    return {"id": doc.id, **doc.source}


def list_jobs(store: Storage, *, from_: int = 0, size: int = 100, connector_id: str | None = None,
              status: list[str] | None = None, job_type: list[str] | None = None
              ) -> tuple[int, list[dict]]:
    """List connector sync jobs, newest first. `count` is the number of matches as the
    reference counts them: exact up to 10,000, then 10,000, the deepest a page can reach
    (exact totals: app.services.summary)."""
    body = list_body(from_, size, connector_id, status, job_type)
    total, hits = store.search(SYNC_JOBS_INDEX, body, exact_total=False)
    return total, [with_id(hit) for hit in hits]


def list_body(from_: int, size: int, connector_id: str | None, status: list[str] | None,
              job_type: list[str] | None) -> dict:
    """The list's search. A plain dict on this hot path: building it with elasticsearch.dsl
    cost about 0.2 ms per call (docs/benchmark.md)."""
    filters = []
    # An empty id is a filter too, one that matches nothing, as in the reference.
    if connector_id is not None:
        filters.append({"term": {"connector.id": connector_id}})
    if status:
        filters.append({"terms": {"status": status}})
    if job_type:
        filters.append({"terms": {"job_type": job_type}})
    return {"query": {"bool": {"filter": filters}}, "sort": [{"created_at": {"order": "desc"}}],
            "from": from_, "size": size}


def delete(store: Storage, job_id: str) -> None:
    """Delete connector sync job."""
    if not store.delete(SYNC_JOBS_INDEX, job_id, refresh=True):
        raise SyncJobNotFound(job_id)


def _update(store: Storage, job_id: str, change, *, refresh: bool = False,
            heartbeat: bool = False) -> tuple[StoredDoc, StoredDoc]:
    """A guarded update; the second document is the write, whose `result` ("updated" or
    "noop") the routes answer as the reference does."""
    return guarded_update(store, SYNC_JOBS_INDEX, job_id, change, refresh=refresh,
                          not_found=lambda: SyncJobNotFound(job_id, after_update=heartbeat))


def check_in(store: Storage, job_id: str) -> str:
    """Check in connector sync job: `last_seen` becomes now."""
    return _update(store, job_id, lambda job: job_changes.check_in(job_id, job, clock.now()),
                   heartbeat=True)[1].result


async def check_in_on_loop(store: Storage, observed, job_id: str) -> str | None:
    """check_in served on the event loop (app.api.loop_routes): its result, or None to leave
    the request to the thread path."""
    return await _update_on_loop(store, observed, job_id,
                                 lambda job: job_changes.check_in(job_id, job, clock.now()))


async def _update_on_loop(store: Storage, observed, job_id: str, change) -> str | None:
    """`_update`'s first attempt from the event loop (`guarded_update_on_loop`): the write's
    result, or None for the thread path to run `_update` as ever."""
    written = await guarded_update_on_loop(store, SYNC_JOBS_INDEX, job_id, change, observed)
    return written.result if written is not None else None


def claim(store: Storage, job_id: str, worker_hostname: str, sync_cursor: dict | None) -> str:
    """Claim connector sync job: pending or suspended → in_progress, for one worker only.

    A claim repeated by the worker that holds the job (`job_changes.is_repeated_claim`) answers
    "noop" and writes nothing: its first answer was lost on the way back, not the job
    (docs/worker.md).
    """
    try:
        return _update(store, job_id, lambda job: job_changes.claim(
            job, worker_hostname, sync_cursor, clock.now()), refresh=True)[1].result
    except ClaimedByThisWorker:
        return "noop"


def cancel(store: Storage, job_id: str) -> str:
    """Cancel connector sync job."""
    return _cancel(store, job_id).result


def _cancel(store: Storage, job_id: str) -> StoredDoc:
    """The write of a cancel: its source holds the status the job moved to."""
    return _update(store, job_id, lambda job: job_changes.cancel(job, clock.now()), refresh=True)[1]


# Statuses a cancel-all acts on: what Kibana cancels one job at a time before deleting a connector.
OPEN_STATUSES = (JobStatus.PENDING.value, JobStatus.IN_PROGRESS.value, JobStatus.SUSPENDED.value)


def cancel_all(store: Storage, connector_id: str, *, max_jobs: int = 1000) -> dict:
    """Cancels every open job of a connector (an extension), each through the same guarded
    transition as `cancel`: a job that finishes meanwhile is reported as skipped, never
    overwritten. At most `max_jobs` are handled; the rest are counted as remaining."""
    if connectors.get_source(store, connector_id) is None:
        raise ConnectorNotFound(connector_id)
    search = (Search()
              .filter(Q("term", **{"connector.id": connector_id}))
              .filter(Q("terms", status=OPEN_STATUSES))
              .sort({"created_at": {"order": "asc"}}))
    total, hits = store.search(SYNC_JOBS_INDEX, search[:max_jobs].to_dict())
    results = []
    for hit in hits:
        try:
            results.append({"id": hit.id, "outcome": _cancel(store, hit.id).source["status"]})
        except InvalidStatusTransition as err:
            results.append({"id": hit.id, "outcome": "skipped", "reason": err.reason})
        except SyncJobNotFound:
            results.append({"id": hit.id, "outcome": "skipped", "reason": "deleted meanwhile"})
    counts = {outcome: sum(r["outcome"] == outcome for r in results)
              for outcome in ("canceled", "canceling", "skipped")}
    return {**counts, "remaining": max(total - len(hits), 0), "results": results}


def set_error(store: Storage, job_id: str, error: str) -> str:
    """Set a connector sync job error: in_progress or canceling → error."""
    return _update(store, job_id, lambda job: job_changes.set_error(job, error), refresh=True)[1].result


def set_stats(store: Storage, job_id: str, stats: dict) -> str:
    """Set the connector sync job stats; `last_seen` defaults to now."""
    return _update(store, job_id, lambda job: job_changes.set_stats(job_id, job, stats, clock.now()),
                   heartbeat=True)[1].result


async def set_stats_on_loop(store: Storage, observed, job_id: str, body: dict) -> str | None:
    """set_stats served on the event loop (app.api.loop_routes): the connectors framework's
    heartbeat. Its result, or None to leave the request to the thread path."""
    return await _update_on_loop(
        store, observed, job_id, lambda job: job_changes.set_stats(job_id, job, body, clock.now()))
