"""Bad input is a 4xx in Elasticsearch's envelope and touches nothing: bodies over
MAX_BODY_BYTES (declared or chunked), ids Elasticsearch would refuse, and ids that look like
index names or API paths."""

import http.client
import json
from urllib.parse import urlsplit

import pytest
import urllib3

from app import create_app
from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX
from tests.support.api_client import error_type
from tests.support.live_server import serving

SMALL_LIMIT = 1000

# Every route that takes an id in its path: (method, path template, body).
ID_ROUTES = [
    ("GET", "/_connector/_sync_job/{}", None),
    ("DELETE", "/_connector/_sync_job/{}", None),
    ("PUT", "/_connector/_sync_job/{}/_check_in", None),
    ("PUT", "/_connector/_sync_job/{}/_claim", {"worker_hostname": "host"}),
    ("PUT", "/_connector/_sync_job/{}/_cancel", None),
    ("PUT", "/_connector/_sync_job/{}/_error", {"error": "broken"}),
    ("PUT", "/_connector/_sync_job/{}/_stats", {"deleted_document_count": 0,
                                                "indexed_document_count": 0,
                                                "indexed_document_volume": 0}),
    ("GET", "/_connector/{}", None),
    ("PUT", "/_connector/{}", {"index_name": "search-x", "service_type": "x"}),
    ("PUT", "/_connector/{}/_last_sync", {"last_sync_error": "x"}),
    ("PUT", "/_connector/{}/_check_in", None),
]


def route_id(route) -> str:
    method, path, _ = route
    return f"{method} {path}"


def index_state(es) -> dict:
    """Every index of the node with its document count: what bad input must leave alone."""
    es.indices.refresh(index="_all", expand_wildcards="all")
    return {row["index"]: row["docs.count"]
            for row in es.cat.indices(format="json", expand_wildcards="all", h="index,docs.count")}


@pytest.fixture
def small_limit_app(elasticsearch_url, es):
    app = create_app({"TESTING": True, "ELASTICSEARCH_URL": elasticsearch_url,
                      "INSTALL_TEMPLATES_ON_START": False, "MAX_BODY_BYTES": SMALL_LIMIT})
    app.extensions["connector_storage"].ensure_ready()
    return app


@pytest.fixture
def running_job(api) -> str:
    api.create_connector("connector-1")
    job_id = api.new_job("connector-1")
    api.claim(job_id, worker_hostname="worker-1")
    return job_id


def error_body(size: int) -> bytes:
    """A valid `_error` body of exactly `size` bytes."""
    frame = json.dumps({"error": ""}).encode()
    return json.dumps({"error": "x" * (size - len(frame))}).encode()


def chunked_put(base_url: str, path: str, body: bytes, chunk: int = 256) -> tuple[int, dict]:
    """PUT with `Transfer-Encoding: chunked` and no Content-Length, over a real socket."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("PUT", path, body=(body[i:i + chunk] for i in range(0, len(body), chunk)),
                           headers={"Content-Type": "application/json"}, encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


# Oversized bodies


def test_body_over_max_body_bytes_is_413_in_envelope_and_job_is_unchanged(
        small_limit_app, es, running_job):
    client = small_limit_app.test_client()

    response = client.put(f"/_connector/_sync_job/{running_job}/_error",
                          data=error_body(SMALL_LIMIT + 1), content_type="application/json")

    assert response.status_code == 413
    assert error_type(response.get_json()) == "request_entity_too_large_exception"
    assert str(SMALL_LIMIT) in response.get_json()["error"]["reason"]
    stored = es.get(index=SYNC_JOBS_INDEX, id=running_job)["_source"]
    assert stored["status"] == "in_progress" and "error" not in stored


def test_body_of_exactly_max_body_bytes_is_accepted(small_limit_app, es, running_job):
    client = small_limit_app.test_client()
    body = error_body(SMALL_LIMIT)

    response = client.put(f"/_connector/_sync_job/{running_job}/_error", data=body,
                          content_type="application/json")

    assert response.status_code == 200, response.get_json()
    stored = es.get(index=SYNC_JOBS_INDEX, id=running_job)["_source"]
    assert stored["status"] == "error" and stored["error"] == json.loads(body)["error"]


def test_chunked_body_over_the_limit_is_413_not_a_truncated_parse(small_limit_app, es, running_job):
    with serving(small_limit_app) as base_url:
        status, body = chunked_put(base_url, f"/_connector/_sync_job/{running_job}/_error",
                                   error_body(SMALL_LIMIT * 3))

    assert status == 413
    assert error_type(body) == "request_entity_too_large_exception"
    stored = es.get(index=SYNC_JOBS_INDEX, id=running_job)["_source"]
    assert stored["status"] == "in_progress" and "error" not in stored


def test_chunked_body_within_the_limit_is_read_whole(small_limit_app, es, running_job):
    body = error_body(SMALL_LIMIT)

    with serving(small_limit_app) as base_url:
        status, answer = chunked_put(base_url, f"/_connector/_sync_job/{running_job}/_error", body)

    assert status == 200, answer
    stored = es.get(index=SYNC_JOBS_INDEX, id=running_job)["_source"]
    assert stored["error"] == json.loads(body)["error"]


def test_large_body_on_a_forwarded_route_is_not_the_services_to_limit(small_limit_app):
    client = small_limit_app.test_client()

    response = client.post("/_no_such_api", data=b"{}" + b" " * (SMALL_LIMIT * 2),
                           content_type="application/json")

    assert response.status_code != 413


# Ids Elasticsearch refuses


@pytest.mark.parametrize("route", ID_ROUTES, ids=route_id)
def test_id_longer_than_512_bytes_is_400_as_elasticsearch_validates_it(api, es, route):
    method, path, body = route
    long_id = "€" * 200  # 600 bytes in UTF-8
    before = index_state(es)

    answer = api.call(method, path.format(long_id), body, expect=400)

    assert error_type(answer) == "action_request_validation_exception"
    assert answer["error"]["reason"] == (
        f"Validation Failed: 1: id [{long_id}] is too long, must be no longer than 512 bytes "
        "but was: 600;")
    assert index_state(es) == before


@pytest.mark.parametrize("route", ID_ROUTES, ids=route_id)
def test_id_of_512_bytes_is_a_valid_id(api, route):
    method, path, body = route
    answer = api.call(method, path.format("a" * 512), body, expect=None)

    assert answer.get("status") != 400 or "too long" not in answer["error"]["reason"]


@pytest.mark.parametrize("path", [
    "/_connector/_sync_job//_check_in",
    "/_connector//_check_in",
    "/_connector//_last_sync",
])
def test_empty_id_is_400_id_is_missing(api, es, path):
    before = index_state(es)

    answer = api.call("PUT", path, expect=400)

    assert error_type(answer) == "action_request_validation_exception"
    assert answer["error"]["reason"] == "Validation Failed: 1: id is missing;"
    assert index_state(es) == before


# No user input reaches an index name


# Ids that would mean something else if they reached a URL or an index name unescaped.
INDEX_LIKE_IDS = ["..", ".", "_search", "_all", "*", "_doc", SYNC_JOBS_INDEX, CONNECTORS_INDEX,
                  "%2A", "_search?q=*", "a,b", "*,-x"]


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("GET", "", None), ("DELETE", "", None), ("PUT", "/_check_in", None),
    ("PUT", "/_cancel", None), ("PUT", "/_error", {"error": "x"}),
], ids=["get", "delete", "check_in", "cancel", "error"])
def test_job_id_that_looks_like_an_index_or_api_is_just_an_unknown_id(
        client, es, running_job, method, suffix, body):
    before = index_state(es)
    job_before = es.get(index=SYNC_JOBS_INDEX, id=running_job)

    answers = {job_id: client.open(f"/_connector/_sync_job/{job_id.replace('?', '%3F')}{suffix}",
                                   method=method, json=body)
               for job_id in INDEX_LIKE_IDS}

    assert {job_id: (r.status_code, error_type(r.get_json())) for job_id, r in answers.items()} == {
        job_id: (404, "resource_not_found_exception") for job_id in INDEX_LIKE_IDS}
    assert index_state(es) == before
    job_after = es.get(index=SYNC_JOBS_INDEX, id=running_job)
    assert (job_after["_seq_no"], job_after["_source"]) == (job_before["_seq_no"],
                                                            job_before["_source"])


def test_encoded_slash_in_a_job_id_is_part_of_the_id_and_touches_nothing(live_url, es, running_job):
    before = index_state(es)

    response = urllib3.request("GET", f"{live_url}/_connector/_sync_job/%2F_all", retries=False)

    # As in Elasticsearch, `%2F` stays inside its segment: the id is `/_all`, which is unknown.
    assert response.status == 404
    assert response.json()["error"]["reason"] == "/_all"
    assert index_state(es) == before


def test_connector_id_in_a_body_or_query_is_a_term_not_a_pattern(api, es, running_job):
    listed = api.list_sync_jobs(connector_id="*")
    created = api.post_sync_job("*", expect=404)

    assert listed == {"count": 0, "results": []}
    assert error_type(created) == "resource_not_found_exception"
    assert es.count(index=SYNC_JOBS_INDEX)["count"] == 1


# Malformed input is a 400, never a 500 (over real HTTP, as deployed)


def nested_stats(depth: int) -> bytes:
    """A `_stats` body nested `depth` levels deep in all (its metadata holds the arrays)."""
    arrays = "[" * (depth - 2) + "]" * (depth - 2)
    return ('{"deleted_document_count": 0, "indexed_document_count": 0, '
            '"indexed_document_volume": 0, "metadata": {"a": ' + arrays + "}}").encode()


@pytest.mark.parametrize("depth", [1001, 2500, 100_000])
@pytest.mark.parametrize("route", [r for r in ID_ROUTES if r[2] is not None], ids=route_id)
def test_json_nested_deeper_than_elasticsearch_allows_is_400(live_url, es, running_job, depth,
                                                             route):
    method, path, _ = route
    body = b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    before = index_state(es)

    response = urllib3.request(method, live_url + path.format(running_job), body=body,
                               headers={"Content-Type": "application/json"}, retries=False)

    assert response.status == 400, response.data[:300]
    assert error_type(response.json()) == "x_content_parse_exception"
    assert "nesting depth" in response.json()["error"]["reason"]
    assert index_state(es) == before


def test_a_job_nested_as_deep_as_elasticsearch_stores_is_read_and_filtered(live_url, es,
                                                                            running_job):
    url = f"{live_url}/_connector/_sync_job/{running_job}"
    stored = urllib3.request("PUT", f"{url}/_stats", body=nested_stats(999),
                             headers={"Content-Type": "application/json"}, retries=False)

    read = urllib3.request("GET", url, retries=False)
    filtered = urllib3.request("GET", f"{url}?filter_path=**.x", retries=False)
    kept = urllib3.request("GET", f"{url}?filter_path=metadata.a", retries=False)

    assert stored.status == 200, stored.data[:300]
    assert read.status == 200
    assert read.json()["metadata"] == json.loads(nested_stats(999))["metadata"]
    assert (filtered.status, filtered.json()) == (200, {})
    assert kept.status == 200 and kept.json() == {"metadata": read.json()["metadata"]}


@pytest.mark.parametrize("older_than", ["1000000d", "%C2%B2s", "99999999999999999999999h"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/_connector/_sync_job/_stale"),
                                              ("POST", "/_connector/_sync_job/_stale/_error")])
def test_an_older_than_that_is_no_time_value_or_overflows_is_400(live_url, es, running_job,
                                                                  method, path, older_than):
    before = index_state(es)

    response = urllib3.request(method, f"{live_url}{path}?older_than={older_than}", retries=False)

    assert response.status == 400, response.data
    assert "failed to parse setting [older_than]" in response.json()["error"]["reason"]
    assert index_state(es) == before
