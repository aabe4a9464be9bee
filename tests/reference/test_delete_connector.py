"""DELETE _connector/<connector_id> — Delete connector (soft by default, `hard`, `delete_sync_jobs`)."""

import pytest

from app.services import connectors
from app.storage import CONNECTORS_INDEX
from tests.support.api_client import error_type
from tests.support.stored import stored_connector


@pytest.fixture
def connector_id(api):
    return api.create_connector("test-connector-to-delete", index_name="search-1-test",
                                language="pl")


def jobs_of(api, connector_id: str) -> int:
    return api.list_sync_jobs(connector_id=connector_id)["count"]


def test_delete_is_soft_acknowledged_and_hides_the_connector(api, es, connector_id):
    before = stored_connector(es, connector_id)
    assert api.delete_connector(connector_id) == {"acknowledged": True}
    assert stored_connector(es, connector_id) == {**before, "deleted": True}
    body = api.get_connector(connector_id, expect=404)
    assert body["error"]["reason"] == f"connector [{connector_id}] not found"


def test_a_soft_deleted_connector_is_still_readable_with_include_deleted(api, connector_id):
    api.delete_connector(connector_id)
    connector = api.get_connector(connector_id, include_deleted="true")
    assert connector["id"] == connector_id
    assert (connector["index_name"], connector["service_type"], connector["name"]) == (
        "search-1-test", "super-connector", "my-connector")
    assert connector["deleted"] is True


def test_deleting_a_soft_deleted_connector_again_is_404(api, es, connector_id):
    api.delete_connector(connector_id)
    before = stored_connector(es, connector_id)
    body = api.delete_connector(connector_id, expect=404)
    assert error_type(body) == "resource_not_found_exception"
    assert stored_connector(es, connector_id) == before


def test_hard_delete_removes_the_document(api, es):
    api.create_connector("test-connector-hard-delete", index_name="search-2-test",
                         name="my-hard-delete-connector", language="en")
    assert api.delete_connector("test-connector-hard-delete", hard="true") == {"acknowledged": True}
    api.get_connector("test-connector-hard-delete", expect=404, include_deleted="true")
    assert not es.exists(index=CONNECTORS_INDEX, id="test-connector-hard-delete")


def test_hard_delete_also_removes_a_soft_deleted_connector(api, es, connector_id):
    api.delete_connector(connector_id)
    api.delete_connector(connector_id, hard="true")
    assert not es.exists(index=CONNECTORS_INDEX, id=connector_id)


@pytest.mark.parametrize("hard", ["true", "false"])
def test_unknown_connector_is_404(api, hard):
    body = api.delete_connector("test-nonexistent-connector", expect=404, hard=hard)
    assert error_type(body) == "resource_not_found_exception"
    assert body["error"]["reason"] == "connector [test-nonexistent-connector] not found"


@pytest.mark.parametrize("hard", ["true", "false"])
def test_delete_sync_jobs_deletes_every_job_of_the_connector_only(api, connector_id, hard):
    for _ in range(3):
        api.new_job(connector_id)
    other = api.create_connector("other-connector", index_name="search-other")
    api.new_job(other)
    assert jobs_of(api, connector_id) == 3
    assert api.delete_connector(connector_id, delete_sync_jobs="true", hard=hard) == {
        "acknowledged": True}
    assert jobs_of(api, connector_id) == 0
    assert jobs_of(api, other) == 1


def test_sync_jobs_are_kept_by_default(api, connector_id):
    api.new_job(connector_id)
    api.delete_connector(connector_id, delete_sync_jobs="false")
    assert jobs_of(api, connector_id) == 1
    api.delete_connector(connector_id, expect=404)
    assert jobs_of(api, connector_id) == 1


def test_many_sync_jobs_are_deleted_batch_after_batch(api, connector_id, monkeypatch):
    monkeypatch.setattr(connectors, "SYNC_JOB_DELETE_BATCH", 2)
    for _ in range(5):
        api.new_job(connector_id)
    api.delete_connector(connector_id, delete_sync_jobs="true")
    assert jobs_of(api, connector_id) == 0


def test_no_job_is_deleted_when_the_connector_is_unknown(api, connector_id):
    api.new_job(connector_id)
    api.delete_connector("test-nonexistent-connector", expect=404, delete_sync_jobs="true")
    assert jobs_of(api, connector_id) == 1


@pytest.mark.parametrize(("query", "reason"), [
    ({"hard": "yes"}, "Failed to parse value [yes] as only [true] or [false] are allowed."),
    ({"delete_sync_jobs": "1"}, "Failed to parse value [1] as only [true] or [false] are allowed."),
    ({"force": "true"}, "request [/_connector/test-connector-to-delete] contains unrecognized "
                        "parameter: [force]"),
])
def test_bad_parameters_are_400_and_delete_nothing(api, es, connector_id, query, reason):
    before = stored_connector(es, connector_id)
    body = api.delete_connector(connector_id, expect=400, **query)
    assert error_type(body) == "illegal_argument_exception"
    assert body["error"]["reason"] == reason
    assert stored_connector(es, connector_id) == before


def test_delete_with_a_body_is_400_and_deletes_nothing(api, es, connector_id):
    before = stored_connector(es, connector_id)
    api.call("DELETE", f"/_connector/{connector_id}", {"hard": True}, expect=400)
    assert stored_connector(es, connector_id) == before
