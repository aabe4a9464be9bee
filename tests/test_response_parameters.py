"""`filter_path` and `pretty`, as Elasticsearch users reach for them."""

import pytest

from app.api.responses import filter_path

DOC = {"count": 2, "results": [{"id": "a", "connector": {"id": "c1", "index_name": "i"}, "status": "pending"},
                               {"id": "b", "connector": {"id": "c2", "index_name": "j"}, "status": "error"}]}


@pytest.mark.parametrize(("spec", "expected"), [
    ("count", {"count": 2}),
    ("results.id", {"results": [{"id": "a"}, {"id": "b"}]}),
    ("results.connector.id,count", {"count": 2, "results": [{"connector": {"id": "c1"}},
                                                            {"connector": {"id": "c2"}}]}),
    ("results.*.index_name", {"results": [{"connector": {"index_name": "i"}},
                                          {"connector": {"index_name": "j"}}]}),
    ("**.id", {"results": [{"id": "a", "connector": {"id": "c1"}}, {"id": "b", "connector": {"id": "c2"}}]}),
    ("-results", {"count": 2}),
    ("-results.connector,-count", {"results": [{"id": "a", "status": "pending"},
                                               {"id": "b", "status": "error"}]}),
    ("nothing.here", {}),
])
def test_filter_path(spec, expected):
    assert filter_path(DOC, spec) == expected


def test_filter_path_on_a_list_response(api):
    connector = api.create_connector("test-connector")
    job_id = api.new_job(connector)
    body = api.list_sync_jobs(filter_path="count,results.id")
    assert body == {"count": 1, "results": [{"id": job_id}]}


def test_filter_path_on_an_error(api):
    body = api.call("GET", "/_connector/_sync_job/missing", query={"filter_path": "error.type"}, expect=404)
    assert body == {"error": {"type": "resource_not_found_exception"}}


def test_pretty_indents_the_body(client):
    response = client.get("/_connector/_sync_job?pretty")
    assert response.get_data(as_text=True) == '{\n  "count": 0,\n  "results": []\n}\n'
