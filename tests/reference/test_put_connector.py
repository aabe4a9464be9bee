"""PUT _connector/<connector_id>, PUT _connector, POST _connector — Create connector
(and GET _connector/<connector_id>, which reads what they store)."""

import pytest

from tests.support.api_client import error_type
from tests.support.stored import instant, stored_connector

FULL_BODY = {"index_name": "search-test", "name": "my-connector", "language": "pl",
             "is_native": False, "service_type": "super-connector"}
MIDNIGHT = {"enabled": False, "interval": "0 0 0 * * ?"}


def default_rules(timestamp: str) -> dict:
    return {
        "advanced_snippet": {"created_at": timestamp, "updated_at": timestamp, "value": {}},
        "rules": [{"created_at": timestamp, "field": "_", "id": "DEFAULT", "order": 0,
                   "policy": "include", "rule": "regex", "updated_at": timestamp, "value": ".*"}],
        "validation": {"errors": [], "state": "valid"},
    }


def expected_document(stored: dict, **fields) -> dict:
    """The reference's new-connector document, with the timestamp it was given."""
    timestamp = stored["filtering"][0]["active"]["advanced_snippet"]["created_at"]
    return {
        "configuration": {},
        "custom_scheduling": {},
        "filtering": [{"active": default_rules(timestamp), "domain": "DEFAULT",
                       "draft": default_rules(timestamp)}],
        "is_native": False,
        "name": "",
        "scheduling": {"access_control": MIDNIGHT, "full": MIDNIGHT, "incremental": MIDNIGHT},
        "status": "created",
        "sync_now": False,
        "deleted": False,
        **fields,
    }


def test_put_creates_the_reference_document_and_returns_201(api, es):
    body = api.put_connector("test-connector", expect=201, **FULL_BODY)
    assert body == {"id": "test-connector", "result": "created"}
    stored = stored_connector(es, "test-connector")
    assert stored == expected_document(stored, **FULL_BODY)
    assert instant(stored["filtering"][0]["active"]["advanced_snippet"]["created_at"])


def test_get_returns_the_id_first_then_the_stored_fields(api, es):
    api.put_connector("test-connector", expect=201, **FULL_BODY)
    connector = api.get_connector("test-connector")
    assert list(connector)[0] == "id"
    assert connector == {"id": "test-connector", **stored_connector(es, "test-connector")}


def test_defaults_when_only_an_index_name_is_given(api, es):
    api.put_connector("test-connector-with-defaults", expect=201, index_name="search-test")
    stored = stored_connector(es, "test-connector-with-defaults")
    assert stored == expected_document(stored, index_name="search-test")


def test_fields_a_new_connector_does_not_have(api, es):
    api.put_connector("test-connector", expect=201, **FULL_BODY)
    stored = stored_connector(es, "test-connector")
    for absent in ("api_key_id", "api_key_secret_id", "description", "error", "features",
                   "last_seen", "sync_cursor", "pipeline", "last_synced", "last_sync_status"):
        assert absent not in stored


def test_a_native_connector_needs_configuration(api, es):
    api.put_connector("native", expect=201, index_name="content-search-test", is_native=True)
    stored = stored_connector(es, "native")
    assert stored == expected_document(stored, index_name="content-search-test", is_native=True,
                                       status="needs_configuration")


def test_a_native_connector_without_an_index_is_allowed(api, es):
    api.put_connector("native", expect=201, is_native=True)
    assert "index_name" not in stored_connector(es, "native")


def test_a_native_connector_needs_the_content_prefix(api, es):
    body = api.put_connector("native", expect=400, index_name="wrong-prefix-index", is_native=True)
    assert error_type(body) == "action_request_validation_exception"
    assert body["error"]["reason"] == (
        "Validation Failed: 1: Index [wrong-prefix-index] is invalid. Index attached to an "
        "Elastic-managed connector must start with the prefix: [content-];")
    assert not es.exists(index=".elastic-connectors", id="native")


def test_description_is_stored_when_given(api, es):
    api.put_connector("described", expect=201, description="about it")
    assert stored_connector(es, "described")["description"] == "about it"


def test_a_connector_without_an_index(api, es):
    api.put_connector("test-connector-1", expect=201, service_type="super-connector")
    connector = api.get_connector("test-connector-1")
    assert connector.get("index_name") is None
    assert connector["service_type"] == "super-connector"


def test_put_without_a_body_creates_a_connector_with_every_default(api, es):
    response = api.call("PUT", "/_connector/test-connector-1", expect=201)
    assert response == {"id": "test-connector-1", "result": "created"}
    stored = stored_connector(es, "test-connector-1")
    assert stored == expected_document(stored)


def test_put_without_an_id_generates_one(api, es):
    response = api.call("PUT", "/_connector", expect=201)
    assert response["result"] == "created"
    assert api.get_connector(response["id"])["id"] == response["id"]


def test_post_creates_a_connector_with_a_generated_id(api, es):
    response = api.call("POST", "/_connector", FULL_BODY, expect=201)
    assert response["result"] == "created"
    stored = stored_connector(es, response["id"])
    assert stored == expected_document(stored, **FULL_BODY)


def test_post_without_a_body_creates_a_connector(api, es):
    response = api.call("POST", "/_connector", expect=201)
    assert stored_connector(es, response["id"])["status"] == "created"


def test_put_to_an_existing_id_returns_200_updated(api):
    assert api.put_connector("recreating", expect=201, **FULL_BODY)["result"] == "created"
    assert api.put_connector("recreating", expect=200, **FULL_BODY) == {
        "id": "recreating", "result": "updated"}


def test_put_to_an_existing_id_rewrites_the_whole_document(api, es):
    api.put_connector("recreating", expect=201, **FULL_BODY)
    api.update_connector("recreating", "_error", {"error": "broken"})
    api.last_sync("recreating", {"last_sync_error": "old"})
    api.put_connector("recreating", expect=200, index_name="search-other")
    stored = stored_connector(es, "recreating")
    assert stored == expected_document(stored, index_name="search-other")


def test_put_to_a_soft_deleted_id_brings_it_back(api, es):
    api.put_connector("revived", expect=201, **FULL_BODY)
    api.delete_connector("revived")
    assert api.put_connector("revived", expect=200, **FULL_BODY)["result"] == "updated"
    assert stored_connector(es, "revived")["deleted"] is False
    api.get_connector("revived")


def test_an_index_used_by_another_connector_is_400(api, es):
    api.put_connector("test-connector-1", expect=201, index_name="search-test")
    body = api.put_connector("test-connector-2", expect=400, index_name="search-test")
    assert error_type(body) == "status_exception"
    assert body["error"]["reason"] == "Index name [search-test] is used by another connector."
    assert not es.exists(index=".elastic-connectors", id="test-connector-2")


def test_post_with_an_index_used_by_another_connector_is_400(api):
    api.call("POST", "/_connector", {"index_name": "search-test"}, expect=201)
    body = api.call("POST", "/_connector", {"index_name": "search-test"}, expect=400)
    assert error_type(body) == "status_exception"


def test_the_index_of_a_soft_deleted_connector_is_free(api):
    api.put_connector("old", expect=201, index_name="search-test")
    api.delete_connector("old")
    api.put_connector("new", expect=201, index_name="search-test")


def test_two_connectors_may_both_have_no_index(api):
    api.put_connector("one", expect=201)
    api.put_connector("two", expect=201)


@pytest.mark.parametrize(("index_name", "reason"), [
    ("_this-is-invalid-index-name", "must not start with '_', '-', or '+'"),
    ("has space", "must not contain the following characters [ , \\\", *, \\\\, <, |, ,, >, /, ?]"),
    ("hash#tag", "must not contain '#'"),
    ("co:lon", "must not contain ':'"),
    ("..", "must not be '.' or '..'"),
    ("x" * 256, "index name is too long, (256 > 255)"),
    # The reference answers 500 here (it reads the first character of an empty name).
    ("", "must not be empty"),
])
def test_an_invalid_index_name_is_400_and_creates_nothing(api, es, index_name, reason):
    body = api.put_connector("test-connector", expect=400, index_name=index_name)
    assert error_type(body) == "action_request_validation_exception"
    assert body["error"]["reason"] == (
        f"Validation Failed: 1: [{index_name}] InvalidIndexNameException[Invalid index name "
        f"[{index_name}], {reason}];")
    assert not es.exists(index=".elastic-connectors", id="test-connector")


@pytest.mark.parametrize(("body", "reason"), [
    ({"foo": "bar"}, "[connector_put_request] unknown field [foo]"),
    ({"description": None}, "[connector_put_request] description doesn't support values of type: "
                            "VALUE_NULL"),
    ({"name": 12}, "[connector_put_request] name doesn't support values of type: VALUE_NUMBER"),
    ({"index_name": ["a"]}, "[connector_put_request] index_name doesn't support values of type: "
                            "START_ARRAY"),
    ({"is_native": 1}, "[connector_put_request] is_native doesn't support values of type: "
                       "VALUE_NUMBER"),
    ({"is_native": "yes"}, "[connector_put_request] failed to parse field [is_native]"),
])
def test_a_malformed_body_is_400_and_creates_nothing(api, es, body, reason):
    answer = api.put_connector("test-connector", expect=400, **body)
    assert error_type(answer) == "x_content_parse_exception"
    assert answer["error"]["reason"] == reason
    assert not es.exists(index=".elastic-connectors", id="test-connector")


def test_is_native_may_be_the_string_true(api, es):
    api.put_connector("native", expect=201, index_name="content-x", is_native="true")
    assert stored_connector(es, "native")["is_native"] is True


def test_a_refused_put_leaves_the_existing_connector_as_it_was(api, es):
    api.put_connector("test-connector", expect=201, **FULL_BODY)
    before = stored_connector(es, "test-connector")
    api.put_connector("test-connector", expect=400, **{**FULL_BODY, "index_name": "_bad"})
    assert stored_connector(es, "test-connector") == before


def test_get_of_an_unknown_connector_is_404(api):
    body = api.get_connector("test-non-existent-connector", expect=404)
    assert error_type(body) == "resource_not_found_exception"
    assert body["error"]["reason"] == "connector [test-non-existent-connector] not found"


def test_get_include_deleted_must_be_a_boolean(api):
    api.put_connector("test-connector", expect=201)
    body = api.get_connector("test-connector", expect=400, include_deleted="maybe")
    assert body["error"]["reason"] == (
        "Failed to parse value [maybe] as only [true] or [false] are allowed.")
