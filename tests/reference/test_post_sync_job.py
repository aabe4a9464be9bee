"""POST _connector/_sync_job — Create connector sync job."""

import pytest

from tests.support.api_client import error_type
from tests.support.stored import stored_job

COUNTERS = ("total_document_count", "indexed_document_count", "indexed_document_volume",
            "deleted_document_count")


@pytest.fixture
def connector(api):
    return api.create_connector("test-connector", index_name="search-test", language="de")


def test_create_returns_201_with_generated_id(api, connector):
    body = api.post_sync_job(connector, job_type="full", trigger_method="on_demand", expect=201)
    assert set(body) == {"id"}
    assert body["id"]


def test_new_job_is_pending_with_counters_at_zero_and_both_timestamps(api, es, connector):
    job_id = api.new_job(connector, job_type="full", trigger_method="on_demand")
    job = stored_job(es, job_id)
    assert job["status"] == "pending"
    assert job["job_type"] == "full"
    assert job["trigger_method"] == "on_demand"
    assert all(job[counter] == 0 for counter in COUNTERS)
    assert job["metadata"] == {}
    assert job["created_at"] == job["last_seen"]
    assert job["created_at"].endswith("Z")
    # Fields that later calls set are absent, as the reference writes them.
    for later in ("worker_hostname", "started_at", "completed_at", "canceled_at",
                  "cancelation_requested_at", "error"):
        assert later not in job
    assert "id" not in job


def test_get_returns_the_job_with_its_id_first(api, connector):
    job_id = api.new_job(connector)
    body = api.get_sync_job(job_id)
    assert next(iter(body)) == "id"
    assert body["id"] == job_id
    assert body["connector"]["id"] == connector


def test_job_type_defaults_to_full_and_trigger_method_to_on_demand(api, es, connector):
    job = stored_job(es, api.new_job(connector))
    assert (job["job_type"], job["trigger_method"]) == ("full", "on_demand")


@pytest.mark.parametrize("job_type", ["full", "incremental", "access_control"])
@pytest.mark.parametrize("trigger_method", ["on_demand", "scheduled"])
def test_every_job_type_and_trigger_method_is_stored(api, es, connector, job_type, trigger_method):
    job = stored_job(es, api.new_job(connector, job_type=job_type, trigger_method=trigger_method))
    assert (job["job_type"], job["trigger_method"]) == (job_type, trigger_method)


def test_enum_values_match_case_insensitively_and_are_stored_lowercase(api, es, connector):
    job = stored_job(es, api.new_job(connector, job_type="Incremental", trigger_method="SCHEDULED"))
    assert (job["job_type"], job["trigger_method"]) == ("incremental", "scheduled")


def test_job_snapshots_the_connector(api, es, es_connector_fields):
    api.create_connector("snap", index_name="search-snap", language="en")
    es_connector_fields("snap", configuration={"some_field": {"value": 456, "label": "L"}},
                        pipeline={"name": "test-pipeline", "extract_binary_content": True,
                                  "reduce_whitespace": True, "run_ml_inference": False})
    job = stored_job(es, api.new_job("snap"))
    snapshot = job["connector"]
    assert snapshot["id"] == "snap"
    assert snapshot["index_name"] == "search-snap"
    assert snapshot["language"] == "en"
    assert snapshot["service_type"] == "super-connector"
    assert snapshot["configuration"]["some_field"]["value"] == 456
    assert snapshot["pipeline"]["name"] == "test-pipeline"


def test_job_filtering_is_the_active_rules_of_the_first_entry(api, es, es_connector_fields):
    api.create_connector("filtered", index_name="search-filtered")
    active = {"advanced_snippet": {"created_at": "2023-05-25T12:30:00.000Z",
                                   "updated_at": "2023-05-25T12:30:00.000Z", "value": {}},
              "rules": [{"id": "RULE-ACTIVE-SYNC-JOB-TEST", "field": "_", "order": 0,
                         "policy": "include", "rule": "regex", "value": ".*",
                         "created_at": "2023-05-25T12:30:00.000Z",
                         "updated_at": "2023-05-25T12:30:00.000Z"}],
              "validation": {"errors": [], "state": "valid"}}
    other = {**active, "rules": [{**active["rules"][0], "id": "RULE-ACTIVE-1"}]}
    es_connector_fields("filtered", filtering=[
        {"domain": "DEFAULT", "active": active, "draft": active},
        {"domain": "DEFAULT", "active": other, "draft": other}])
    filtering = stored_job(es, api.new_job("filtered"))["connector"]["filtering"]
    assert isinstance(filtering, dict)
    assert filtering["rules"][0]["id"] == "RULE-ACTIVE-SYNC-JOB-TEST"
    assert filtering["rules"][0]["rule"] == "regex"
    assert filtering["validation"]["state"] == "valid"
    assert filtering["advanced_snippet"]["created_at"] == "2023-05-25T12:30:00.000Z"


def test_access_control_job_targets_the_acl_index(api, es, connector):
    job = stored_job(es, api.new_job(connector, job_type="access_control"))
    assert job["connector"]["index_name"] == ".search-acl-filter-search-test"


def test_later_connector_changes_do_not_touch_the_snapshot(api, es, connector, es_connector_fields):
    job_id = api.new_job(connector)
    es_connector_fields(connector, language="fr")
    assert stored_job(es, job_id)["connector"]["language"] == "de"


def test_new_job_is_listed_at_once(api, connector):
    job_id = api.new_job(connector)
    assert [job["id"] for job in api.list_sync_jobs(connector_id=connector)["results"]] == [job_id]


def test_unknown_connector_is_404(api):
    body = api.post_sync_job("non-existing-id", expect=404)
    assert error_type(body) == "resource_not_found_exception"
    assert body["error"]["reason"] == "Connector with id 'non-existing-id' does not exist."


def test_soft_deleted_connector_is_404(api, es, connector, es_connector_fields):
    es_connector_fields(connector, deleted=True)
    api.post_sync_job(connector, expect=404)


def test_connector_without_index_is_400_status_exception(api):
    api.create_connector("detached", index_name=None)
    body = api.post_sync_job("detached", job_type="full", trigger_method="on_demand", expect=400)
    assert error_type(body) == "status_exception"
    assert body["error"]["reason"].startswith(
        "Cannot start a sync for connector [detached] with no index attached.")


def test_access_control_job_for_connector_without_index_is_400(api):
    # The reference would target ".search-acl-filter-null"; a job must target a real index.
    api.create_connector("detached", index_name=None)
    body = api.post_sync_job("detached", job_type="access_control", expect=400)
    assert error_type(body) == "status_exception"


def test_connector_without_service_type_is_400_status_exception(api):
    api.create_connector("no-service-type", index_name="search-test-2", service_type=None)
    body = api.post_sync_job("no-service-type", trigger_method="on_demand", expect=400)
    assert error_type(body) == "status_exception"
    assert "[service_type] not defined" in body["error"]["reason"]


@pytest.mark.parametrize(("body", "expected_type", "reason"), [
    ({}, "illegal_argument_exception", "Required [id]"),
    ({"id": ""}, "action_request_validation_exception",
     "Validation Failed: 1: [id] of the connector cannot be null or empty;"),
    ({"id": None}, "x_content_parse_exception",
     "[connector_sync_job_post_request] id doesn't support values of type: VALUE_NULL"),
    ({"id": 42}, "x_content_parse_exception",
     "[connector_sync_job_post_request] id doesn't support values of type: VALUE_NUMBER"),
    ({"id": "test-connector", "job_type": "invalid_job_type"}, "x_content_parse_exception", None),
    ({"id": "test-connector", "trigger_method": "invalid_trigger_method"},
     "x_content_parse_exception", None),
    ({"id": "test-connector", "job_type": None}, "x_content_parse_exception", None),
    ({"id": "test-connector", "extra": 1}, "x_content_parse_exception",
     "[connector_sync_job_post_request] unknown field [extra]"),
])
def test_malformed_body_is_400_and_creates_nothing(api, connector, body, expected_type, reason):
    response = api.call("POST", "/_connector/_sync_job", body, expect=400)
    assert error_type(response) == expected_type
    if reason:
        assert response["error"]["reason"] == reason
    assert api.list_sync_jobs()["count"] == 0


def test_bad_enum_names_the_value_in_its_cause(api, connector):
    body = api.post_sync_job(connector, job_type="invalid_job_type", expect=400)
    assert body["error"]["caused_by"] == {"type": "illegal_argument_exception",
                                          "reason": "Unknown ConnectorSyncJobType [invalid_job_type]."}
