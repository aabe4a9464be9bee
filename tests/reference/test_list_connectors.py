"""GET _connector — List connectors."""

import pytest

from tests.support.api_client import error_type
from tests.support.many_jobs import many_connectors
from tests.support.stored import stored_connector


@pytest.fixture
def three_connectors(api):
    """The reference's setup, in its order. By index_name the list order is b, a, c."""
    api.create_connector("connector-a", index_name="search-1-test", name="my-connector-1",
                         language="pl")
    api.create_connector("connector-c", index_name="search-3-test", name="my-connector-3",
                         language="nl")
    api.create_connector("connector-b", index_name="content-search-2-test", name="my-connector-2",
                         language="en", is_native=True, service_type="extra-connector")
    return ["connector-b", "connector-a", "connector-c"]


def ids(body: dict) -> list[str]:
    return [connector["id"] for connector in body["results"]]


def test_list_returns_count_and_every_connector_by_index_name(api, es, three_connectors):
    body = api.list_connectors()
    assert body["count"] == 3
    assert ids(body) == three_connectors
    assert [(c["index_name"], c["language"]) for c in body["results"]] == [
        ("content-search-2-test", "en"), ("search-1-test", "pl"), ("search-3-test", "nl")]
    # Each result is the stored document with its id first.
    first = body["results"][0]
    assert list(first)[0] == "id"
    assert first == {"id": "connector-b", **stored_connector(es, "connector-b")}


@pytest.mark.parametrize(("query", "count", "expected"), [
    ({"from": "1"}, 3, ["connector-a", "connector-c"]),
    ({"size": "2"}, 3, ["connector-b", "connector-a"]),
    ({"from": "1", "size": "1"}, 3, ["connector-a"]),
    ({"from": "3"}, 3, []),
    ({"size": "0"}, 3, []),
    ({"index_name": "search-1-test"}, 1, ["connector-a"]),
    ({"index_name": "search-1-test,content-search-2-test"}, 2, ["connector-b", "connector-a"]),
    ({"index_name": "search-unknown"}, 0, []),
    ({"connector_name": "my-connector-1"}, 1, ["connector-a"]),
    ({"connector_name": "my-connector-1,my-connector-2"}, 2, ["connector-b", "connector-a"]),
    ({"connector_name": "my-connector-1,my-connector-2", "index_name": "content-search-2-test"},
     1, ["connector-b"]),
    ({"service_type": "super-connector"}, 2, ["connector-a", "connector-c"]),
    ({"service_type": "extra-connector"}, 1, ["connector-b"]),
    ({"service_type": "super-connector,extra-connector"}, 3, ["connector-b", "connector-a",
                                                               "connector-c"]),
    ({"query": "my-connector-1"}, 1, ["connector-a"]),
    ({"query": "my-connector"}, 3, ["connector-b", "connector-a", "connector-c"]),
    ({"query": "search-3-test"}, 1, ["connector-c"]),
    ({"query": "search-"}, 3, ["connector-b", "connector-a", "connector-c"]),
    ({"query": ""}, 3, ["connector-b", "connector-a", "connector-c"]),
    ({"query": "search-", "service_type": "super-connector", "size": "1"}, 2, ["connector-a"]),
])
def test_filters_and_pages(api, three_connectors, query, count, expected):
    body = api.list_connectors(**query)
    assert body["count"] == count
    assert ids(body) == expected


def test_query_matches_words_of_the_description(api, three_connectors):
    api.update_connector("connector-c", "_name", {"description": "Syncs the Wiki pages"})
    assert ids(api.list_connectors(query="wiki")) == ["connector-c"]


def test_connectors_without_an_index_come_last(api, three_connectors):
    api.put_connector("no-index", expect=201, name="zzz")
    assert ids(api.list_connectors()) == [*three_connectors, "no-index"]


def test_soft_deleted_connectors_are_hidden_unless_included(api, three_connectors):
    api.delete_connector("connector-a")
    body = api.list_connectors()
    assert body["count"] == 2
    assert ids(body) == ["connector-b", "connector-c"]
    included = api.list_connectors(include_deleted="true")
    assert included["count"] == 3
    assert [c.get("deleted") for c in included["results"]] == [False, True, False]


def test_when_all_are_soft_deleted_the_list_is_empty_but_include_deleted_shows_them(
        api, three_connectors):
    for connector_id in three_connectors:
        api.delete_connector(connector_id)
    assert api.list_connectors() == {"count": 0, "results": []}
    body = api.list_connectors(include_deleted="true")
    assert body["count"] == 3
    assert ids(body) == three_connectors
    assert all(c["deleted"] is True for c in body["results"])
    assert ids(api.list_connectors(include_deleted="true", **{"from": "1"})) == [
        "connector-a", "connector-c"]
    assert ids(api.list_connectors(include_deleted="true", size="2")) == [
        "connector-b", "connector-a"]


def test_include_deleted_without_a_value_means_true(api, three_connectors):
    api.delete_connector("connector-a")
    assert api.list_connectors(include_deleted="")["count"] == 3


def test_an_empty_index_answers_an_empty_list(api):
    assert api.list_connectors() == {"count": 0, "results": []}


@pytest.mark.parametrize(("query", "kind", "reason"), [
    ({"index_name": "~.!$$#index-name$$$"}, "action_request_validation_exception",
     "Validation Failed: 1: [~.!$$#index-name$$$] InvalidIndexNameException[Invalid index name "
     "[~.!$$#index-name$$$], must not contain '#'];"),
    ({"index_name": "_a,b?"}, "action_request_validation_exception",
     "Validation Failed: 1: [_a] InvalidIndexNameException[Invalid index name [_a], must not start "
     "with '_', '-', or '+'];2: [b?] InvalidIndexNameException[Invalid index name [b?], must not "
     "contain the following characters [ , \\\", *, \\\\, <, |, ,, >, /, ?]];"),
    ({"from": "-1"}, "illegal_argument_exception", "Parameter [from] cannot be < 0"),
    ({"size": "-1"}, "illegal_argument_exception", "Parameter [size] cannot be < 0"),
    ({"from": "abc"}, "illegal_argument_exception",
     "Failed to parse int parameter [from] with value [abc]"),
    ({"from": "9000", "size": "1001"}, "illegal_argument_exception",
     "The sum of parameters [from] and [size] cannot be higher than 10000."),
    ({"include_deleted": "yes"}, "illegal_argument_exception",
     "Failed to parse value [yes] as only [true] or [false] are allowed."),
    ({"status": "created"}, "illegal_argument_exception",
     "request [/_connector] contains unrecognized parameter: [status]"),
])
def test_bad_parameters_are_400(api, query, kind, reason):
    body = api.list_connectors(expect=400, **query)
    assert error_type(body) == kind
    assert body["error"]["reason"] == reason


def test_list_with_a_body_is_400(api):
    body = api.call("GET", "/_connector", {"query": {"match_all": {}}}, expect=400)
    assert error_type(body) == "illegal_argument_exception"


def test_count_stops_at_the_result_window_as_in_the_reference(api, es):
    # The reference searches with Elasticsearch's default counting: exact up to 10,000, then
    # 10,000, the furthest a page can reach.
    with many_connectors(es, 10_001) as ids_in_order:
        body = api.list_connectors(size=1)
        assert (body["count"], ids(body)) == (10_000, ids_in_order[:1])
        last_page = api.list_connectors(**{"from": 9_990, "size": 10})
        assert (last_page["count"], ids(last_page)) == (10_000, ids_in_order[9_990:10_000])
        filtered = api.list_connectors(service_type="many", size=0)
        assert filtered["count"] == 10_000
    assert api.list_connectors()["count"] == 0
