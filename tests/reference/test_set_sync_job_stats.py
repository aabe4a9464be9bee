"""PUT _connector/_sync_job/<id>/_stats — Set the connector sync job stats."""

import pytest

from app.storage import SYNC_JOBS_INDEX
from tests.support.api_client import error_type
from tests.support.stored import instant, stored_job

REQUIRED = {"deleted_document_count": 10, "indexed_document_count": 20,
            "indexed_document_volume": 1000}


@pytest.fixture
def job_id(api):
    return api.new_job(api.create_connector("test-connector"))


def put_stats(api, job_id, body, expect=200):
    return api.call("PUT", f"/_connector/_sync_job/{job_id}/_stats", body, expect=expect)


def test_mandatory_counts_are_stored(api, es, job_id):
    assert put_stats(api, job_id, REQUIRED) == {"result": "updated"}
    job = stored_job(es, job_id)
    assert {key: job[key] for key in REQUIRED} == REQUIRED
    assert job["total_document_count"] == 0


def test_without_last_seen_it_becomes_now(api, es, job_id):
    created = stored_job(es, job_id)["last_seen"]
    put_stats(api, job_id, REQUIRED)
    assert instant(stored_job(es, job_id)["last_seen"]) > instant(created)


def test_total_document_count_is_stored_when_given(api, es, job_id):
    put_stats(api, job_id, {**REQUIRED, "total_document_count": 20})
    assert stored_job(es, job_id)["total_document_count"] == 20


def test_explicit_last_seen_is_stored_verbatim_with_microseconds(api, es, job_id):
    put_stats(api, job_id, {**REQUIRED, "last_seen": "2023-12-04T08:45:50.567149Z"})
    assert stored_job(es, job_id)["last_seen"] == "2023-12-04T08:45:50.567149Z"


@pytest.mark.parametrize(("given", "stored"), [
    ("2023-12-04T08:45:50Z", "2023-12-04T08:45:50.000Z"),
    ("2023-12-04T10:45:50.5+02:00", "2023-12-04T08:45:50.500Z"),
    ("2023-12-04", "2023-12-04T00:00:00.000Z"),
])
def test_last_seen_is_stored_in_elasticsearch_printed_form(api, es, job_id, given, stored):
    put_stats(api, job_id, {**REQUIRED, "last_seen": given})
    assert stored_job(es, job_id)["last_seen"] == stored


def test_stats_that_change_nothing_answer_noop_and_write_nothing(api, es, job_id):
    # Elasticsearch's own verdict on the merge, passed through as the reference does.
    body = {**REQUIRED, "last_seen": "2023-12-04T08:45:50.567149Z", "metadata": {"page": 3}}
    assert put_stats(api, job_id, body) == {"result": "updated"}
    written = es.get(index=SYNC_JOBS_INDEX, id=job_id)["_seq_no"]
    assert put_stats(api, job_id, body) == {"result": "noop"}
    assert es.get(index=SYNC_JOBS_INDEX, id=job_id)["_seq_no"] == written
    assert put_stats(api, job_id, {**body, "indexed_document_count": 21}) == {"result": "updated"}


def test_metadata_object_is_stored_whole(api, es, job_id):
    metadata = {"someKey1": "test", "someKey2": "test2"}
    put_stats(api, job_id, {**REQUIRED, "metadata": metadata})
    assert stored_job(es, job_id)["metadata"] == metadata


def test_empty_metadata_as_the_connectors_framework_sends_it(api, es, job_id):
    put_stats(api, job_id, {**REQUIRED, "metadata": {}})
    assert stored_job(es, job_id)["indexed_document_count"] == 20


def test_stats_leave_status_and_snapshot_alone(api, es, job_id):
    api.claim(job_id)
    before = stored_job(es, job_id)
    put_stats(api, job_id, REQUIRED)
    after = stored_job(es, job_id)
    for field in ("status", "worker_hostname", "started_at", "connector", "created_at"):
        assert after[field] == before[field]


@pytest.mark.parametrize("status", ["completed", "canceled", "error"])
def test_stats_for_a_finished_job_are_400(api, es, job_id, set_status, status):
    # Stricter than the reference: a late report must not overwrite the final counts.
    set_status(job_id, status)
    before = stored_job(es, job_id)
    body = put_stats(api, job_id, REQUIRED, expect=400)
    assert error_type(body) == "status_exception"
    assert stored_job(es, job_id) == before


@pytest.mark.parametrize(("change", "expected_type", "reason"), [
    ({"deleted_document_count": -10}, "action_request_validation_exception",
     "Validation Failed: 1: [deleted_document_count] cannot be negative.;"),
    ({"indexed_document_count": -20}, "action_request_validation_exception",
     "Validation Failed: 1: [indexed_document_count] cannot be negative.;"),
    ({"indexed_document_volume": -1000}, "action_request_validation_exception",
     "Validation Failed: 1: [indexed_document_volume] cannot be negative.;"),
    ({"total_document_count": -10}, "action_request_validation_exception",
     "Validation Failed: 1: [total_document_count] cannot be negative.;"),
    ({"indexed_document_count": 2**31}, "action_request_validation_exception", None),
    ({"indexed_document_count": "20"}, "x_content_parse_exception", None),
    ({"indexed_document_count": 1.5}, "x_content_parse_exception", None),
    ({"indexed_document_count": None}, "x_content_parse_exception", None),
    ({"metadata": "abc"}, "x_content_parse_exception",
     "[connector_sync_job_update_ingestion_stats] metadata doesn't support values of type: "
     "VALUE_STRING"),
    ({"metadata": 123}, "x_content_parse_exception",
     "[connector_sync_job_update_ingestion_stats] metadata doesn't support values of type: "
     "VALUE_NUMBER"),
    ({"last_seen": "not a date"}, "x_content_parse_exception",
     "[connector_sync_job_update_ingestion_stats] failed to parse field [last_seen]"),
    ({"last_seen": 1700000000000}, "x_content_parse_exception", None),
    ({"unknown_field": 1}, "x_content_parse_exception",
     "[connector_sync_job_update_ingestion_stats] unknown field [unknown_field]"),
])
def test_invalid_stats_are_400_and_change_nothing(api, es, job_id, change, expected_type, reason):
    before = stored_job(es, job_id)
    body = put_stats(api, job_id, {**REQUIRED, **change}, expect=400)
    if expected_type:
        assert error_type(body) == expected_type
    if reason:
        assert body["error"]["reason"] == reason
    assert stored_job(es, job_id) == before


def test_all_negative_counts_are_reported_together(api, job_id):
    body = put_stats(api, job_id, {"deleted_document_count": -1, "indexed_document_count": -1,
                                   "indexed_document_volume": -1}, expect=400)
    assert body["error"]["reason"] == (
        "Validation Failed: 1: [deleted_document_count] cannot be negative.;"
        "2: [indexed_document_count] cannot be negative.;"
        "3: [indexed_document_volume] cannot be negative.;")


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_each_mandatory_count_is_required(api, job_id, missing):
    body = {key: value for key, value in REQUIRED.items() if key != missing}
    response = put_stats(api, job_id, body, expect=400)
    assert response["error"]["reason"] == f"Required [{missing}]"


def test_stats_for_unknown_job_is_404(api):
    body = put_stats(api, "non-existing-sync-job-id", REQUIRED, expect=404)
    assert body["error"]["reason"] == "connector sync job [non-existing-sync-job-id] not found"


def test_epoch_millis_too_large_for_a_date_is_400(api, es, job_id):
    before = stored_job(es, job_id)
    put_stats(api, job_id, {**REQUIRED, "last_seen": "99999999999999999999"}, expect=400)
    assert stored_job(es, job_id) == before
