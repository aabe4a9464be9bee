"""Stale jobs: running jobs whose worker stopped reporting. Not in the reference, whose users
each write this query themselves (the connectors framework's own cleanup uses 300 s).

Failing a stale job does what the connectors framework's idle-job cleanup does
(connectors/services/job_cleanup.py): the job goes to `error`, then its connector records the
sync's end as the worker's `Connector.sync_done` would (`last_sync_*`, `status: error`), so
the connector is not left `in_progress`, which would stop every later sync of it. Unlike the
framework, each write is guarded, and the connector is left alone while another job of the
same kind runs for it (its `in_progress` is that job's).
"""

import logging
from datetime import UTC, datetime, timedelta

from elasticsearch.dsl import Q, Search

from app.domain import clock
from app.domain.connector_states import ConnectorStatus
from app.domain.job_states import RUNNING_STATUSES, JobStatus, JobType, can_transition
from app.domain.partial_update import merged
from app.exceptions import BadRequest, InvalidStatusTransition, RestError, StorageUnavailable
from app.services.guarded import guarded_update
from app.services.sync_jobs import with_id
from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX, Storage

log = logging.getLogger(__name__)

# What a report may quote of a stored value: another writer may have stored anything there.
QUOTED_CHARACTERS = 120


class NoLongerStale(Exception):
    """The job reported, finished or was removed since it was found."""


class ConnectorLeftAlone(Exception):
    """The connector's last-sync fields are not this job's to write."""


def cutoff(older_than: float) -> str:
    return clock.format_instant(datetime.now(UTC) - timedelta(seconds=older_than))


def stale_search(older_than: float, connector_id: str | None = None) -> Search:
    search = (Search()
              .filter(Q("terms", status=sorted(RUNNING_STATUSES)))
              .filter(Q("range", last_seen={"lt": cutoff(older_than)}))
              .sort({"last_seen": {"order": "asc"}}))
    if connector_id is not None:  # as in the list: an empty id matches nothing
        search = search.filter(Q("term", **{"connector.id": connector_id}))
    return search


def list_stale(store: Storage, older_than: float, *, connector_id: str | None = None,
               from_: int = 0, size: int = 100) -> tuple[int, list[dict]]:
    """Running jobs with no check-in or stats for more than `older_than` seconds, oldest first;
    `count` as the list counts (up to 10,000)."""
    body = stale_search(older_than, connector_id)[from_:from_ + size].to_dict()
    total, hits = store.search(SYNC_JOBS_INDEX, body, exact_total=False)
    return total, [with_id(hit) for hit in hits]


def fail_stale(store: Storage, older_than: float, *, connector_id: str | None = None,
               max_jobs: int = 1000) -> dict:
    """Moves every stale job (of one connector, if given) to `error`, then records that on its
    connector, each through a guarded write.

    A job is re-read and re-checked before it is written: one that checked in or finished
    since the search is skipped, never overwritten. A job that cannot be judged or written is
    reported as failed and the sweep goes on; only an unreachable Elasticsearch stops it (503).
    At most `max_jobs` are handled; the answer says how many stale jobs remain.
    """
    search = stale_search(older_than, connector_id)[:max_jobs].to_dict()
    total, hits = store.search(SYNC_JOBS_INDEX, search)
    limit = cutoff(older_than)
    results = [_fail_one(store, hit.id, limit, older_than) for hit in hits]
    counts = {outcome: sum(result["outcome"] == outcome for result in results)
              for outcome in ("error", "skipped", "failed")}
    return {"moved": counts["error"], "skipped": counts["skipped"], "failed": counts["failed"],
            "remaining": max(total - len(hits), 0), "older_than_seconds": older_than,
            "results": results}


def _fail_one(store: Storage, job_id: str, limit: str, older_than: float) -> dict:
    try:
        judged, written = guarded_update(store, SYNC_JOBS_INDEX, job_id,
                                         _fail_if_stale(limit, older_than),
                                         not_found=NoLongerStale, refresh=True)
    except (NoLongerStale, InvalidStatusTransition):
        return {"id": job_id, "outcome": "skipped",
                "reason": "the job reported or finished since it was found"}
    except StorageUnavailable:
        raise
    except Exception as err:  # this job only: the sweep goes on with the next one
        log.warning("could not fail stale job [%s]: %s", job_id, type(err).__name__)
        return {"id": job_id, "outcome": "failed", "reason": reason_of(err)}
    failed_job = merged(judged.source, written.source)
    return {"id": job_id, "outcome": "error", **_record_on_connector(store, job_id, failed_job)}


def _fail_if_stale(limit: str, older_than: float):
    def change(job: dict) -> dict:
        last_seen = job.get("last_seen")
        try:
            reported_since = (last_seen is not None and
                              clock.parse_stored_instant(last_seen) >= clock.parse_instant(limit))
        except (ValueError, OverflowError, OSError):
            raise BadRequest(f"its last_seen [{quoted(last_seen)}] is not a date this service "
                             "can read") from None
        if job.get("status") not in RUNNING_STATUSES or reported_since:
            raise NoLongerStale()
        if not can_transition(job["status"], JobStatus.ERROR):
            raise InvalidStatusTransition(job["status"], JobStatus.ERROR.value)
        now = clock.now()
        worker = quoted(job.get("worker_hostname") or "unknown")
        return {
            "status": JobStatus.ERROR.value,
            "error": (f"The job was marked as failed because its worker [{worker}] sent no "
                      f"check-in or stats for more than {older_than:g} seconds (last seen "
                      f"{quoted(last_seen)}). The worker probably stopped; start a new sync."),
            "completed_at": now,
            "last_seen": now,
        }

    return change


def _record_on_connector(store: Storage, job_id: str, job: dict) -> dict:
    """The framework's `Connector.sync_done(job)` for `job`, just written in error, guarded."""
    connector_id = (job.get("connector") or {}).get("id")
    if not isinstance(connector_id, str) or not connector_id:
        return {"connector": "skipped", "connector_reason": "the job names no connector"}

    def change(connector: dict) -> dict:
        if connector.get("deleted"):
            raise ConnectorLeftAlone(f"connector [{quoted(connector_id)}] is deleted")
        _require_no_other_running_job(store, connector_id, job_id, job.get("job_type"))
        return sync_done(job, clock.now())

    try:
        _, written = guarded_update(
            store, CONNECTORS_INDEX, connector_id, change, refresh=True,
            not_found=lambda: ConnectorLeftAlone(f"connector [{quoted(connector_id)}] not found"))
    except ConnectorLeftAlone as reason:
        return {"connector": "skipped", "connector_reason": str(reason)}
    except StorageUnavailable:
        raise
    except Exception as err:  # the job is failed already; report the connector's trouble
        log.warning("could not record stale job [%s] on its connector: %s", job_id,
                    type(err).__name__)
        return {"connector": "failed", "connector_reason": reason_of(err)}
    return {"connector": written.result}


def sync_done(job: dict, now: str) -> dict:
    """What the framework's `Connector.sync_done(job)` writes for a terminated job: the sync's
    status and error under the job type's own last-sync fields, the connector's status, and the
    job's counts."""
    status = job.get("status") or JobStatus.ERROR.value
    error = job.get("error")
    if error is None and status == JobStatus.ERROR:
        error = "unknown error"
    job_type = job.get("job_type")
    # A job of unknown type ends both kinds, so that neither stays in progress for ever.
    prefixes = (["last_access_control_sync"] if job_type == JobType.ACCESS_CONTROL
                else ["last_sync"] if job_type in (JobType.FULL, JobType.INCREMENTAL)
                else ["last_access_control_sync", "last_sync"])
    last_sync = {}
    for prefix in prefixes:
        last_sync |= {f"{prefix}_status": status, f"{prefix}_error": error}
    return {
        "last_synced": now,
        "status": (ConnectorStatus.ERROR if status == JobStatus.ERROR
                   else ConnectorStatus.CONNECTED).value,
        "error": error,
        **last_sync,
        "last_indexed_document_count": job.get("indexed_document_count") or 0,
        "last_deleted_document_count": job.get("deleted_document_count") or 0,
    }


def _require_no_other_running_job(store: Storage, connector_id: str, job_id: str,
                                  job_type: str | None) -> None:
    """The connector's `in_progress` belongs to another job of the same kind that still runs:
    marking the sync ended would let a worker start a second one beside it."""
    kinds = ([JobType.ACCESS_CONTROL.value] if job_type == JobType.ACCESS_CONTROL
             else [JobType.FULL.value, JobType.INCREMENTAL.value])
    search = (Search()
              .filter(Q("term", **{"connector.id": connector_id}))
              .filter(Q("terms", job_type=kinds))
              .filter(Q("terms", status=sorted(RUNNING_STATUSES)))
              .exclude(Q("ids", values=[job_id]))
              .source(["status"]))[:1]
    _, hits = store.search(SYNC_JOBS_INDEX, search.to_dict())
    if hits:
        raise ConnectorLeftAlone(f"job [{hits[0].id}] of the same kind still runs for it")


def reason_of(err: Exception) -> str:
    return quoted(err.reason if isinstance(err, RestError) else f"{type(err).__name__}: {err}")


def quoted(value) -> str:
    """A stored value as a message may quote it: at most QUOTED_CHARACTERS characters."""
    text = str(value)
    if len(text) <= QUOTED_CHARACTERS:
        return text
    return f"{text[:QUOTED_CHARACTERS]}… ({len(text)} characters)"
