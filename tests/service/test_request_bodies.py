"""Request bodies as Elasticsearch takes them, over real HTTP against the service as deployed:
up to its own 100 MB by default, and compressed with gzip or deflate (the official clients'
`http_compress=True`), with the decompressed size bounded by the same limit."""

import gzip
import json
import time
import zlib

import pytest
import urllib3
from elasticsearch import Elasticsearch

from app.storage import CONNECTORS_INDEX
from tests.support.api_client import error_type
from tests.support.stored import stored_job


@pytest.fixture
def http():
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=60))


@pytest.fixture
def pending_job(api) -> str:
    return api.new_job(api.create_connector("bodies-connector"))


def sharepoint_cursor(drives: int = 6000) -> dict:
    """An incremental cursor with one delta link per drive, ~1.26 MB as JSON."""
    return {"site_drives": {f"b!{n:08d}": f"https://graph.example/v1.0/drives/b!{n:08d}/root/delta"
                            f"?token={'a' * 140}" for n in range(drives)}}


def test_a_claim_with_a_cursor_over_a_megabyte_is_accepted_and_stored(http, live_url, es,
                                                                     pending_job):
    cursor = sharepoint_cursor()
    body = json.dumps({"worker_hostname": "worker-1", "sync_cursor": cursor}).encode()
    assert len(body) > 1_250_000

    response = http.request("PUT", f"{live_url}/_connector/_sync_job/{pending_job}/_claim",
                            body=body, headers={"Content-Type": "application/json"})

    assert response.status == 200, response.data[:300]
    assert stored_job(es, pending_job)["connector"]["sync_cursor"] == cursor


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # raw deflate, no zlib header
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate"])
def test_a_compressed_body_is_read_as_elasticsearch_reads_it(http, live_url, es, encoding):
    body = json.dumps({"index_name": "search-compressed", "service_type": "sharepoint"}).encode()
    header = "deflate" if encoding == "raw deflate" else encoding

    response = http.request("PUT", f"{live_url}/_connector/compressed",
                            body=compress(body, encoding),
                            headers={"Content-Type": "application/json",
                                     "Content-Encoding": header})

    assert response.status == 201, response.data
    assert es.get(index=CONNECTORS_INDEX, id="compressed")["_source"]["index_name"] == \
        "search-compressed"


@pytest.mark.filterwarnings("ignore::elasticsearch.exceptions.GeneralAvailabilityWarning")
def test_the_official_client_with_http_compress_drives_a_job(live_url, es):
    client = Elasticsearch(live_url, http_compress=True, request_timeout=30)
    try:
        client.connector.put(connector_id="gzip-client", index_name="search-gzip",
                             service_type="sharepoint")
        job_id = client.connector.sync_job_post(id="gzip-client")["id"]
        client.connector.sync_job_claim(connector_sync_job_id=job_id, worker_hostname="gz")
    finally:
        client.close()

    assert stored_job(es, job_id)["worker_hostname"] == "gz"


def test_a_zip_bomb_is_413_and_the_service_keeps_answering(http, live_url, es, pending_job):
    bomb = gzip.compress(b" " * (150 * 1024 * 1024), compresslevel=9)  # 150 MB from ~150 kB
    assert len(bomb) < 1_000_000

    response = http.request("PUT", f"{live_url}/_connector/_sync_job/{pending_job}/_claim",
                            body=bomb, headers={"Content-Type": "application/json",
                                                "Content-Encoding": "gzip"})
    health = http.request("GET", f"{live_url}/_connector_service/health")

    assert response.status == 413
    assert error_type(response.json()) == "request_entity_too_large_exception"
    assert health.status == 200
    assert stored_job(es, pending_job)["status"] == "pending"


@pytest.mark.parametrize(("encoding", "body", "status"), [
    ("br", b"{}", 415),
    ("gzip", b"not gzip at all", 400),
    ("gzip", gzip.compress(b'{"worker_hostname": "w"}')[:-12], 400),  # cut short
])
def test_a_body_that_does_not_decompress_is_a_4xx(http, live_url, es, pending_job, encoding,
                                                 body, status):
    response = http.request("PUT", f"{live_url}/_connector/_sync_job/{pending_job}/_claim",
                            body=body, headers={"Content-Type": "application/json",
                                                "Content-Encoding": encoding})

    assert response.status == status, response.data
    assert stored_job(es, pending_job)["status"] == "pending"


def test_requests_without_a_body_never_wait_for_the_large_body_turn(elasticsearch_url):
    """Large bodies are read one at a time per worker process; a GET without a body has none to
    read and must not take that turn. Four lists at once, each held 2 s by Elasticsearch (a
    relay holds the node's answers), are answered together, not one after another."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.support.live_server import production_server
    from tests.support.relay import FaultyRelay

    with FaultyRelay(elasticsearch_url, hold_seconds=2.0,
                     lose_answer=lambda method, target: "_search" in target) as relay, \
            production_server(relay.url, workers=1) as url:
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))
        started = time.monotonic()
        with ThreadPoolExecutor(4) as callers:
            answers = list(callers.map(
                lambda _: http.request("GET", url + "/_connector/_sync_job"), range(4)))
        elapsed = time.monotonic() - started

    assert [answer.status for answer in answers] == [503] * 4  # each lost its answer
    assert elapsed < 6, f"the four lists waited for each other: {elapsed:.1f} s"
