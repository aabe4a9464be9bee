"""PUT _connector/<connector_id>/_last_sync — Update connector last sync stats."""

import pytest

from tests.support.api_client import error_type
from tests.support.stored import stored_connector

PAGE_EXAMPLE = {
    "last_access_control_sync_error": "Houston, we have a problem!",
    "last_access_control_sync_scheduled_at": "2023-11-09T15:13:08.231Z",
    "last_access_control_sync_status": "pending",
    "last_deleted_document_count": 42,
    "last_incremental_sync_scheduled_at": "2023-11-09T15:13:08.231Z",
    "last_indexed_document_count": 42,
    "last_sync_error": "Houston, we have a problem!",
    "last_sync_scheduled_at": "2024-11-09T15:13:08.231Z",
    "last_sync_status": "completed",
    "last_synced": "2024-11-09T15:13:08.231Z",
}


@pytest.fixture
def connector_id(api):
    # The page's own setup: PUT _connector/my-connector.
    api.put_connector("my-connector", expect=201, index_name="search-google-drive",
                      name="My Connector", service_type="google_drive")
    return "my-connector"


def test_the_page_example_returns_updated_and_stores_every_field(api, es, connector_id):
    before = stored_connector(es, connector_id)
    assert api.last_sync(connector_id, PAGE_EXAMPLE) == {"result": "updated"}
    stored = stored_connector(es, connector_id)
    assert stored == {**before, **PAGE_EXAMPLE}


def test_get_connector_shows_the_stored_fields(api, connector_id):
    api.last_sync(connector_id, PAGE_EXAMPLE)
    connector = api.get_connector(connector_id)
    assert {key: connector[key] for key in PAGE_EXAMPLE} == PAGE_EXAMPLE


def test_datetimes_keep_their_milliseconds_as_given(api, es, connector_id):
    api.last_sync(connector_id, {"last_sync_error": "oh no error",
                                 "last_access_control_sync_scheduled_at": "2023-05-25T12:30:00.000Z"})
    stored = stored_connector(es, connector_id)
    assert stored["last_sync_error"] == "oh no error"
    assert stored["last_access_control_sync_scheduled_at"] == "2023-05-25T12:30:00.000Z"


@pytest.mark.parametrize(("given", "stored_as"), [
    ("2023-05-25T12:30:00Z", "2023-05-25T12:30:00.000Z"),
    ("2023-05-25T14:30:00.5+02:00", "2023-05-25T12:30:00.500Z"),
    ("2023-05-25", "2023-05-25T00:00:00.000Z"),
    ("1700000000000", "2023-11-14T22:13:20.000Z"),
])
def test_datetimes_in_other_accepted_formats_are_stored_in_utc(api, es, connector_id, given, stored_as):
    api.last_sync(connector_id, {"last_synced": given})
    assert stored_connector(es, connector_id)["last_synced"] == stored_as


def test_a_second_call_merges_instead_of_replacing(api, es, connector_id):
    assert api.last_sync(connector_id, {"last_deleted_document_count": 43}) == {"result": "updated"}
    assert api.last_sync(connector_id, {"last_indexed_document_count": 42}) == {"result": "updated"}
    stored = stored_connector(es, connector_id)
    assert stored["last_deleted_document_count"] == 43
    assert stored["last_indexed_document_count"] == 42


def test_sync_cursor_is_stored_next_to_the_counts(api, es, connector_id):
    api.last_sync(connector_id, {"last_deleted_document_count": 123})
    api.last_sync(connector_id, {"sync_cursor": {"pointer": 42}})
    stored = stored_connector(es, connector_id)
    assert stored["sync_cursor"] == {"pointer": 42}
    assert stored["last_deleted_document_count"] == 123


def test_a_new_sync_cursor_merges_into_the_stored_one(api, es, connector_id):
    api.last_sync(connector_id, {"sync_cursor": {"pointer": 42, "page": {"token": "a"}}})
    api.last_sync(connector_id, {"sync_cursor": {"page": {"size": 10}}})
    assert stored_connector(es, connector_id)["sync_cursor"] == {
        "pointer": 42, "page": {"token": "a", "size": 10}}


def test_sync_statuses_are_read_in_any_case_and_stored_lower_case(api, es, connector_id):
    api.last_sync(connector_id, {"last_sync_status": "IN_PROGRESS",
                                 "last_access_control_sync_status": "Canceled"})
    stored = stored_connector(es, connector_id)
    assert stored["last_sync_status"] == "in_progress"
    assert stored["last_access_control_sync_status"] == "canceled"


def test_counts_given_as_numeric_strings_are_stored_as_numbers(api, es, connector_id):
    api.last_sync(connector_id, {"last_indexed_document_count": "7"})
    assert stored_connector(es, connector_id)["last_indexed_document_count"] == 7


def test_explicit_nulls_change_nothing_and_answer_noop(api, es, connector_id):
    api.last_sync(connector_id, {"last_sync_error": "kept", "last_synced": "2024-01-01T00:00:00.000Z"})
    before = stored_connector(es, connector_id)
    body = api.last_sync(connector_id, {"last_sync_error": None, "last_synced": None,
                                        "sync_cursor": None, "last_sync_status": None})
    assert body == {"result": "noop"}
    assert stored_connector(es, connector_id) == before


def test_an_empty_body_object_answers_noop(api, es, connector_id):
    before = stored_connector(es, connector_id)
    assert api.last_sync(connector_id, {}) == {"result": "noop"}
    assert stored_connector(es, connector_id) == before


def test_the_same_values_again_answer_noop(api, connector_id):
    api.last_sync(connector_id, {"last_sync_error": "same"})
    assert api.last_sync(connector_id, {"last_sync_error": "same"}) == {"result": "noop"}


def test_unknown_connector_is_404_and_creates_nothing(api, es):
    body = api.last_sync("test-non-existent-connector", PAGE_EXAMPLE, expect=404)
    assert error_type(body) == "document_missing_exception"
    assert body["error"]["reason"] == "[test-non-existent-connector]: document missing"
    assert not es.exists(index=".elastic-connectors", id="test-non-existent-connector")


def test_soft_deleted_connector_is_404_and_stays_unchanged(api, es, connector_id):
    # Deliberate difference: the reference would update a soft-deleted connector.
    api.delete_connector(connector_id)
    before = stored_connector(es, connector_id)
    body = api.last_sync(connector_id, PAGE_EXAMPLE, expect=404)
    assert error_type(body) == "document_missing_exception"
    assert stored_connector(es, connector_id) == before


@pytest.mark.parametrize(("body", "kind", "reason"), [
    ({"last_access_control_sync_scheduled_at": "this is not a timestamp"}, "x_content_parse_exception",
     "[connector_update_last_sync_stats_request] failed to parse field "
     "[last_access_control_sync_scheduled_at]"),
    ({"last_sync_status": "this is not a valid status"}, "x_content_parse_exception",
     "[connector_update_last_sync_stats_request] failed to parse field [last_sync_status]"),
    ({"last_seen": "2024-01-01T00:00:00Z"}, "x_content_parse_exception",
     "[connector_update_last_sync_stats_request] unknown field [last_seen]"),
    ({"last_sync_error": {"field_1": "x"}}, "x_content_parse_exception",
     "[connector_update_last_sync_stats_request] last_sync_error doesn't support values of type: "
     "START_OBJECT"),
    ({"last_synced": 1700000000000}, "x_content_parse_exception",
     "[connector_update_last_sync_stats_request] last_synced doesn't support values of type: "
     "VALUE_NUMBER"),
    ({"last_deleted_document_count": None}, "x_content_parse_exception",
     "[connector_update_last_sync_stats_request] last_deleted_document_count doesn't support values "
     "of type: VALUE_NULL"),
    ({"last_indexed_document_count": "many"}, "x_content_parse_exception",
     "[connector_update_last_sync_stats_request] last_indexed_document_count doesn't support values "
     "of type: VALUE_STRING"),
    ({"sync_cursor": "page-2"}, "x_content_parse_exception",
     "[connector_update_last_sync_stats_request] sync_cursor doesn't support values of type: "
     "VALUE_STRING"),
])
def test_malformed_fields_are_400_and_change_nothing(api, es, connector_id, body, kind, reason):
    before = stored_connector(es, connector_id)
    answer = api.last_sync(connector_id, {"last_sync_error": "would be stored", **body}, expect=400)
    assert error_type(answer) == kind
    assert answer["error"]["reason"] == reason
    assert stored_connector(es, connector_id) == before


def test_bad_datetime_names_the_reference_format_in_its_cause(api, connector_id):
    body = api.last_sync(connector_id, {"last_synced": "yesterday"}, expect=400)
    assert body["error"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": "failed to parse date field [yesterday] with format "
                  "[strict_date_optional_time||epoch_millis]"}


def test_bad_status_names_the_unknown_value_in_its_cause(api, connector_id):
    body = api.last_sync(connector_id, {"last_sync_status": "done"}, expect=400)
    assert body["error"]["caused_by"]["reason"] == "Unknown ConnectorSyncStatus [done]."


@pytest.mark.parametrize("raw", [b"", b"[]", b'"text"', b"{not json"])
def test_missing_or_non_object_bodies_are_400_and_change_nothing(api, es, connector_id, raw):
    before = stored_connector(es, connector_id)
    api.call("PUT", f"/_connector/{connector_id}/_last_sync", raw=raw,
             headers={"Content-Type": "application/json"}, expect=400)
    assert stored_connector(es, connector_id) == before


def test_a_body_is_validated_before_the_connector_is_looked_up(api):
    body = api.last_sync("test-non-existent-connector", {"last_sync_status": "nope"}, expect=400)
    assert error_type(body) == "x_content_parse_exception"
