"""What each worker call changes in a stored sync job: pure functions of the job as stored and
the request, the reference's state rules testable without Elasticsearch.

Each returns the partial document to write, or raises the error the route answers with. The
services apply them through one guarded update (app.services.guarded), which calls them again
on the newer document when another writer got there first.
"""

from app.domain.job_states import (
    RUNNING_STATUSES,
    TERMINAL_STATUSES,
    JobStatus,
    can_transition,
    cancel_target,
)
from app.domain.partial_update import merged
from app.exceptions import InvalidStatusTransition, StatusConflict


class ClaimedByThisWorker(Exception):
    """The claim already holds: this request repeats one whose answer was lost."""


def check_in(job_id: str, job: dict, now: str) -> dict:
    """Check in: `last_seen` becomes now, while the job is open."""
    require_open(job_id, job, "check in")
    return {"last_seen": now}


def claim(job: dict, worker_hostname: str, sync_cursor: dict | None, now: str) -> dict:
    """Claim: pending or suspended → in_progress, for one worker only. A claim the holding
    worker repeats (`is_repeated_claim`) raises ClaimedByThisWorker: it writes nothing."""
    if is_repeated_claim(job, worker_hostname, sync_cursor):
        raise ClaimedByThisWorker()
    require_transition(job, JobStatus.IN_PROGRESS)
    partial = {"status": JobStatus.IN_PROGRESS.value, "worker_hostname": worker_hostname,
               "started_at": now, "last_seen": now}
    if sync_cursor is not None:
        partial["connector"] = {"sync_cursor": sync_cursor}
    return partial


def is_repeated_claim(job: dict, worker_hostname: str, sync_cursor: dict | None) -> bool:
    """Whether `job` is as a claim by `worker_hostname` with `sync_cursor` left it, untouched by
    its worker since: running under that name, no report since it started (a claim sets
    `last_seen` and `started_at` to one instant; every check-in and stats moves `last_seen`),
    and the cursor already merged in. A cancel requested meanwhile keeps it one: the worker,
    told it holds the job, then sees `canceling` and ends it as canceled."""
    if job.get("status") not in RUNNING_STATUSES or job.get("worker_hostname") != worker_hostname:
        return False
    if job.get("started_at") is None or job.get("last_seen") != job.get("started_at"):
        return False
    stored = (job.get("connector") or {}).get("sync_cursor")
    return sync_cursor is None or (isinstance(stored, dict) and merged(stored, sync_cursor) == stored)


def cancel(job: dict, now: str) -> dict:
    """Cancel: a job no worker runs yet is canceled at once; a running one is asked to stop
    (canceling), its worker then ends it."""
    target = cancel_target(job.get("status", ""))
    require_transition(job, target)
    if target == JobStatus.CANCELED:
        return {"status": target.value, "cancelation_requested_at": now,
                "canceled_at": now, "completed_at": now}
    return {"status": target.value, "cancelation_requested_at": now}


def set_error(job: dict, error: str) -> dict:
    """Set an error: in_progress or canceling → error, with the worker's message."""
    require_transition(job, JobStatus.ERROR)
    return {"status": JobStatus.ERROR.value, "error": error}


def set_stats(job_id: str, job: dict, stats: dict, now: str) -> dict:
    """Set the stats given (null ones left as they are); `last_seen` defaults to now."""
    require_open(job_id, job, "update the stats of")
    partial = {key: value for key, value in stats.items() if value is not None}
    partial.setdefault("last_seen", now)
    return partial


def require_open(job_id: str, job: dict, action: str) -> None:
    """Heartbeats and stats may not rewrite a finished job (the reference allows it)."""
    if job.get("status") in TERMINAL_STATUSES:
        raise StatusConflict(
            f"Cannot {action} connector sync job [{job_id}] with status [{job['status']}]: "
            "the job has finished.")


def require_transition(job: dict, target: JobStatus) -> None:
    current = job.get("status", "")
    if not can_transition(current, target):
        raise InvalidStatusTransition(current, target.value)
