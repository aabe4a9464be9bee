"""GET _connector/_sync_job/<id> — Get connector sync job."""

from tests.support.api_client import error_type
from tests.support.stored import stored_job


def test_get_returns_the_stored_job_and_its_id(api, es):
    job_id = api.new_job(api.create_connector("test-connector"), job_type="access_control",
                         trigger_method="scheduled")
    body = api.get_sync_job(job_id)
    assert body == {"id": job_id, **stored_job(es, job_id)}
    assert (body["job_type"], body["trigger_method"]) == ("access_control", "scheduled")


def test_get_of_unknown_job_is_404(api):
    body = api.get_sync_job("non-existing-sync-job-id", expect=404)
    assert error_type(body) == "resource_not_found_exception"
    assert body["error"]["reason"] == "non-existing-sync-job-id"


def test_pretty_parameter_is_accepted(api):
    job_id = api.new_job(api.create_connector("test-connector"))
    assert api.call("GET", f"/_connector/_sync_job/{job_id}", query={"pretty": ""})["id"] == job_id
