"""Requests the service does not answer itself reach Elasticsearch unchanged, and its answers
come back unchanged: status, body and the headers clients read."""

import base64
import gzip
import json
import logging

import pytest
import urllib3

from app import create_app
from app.config import Config
from app.storage import CONCRETE_CONNECTORS_INDEX, CONCRETE_SYNC_JOBS_INDEX
from app.storage.forwarding import (
    forwarded_request_headers,
    forwarded_response_headers,
    service_authorization,
)
from tests.support.api_client import error_type

INDEX = "forwarding-test"
NDJSON = "application/x-ndjson"
# What the connectors worker sends by default (elastic:changeme).
WORKER_AUTHORIZATION = "Basic " + base64.b64encode(b"elastic:changeme").decode()


@pytest.fixture
def index(es):
    """A content index that keeps `_source` only (nothing analysed: bulk loads stay fast)."""
    es.indices.delete(index=INDEX, ignore_unavailable=True)
    es.indices.create(index=INDEX, mappings={"dynamic": False})
    yield INDEX
    es.indices.delete(index=INDEX, ignore_unavailable=True)


def direct(elasticsearch_url: str, method: str, path: str, **kwargs) -> urllib3.BaseHTTPResponse:
    """The same request sent straight to Elasticsearch, to compare answers byte for byte."""
    return urllib3.request(method, elasticsearch_url + path, retries=False, **kwargs)


def bulk_body(count: int, text_bytes: int) -> bytes:
    lines = []
    for n in range(count):
        lines.append(json.dumps({"index": {"_id": f"doc-{n}"}}))
        lines.append(json.dumps({"id": f"doc-{n}", "body": "x" * text_bytes}))
    return ("\n".join(lines) + "\n").encode()


# Status codes and bodies


def test_guarded_update_with_a_stale_seq_no_is_forwarded_as_409(client, es, index):
    written = es.index(index=index, id="1", document={"status": "connected"}, refresh=True)
    stale = written["_seq_no"] + 1
    response = client.post(f"/{index}/_update/1?if_seq_no={stale}"
                           f"&if_primary_term={written['_primary_term']}",
                           json={"doc": {"status": "error"}})
    assert response.status_code == 409
    assert error_type(response.get_json()) == "version_conflict_engine_exception"
    assert es.get(index=index, id="1")["_source"] == {"status": "connected"}


def test_guarded_update_with_the_current_seq_no_is_applied(client, es, index):
    written = es.index(index=index, id="1", document={"status": "connected"}, refresh=True)
    response = client.post(f"/{index}/_update/1?if_seq_no={written['_seq_no']}"
                           f"&if_primary_term={written['_primary_term']}",
                           json={"doc": {"status": "error"}})
    assert response.status_code == 200
    assert response.get_json()["result"] == "updated"
    stored = es.get(index=index, id="1")
    assert stored["_source"] == {"status": "error"}
    assert stored["_seq_no"] == written["_seq_no"] + 1


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/missing-index/_doc/1", None),
    ("POST", f"/{INDEX}/_search", b'{"query": {"no_such_query": {}}}'),
    ("POST", f"/{INDEX}/_update/missing-doc", b'{"doc": {"a": 1}}'),
])
def test_elasticsearch_error_bodies_pass_through_verbatim(client, elasticsearch_url, index,
                                                          method, path, body):
    headers = {"Content-Type": "application/json"} if body else {}
    expected = direct(elasticsearch_url, method, path, body=body, headers=headers)
    response = client.open(path, method=method, data=body, headers=headers)
    assert response.status_code == expected.status
    assert response.status_code in (400, 404)
    assert response.data == expected.data
    assert response.headers["Content-Type"] == expected.headers["Content-Type"]


def test_head_answers_the_status_of_the_index_without_a_body(client):
    found = client.head(f"/{CONCRETE_CONNECTORS_INDEX}")
    missing = client.head("/no-such-index")
    assert (found.status_code, found.data) == (200, b"")
    assert (missing.status_code, missing.data) == (404, b"")


def test_the_connector_indices_exist_for_a_workers_preflight(client, es):
    for concrete in (CONCRETE_CONNECTORS_INDEX, CONCRETE_SYNC_JOBS_INDEX):
        assert client.head(f"/{concrete}").status_code == 200
        # The worker creates them only after a 404; a PUT now is Elasticsearch's own 400.
        response = client.put(f"/{concrete}")
        assert response.status_code == 400
        assert error_type(response.get_json()) == "resource_already_exists_exception"
    aliases = es.indices.get_alias(index=CONCRETE_SYNC_JOBS_INDEX)
    assert ".elastic-connectors-sync-jobs" in aliases[CONCRETE_SYNC_JOBS_INDEX]["aliases"]


# Paths, query strings, bodies


def test_query_string_reaches_elasticsearch_unchanged(client, es, index):
    es.index(index=index, id="a", document={"title": "alpha"})
    es.index(index=index, id="b", document={"title": "beta"}, refresh=True)
    response = client.get(f"/{index}/_search?q=_id:b&size=5&filter_path=hits.total.value,hits.hits._id")
    assert response.status_code == 200
    assert response.get_json() == {"hits": {"total": {"value": 1}, "hits": [{"_id": "b"}]}}


def test_an_encoded_slash_in_a_document_id_stays_encoded(client, es, index):
    response = client.put(f"/{index}/_doc/folder%2Ffile.txt?refresh=true", json={"n": 1})
    assert response.status_code == 201
    assert response.get_json()["_id"] == "folder/file.txt"
    assert es.get(index=index, id="folder/file.txt")["_source"] == {"n": 1}


def test_bulk_body_larger_than_the_services_own_limit_is_forwarded_whole(elasticsearch_url, es,
                                                                         index):
    app = create_app({"TESTING": True, "ELASTICSEARCH_URL": elasticsearch_url,
                      "INSTALL_TEMPLATES_ON_START": False, "MAX_BODY_BYTES": 1_000_000})
    client = app.test_client()
    body = bulk_body(200, 8_000)
    assert len(body) > app.config["MAX_BODY_BYTES"]
    response = client.put(f"/{index}/_bulk?refresh=true&filter_path=errors,items.index.status",
                          data=body, headers={"Content-Type": NDJSON})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["errors"] is False
    assert {item["index"]["status"] for item in answer["items"]} == {201}
    assert es.count(index=index)["count"] == 200
    assert es.get(index=index, id="doc-199")["_source"]["body"] == "x" * 8_000


def test_chunked_bulk_body_is_streamed_to_elasticsearch(live_url, es, index):
    body = bulk_body(200, 8_000)
    # A generator has no length: urllib3 sends it with Transfer-Encoding: chunked.
    pieces = (body[start:start + 65_536] for start in range(0, len(body), 65_536))
    response = urllib3.request(
        "PUT", f"{live_url}/{index}/_bulk?refresh=true&filter_path=errors",
        body=pieces, headers={"Content-Type": NDJSON}, retries=False)
    assert response.status == 200
    assert response.json() == {"errors": False}
    assert es.count(index=index)["count"] == 200


def test_empty_octet_stream_body_is_forwarded_as_no_body(client, es):
    response = client.put("/forwarding-empty-body", data=b"",
                          headers={"Content-Type": "application/octet-stream"})
    try:
        assert response.status_code == 200
        assert response.get_json()["acknowledged"] is True
        assert es.indices.exists(index="forwarding-empty-body")
    finally:
        es.indices.delete(index="forwarding-empty-body", ignore_unavailable=True)


# Headers


def test_answer_keeps_elasticsearchs_headers(client, es, index):
    created = client.put(f"/{index}/_doc/1", json={"n": 1})
    assert created.status_code == 201
    assert created.headers["Location"] == f"/{index}/_doc/1"
    assert created.headers["X-Elastic-Product"] == "Elasticsearch"
    dotted = client.put("/.forwarding-dotted")
    try:
        assert dotted.status_code == 200
        assert "starts with a dot" in dotted.headers["Warning"]
    finally:
        es.indices.delete(index=".forwarding-dotted", ignore_unavailable=True)


def test_compressed_answer_passes_through_still_compressed(client):
    response = client.get("/_cluster/health", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "status" in json.loads(gzip.decompress(response.data))


def test_forwarded_request_with_the_callers_authorization_succeeds(client):
    response = client.get("/_cluster/health", headers={"Authorization": WORKER_AUTHORIZATION})
    assert response.status_code == 200
    assert response.get_json()["status"] in ("green", "yellow")


def test_request_headers_keep_authorization_and_drop_connection_headers():
    incoming = [("Host", "service:8080"), ("Authorization", WORKER_AUTHORIZATION),
                ("Content-Type", "application/x-ndjson"), ("Content-Length", "12"),
                ("Connection", "keep-alive, X-Hop"), ("Keep-Alive", "timeout=5"),
                ("X-Hop", "1"), ("Transfer-Encoding", "chunked"), ("TE", "trailers"),
                ("Proxy-Authorization", "Basic cHJveHk6cHJveHk="), ("Expect", "100-continue"),
                ("X-Opaque-Id", "job-1"), ("Accept-Encoding", "gzip")]
    assert forwarded_request_headers(incoming) == [
        ("Authorization", WORKER_AUTHORIZATION), ("Content-Type", "application/x-ndjson"),
        ("X-Opaque-Id", "job-1"), ("Accept-Encoding", "gzip")]


def test_service_credentials_replace_the_callers_only_when_given():
    incoming = [("authorization", WORKER_AUTHORIZATION), ("Accept", "application/json")]
    assert forwarded_request_headers(incoming, service_authorization="ApiKey c2VydmljZQ==") == [
        ("Accept", "application/json"), ("Authorization", "ApiKey c2VydmljZQ==")]
    assert forwarded_request_headers(incoming, service_authorization=None) == incoming


def test_response_headers_drop_only_connection_headers():
    upstream = [("X-elastic-product", "Elasticsearch"), ("Warning", "299 a"), ("Warning", "299 b"),
                ("content-type", "application/json"), ("content-encoding", "gzip"),
                ("Transfer-Encoding", "chunked"), ("Connection", "close")]
    assert forwarded_response_headers(upstream) == upstream[:5]


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, None),
    ({"ELASTICSEARCH_API_KEY": "a2V5"}, "ApiKey a2V5"),
    ({"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": "changeme"},
     WORKER_AUTHORIZATION),
    ({"ELASTICSEARCH_URL": "http://elastic:changeme@127.0.0.1:9200"}, WORKER_AUTHORIZATION),
    ({"ELASTICSEARCH_URL": "http://elastic:p%40ss@127.0.0.1:9200"},
     "Basic " + base64.b64encode(b"elastic:p@ss").decode()),
])
def test_service_authorization_comes_from_the_services_own_settings(settings, expected):
    assert service_authorization(Config().override(settings)) == expected


def test_service_credentials_are_not_lent_by_default(elasticsearch_url):
    app = create_app({"ELASTICSEARCH_URL": elasticsearch_url, "INSTALL_TEMPLATES_ON_START": False,
                      "ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": "secret"})
    assert app.extensions["connector_storage"].forwarder.service_authorization is None
    response = app.test_client().get("/_cluster/health")
    assert response.status_code == 200


def test_lending_service_credentials_is_logged_at_start_up(elasticsearch_url, caplog):
    with caplog.at_level(logging.WARNING, logger="app.api.forwarding"):
        app = create_app({"ELASTICSEARCH_URL": elasticsearch_url,
                          "INSTALL_TEMPLATES_ON_START": False, "ELASTICSEARCH_API_KEY": "a2V5",
                          "FORWARD_WITH_SERVICE_CREDENTIALS": True, "AUTH_API_KEYS": "worker-key"})
    assert app.extensions["connector_storage"].forwarder.service_authorization == "ApiKey a2V5"
    assert any("FORWARD_WITH_SERVICE_CREDENTIALS" in record.getMessage()
               for record in caplog.records)


# What is not forwarded


@pytest.mark.parametrize(("method", "path", "status", "expected_type"), [
    ("GET", "/_connector/_sync_job/x/_nope", 404, "resource_not_found_exception"),
    ("GET", "/_connector_service/nope", 404, "resource_not_found_exception"),
    ("GET", "/_connector_service/dashboard/nope", 404, "resource_not_found_exception"),
    ("POST", "/_connector/_sync_job/x/_check_in", 405, "method_not_allowed_exception"),
    ("DELETE", "/", 405, "method_not_allowed_exception"),
])
def test_the_services_own_paths_are_never_forwarded(client, method, path, status, expected_type):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert error_type(response.get_json()) == expected_type


def test_with_forwarding_off_other_paths_are_the_services_404(elasticsearch_url):
    app = create_app({"ELASTICSEARCH_URL": elasticsearch_url, "INSTALL_TEMPLATES_ON_START": False,
                      "FORWARD_OTHER_ROUTES": False})
    response = app.test_client().get("/_cluster/health")
    assert response.status_code == 404
    assert error_type(response.get_json()) == "resource_not_found_exception"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/_cluster/health", None),
    ("POST", f"/{INDEX}/_update/1", b'{"doc": {"a": 1}}'),
    ("PUT", "/_bulk", b'{"index": {"_index": "x"}}\n{"a": 1}\n'),
])
def test_unreachable_elasticsearch_is_503_in_envelope(unreachable_client, method, path, body):
    response = unreachable_client.open(path, method=method, data=body,
                                       headers={"Content-Type": "application/json"})
    assert response.status_code == 503
    assert error_type(response.get_json()) == "service_unavailable_exception"


def test_unreachable_elasticsearch_is_503_for_head(unreachable_client):
    response = unreachable_client.head(f"/{INDEX}")
    assert (response.status_code, response.data) == (503, b"")


def test_an_answer_later_than_the_forward_timeout_is_503(elasticsearch_url):
    app = create_app({"ELASTICSEARCH_URL": elasticsearch_url, "INSTALL_TEMPLATES_ON_START": False,
                      "FORWARD_REQUEST_TIMEOUT": 0.5})
    # One node never becomes five: Elasticsearch answers only after its own 3 s timeout.
    response = app.test_client().get("/_cluster/health?wait_for_nodes=5&timeout=3s")
    assert response.status_code == 503
    assert error_type(response.get_json()) == "service_unavailable_exception"


# Index names the service's own pages once took


@pytest.mark.parametrize("index_name", ["dashboard", "dashboards", "dashboard-logs", "static"])
def test_index_names_like_dashboard_or_static_belong_to_elasticsearch(live_url, es, index_name):
    es.indices.delete(index=index_name, ignore_unavailable=True)
    try:
        missing = urllib3.request("GET", f"{live_url}/{index_name}", retries=False)
        written = urllib3.request("PUT", f"{live_url}/{index_name}/_doc/1?refresh=true",
                                  json={"n": 1}, retries=False)
        read = urllib3.request("GET", f"{live_url}/{index_name}/_doc/1", retries=False)
        stored = es.get(index=index_name, id="1")["_source"]
    finally:
        es.indices.delete(index=index_name, ignore_unavailable=True)

    assert missing.status == 404
    assert error_type(missing.json()) == "index_not_found_exception"
    assert (written.status, read.status) == (201, 200)
    assert read.json()["_source"] == stored == {"n": 1}


def test_a_large_forwarded_answer_arrives_whole_over_real_http(live_url, elasticsearch_url, es,
                                                              index):
    es.bulk(operations=[line for n in range(60) for line in (
        {"index": {"_index": index, "_id": str(n)}}, {"text": "y" * 4000})], refresh=True)
    path = f"/{index}/_search?size=60&sort=_doc"

    forwarded = urllib3.request("GET", live_url + path, retries=False)
    expected = direct(elasticsearch_url, "GET", path)

    assert forwarded.status == 200
    assert len(forwarded.data) > 64 * 1024
    assert forwarded.json()["hits"]["hits"] == expected.json()["hits"]["hits"]



def test_an_answer_closed_before_its_end_gives_its_connection_to_elasticsearch_back(
        elasticsearch_url, es, index):
    """What the server does when the caller leaves half-way (app/front/ closes the answer):
    the forward's connection is closed and its place in the pool given back at once, not
    whenever the garbage collector finds the answer."""
    es.index(index=index, id="large", document={"text": "z" * 4_000_000}, refresh=True)
    app = create_app({"TESTING": True, "ELASTICSEARCH_URL": elasticsearch_url,
                      "INSTALL_TEMPLATES_ON_START": False})
    forwarder = app.extensions["connector_storage"].forwarder
    pool = forwarder.pool(forwarder.nodes.get())  # the one node's connections
    free = pool.pool.qsize()

    answer = app.test_client().get(f"/{index}/_doc/large", buffered=False)
    first = next(iter(answer.response))  # of 4 MB, sent with its Content-Length
    held = pool.pool.qsize()
    answer.close()

    assert answer.status_code == 200 and first
    assert held == free - 1
    assert pool.pool.qsize() == free
