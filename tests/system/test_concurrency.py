"""Racing workers against a real node: one claim wins, no acknowledged update is lost."""

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import urllib3

from tests.support.stored import stored_job

CLAIMERS = int(os.environ.get("RACE_CLAIMERS", "64"))
JOBS = int(os.environ.get("RACE_JOBS", "200"))


@pytest.fixture(scope="module")
def http():
    return urllib3.PoolManager(maxsize=CLAIMERS, timeout=30.0)


def put(http, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data else {}
    response = http.request("PUT", url, body=data, headers=headers, retries=False)
    return response.status


def race(http, urls_and_bodies):
    """Sends every request at the same moment, released by one barrier; returns the statuses."""
    barrier = threading.Barrier(len(urls_and_bodies))

    def send(item):
        url, body = item
        barrier.wait()
        return put(http, url, body)

    with ThreadPoolExecutor(max_workers=len(urls_and_bodies)) as pool:
        return list(pool.map(send, urls_and_bodies))


def test_many_workers_claiming_one_job_exactly_one_wins(api, es, http, live_url):
    connector = api.create_connector("race-connector")
    double_claims, server_errors = 0, 0
    for _ in range(JOBS):
        job_id = api.new_job(connector)
        url = f"{live_url}/_connector/_sync_job/{job_id}/_claim"
        statuses = race(http, [(url, {"worker_hostname": f"worker-{n}"}) for n in range(CLAIMERS)])
        winners = [n for n, status in enumerate(statuses) if status == 200]
        server_errors += sum(status >= 500 for status in statuses)
        double_claims += len(winners) > 1
        assert len(winners) == 1, statuses
        assert set(statuses) <= {200, 400}, statuses
        assert stored_job(es, job_id)["worker_hostname"] == f"worker-{winners[0]}"
    assert (double_claims, server_errors) == (0, 0)


def test_concurrent_heartbeats_stats_cancel_and_error_lose_nothing(api, es, http, live_url):
    job_id = api.new_job(api.create_connector("busy-connector"))
    api.claim(job_id)
    base = f"{live_url}/_connector/_sync_job/{job_id}"
    requests = [(f"{base}/_check_in", None) for _ in range(8)]
    requests += [(f"{base}/_stats", {"deleted_document_count": n, "indexed_document_count": n,
                                     "indexed_document_volume": n, "metadata": {f"report_{n}": n}})
                 for n in range(16)]
    requests += [(f"{base}/_cancel", None), (f"{base}/_error", {"error": "worker crashed"})]
    statuses = race(http, requests)
    assert all(status < 500 for status in statuses), statuses

    job = stored_job(es, job_id)
    stats_acknowledged = [n for n, status in enumerate(statuses[8:24]) if status == 200]
    # Every acknowledged report is in the final document (metadata merges key by key).
    assert all(job["metadata"][f"report_{n}"] == n for n in stats_acknowledged)
    cancel_status, error_status = statuses[24:]
    assert error_status == 200, "in_progress and canceling may both go to error"
    assert (job["status"], job["error"]) == ("error", "worker crashed")
    if cancel_status == 200:
        assert "cancelation_requested_at" in job
    # After the error, reports are refused: any 400 among them came after it.
    assert set(statuses[:24]) <= {200, 400}


def test_racing_puts_of_one_connector_all_succeed_and_one_body_wins(api, es, http, live_url):
    url = f"{live_url}/_connector/raced"
    bodies = [{"index_name": "search-raced", "name": f"name-{n}", "service_type": "s"}
              for n in range(16)]
    statuses = race(http, [(url, body) for body in bodies])
    assert sorted(set(statuses)) in ([200, 201], [201]), statuses
    assert statuses.count(201) <= 1
    stored = es.get(index=".elastic-connectors", id="raced")["_source"]
    assert stored["name"] in {body["name"] for body in bodies}


def test_a_writer_that_loses_every_race_gets_429_and_writes_nothing(es, elasticsearch_url, http):
    from app import create_app
    from tests.support.api_client import ApiClient
    from tests.support.live_server import serving

    # One attempt only: every writer but the first to land loses its race and gives up.
    app = create_app({"ELASTICSEARCH_URL": elasticsearch_url, "INSTALL_TEMPLATES_ON_START": False,
                      "CONFLICT_RETRIES": 1})
    api = ApiClient(app.test_client())
    job_id = api.new_job(api.create_connector("contended"))
    api.claim(job_id)
    with serving(app) as url:
        base = f"{url}/_connector/_sync_job/{job_id}/_stats"
        bodies = [{"deleted_document_count": 0, "indexed_document_count": 0,
                   "indexed_document_volume": 0, "metadata": {f"report_{n}": n}} for n in range(16)]
        barrier = threading.Barrier(len(bodies))

        def send(body):
            barrier.wait()
            response = http.request("PUT", base, body=json.dumps(body).encode(),
                                    headers={"Content-Type": "application/json"}, retries=False)
            return response.status, json.loads(response.data)

        with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
            answers = list(pool.map(send, bodies))
    refused = [n for n, (status, _) in enumerate(answers) if status == 429]
    assert refused, "with one attempt, racing writers must lose"
    assert all(answers[n][1]["error"]["type"] == "es_rejected_execution_exception" for n in refused)
    metadata = stored_job(es, job_id)["metadata"]
    assert all(f"report_{n}" not in metadata for n in refused)
    assert all(f"report_{n}" in metadata for n, (status, _) in enumerate(answers) if status == 200)
