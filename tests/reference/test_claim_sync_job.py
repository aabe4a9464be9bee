"""PUT _connector/_sync_job/<id>/_claim — Claim connector sync job.

Stricter than the reference, which claims a job in any status: a claim is the guarded
transition pending|suspended → in_progress, so one job is never claimed twice. A claim the
holding worker repeats (its first answer lost) answers noop instead of 400.
"""

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import urllib3

from app.storage import SYNC_JOBS_INDEX
from tests.support.api_client import error_type
from tests.support.stored import instant, stored_connector, stored_job


@pytest.fixture
def job_id(api):
    return api.new_job(api.create_connector("test-connector"))


def test_claim_of_pending_job_returns_200_and_stores_worker_hostname(api, es, job_id):
    assert api.claim(job_id, worker_hostname="host-name") == {"result": "updated"}
    job = stored_job(es, job_id)
    assert job["status"] == "in_progress"
    assert job["worker_hostname"] == "host-name"
    assert instant(job["started_at"]) >= instant(job["created_at"])
    assert instant(job["last_seen"]) > instant(job["created_at"])
    assert "sync_cursor" not in job["connector"]


def test_claim_leaves_counters_and_snapshot_alone(api, es, job_id):
    before = stored_job(es, job_id)
    api.claim(job_id)
    after = stored_job(es, job_id)
    for field in ("created_at", "job_type", "trigger_method", "indexed_document_count",
                  "deleted_document_count", "metadata"):
        assert after[field] == before[field]
    assert after["connector"] == before["connector"]


def test_claim_with_sync_cursor_stores_it_in_the_job_snapshot_only(api, es, job_id):
    api.claim(job_id, worker_hostname="host-name", sync_cursor={"cursor": "cursor"})
    job = stored_job(es, job_id)
    assert job["connector"]["sync_cursor"] == {"cursor": "cursor"}
    assert job["connector"]["id"] == "test-connector"
    assert "sync_cursor" not in stored_connector(es, "test-connector")


def test_claimed_job_reads_back_in_progress_at_once(api, job_id):
    api.claim(job_id)
    assert api.get_sync_job(job_id)["status"] == "in_progress"
    assert api.list_sync_jobs(status="in_progress")["count"] == 1


def test_suspended_job_can_be_claimed_again(api, es, job_id, set_status):
    api.claim(job_id, worker_hostname="first")
    set_status(job_id, "suspended")
    api.claim(job_id, worker_hostname="second")
    assert stored_job(es, job_id)["worker_hostname"] == "second"


@pytest.mark.parametrize("status", ["in_progress", "canceling", "canceled", "completed", "error"])
def test_claim_of_a_job_that_is_not_waiting_is_400_and_changes_nothing(api, es, job_id, set_status,
                                                                        status):
    set_status(job_id, status)
    before = stored_job(es, job_id)
    body = api.claim(job_id, worker_hostname="late-worker", expect=400)
    assert error_type(body) == "status_exception"
    assert body["error"]["caused_by"]["type"] == (
        "connector_sync_job_invalid_status_transition_exception")
    assert body["error"]["reason"] == (
        f"Invalid transition attempt from [{status}] to [in_progress]. Such a ConnectorSyncStatus "
        "transition is not supported by the Connector Protocol.")
    assert stored_job(es, job_id) == before


def test_second_claim_is_400_and_keeps_the_first_worker(api, es, job_id):
    api.claim(job_id, worker_hostname="first")
    api.claim(job_id, worker_hostname="second", expect=400)
    assert stored_job(es, job_id)["worker_hostname"] == "first"


def test_claim_of_unknown_job_is_404(api):
    body = api.claim("non-existing-connector-sync-job-id", expect=404)
    assert error_type(body) == "resource_not_found_exception"
    assert body["error"]["reason"] == "non-existing-connector-sync-job-id"


@pytest.mark.parametrize(("body", "expected_type"), [
    ({"sync_cursor": {}}, "illegal_argument_exception"),
    ({"worker_hostname": None}, "x_content_parse_exception"),
    ({"worker_hostname": 7}, "x_content_parse_exception"),
    ({"worker_hostname": "w", "sync_cursor": "abc"}, "x_content_parse_exception"),
    ({"worker_hostname": "w", "sync_cursor": None}, "x_content_parse_exception"),
    ({"worker_hostname": "w", "status": "completed"}, "x_content_parse_exception"),
])
def test_malformed_body_is_400_before_the_job_is_looked_up(api, body, expected_type):
    # The job id does not exist: body validation comes first, as in the reference.
    response = api.call("PUT", "/_connector/_sync_job/test-connector/_claim", body, expect=400)
    assert error_type(response) == expected_type


def test_missing_body_is_400(api, es, job_id):
    body = api.call("PUT", f"/_connector/_sync_job/{job_id}/_claim", expect=400)
    assert body["error"]["reason"] == "request body is required"
    assert stored_job(es, job_id)["status"] == "pending"


# A claim repeated after its answer was lost


def test_a_repeated_claim_by_the_same_worker_answers_noop_and_writes_nothing(api, es, job_id):
    assert api.claim(job_id, worker_hostname="worker-1") == {"result": "updated"}
    first = es.get(index=SYNC_JOBS_INDEX, id=job_id)

    assert api.claim(job_id, worker_hostname="worker-1") == {"result": "noop"}

    again = es.get(index=SYNC_JOBS_INDEX, id=job_id)
    assert (again["_seq_no"], again["_source"]) == (first["_seq_no"], first["_source"])


def test_a_repeated_claim_with_its_cursor_answers_noop(api, es, job_id):
    cursor = {"drives": {"d1": "delta-1", "d2": "delta-2"}}
    api.claim(job_id, worker_hostname="worker-1", sync_cursor=cursor)
    assert api.claim(job_id, worker_hostname="worker-1", sync_cursor=cursor) == {"result": "noop"}
    other = api.claim(job_id, worker_hostname="worker-1", sync_cursor={"drives": {"d3": "x"}},
                      expect=400)
    assert error_type(other) == "status_exception"
    assert stored_job(es, job_id)["connector"]["sync_cursor"] == cursor


def test_a_repeated_claim_after_a_cancel_answers_noop_so_the_worker_ends_the_job_canceled(
        api, es, job_id):
    # Kibana cancels between the claim and its lost answer: the worker must learn that it holds
    # the job, see `canceling` at its next check and end the sync as canceled.
    api.claim(job_id, worker_hostname="worker-1")
    api.cancel(job_id)
    assert api.claim(job_id, worker_hostname="worker-1") == {"result": "noop"}
    assert stored_job(es, job_id)["status"] == "canceling"


@pytest.mark.parametrize("report", ["check_in", "set_stats"])
def test_once_the_worker_reported_a_claim_is_no_repeat_and_is_400(api, es, job_id, report):
    api.claim(job_id, worker_hostname="worker-1")
    getattr(api, report)(job_id)
    before = stored_job(es, job_id)
    body = api.claim(job_id, worker_hostname="worker-1", expect=400)
    assert error_type(body) == "status_exception"
    assert stored_job(es, job_id) == before


def test_a_claim_whose_answer_is_lost_on_the_wire_is_the_workers_when_it_asks_again(
        api, es, job_id, live_url):
    # The worker sends its claim and the connection dies before the answer comes back (a
    # timeout during a failover); its client sends the same request again.
    host, port = urlsplit(live_url).hostname, urlsplit(live_url).port
    body = json.dumps({"worker_hostname": "worker-1"}).encode()
    with socket.create_connection((host, port), timeout=10) as lost:
        lost.sendall(f"PUT /_connector/_sync_job/{job_id}/_claim HTTP/1.1\r\nHost: {host}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                     .encode() + body)
        deadline = time.monotonic() + 10
        while stored_job(es, job_id)["status"] != "in_progress":
            assert time.monotonic() < deadline, "the first claim never landed"
            time.sleep(0.05)
        # The connection goes down with the answer unread.

    retry = urllib3.PoolManager(retries=False, timeout=30).request(
        "PUT", f"{live_url}/_connector/_sync_job/{job_id}/_claim", json={"worker_hostname": "worker-1"})

    assert (retry.status, retry.json()) == (200, {"result": "noop"})
    assert stored_job(es, job_id)["worker_hostname"] == "worker-1"


def test_a_claim_and_its_repeat_in_flight_together_both_hold_and_others_lose(api, es, job_id,
                                                                             live_url):
    http = urllib3.PoolManager(retries=False, timeout=30, maxsize=8)
    names = ["worker-1", "worker-1", "worker-2", "worker-3"]
    start = threading.Barrier(len(names))

    def claim(name: str):
        start.wait()
        answer = http.request("PUT", f"{live_url}/_connector/_sync_job/{job_id}/_claim",
                              json={"worker_hostname": name})
        return name, answer.status, answer.json()

    with ThreadPoolExecutor(len(names)) as pool:
        answers = list(pool.map(claim, names))

    winner = stored_job(es, job_id)["worker_hostname"]
    won = sorted(answer["result"] for name, status, answer in answers
                 if status == 200 and name == winner)
    assert len(won) == names.count(winner)
    assert won == (["noop", "updated"] if winner == "worker-1" else ["updated"])
    assert [status for name, status, _ in answers if name != winner] == [400] * (
        len(names) - names.count(winner))
