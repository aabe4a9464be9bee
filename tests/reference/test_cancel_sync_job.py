"""PUT _connector/_sync_job/<id>/_cancel — Cancel connector sync job."""

import pytest

from tests.support.api_client import error_type
from tests.support.stored import stored_job


@pytest.fixture
def job_id(api):
    return api.new_job(api.create_connector("test-connector"))


def test_cancel_of_pending_job_ends_it_at_once_with_one_timestamp(api, es, job_id):
    before = stored_job(es, job_id)
    assert api.cancel(job_id) == {"result": "updated"}
    job = stored_job(es, job_id)
    assert job["status"] == "canceled"
    assert job["cancelation_requested_at"] == job["canceled_at"] == job["completed_at"]
    assert unchanged_by_cancel(job) == unchanged_by_cancel(before)


def test_cancel_of_suspended_job_ends_it_at_once(api, es, job_id, set_status):
    set_status(job_id, "suspended")
    before = stored_job(es, job_id)
    assert api.cancel(job_id) == {"result": "updated"}
    job = stored_job(es, job_id)
    assert job["status"] == "canceled"
    assert job["cancelation_requested_at"] == job["canceled_at"] == job["completed_at"]
    assert unchanged_by_cancel(job) == unchanged_by_cancel(before)


def test_cancel_of_running_job_asks_the_worker_to_stop(api, es, job_id):
    api.claim(job_id)
    claimed = stored_job(es, job_id)
    assert api.cancel(job_id) == {"result": "updated"}
    job = stored_job(es, job_id)
    assert job["status"] == "canceling"
    assert "cancelation_requested_at" in job
    assert "canceled_at" not in job and "completed_at" not in job
    # The worker keeps the job until it stops: its hostname and last heartbeat stay.
    assert unchanged_by_cancel(job) == unchanged_by_cancel(claimed)
    assert api.list_sync_jobs(status="canceling")["count"] == 1


@pytest.mark.parametrize("status", ["canceling", "canceled", "completed", "error"])
def test_cancel_of_a_finished_or_canceling_job_is_400(api, es, job_id, set_status, status):
    set_status(job_id, status)
    before = stored_job(es, job_id)
    body = api.cancel(job_id, expect=400)
    assert error_type(body) == "status_exception"
    # Kibana recognises an uncancelable job by this cause.
    assert body["error"]["caused_by"]["type"] == (
        "connector_sync_job_invalid_status_transition_exception")
    assert f"from [{status}] to [canceling]" in body["error"]["reason"]
    assert stored_job(es, job_id) == before


def test_cancel_twice_is_400(api, es, job_id):
    assert api.cancel(job_id) == {"result": "updated"}
    canceled = stored_job(es, job_id)
    body = api.cancel(job_id, expect=400)
    assert error_type(body) == "status_exception"
    assert "from [canceled] to [canceling]" in body["error"]["reason"]
    assert stored_job(es, job_id) == canceled


def test_cancel_of_unknown_job_is_404(api):
    body = api.cancel("non-existing-sync-job-id", expect=404)
    assert error_type(body) == "resource_not_found_exception"
    assert body["error"]["reason"] == "non-existing-sync-job-id"


def unchanged_by_cancel(job: dict) -> dict:
    """The stored job without the fields a cancel writes."""
    written = {"status", "cancelation_requested_at", "canceled_at", "completed_at"}
    return {key: value for key, value in job.items() if key not in written}
