"""Every request has its log line, its metrics and its ids, those the front answers itself
included: a body that stops arriving (408), one slow body too many from one address (429), a
caller gone before its body arrived (logged as 499, nothing sent), and a large answer streamed
to the caller.

Over real sockets against the service as scripts/serve runs it (granian's ASGI interface with
app/front/), one worker process so that its bounds and metrics are one process's.
"""

import json
import time
from contextlib import ExitStack

import pytest
import urllib3

from tests.support.live_server import production_server
from tests.support.metrics_text import HTTP_REQUESTS, total
from tests.support.raw_http import connection, read_full_answer, start_body

INDEX = "request-accounting-test"
# Small bounds, so the front's own answers come within the test's time.
SETTINGS = {"BODY_TIMEOUT": "2", "BODIES_PER_CLIENT": "2"}
JOBS_ROUTE = "/_connector/_sync_job"
LARGE_BYTES = 2_000_000
ERRORS = "connector_service_http_errors_total"
IN_FLIGHT = "connector_service_http_requests_in_flight"


@pytest.fixture(scope="module")
def served(elasticsearch_url, es, tmp_path_factory):
    """Sends the service those requests, each with its own X-Opaque-Id, scrapes its metrics and
    stops it: (answers by id, access lines by id, the metrics)."""
    es.indices.delete(index=INDEX, ignore_unavailable=True)
    es.index(index=INDEX, id="large", document={"text": "z" * LARGE_BYTES}, refresh=True)
    log_path = tmp_path_factory.mktemp("accounting") / "server.log"
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))
    answers = {}
    try:
        with production_server(elasticsearch_url, workers=1, threads=4, env=SETTINGS,
                               log_path=log_path) as url:
            with connection(url) as sock:  # one byte of a 100-byte body, then nothing
                start_body(sock, JOBS_ROUTE, 100, b"{", headers={"X-Opaque-Id": "stalled"})
                answers["stalled"] = read_full_answer(sock, timeout=10)
            with ExitStack() as stack:
                held = {f"held-{n}": stack.enter_context(connection(url)) for n in (1, 2)}
                for request_id, sock in held.items():
                    start_body(sock, f"/{INDEX}/_doc", 100, b"{",
                               headers={"X-Opaque-Id": request_id})
                time.sleep(0.7)  # both count as slow bodies of this address by now, for 2 s
                third = stack.enter_context(connection(url))
                start_body(third, f"/{INDEX}/_doc", 100, b"{", headers={"X-Opaque-Id": "third"})
                answers["third"] = read_full_answer(third, timeout=10)
                for request_id, sock in held.items():
                    answers[request_id] = read_full_answer(sock, timeout=10)
            with connection(url) as sock:  # a caller that leaves before its body is complete
                start_body(sock, JOBS_ROUTE, 100, b"{", headers={"X-Opaque-Id": "gone"})
            large = http.request("GET", f"{url}/{INDEX}/_doc/large",
                                 headers={"X-Opaque-Id": "large"})
            answers["large"] = (large.status, large.headers, len(large.data))
            time.sleep(0.5)  # the caller that left has been noticed
            scraped = http.request("GET", url + "/_connector_service/metrics").data.decode()
    finally:
        es.indices.delete(index=INDEX, ignore_unavailable=True)
    access = {}
    for line in log_path.read_text().splitlines():
        record = json.loads(line)
        if record.get("event", {}).get("dataset") == "connector_sync_jobs.access":
            request_id = record["http"]["request"]["id"]
            assert request_id not in access, f"two lines for {request_id}"
            access[request_id] = record
    return answers, access, scraped


def test_answers_the_front_gives_itself_carry_the_callers_ids(served):
    answers, _, _ = served
    for request_id, status in [("stalled", 408), ("third", 429), ("held-1", 408), ("held-2", 408)]:
        answered, headers, _ = answers[request_id]
        assert answered == status
        assert headers["x-opaque-id"] == headers["x-request-id"] == request_id


def test_a_body_that_stops_arriving_is_logged_as_its_408_on_the_route_it_was_for(served):
    _, access, _ = served
    line = access["stalled"]
    assert line["http"]["response"]["status_code"] == 408
    assert line["connector_service"]["route"] == JOBS_ROUTE
    assert line["error"]["type"] == "timeout_exception"
    assert line["connector_service"]["elasticsearch"]["calls"] == 0
    assert line["event"]["duration"] >= 2e9  # BODY_TIMEOUT, 2 s, waited for
    assert line["event"]["outcome"] == "failure"
    for request_id in ("held-1", "held-2"):
        assert access[request_id]["connector_service"]["route"] == "forwarded"
        assert access[request_id]["http"]["response"]["status_code"] == 408


def test_a_slow_body_too_many_is_logged_as_its_429(served):
    _, access, _ = served
    line = access["third"]
    assert line["http"]["response"]["status_code"] == 429
    assert line["connector_service"]["route"] == "forwarded"
    assert line["error"]["type"] == "es_rejected_execution_exception"


def test_a_caller_gone_before_its_body_arrived_is_logged_as_499(served):
    _, access, _ = served
    line = access["gone"]
    assert line["http"]["response"]["status_code"] == 499
    assert line["error"]["type"] == "client_closed_request"
    assert line["connector_service"]["route"] == JOBS_ROUTE


def test_a_large_streamed_answer_is_logged_once_sent(served):
    answers, access, _ = served
    status, headers, size = answers["large"]
    assert status == 200 and size > LARGE_BYTES
    assert headers["X-Opaque-Id"] == "large"
    line = access["large"]
    assert line["http"]["response"]["status_code"] == 200
    assert line["connector_service"]["route"] == "forwarded"
    assert line["connector_service"]["elasticsearch"]["calls"] == 1


def test_the_metrics_count_the_fronts_own_answers_by_route_status_and_error(served):
    _, _, scraped = served
    assert total(scraped, HTTP_REQUESTS, route=JOBS_ROUTE, status="408") == 1
    assert total(scraped, HTTP_REQUESTS, route=JOBS_ROUTE, status="499") == 1
    assert total(scraped, HTTP_REQUESTS, route="forwarded", status="408") == 2
    assert total(scraped, HTTP_REQUESTS, route="forwarded", status="429") == 1
    assert total(scraped, HTTP_REQUESTS, route="forwarded", status="200") == 1
    assert total(scraped, ERRORS, status="408", type="timeout_exception") == 3
    assert total(scraped, ERRORS, status="429", type="es_rejected_execution_exception") == 1
    assert total(scraped, ERRORS, status="499", type="client_closed_request") == 1
    # Every one of them has left the in-flight gauge: only the scrape itself is in flight.
    assert total(scraped, IN_FLIGHT) == 1
