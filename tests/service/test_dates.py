"""Dates in request bodies are read as the date mappings read them
(`strict_date_optional_time||epoch_millis`), and the node itself is the judge: for each text,
the service accepts exactly what Elasticsearch accepts, at the same instant.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.clock import parse_instant
from app.storage import SYNC_JOBS_INDEX
from tests.support.api_client import error_type
from tests.support.stored import stored_connector, stored_job

TEXTS = [
    # accepted by the format
    "2026", "2026-11", "2026-11-27", "2026-11-27T", "2026-11-27T14", "2026-11-27T14Z",
    "2026-11-27T14:25", "2026-11-27T14:25Z", "2026-11-27T14:25:00", "2026-11-27T14:25:00.5Z",
    "2026-11-27T14:25:00,5+01", "2026-11-27T14:25:00.567149Z", "2026-11-27T14:25:00.123456789Z",
    "2026-11-27T10:00:00+0130", "2026-11-27T10:00:00-05:00", "2026-11-27T14:25:00+18:00",
    "2026-11-27T14:25:00UTC", "2026-11-27T14:25:00Europe/Paris", "2026-11-27T14:25:00GMT+01:00",
    "2024-02-29", "1700000000000", "20261127",
    # refused by the format
    "2026-11-27 14:25:00", "2026-1", "2026-13", "2023-02-29", "2026-11-27T25", "2026-11-27T24:00",
    "2026-11-27T14:60", "2026-11-27T14:25:60", "2026-11-27Z", "2026-11-27t14:25",
    "2026-11-27T14:25:00.1234567891Z", "2026-11-27T14:25:00+01:75", "2026-11-27T14:25:00+19:00",
    "2026-11-27T14:25:00Nowhere/City", "+2026-11-27", " 2026-11-27", "yesterday",
    "99999999999999999999",
]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def elasticsearch_reading(es, text: str) -> int | None:
    """The epoch milliseconds the node reads `text` as in a date field; None if it refuses it.
    A `term` query on a date is the range the text covers; its lower end is the instant."""
    answer = es.indices.validate_query(index=SYNC_JOBS_INDEX, explain=True,
                                       query={"term": {"last_seen": text}})
    if not answer["valid"]:
        return None
    return int(re.search(r"last_seen:\[(-?\d+) TO", answer["explanations"][0]["explanation"])[1])


def service_reading(text: str) -> int | None:
    try:
        moment = parse_instant(text)
    except (ValueError, OverflowError, OSError):
        return None
    return (moment - EPOCH) // timedelta(milliseconds=1)


@pytest.mark.parametrize("text", TEXTS)
def test_the_service_reads_a_date_as_the_date_mapping_does(es, app, text):
    assert service_reading(text) == elasticsearch_reading(es, text)


@pytest.fixture
def job_id(api):
    return api.new_job(api.create_connector("test-connector"))


@pytest.mark.parametrize(("given", "stored"), [
    ("2026-11", "2026-11-01T00:00:00.000Z"),
    ("2026-11-27T14:25", "2026-11-27T14:25:00.000Z"),
    ("2026-11-27T14:25:00Europe/Paris", "2026-11-27T13:25:00.000Z"),
])
def test_stats_take_every_date_the_field_takes(api, es, job_id, given, stored):
    api.set_stats(job_id, last_seen=given)
    assert stored_job(es, job_id)["last_seen"] == stored


@pytest.mark.parametrize("given", ["2026-11-27 14:25:00", "2026-1", "not a date"])
def test_stats_refuse_a_date_the_field_refuses_as_the_reference_parser_does(api, es, job_id,
                                                                            given):
    before = stored_job(es, job_id)
    body = api.set_stats(job_id, last_seen=given, expect=400)
    assert error_type(body) == "x_content_parse_exception"
    assert body["error"]["reason"] == (
        "[connector_sync_job_update_ingestion_stats] failed to parse field [last_seen]")
    assert body["error"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": f"failed to parse date field [{given}] with format "
                  "[strict_date_optional_time||epoch_millis]"}
    assert stored_job(es, job_id) == before


@pytest.mark.parametrize("field", ["last_synced", "last_sync_scheduled_at",
                                   "last_incremental_sync_scheduled_at",
                                   "last_access_control_sync_scheduled_at"])
def test_last_sync_reads_its_dates_the_same_way(api, es, field):
    connector_id = api.create_connector("test-connector")
    api.last_sync(connector_id, {field: "2026-11"})
    assert stored_connector(es, connector_id)[field] == "2026-11-01T00:00:00.000Z"
    body = api.last_sync(connector_id, {field: "2026-11-27 14:25:00"}, expect=400)
    assert error_type(body) == "x_content_parse_exception"
    assert body["error"]["reason"] == (
        f"[connector_update_last_sync_stats_request] failed to parse field [{field}]")
    assert stored_connector(es, connector_id)[field] == "2026-11-01T00:00:00.000Z"


def test_filtering_rule_dates_are_read_the_same_way(api, es):
    connector_id = api.create_connector("test-connector")
    rule = {"field": "title", "id": "r1", "order": 0, "policy": "exclude", "rule": "equals",
            "value": "x", "created_at": "2026-11", "updated_at": "2026-11-27T14"}
    api.update_connector(connector_id, "_filtering", {"rules": [rule]})
    stored = stored_connector(es, connector_id)["filtering"][0]["draft"]["rules"][0]
    assert (stored["created_at"], stored["updated_at"]) == (
        "2026-11-01T00:00:00.000Z", "2026-11-27T14:00:00.000Z")
    body = api.update_connector(connector_id, "_filtering",
                                {"rules": [{**rule, "created_at": "2026-11-27 14:25:00"}]},
                                expect=400)
    assert error_type(body) == "x_content_parse_exception"
