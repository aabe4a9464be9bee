"""GET _connector/_sync_job — List connector sync jobs: newest first, `count` = all matches."""

import pytest

from tests.support.api_client import error_type
from tests.support.many_jobs import many_pending_jobs


@pytest.fixture
def connectors(api):
    api.create_connector("connector-one", index_name="search-test")
    api.create_connector("connector-two", index_name="search-test-two")
    return "connector-one", "connector-two"


def ids(body):
    return [job["id"] for job in body["results"]]


def test_list_is_newest_first_with_total_count(api, connectors):
    one, two, three = (api.new_job("connector-one", job_type="access_control",
                                   trigger_method="scheduled") for _ in range(3))
    body = api.list_sync_jobs()
    assert body["count"] == 3
    assert ids(body) == [three, two, one]
    assert body["results"][0] == api.get_sync_job(three)


def test_from_and_size_page_over_the_order_and_keep_the_total(api, connectors):
    one, two, three = (api.new_job("connector-one") for _ in range(3))
    assert ids(api.list_sync_jobs(**{"from": 1})) == [two, one]
    body = api.list_sync_jobs(size=1)
    assert (body["count"], ids(body)) == (3, [three])
    assert api.list_sync_jobs(size=0) == {"count": 3, "results": []}


def test_status_filter(api, connectors):
    one, two = api.new_job("connector-one"), api.new_job("connector-one")
    api.cancel(two)
    body = api.list_sync_jobs(status="pending")
    assert (body["count"], ids(body)) == (1, [one])
    assert ids(api.list_sync_jobs(status="canceled")) == [two]


def test_connector_id_filter(api, connectors):
    one = api.new_job("connector-one")
    api.new_job("connector-two")
    body = api.list_sync_jobs(connector_id="connector-one")
    assert (body["count"], ids(body)) == (1, [one])
    assert api.list_sync_jobs(connector_id="nobody")["count"] == 0


def test_an_empty_connector_id_matches_no_job_as_in_the_reference(api, connectors):
    # A script that interpolates an empty id must not then act on every job.
    api.new_job("connector-one")
    assert api.list_sync_jobs(connector_id="") == {"count": 0, "results": []}


def test_an_empty_status_is_400_as_in_the_reference(api, connectors):
    api.new_job("connector-one")
    body = api.list_sync_jobs(status="", expect=400)
    assert error_type(body) == "illegal_argument_exception"
    assert body["error"]["reason"] == "Unknown ConnectorSyncStatus []."


def test_an_empty_job_type_filters_nothing_as_in_the_reference(api, connectors):
    one = api.new_job("connector-one")
    assert ids(api.list_sync_jobs(job_type="")) == [one]


def test_single_and_multiple_job_types(api, connectors):
    one = api.new_job("connector-one", job_type="full", trigger_method="scheduled")
    two = api.new_job("connector-one", job_type="incremental", trigger_method="scheduled")
    api.new_job("connector-one", job_type="access_control")
    assert ids(api.list_sync_jobs(connector_id="connector-one", job_type="full")) == [one]
    body = api.list_sync_jobs(connector_id="connector-one", job_type="full,incremental")
    assert (body["count"], ids(body)) == (2, [two, one])


def test_filters_combine(api, connectors):
    wanted = api.new_job("connector-one", job_type="incremental")
    api.new_job("connector-one", job_type="full")
    claimed = api.new_job("connector-one", job_type="incremental")
    api.claim(claimed)
    api.new_job("connector-two", job_type="incremental")
    body = api.list_sync_jobs(connector_id="connector-one", status="pending", job_type="incremental")
    assert ids(body) == [wanted]


def test_empty_list(api):
    assert api.list_sync_jobs() == {"count": 0, "results": []}


@pytest.mark.parametrize(("query", "reason"), [
    ({"status": "invalid_job_status"}, "Unknown ConnectorSyncStatus [invalid_job_status]."),
    ({"job_type": "invalid_job_type,incremental"}, "Unknown ConnectorSyncJobType [invalid_job_type]."),
    ({"from": "-1"}, "Parameter [from] cannot be < 0"),
    ({"size": "-1"}, "Parameter [size] cannot be < 0"),
    ({"size": "abc"}, "Failed to parse int parameter [size] with value [abc]"),
    ({"from": "9999", "size": "2"},
     "The sum of parameters [from] and [size] cannot be higher than 10000."),
])
def test_invalid_parameters_are_400(api, query, reason):
    body = api.list_sync_jobs(expect=400, **query)
    assert error_type(body) == "illegal_argument_exception"
    assert body["error"]["reason"] == reason


def test_count_stops_at_the_result_window_as_in_the_reference_and_every_page_it_offers_works(
        api, es, app):
    # The reference counts as Elasticsearch does by default: exactly up to 10,000, then
    # 10,000. A pager that offers pages up to `count` never offers one the list refuses.
    with many_pending_jobs(es, "crowded", 10_001) as ids_oldest_first:
        newest_first = ids_oldest_first[::-1]
        body = api.list_sync_jobs(size=1)
        assert (body["count"], ids(body)) == (10_000, newest_first[:1])
        last_page = api.list_sync_jobs(**{"from": 9_990, "size": 10})
        assert (last_page["count"], ids(last_page)) == (10_000, newest_first[9_990:10_000])
        assert api.list_sync_jobs(**{"from": 9_991, "size": 10}, expect=400)["error"]["reason"] == (
            "The sum of parameters [from] and [size] cannot be higher than 10000.")
        # Exact totals come from the summary, which counts by aggregation.
        summary = api.call("GET", "/_connector_service/sync_job_summary")
        assert (summary["count"], summary["statuses"]["pending"]) == (10_001, 10_001)
        assert api.call("GET", "/_connector/_sync_job/_stale")["count"] == 0
