"""The table of allowed sync-job status transitions, every pair."""

import itertools

import pytest

from app.domain.job_states import ALLOWED_TRANSITIONS, JobStatus, can_transition, cancel_target

ALLOWED = {
    ("pending", "in_progress"), ("pending", "canceled"),
    ("in_progress", "canceling"), ("in_progress", "completed"), ("in_progress", "suspended"),
    ("in_progress", "error"),
    ("suspended", "in_progress"), ("suspended", "canceled"),
    ("canceling", "canceled"), ("canceling", "error"),
}


@pytest.mark.parametrize(("current", "target"),
                         list(itertools.product([s.value for s in JobStatus], repeat=2)))
def test_every_pair_of_statuses(current, target):
    assert can_transition(current, target) == ((current, target) in ALLOWED)


def test_table_covers_every_status():
    assert set(ALLOWED_TRANSITIONS) == set(JobStatus)


@pytest.mark.parametrize("status", ["completed", "canceled", "error"])
def test_finished_jobs_go_nowhere(status):
    assert not ALLOWED_TRANSITIONS[JobStatus(status)]


def test_unknown_statuses_go_nowhere():
    assert not can_transition("bogus", "in_progress")
    assert not can_transition("pending", "bogus")


@pytest.mark.parametrize(("status", "target"), [
    ("pending", "canceled"), ("suspended", "canceled"), ("in_progress", "canceling"),
    ("canceling", "canceling"), ("completed", "canceling"),
])
def test_cancel_target(status, target):
    assert cancel_target(status) == target
