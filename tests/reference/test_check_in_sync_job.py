"""PUT _connector/_sync_job/<id>/_check_in — Check in connector sync job."""

import pytest

from tests.support.api_client import error_type
from tests.support.stored import instant, stored_job


@pytest.fixture
def job_id(api):
    return api.new_job(api.create_connector("test-connector"))


def test_check_in_returns_updated_and_moves_last_seen_forward(api, es, job_id):
    created = stored_job(es, job_id)
    assert api.check_in(job_id) == {"result": "updated"}
    checked_in = stored_job(es, job_id)
    assert instant(checked_in["last_seen"]) > instant(created["last_seen"])
    # Nothing else changes.
    assert {k: v for k, v in checked_in.items() if k != "last_seen"} == {
        k: v for k, v in created.items() if k != "last_seen"}


def test_each_check_in_is_strictly_later_than_the_last(api, es, job_id):
    seen = []
    for _ in range(3):
        assert api.check_in(job_id) == {"result": "updated"}
        seen.append(instant(stored_job(es, job_id)["last_seen"]))
    assert seen == sorted(seen) and len(set(seen)) == 3


@pytest.mark.parametrize("status", ["pending", "in_progress", "canceling", "suspended"])
def test_open_jobs_can_check_in(api, es, job_id, set_status, status):
    set_status(job_id, status)
    before = stored_job(es, job_id)
    assert api.check_in(job_id) == {"result": "updated"}
    after = stored_job(es, job_id)
    assert instant(after["last_seen"]) > instant(before["last_seen"])
    assert after["status"] == status


@pytest.mark.parametrize("status", ["completed", "canceled", "error"])
def test_finished_jobs_cannot_check_in(api, es, job_id, set_status, status):
    # Stricter than the reference: a late heartbeat must not rewrite a finished job.
    set_status(job_id, status)
    before = stored_job(es, job_id)
    body = api.check_in(job_id, expect=400)
    assert error_type(body) == "status_exception"
    assert stored_job(es, job_id) == before


def test_check_in_of_unknown_job_is_404(api):
    body = api.check_in("non-existing-sync-job-id", expect=404)
    assert error_type(body) == "resource_not_found_exception"
    assert body["error"]["reason"] == "connector sync job [non-existing-sync-job-id] not found"


def test_check_in_with_a_body_is_400_and_changes_nothing(api, es, job_id):
    before = stored_job(es, job_id)
    body = api.call("PUT", f"/_connector/_sync_job/{job_id}/_check_in", {"last_seen": "x"}, expect=400)
    assert error_type(body) == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        f"request [PUT /_connector/_sync_job/{job_id}/_check_in] does not support having a body")
    assert stored_job(es, job_id) == before


def test_check_in_with_compatible_with_media_type_headers(api, es, job_id):
    media_type = "application/vnd.elasticsearch+json; compatible-with=8"
    before = stored_job(es, job_id)
    answer = api.call("PUT", f"/_connector/_sync_job/{job_id}/_check_in",
                      headers={"Accept": media_type, "Content-Type": media_type})
    assert answer == {"result": "updated"}
    assert instant(stored_job(es, job_id)["last_seen"]) > instant(before["last_seen"])
