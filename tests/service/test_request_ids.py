"""Request ids as Elasticsearch uses them: a caller's X-Opaque-Id and W3C traceparent reach
every Elasticsearch call the request causes, come back in the answer and name its log line.

Over real HTTP against the service as scripts/serve runs it (granian), with the node's own
task list as the witness of what Elasticsearch received.
"""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import urllib3

from app.domain.clock import format_instant
from app.storage import SYNC_JOBS_INDEX

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
STALE_JOBS = 100


@pytest.fixture(scope="module")
def http():
    # A sweep of STALE_JOBS jobs takes a few seconds; far more on a machine under heavy load.
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=300))


def stale_jobs(api, es, count: int) -> None:
    """`count` running jobs whose worker went silent an hour ago."""
    api.create_connector("silent", index_name="search-silent")
    job_id = api.new_job("silent")
    api.claim(job_id, worker_hostname="gone-worker")
    template = es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]
    template["last_seen"] = format_instant(datetime.now(UTC) - timedelta(hours=1))
    operations = []
    for _ in range(count - 1):
        operations += [{"index": {"_index": SYNC_JOBS_INDEX}}, template]
    es.bulk(operations=operations, refresh=True)
    es.update(index=SYNC_JOBS_INDEX, id=job_id, doc={"last_seen": template["last_seen"]},
              refresh=True)


def running_tasks(elasticsearch_url: str, actions: str) -> list[dict]:
    """The node's task list (GET _tasks, asked directly: the client flags the API as preview)."""
    answer = urllib3.request("GET", f"{elasticsearch_url}/_tasks?detailed=true&actions={actions}",
                             retries=False).json()
    return [task for node in answer["nodes"].values() for task in node["tasks"].values()]


def headers_seen_by_elasticsearch(elasticsearch_url: str, request: threading.Thread) -> list[dict]:
    """The headers of every connector-index task the node started while `request` was running
    (starts `request`): a task of the test's own setup may still be listed as it ends."""
    since = int(time.time() * 1000)  # ms, as the node stamps its tasks (the same clock)
    request.start()
    seen = []
    while request.is_alive():
        seen += [task.get("headers", {}) for task in running_tasks(elasticsearch_url, "indices:data/*")
                 if "connectors-sync-jobs" in task.get("description", "")
                 and task["start_time_in_millis"] >= since]
        time.sleep(0.005)
    return seen


def test_opaque_id_and_trace_context_reach_every_elasticsearch_call_of_a_request(
        api, es, elasticsearch_url, live_url, http):
    stale_jobs(api, es, STALE_JOBS)
    answers = []
    sweep = threading.Thread(target=lambda: answers.append(http.request(
        "POST", live_url + "/_connector/_sync_job/_stale/_error?older_than=10m",
        headers={"X-Opaque-Id": "nightly-sweep-42", "traceparent": TRACEPARENT})))
    seen = headers_seen_by_elasticsearch(elasticsearch_url, sweep)
    sweep.join()

    (answer,) = answers
    assert answer.status == 200, answer.data
    assert answer.json()["moved"] == STALE_JOBS
    assert answer.headers["X-Opaque-Id"] == "nightly-sweep-42"
    assert seen, "the node ran no task of the sweep while it was polled"
    assert {(h.get("X-Opaque-Id"), h.get("trace.id")) for h in seen} == {("nightly-sweep-42", TRACE_ID)}


def test_without_ids_a_request_gets_a_trace_of_its_own_and_no_opaque_id_is_invented(
        api, es, elasticsearch_url, live_url, http):
    stale_jobs(api, es, STALE_JOBS)
    answers = []
    sweep = threading.Thread(target=lambda: answers.append(http.request(
        "POST", live_url + "/_connector/_sync_job/_stale/_error?older_than=10m")))
    seen = headers_seen_by_elasticsearch(elasticsearch_url, sweep)
    sweep.join()

    (answer,) = answers
    assert answer.status == 200
    assert "X-Opaque-Id" not in answer.headers
    request_id = answer.headers["X-Request-Id"]
    assert len(request_id) == 32
    # Elasticsearch asks for an X-Opaque-Id per client, not per request: none is made up; the
    # request's own trace id names its calls instead.
    assert seen and {(h.get("X-Opaque-Id"), h.get("trace.id")) for h in seen} == {(None, request_id)}


def test_opaque_id_comes_back_on_every_kind_of_answer(live_url, http):
    headers = {"X-Opaque-Id": "dashboard-7"}
    own = http.request("GET", live_url + "/_connector/_sync_job", headers=headers)
    refused = http.request("GET", live_url + "/_connector/_sync_job/nope", headers=headers)
    forwarded = http.request("GET", live_url + "/_cluster/health", headers=headers)
    assert (own.status, refused.status, forwarded.status) == (200, 404, 200)
    for answer in (own, refused, forwarded):
        assert answer.headers["X-Opaque-Id"] == "dashboard-7"


def test_a_forwarded_request_keeps_the_callers_trace_context(elasticsearch_url, live_url, http):
    seen = []

    def slow_health():
        seen.append(http.request(
            "GET", live_url + "/_cluster/health?wait_for_nodes=99&timeout=2s",
            headers={"X-Opaque-Id": "worker-3", "traceparent": TRACEPARENT}))

    request = threading.Thread(target=slow_health)
    request.start()
    tasks = []
    while request.is_alive():
        tasks += [task.get("headers", {})
                  for task in running_tasks(elasticsearch_url, "cluster:monitor/health")]
        time.sleep(0.05)
    request.join()
    assert seen[0].status == 408  # the node's own answer to a wait that timed out
    assert {"X-Opaque-Id": "worker-3", "trace.id": TRACE_ID} in tasks
