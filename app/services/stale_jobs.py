"""Stale jobs: running jobs whose worker stopped reporting. Not in the reference, whose users
each write this query themselves (the connectors framework's own cleanup uses 300 s)."""

from datetime import UTC, datetime, timedelta

from elasticsearch.dsl import Q, Search

from app import clock
from app.exceptions import InvalidStatusTransition
from app.job_states import RUNNING_STATUSES, JobStatus, can_transition
from app.services.guarded import guarded_update
from app.services.sync_jobs import with_id
from app.storage import SYNC_JOBS_INDEX, Storage


class NoLongerStale(Exception):
    """The job reported, finished or was removed since it was found."""


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


def fail_stale(store: Storage, older_than: float, *, max_jobs: int = 1000) -> dict:
    """Moves every stale job to `error`, each through the guarded transition.

    A job is re-read and re-checked before it is written: one that checked in or finished
    since the search is skipped, never overwritten. At most `max_jobs` are handled; the
    answer says how many stale jobs remain.
    """
    total, hits = store.search(SYNC_JOBS_INDEX, stale_search(older_than)[:max_jobs].to_dict())
    limit = cutoff(older_than)
    results = []
    for hit in hits:
        try:
            guarded_update(store, SYNC_JOBS_INDEX, hit.id, _fail_if_stale(limit, older_than),
                           not_found=NoLongerStale, refresh=True)
            results.append({"id": hit.id, "outcome": "error"})
        except (NoLongerStale, InvalidStatusTransition):
            results.append({"id": hit.id, "outcome": "skipped",
                            "reason": "the job reported or finished since it was found"})
    moved = sum(result["outcome"] == "error" for result in results)
    return {"moved": moved, "skipped": len(results) - moved,
            "remaining": max(total - len(hits), 0), "older_than_seconds": older_than,
            "results": results}


def _fail_if_stale(limit: str, older_than: float):
    def change(job: dict) -> dict:
        last_seen = job.get("last_seen")
        reported_since = last_seen and clock.parse_instant(last_seen) >= clock.parse_instant(limit)
        if job.get("status") not in RUNNING_STATUSES or reported_since:
            raise NoLongerStale()
        if not can_transition(job["status"], JobStatus.ERROR):
            raise InvalidStatusTransition(job["status"], JobStatus.ERROR.value)
        now = clock.now()
        worker = job.get("worker_hostname") or "unknown"
        return {
            "status": JobStatus.ERROR.value,
            "error": (f"The job was marked as failed because its worker [{worker}] sent no "
                      f"check-in or stats for more than {older_than:g} seconds (last seen "
                      f"{last_seen}). The worker probably stopped; start a new sync."),
            "completed_at": now,
        }

    return change
