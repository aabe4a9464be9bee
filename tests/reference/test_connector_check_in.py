"""PUT _connector/<connector_id>/_check_in — Check in connector."""

import pytest

from tests.support.api_client import error_type
from tests.support.stored import instant, stored_connector


@pytest.fixture
def connector_id(api):
    return api.create_connector("test-connector", index_name="search-1-test", language="pl")


def test_a_new_connector_has_no_last_seen(api, es, connector_id):
    assert "last_seen" not in stored_connector(es, connector_id)


def test_check_in_returns_updated_and_stores_last_seen(api, es, connector_id):
    before = stored_connector(es, connector_id)
    assert api.check_in_connector(connector_id) == {"result": "updated"}
    stored = stored_connector(es, connector_id)
    assert instant(stored["last_seen"])
    assert {key: value for key, value in stored.items() if key != "last_seen"} == before
    assert api.get_connector(connector_id)["last_seen"] == stored["last_seen"]


def test_each_check_in_is_strictly_later_than_the_last(api, es, connector_id):
    seen = []
    for _ in range(3):
        assert api.check_in_connector(connector_id) == {"result": "updated"}
        seen.append(instant(stored_connector(es, connector_id)["last_seen"]))
    assert seen == sorted(seen) and len(set(seen)) == 3


def test_check_in_of_unknown_connector_is_404_and_creates_nothing(api, es):
    body = api.check_in_connector("test-non-existent-connector", expect=404)
    assert error_type(body) == "document_missing_exception"
    assert body["error"]["reason"] == "[test-non-existent-connector]: document missing"
    assert not es.exists(index=".elastic-connectors", id="test-non-existent-connector")


def test_check_in_of_soft_deleted_connector_is_404_and_changes_nothing(api, es, connector_id):
    # Deliberate difference: the reference would check in a soft-deleted connector.
    api.delete_connector(connector_id)
    before = stored_connector(es, connector_id)
    body = api.check_in_connector(connector_id, expect=404)
    assert error_type(body) == "document_missing_exception"
    assert stored_connector(es, connector_id) == before


def test_check_in_with_an_empty_id_is_400(api):
    body = api.call("PUT", "/_connector//_check_in", expect=400)
    assert error_type(body) == "action_request_validation_exception"


def test_check_in_with_a_body_is_400_and_changes_nothing(api, es, connector_id):
    before = stored_connector(es, connector_id)
    body = api.call("PUT", f"/_connector/{connector_id}/_check_in", {"last_seen": "x"}, expect=400)
    assert error_type(body) == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        f"request [PUT /_connector/{connector_id}/_check_in] does not support having a body")
    assert stored_connector(es, connector_id) == before


def test_check_in_with_another_method_is_405(api, connector_id):
    body = api.call("POST", f"/_connector/{connector_id}/_check_in", expect=405)
    assert error_type(body) == "method_not_allowed_exception"
