"""Slow, stalled and vanishing callers cannot take the service down: a body that does not arrive
in full in time is refused before anything is forwarded or parsed, a caller that leaves frees
its thread at once, one address holds a bounded number of unfinished bodies, and health keeps
answering throughout. All over real sockets against the service as scripts/serve runs it."""

import json
import select
import time
from contextlib import ExitStack

import pytest
import urllib3

from tests.support.live_server import production_server
from tests.support.raw_http import connection, read_answer, start_body

INDEX = "slow-clients-test"
# Small bounds, so the refusals come within the test's time.
SETTINGS = {"BODY_TIMEOUT": "2", "BODIES_PER_CLIENT": "8", "BODY_BUFFER_BYTES": "65536"}
THREADS = 4


@pytest.fixture(scope="module")
def service(elasticsearch_url):
    """One worker process (the per-address bound is per process) with few threads, so that any
    thread a slow caller held would show at once."""
    with production_server(elasticsearch_url, workers=1, threads=THREADS, env=SETTINGS) as url:
        yield url


@pytest.fixture
def index(es):
    es.indices.delete(index=INDEX, ignore_unavailable=True)
    yield INDEX
    es.indices.delete(index=INDEX, ignore_unavailable=True)


def timed_get(http, url: str, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = http.request("GET", url + path, timeout=urllib3.Timeout(total=10)).status
    return status, time.monotonic() - started


def index_exists(es) -> bool:
    return es.indices.exists(index=INDEX).body


def test_forty_cut_off_bodies_leave_the_service_answering_at_once(service, es, index):
    for _ in range(40):  # each: one byte of a 100-byte body, then gone
        with connection(service) as sock:
            start_body(sock, f"/{index}/_doc", 100, b"{")
    http = urllib3.PoolManager(retries=False)

    health, health_took = timed_get(http, service, "/_connector_service/health")
    forwarded, forwarded_took = timed_get(http, service, "/_cluster/health")
    created = http.request("PUT", f"{service}/{index}/_doc/1?refresh=true", json={"n": 1},
                           timeout=urllib3.Timeout(total=10))

    assert (health, forwarded, created.status) == (200, 200, 201)
    assert health_took < 2 and forwarded_took < 2
    # None of the cut-off bodies reached Elasticsearch, even in part.
    assert es.count(index=index)["count"] == 1


def test_held_open_bodies_are_bounded_per_address_and_refused_after_the_timeout(service, es, index):
    http = urllib3.PoolManager(retries=False)
    with ExitStack() as stack:
        held = [stack.enter_context(connection(service)) for _ in range(40)]
        started = time.monotonic()
        for sock in held:
            start_body(sock, f"/{index}/_doc", 100, b"{")
        time.sleep(1)
        # Past the bound of 8 slow bodies, the same address is refused at once.
        answered_early, _, _ = select.select(held, [], [], 0)
        refused = [read_answer(sock, timeout=5) for sock in answered_early]
        # Meanwhile every thread is free: probes, forwards and other addresses are served.
        health, health_took = timed_get(http, service, "/_connector_service/health")
        listed, listed_took = timed_get(http, service, "/_connector/_sync_job")
        with connection(service, source="127.0.0.2") as other:
            body = b'{"n": 2}'
            start_body(other, f"/{index}/_doc/2?refresh=true", len(body), body)
            other_status, _ = read_answer(other, timeout=10)
        # The 8 held bodies are refused once BODY_TIMEOUT (2 s) has passed.
        timed_out = [read_answer(sock, timeout=10) for sock in held if sock not in answered_early]
        timed_out_by = time.monotonic() - started

    assert len(refused) == 32
    assert {status for status, _ in refused} == {429}
    assert refused[0][1]["error"]["type"] == "es_rejected_execution_exception"
    assert (health, listed, other_status) == (200, 200, 201)
    assert health_took < 1 and listed_took < 1
    assert len(timed_out) == 8
    assert {status for status, _ in timed_out} == {408}
    assert timed_out[0][1]["error"]["type"] == "timeout_exception"
    assert 2 <= timed_out_by < 6
    assert es.count(index=index)["count"] == 1  # only the other address's document


def test_a_trickled_body_is_refused_once_it_falls_behind(service, index, es):
    with connection(service) as sock:
        start_body(sock, f"/{index}/_doc", 100, b"{")
        started = time.monotonic()
        for _ in range(3):  # a byte a second: far below BODY_MIN_RATE
            time.sleep(1)
            try:
                sock.sendall(b" ")
            except OSError:
                break
        status, answer = read_answer(sock, timeout=10)
        took = time.monotonic() - started

    assert status == 408
    assert "did not arrive in time" in answer["error"]["reason"]
    assert took < 5
    assert not index_exists(es)


def bulk_lines(count: int) -> bytes:
    lines = []
    for n in range(count):
        lines += [json.dumps({"index": {"_id": str(n)}}), json.dumps({"text": "x" * 200})]
    return ("\n".join(lines) + "\n").encode()


def test_a_large_body_cut_off_half_way_is_never_acted_on(service, es, index):
    es.indices.create(index=index)
    body = bulk_lines(2000)  # ~450 kB: streamed, past BODY_BUFFER_BYTES
    with connection(service) as sock:
        start_body(sock, f"/{index}/_bulk?refresh=true", len(body), body[:len(body) // 2],
                   content_type="application/x-ndjson")
        time.sleep(0.3)
    stalled_started = time.monotonic()
    with connection(service) as sock:
        start_body(sock, f"/{index}/_bulk?refresh=true", len(body), body[:len(body) // 2],
                   content_type="application/x-ndjson")
        status, answer = read_answer(sock, timeout=30)
    stalled_took = time.monotonic() - stalled_started
    http = urllib3.PoolManager(retries=False)
    health, _ = timed_get(http, service, "/_connector_service/health")

    assert status == 408, answer
    # BODY_TIMEOUT plus a second per BODY_MIN_RATE bytes already received.
    assert stalled_took < 2 + len(body) / 2 / 16_384 + 3
    assert health == 200
    es.indices.refresh(index=index)
    assert es.count(index=index)["count"] == 0


def test_a_caller_that_leaves_while_elasticsearch_thinks_frees_its_thread(service):
    # Elasticsearch holds these for 30 s; the callers leave after half a second.
    slow = "/_cluster/health?wait_for_status=red&timeout=30s"
    for _ in range(THREADS):
        with connection(service) as sock:
            sock.sendall(f"GET {slow} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            time.sleep(0.1)
    time.sleep(0.5)
    http = urllib3.PoolManager(retries=False)

    status, took = timed_get(http, service, "/_connector/_sync_job")

    assert status == 200
    assert took < 2  # not the 30 s Elasticsearch would have held the threads
