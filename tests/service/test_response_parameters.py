"""`filter_path` and `pretty`, as Elasticsearch users reach for them."""

import time
from urllib.parse import quote

import pytest
import urllib3

from app.api.responses import filter_path
from app.storage import SYNC_JOBS_INDEX

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


@pytest.mark.parametrize("spec", ["id", "error.type", "-error", "**.nothing"])
def test_an_error_keeps_its_whole_envelope_whatever_the_filter_path(live_url, spec):
    # As Elasticsearch: errors are built without filtering, so clients still read the error.
    response = urllib3.request("GET", f"{live_url}/_connector/nope?filter_path={spec}",
                               retries=False)

    assert response.status == 404
    assert response.json() == {"error": {
        "root_cause": [{"type": "resource_not_found_exception", "reason": "connector [nope] not found"}],
        "type": "resource_not_found_exception", "reason": "connector [nope] not found"}, "status": 404}


def test_pretty_still_applies_to_an_error(client):
    response = client.get("/_connector/nope?pretty&filter_path=id")

    assert response.status_code == 404
    assert response.get_data(as_text=True).startswith('{\n  "error": {')


@pytest.mark.parametrize(("spec", "expected"), [
    ("results.i?", {}),  # only `*` is a wildcard, as in Elasticsearch's Glob
    ("results.*d", {"results": [{"id": "a"}, {"id": "b"}]}),
    ("**", DOC),
    ("results.**.index_name", {"results": [{"connector": {"index_name": "i"}},
                                           {"connector": {"index_name": "j"}}]}),
])
def test_filter_path_patterns_match_as_in_elasticsearch(spec, expected):
    assert filter_path(DOC, spec) == expected


# Bounds on filter_path (a request that would cost far more than its answer is a 400)


@pytest.fixture
def big_job(api, es) -> str:
    """A job with 10,000 metadata keys."""
    job_id = api.new_job(api.create_connector("filter-connector"))
    es.update(index=SYNC_JOBS_INDEX, id=job_id, refresh=True,
              doc={"metadata": {f"key_{n}": n for n in range(10_000)}})
    return job_id


def timed(http, url: str) -> tuple[urllib3.BaseHTTPResponse, float]:
    started = time.perf_counter()
    response = http.request("GET", url)
    return response, time.perf_counter() - started


@pytest.mark.parametrize("spec", [
    ",".join(f"k{n}" for n in range(6000)),                               # 6,000 patterns
    ",".join(f"metadata.*{n}*" for n in range(100)),                      # 100 wildcards
    "metadata." + "x" * 5000,                                             # over 4 KB
    ",".join(["**." * 10 + f"k*{n}" for n in range(20)]),                 # too much work
])
def test_a_filter_path_past_its_bounds_is_400_about_as_cheap_as_no_filter(live_url, big_job, spec):
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=60))
    url = f"{live_url}/_connector/_sync_job/{big_job}"
    answers = [timed(http, url) for _ in range(3)]
    plain = min(took for _, took in answers)

    refused, took = timed(http, f"{url}?filter_path={quote(spec)}")

    assert {answer.status for answer, _ in answers} == {200}
    assert refused.status == 400, refused.data[:300]
    assert "filter_path" in refused.json()["error"]["reason"]
    assert took < plain * 5 + 0.2, (took, plain)


def test_an_answer_larger_than_one_write_is_sent_whole(live_url, big_job):
    # Over 64 kB: the front hands it to the server in pieces as the app produces them.
    response = urllib3.request("GET", f"{live_url}/_connector/_sync_job/{big_job}", retries=False)

    assert response.status == 200
    assert len(response.data) > 64 * 1024
    assert response.json()["metadata"] == {f"key_{n}": n for n in range(10_000)}


def test_a_filter_path_within_its_bounds_is_applied(live_url, big_job):
    spec = ",".join(f"metadata.key_{n}" for n in range(100)) + ",id,metadata.key_9*9"

    response = urllib3.request("GET", f"{live_url}/_connector/_sync_job/{big_job}?filter_path={spec}",
                               retries=False)

    assert response.status == 200
    expected = {f"key_{n}": n for n in range(100)}
    expected.update({f"key_{n}": n for n in range(10_000) if str(n).startswith("9")
                     and str(n).endswith("9")})
    assert response.json() == {"id": big_job, "metadata": expected}


def test_pretty_indents_the_body(client):
    response = client.get("/_connector/_sync_job?pretty")
    assert response.get_data(as_text=True) == '{\n  "count": 0,\n  "results": []\n}\n'
