"""What each worker call writes into a stored job, and what it refuses, decided without
Elasticsearch (app.domain.job_changes): the same rules the API tests prove through a node."""

import pytest

from app.domain import job_changes
from app.domain.job_changes import ClaimedByThisWorker
from app.exceptions import InvalidStatusTransition, StatusConflict

NOW = "2026-12-04T10:00:00.000Z"
EARLIER = "2026-12-04T09:00:00.000Z"
FINISHED = ["canceled", "completed", "error"]


def job(status: str, **fields) -> dict:
    return {"status": status, "connector": {"id": "connector-1"}, **fields}


def refused_transition(current: str, target: str) -> str:
    return (f"Invalid transition attempt from [{current}] to [{target}]. Such a "
            "ConnectorSyncStatus transition is not supported by the Connector Protocol.")


# Check in


@pytest.mark.parametrize("status", ["pending", "in_progress", "canceling", "suspended"])
def test_a_check_in_moves_last_seen_of_an_open_job(status):
    assert job_changes.check_in("job-1", job(status), NOW) == {"last_seen": NOW}


@pytest.mark.parametrize("status", FINISHED)
def test_a_check_in_of_a_finished_job_is_refused(status):
    with pytest.raises(StatusConflict) as refused:
        job_changes.check_in("job-1", job(status), NOW)
    assert refused.value.reason == (f"Cannot check in connector sync job [job-1] with status "
                                    f"[{status}]: the job has finished.")


# Claim


@pytest.mark.parametrize("status", ["pending", "suspended"])
def test_a_claim_starts_a_job_for_its_worker(status):
    assert job_changes.claim(job(status), "worker-1", None, NOW) == {
        "status": "in_progress", "worker_hostname": "worker-1", "started_at": NOW, "last_seen": NOW}


def test_a_claim_merges_the_workers_sync_cursor_into_the_jobs_connector():
    partial = job_changes.claim(job("pending"), "worker-1", {"page": 2}, NOW)
    assert partial["connector"] == {"sync_cursor": {"page": 2}}


@pytest.mark.parametrize("status", ["in_progress", "canceling", *FINISHED])
def test_a_job_already_running_or_finished_cannot_be_claimed(status):
    with pytest.raises(InvalidStatusTransition) as refused:
        job_changes.claim(job(status, worker_hostname="worker-2"), "worker-1", None, NOW)
    assert refused.value.reason == refused_transition(status, "in_progress")


def test_a_claim_repeated_by_the_worker_holding_the_job_writes_nothing():
    claimed = job("in_progress", worker_hostname="worker-1", started_at=EARLIER, last_seen=EARLIER,
                  connector={"id": "connector-1", "sync_cursor": {"page": 2, "token": "t"}})
    with pytest.raises(ClaimedByThisWorker):
        job_changes.claim(claimed, "worker-1", None, NOW)
    with pytest.raises(ClaimedByThisWorker):
        job_changes.claim(claimed, "worker-1", {"page": 2}, NOW)


def test_a_cancel_requested_meanwhile_keeps_a_repeated_claim_the_workers():
    canceling = job("canceling", worker_hostname="worker-1", started_at=EARLIER, last_seen=EARLIER)
    with pytest.raises(ClaimedByThisWorker):
        job_changes.claim(canceling, "worker-1", None, NOW)


@pytest.mark.parametrize("claimed, cursor", [
    # its worker reported since: no longer the job as the claim left it
    (job("in_progress", worker_hostname="worker-1", started_at=EARLIER, last_seen=NOW), None),
    # another cursor than the one the claim merged
    (job("in_progress", worker_hostname="worker-1", started_at=EARLIER, last_seen=EARLIER,
         connector={"id": "connector-1", "sync_cursor": {"page": 2}}), {"page": 3}),
    # another worker's
    (job("in_progress", worker_hostname="worker-2", started_at=EARLIER, last_seen=EARLIER), None),
])
def test_a_claim_of_a_job_that_moved_on_is_refused(claimed, cursor):
    with pytest.raises(InvalidStatusTransition):
        job_changes.claim(claimed, "worker-1", cursor, NOW)


# Cancel


@pytest.mark.parametrize("status", ["pending", "suspended"])
def test_a_job_no_worker_runs_is_canceled_at_once(status):
    assert job_changes.cancel(job(status), NOW) == {
        "status": "canceled", "cancelation_requested_at": NOW, "canceled_at": NOW,
        "completed_at": NOW}


def test_a_running_job_is_asked_to_stop():
    assert job_changes.cancel(job("in_progress"), NOW) == {
        "status": "canceling", "cancelation_requested_at": NOW}


@pytest.mark.parametrize("status", ["canceling", *FINISHED])
def test_a_job_stopping_or_finished_cannot_be_canceled(status):
    with pytest.raises(InvalidStatusTransition) as refused:
        job_changes.cancel(job(status), NOW)
    assert refused.value.reason == refused_transition(status, "canceling")


# Error


@pytest.mark.parametrize("status", ["in_progress", "canceling"])
def test_a_running_job_ends_in_error_with_its_message(status):
    assert job_changes.set_error(job(status), "it broke") == {"status": "error", "error": "it broke"}


@pytest.mark.parametrize("status", ["pending", "suspended", *FINISHED])
def test_a_job_not_running_cannot_end_in_error(status):
    with pytest.raises(InvalidStatusTransition) as refused:
        job_changes.set_error(job(status), "it broke")
    assert refused.value.reason == refused_transition(status, "error")


# Stats


def test_stats_write_what_is_given_and_move_last_seen():
    stats = {"deleted_document_count": 1, "indexed_document_count": 20,
             "indexed_document_volume": None, "metadata": {"k": "v"}}
    assert job_changes.set_stats("job-1", job("in_progress"), stats, NOW) == {
        "deleted_document_count": 1, "indexed_document_count": 20, "metadata": {"k": "v"},
        "last_seen": NOW}


def test_stats_keep_the_last_seen_the_worker_gives():
    partial = job_changes.set_stats("job-1", job("in_progress"), {"last_seen": EARLIER}, NOW)
    assert partial == {"last_seen": EARLIER}


@pytest.mark.parametrize("status", FINISHED)
def test_stats_of_a_finished_job_are_refused(status):
    with pytest.raises(StatusConflict) as refused:
        job_changes.set_stats("job-1", job(status), {"indexed_document_count": 1}, NOW)
    assert refused.value.reason == (f"Cannot update the stats of connector sync job [job-1] with "
                                    f"status [{status}]: the job has finished.")
