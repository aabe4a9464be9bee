"""Paths are read as Elasticsearch reads them, over real HTTP against the service as deployed:
the raw path is split on `/` and each segment decoded, so an id with an encoded slash (`a%2Fb`)
is one id, `a/b`, on every route, the service's own and the forwarded ones alike."""

from urllib.parse import quote

import pytest
import urllib3

from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX
from tests.support.stored import stored_job

SLASHED = "team/drive"
ENCODED = quote(SLASHED, safe="")  # team%2Fdrive
INDEX = "raw-paths-test"

# Every connector route that takes the id, with a body it accepts.
CONNECTOR_ROUTES = [
    ("GET", "", None),
    ("PUT", "/_check_in", None),
    ("PUT", "/_last_sync", {"last_sync_error": "x"}),
    ("PUT", "/_error", {"error": "broken"}),
    ("PUT", "/_configuration", {"configuration": {}}),
    ("PUT", "/_filtering", {"rules": [], "advanced_snippet": {"value": {}}}),
    ("PUT", "/_filtering/_validation", {"validation": {"state": "valid", "errors": []}}),
    ("PUT", "/_filtering/_activate", None),
    ("PUT", "/_index_name", {"index_name": "search-raw-paths-other"}),
    ("PUT", "/_service_type", {"service_type": "sharepoint_online"}),
    ("PUT", "/_native", {"is_native": False}),
    ("PUT", "/_name", {"name": "Team drive"}),
    ("PUT", "/_api_key_id", {"api_key_id": "key-1"}),
    ("PUT", "/_pipeline", {"pipeline": {"extract_binary_content": True, "name": "p",
                                        "reduce_whitespace": True, "run_ml_inference": False}}),
    ("PUT", "/_scheduling", {"scheduling": {"full": {"enabled": True, "interval": "0 0 * * * ?"}}}),
    ("PUT", "/_features", {"features": {"document_level_security": {"enabled": True}}}),
    ("PUT", "/_status", {"status": "needs_configuration"}),
    ("PUT", "/_sync_job/_cancel", None),
]


@pytest.fixture
def http():
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))


@pytest.fixture
def slashed_connector(http, live_url, es):
    response = http.request("PUT", f"{live_url}/_connector/{ENCODED}",
                            json={"index_name": "search-raw-paths", "service_type": "sharepoint"})
    assert response.status == 201, response.data
    return SLASHED


def test_put_with_an_encoded_slash_creates_the_connector_of_that_id(slashed_connector, es):
    stored = es.get(index=CONNECTORS_INDEX, id=SLASHED)

    assert stored["_source"]["index_name"] == "search-raw-paths"
    assert not es.exists(index=CONNECTORS_INDEX, id="team")


@pytest.mark.parametrize(("method", "suffix", "body"), CONNECTOR_ROUTES,
                         ids=[f"{method} {suffix or '/'}" for method, suffix, _ in CONNECTOR_ROUTES])
def test_every_connector_route_takes_an_id_with_a_slash(http, live_url, slashed_connector,
                                                        method, suffix, body):
    response = http.request(method, f"{live_url}/_connector/{ENCODED}{suffix}", json=body)

    assert response.status == 200, response.data
    if method == "GET":
        assert response.json()["id"] == SLASHED


def test_sync_jobs_of_a_connector_with_a_slash_are_created_listed_and_claimed(
        http, live_url, slashed_connector, es):
    created = http.request("POST", f"{live_url}/_connector/_sync_job", json={"id": SLASHED})
    job_id = created.json()["id"]
    listed = http.request("GET", f"{live_url}/_connector/_sync_job?connector_id={ENCODED}")
    claimed = http.request("PUT", f"{live_url}/_connector/_sync_job/{job_id}/_claim",
                           json={"worker_hostname": "w"})

    assert created.status == 201
    assert [job["id"] for job in listed.json()["results"]] == [job_id]
    assert claimed.status == 200
    assert stored_job(es, job_id)["connector"]["id"] == SLASHED


def test_delete_removes_only_the_connector_with_the_slash(http, live_url, slashed_connector, es):
    es.index(index=CONNECTORS_INDEX, id="team", document={"index_name": "search-team"},
             refresh=True)

    response = http.request("DELETE", f"{live_url}/_connector/{ENCODED}?hard=true")

    assert response.status == 200
    assert not es.exists(index=CONNECTORS_INDEX, id=SLASHED)
    assert es.exists(index=CONNECTORS_INDEX, id="team")


def test_an_encoded_percent_sign_stays_a_percent_sign(http, live_url, es):
    response = http.request("PUT", f"{live_url}/_connector/100%25%2Fdone",
                            json={"index_name": "search-percent", "service_type": "x"})

    assert response.status == 201, response.data
    assert response.json()["id"] == "100%/done"
    assert es.exists(index=CONNECTORS_INDEX, id="100%/done")


@pytest.fixture
def index(es):
    es.indices.delete(index=INDEX, ignore_unavailable=True)
    yield INDEX
    es.indices.delete(index=INDEX, ignore_unavailable=True)


def test_a_forwarded_document_id_with_an_encoded_slash_reaches_elasticsearch_as_one_id(
        http, live_url, es, index):
    written = http.request("PUT", f"{live_url}/{index}/_doc/{ENCODED}?refresh=true", json={"n": 1})
    read = http.request("GET", f"{live_url}/{index}/_doc/{ENCODED}")

    assert written.status == 201, written.data
    assert read.status == 200 and read.json()["_id"] == SLASHED
    assert es.get(index=index, id=SLASHED)["_source"] == {"n": 1}


def test_a_job_id_that_decodes_to_a_path_is_an_unknown_id(http, live_url, es):
    before = es.count(index=SYNC_JOBS_INDEX)["count"]

    response = http.request("PUT", f"{live_url}/_connector/_sync_job/x%2F_claim/_cancel")

    assert response.status == 404
    assert response.json()["error"]["reason"] == "x/_claim"
    assert es.count(index=SYNC_JOBS_INDEX)["count"] == before
