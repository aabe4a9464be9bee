"""DELETE _connector/_sync_job/<id> — Delete connector sync job."""

import pytest
from elasticsearch import NotFoundError

from app.storage import SYNC_JOBS_INDEX
from tests.support.api_client import error_type


def test_delete_acknowledges_and_the_job_is_gone(api, es):
    job_id = api.new_job(api.create_connector("test-connector"))
    assert api.delete_sync_job(job_id) == {"acknowledged": True}
    api.get_sync_job(job_id, expect=404)
    with pytest.raises(NotFoundError):
        es.get(index=SYNC_JOBS_INDEX, id=job_id)
    assert api.list_sync_jobs()["count"] == 0


def test_delete_leaves_other_jobs_alone(api):
    connector = api.create_connector("test-connector")
    keep, drop = api.new_job(connector), api.new_job(connector)
    api.delete_sync_job(drop)
    assert [job["id"] for job in api.list_sync_jobs()["results"]] == [keep]


def test_delete_of_unknown_job_is_404(api):
    body = api.delete_sync_job("test-nonexistent-connector-sync-job-id", expect=404)
    assert error_type(body) == "resource_not_found_exception"
    # The reference looked the job up first: its reason is the id alone.
    assert body["error"]["reason"] == "test-nonexistent-connector-sync-job-id"
