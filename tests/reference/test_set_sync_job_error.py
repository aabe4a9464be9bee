"""PUT _connector/_sync_job/<id>/_error — Set a connector sync job error."""

import pytest

from tests.support.api_client import error_type
from tests.support.stored import stored_job


@pytest.fixture
def job_id(api):
    return api.new_job(api.create_connector("test-connector"))


@pytest.mark.parametrize("status", ["in_progress", "canceling"])
def test_error_on_a_running_job_stores_error_and_status(api, es, job_id, set_status, status):
    set_status(job_id, status)
    before = stored_job(es, job_id)
    assert api.set_error(job_id, error="boom") == {"result": "updated"}
    job = stored_job(es, job_id)
    assert (job["status"], job["error"]) == ("error", "boom")
    # As the reference: no completion time, last_seen untouched.
    assert "completed_at" not in job
    assert job["last_seen"] == before["last_seen"]


@pytest.mark.parametrize("status", ["pending", "suspended", "completed", "canceled", "error"])
def test_error_from_other_statuses_is_400_and_changes_nothing(api, es, job_id, set_status, status):
    set_status(job_id, status)
    before = stored_job(es, job_id)
    body = api.set_error(job_id, error="error", expect=400)
    assert error_type(body) == "status_exception"
    assert f"from [{status}] to [error]" in body["error"]["reason"]
    assert stored_job(es, job_id) == before


def test_error_of_unknown_job_is_404(api):
    body = api.set_error("non-existing-sync-job-id", expect=404)
    assert error_type(body) == "resource_not_found_exception"
    assert body["error"]["reason"] == "non-existing-sync-job-id"


@pytest.mark.parametrize(("body", "expected_type"), [
    ({}, "illegal_argument_exception"),
    ({"error": ""}, "action_request_validation_exception"),
    ({"error": None}, "x_content_parse_exception"),
    ({"error": {"nested": 1}}, "x_content_parse_exception"),
    ({"error": "e", "status": "error"}, "x_content_parse_exception"),
])
def test_malformed_body_is_400(api, es, job_id, body, expected_type):
    api.claim(job_id)
    before = stored_job(es, job_id)
    response = api.call("PUT", f"/_connector/_sync_job/{job_id}/_error", body, expect=400)
    assert error_type(response) == expected_type
    assert stored_job(es, job_id) == before
