"""Sync-job statuses, types and trigger methods, and the table of allowed status transitions.

The table is the reference's ConnectorSyncJobStateMachine. Every route that changes a job's
status checks it here, including _claim, which the reference leaves unchecked.
"""

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    CANCELING = "canceling"
    CANCELED = "canceled"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    ERROR = "error"


class JobType(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"
    ACCESS_CONTROL = "access_control"


class TriggerMethod(StrEnum):
    ON_DEMAND = "on_demand"
    SCHEDULED = "scheduled"


ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.IN_PROGRESS, JobStatus.CANCELED}),
    JobStatus.IN_PROGRESS: frozenset(
        {JobStatus.CANCELING, JobStatus.COMPLETED, JobStatus.SUSPENDED, JobStatus.ERROR}),
    JobStatus.SUSPENDED: frozenset({JobStatus.IN_PROGRESS, JobStatus.CANCELED}),
    JobStatus.CANCELING: frozenset({JobStatus.CANCELED, JobStatus.ERROR}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.CANCELED: frozenset(),
    JobStatus.ERROR: frozenset(),
}

# Statuses in which a job may still do work: what "open" and "stale" are about.
RUNNING_STATUSES = frozenset({JobStatus.IN_PROGRESS, JobStatus.CANCELING})
TERMINAL_STATUSES = frozenset(s for s, targets in ALLOWED_TRANSITIONS.items() if not targets)


def can_transition(current: str, target: str) -> bool:
    """Whether a job in `current` may move to `target`. Unknown statuses may not move."""
    try:
        return JobStatus(target) in ALLOWED_TRANSITIONS[JobStatus(current)]
    except ValueError:
        return False


def cancel_target(current: str) -> JobStatus:
    """Where _cancel takes a job: straight to canceled when nothing runs, else to canceling."""
    if current in (JobStatus.PENDING, JobStatus.SUSPENDED):
        return JobStatus.CANCELED
    return JobStatus.CANCELING
