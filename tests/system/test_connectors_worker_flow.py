"""One full sync, request by request, as the connectors worker (elastic/connectors with
elasticsearch-py 8.18) sends it to the one URL it is given: the service over real HTTP.

The sequence is the observed one (`_connector*` calls are answered by the service, everything
else is forwarded to Elasticsearch). It runs twice: in front of a cluster without security, and
in front of a secured one, where the worker sends its own credentials (a user with the role
Elastic documents for a connector's API key) and the cluster authorizes every step.
"""

import base64
import json
from datetime import UTC, datetime

import pytest
import urllib3

from app.storage import (
    CONCRETE_CONNECTORS_INDEX,
    CONCRETE_SYNC_JOBS_INDEX,
    CONNECTORS_INDEX,
    SYNC_JOBS_INDEX,
)
from tests.support.secured import CONTENT_INDEX

CONNECTOR_ID = "worker-flow-connector"
PIPELINE = "search-default-ingestion"
WORKER_HOSTNAME = "worker-host-1"
DOCUMENTS = 50
# elasticsearch-py 8.x sends and accepts these media types; it sends basic auth by default.
JSON_8 = "application/vnd.elasticsearch+json; compatible-with=8"
NDJSON_8 = "application/vnd.elasticsearch+x-ndjson; compatible-with=8"
WORKER_HEADERS = {
    "Accept": JSON_8,
    "Authorization": "Basic " + base64.b64encode(b"elastic:changeme").decode(),
    "User-Agent": "elasticsearch-py/8.18.0 (Python/3.11.0; elastic-transport/8.17.1)",
    "X-Elastic-Client-Meta": "es=8.18.0,py=3.11.0,t=8.17.1,ur=2.2.3",
}
CONFIGURATION = {"directory": {"label": "Directory path", "value": "/data", "type": "str",
                               "display": "text", "order": 1, "required": True,
                               "sensitive": False}}


def now() -> str:
    return datetime.now(UTC).isoformat()


class Answer:
    def __init__(self, response: urllib3.BaseHTTPResponse):
        self.status = response.status
        self.headers = response.headers
        self.data = response.data

    def json(self) -> dict:
        return json.loads(self.data)


class Worker:
    """An HTTP client of the project's own that sends what the worker sends, with one set of
    credentials (the worker's, or Kibana's for the steps Kibana takes)."""

    def __init__(self, host: str, authorization: dict[str, str] | None = None):
        self.host = host
        self.authorization = authorization or {}
        self.http = urllib3.PoolManager(retries=False, timeout=30)

    def send(self, method: str, path: str, body: dict | None = None, *, expect: int = 200,
             raw: bytes | None = None, content_type: str = JSON_8) -> Answer:
        headers = {**WORKER_HEADERS, **self.authorization}
        if body is not None:
            raw = json.dumps(body).encode()
        if raw is not None:
            headers["Content-Type"] = content_type
        answer = Answer(self.http.request(method, self.host + path, body=raw, headers=headers))
        assert answer.status == expect, (method, path, answer.status, answer.data[:500])
        assert answer.headers["X-Elastic-Product"] == "Elasticsearch", (method, path)
        return answer


@pytest.fixture
def worker(live_url, es):
    es.indices.delete(index=CONTENT_INDEX, ignore_unavailable=True)
    yield Worker(live_url)
    es.indices.delete(index=CONTENT_INDEX, ignore_unavailable=True)
    es.options(ignore_status=404).ingest.delete_pipeline(id=PIPELINE)


@pytest.fixture
def secured_worker(secured_node, secured_es, secured_url):
    """The worker in front of the secured cluster (through the service as an operator runs it:
    its own user, TLS, AUTH_MODE left to the cluster) with the worker user's own credentials,
    and Kibana (the steps an administrator's session takes) beside it."""
    secured_es.indices.delete(index=CONTENT_INDEX, ignore_unavailable=True)
    yield (Worker(secured_url, secured_node.headers("worker")),
           Worker(secured_url, secured_node.headers("admin")))
    secured_es.indices.delete(index=CONTENT_INDEX, ignore_unavailable=True)
    secured_es.options(ignore_status=404).ingest.delete_pipeline(id=PIPELINE)


def test_a_full_sync_runs_through_the_service_as_the_worker_sends_it(worker, es):
    run_a_full_sync(worker, worker, es)


def test_a_full_sync_runs_against_a_secured_cluster_with_the_workers_own_credentials(
        secured_worker, secured_es, secured_node):
    worker, kibana = secured_worker

    run_a_full_sync(worker, kibana, secured_es)

    # Every step ran as the worker: a role without manage_connector is refused by the service,
    # and one without index privileges by the cluster, for the same requests.
    reader = Worker(worker.host, secured_node.headers("reader"))
    refused = reader.send("PUT", f"/_connector/{CONNECTOR_ID}/_check_in", raw=b"",
                          content_type="application/octet-stream", expect=403)
    assert "unauthorized for user [reader]" in refused.json()["error"]["reason"]
    reader.send("GET", f"/{CONNECTORS_INDEX}/_doc/{CONNECTOR_ID}", expect=403)


def run_a_full_sync(worker: "Worker", kibana: "Worker", es) -> None:
    preflight(worker)
    set_up_connector(worker, es, kibana)
    job_id = schedule_sync(worker, es)
    found = find_pending_job(worker, job_id)
    assert found["_source"]["connector"]["id"] == CONNECTOR_ID
    start_sync(worker, es, job_id)
    index_documents(worker, es, job_id)
    finish_sync(worker, es, job_id)
    record_sync_on_connector(worker, es, job_id)


def test_a_stale_seq_no_on_the_connector_is_a_409_through_the_service(worker, es):
    set_up_connector(worker, es)
    read = worker.send("GET", f"/{CONNECTORS_INDEX}/_doc/{CONNECTOR_ID}").json()
    guard = f"if_seq_no={read['_seq_no']}&if_primary_term={read['_primary_term']}"
    worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}?{guard}",
                {"doc": {"last_sync_status": "in_progress"}})
    # A second task of the worker still holds the first read's tokens.
    conflict = worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}?{guard}",
                           {"doc": {"last_sync_status": "in_progress"}}, expect=409)
    assert conflict.json()["error"]["type"] == "version_conflict_engine_exception"
    assert es.get(index=CONNECTORS_INDEX, id=CONNECTOR_ID)["_seq_no"] == read["_seq_no"] + 1


@pytest.mark.parametrize("version", ["8", "9"])
def test_the_services_routes_accept_compatible_with_media_types(worker, es, version):
    set_up_connector(worker, es)
    media_type = f"application/vnd.elasticsearch+json; compatible-with={version}"
    created = worker.send("POST", "/_connector/_sync_job", {"id": CONNECTOR_ID},
                          content_type=media_type, expect=201)
    assert es.get(index=SYNC_JOBS_INDEX, id=created.json()["id"])["_source"]["status"] == "pending"


# The worker's steps


def preflight(worker: Worker) -> None:
    """The version check, then the two concrete indices (created by the worker only on a 404)."""
    root = worker.send("GET", "/").json()
    assert root["version"]["number"]
    assert root["version"]["build_flavor"]
    for concrete in (CONCRETE_CONNECTORS_INDEX, CONCRETE_SYNC_JOBS_INDEX):
        head = worker.send("HEAD", f"/{concrete}")
        assert head.data == b""


def set_up_connector(worker: Worker, es, kibana: Worker | None = None) -> None:
    """Kibana's part (the connector, the default pipeline), then the scheduler's first poll:
    find the connector, check it in, prepare it (configuration, features) under its guard."""
    kibana = kibana or worker
    kibana.send("PUT", f"/_connector/{CONNECTOR_ID}",
                {"index_name": CONTENT_INDEX, "name": "Worker flow", "service_type": "dir",
                 "is_native": False, "language": "en"}, expect=201)
    # What Elasticsearch installs for Kibana; this distribution has no processors to add.
    kibana.send("PUT", f"/_ingest/pipeline/{PIPELINE}", {"processors": []})

    hits = worker.send("POST", f"/{CONNECTORS_INDEX}/_search?expand_wildcards=hidden", {
        "query": {"bool": {"must_not": [{"term": {"deleted": True}}],
                           "filter": [{"terms": {"_id": [CONNECTOR_ID]}}]}},
        "seq_no_primary_term": True, "from": 0, "size": 100}).json()["hits"]
    assert hits["total"]["value"] == 1
    connector = hits["hits"][0]

    worker.send("PUT", f"/_connector/{CONNECTOR_ID}/_check_in", raw=b"",
                content_type="application/octet-stream")
    assert es.get(index=CONNECTORS_INDEX, id=CONNECTOR_ID)["_source"]["last_seen"]

    stale = f"if_seq_no={connector['_seq_no']}&if_primary_term={connector['_primary_term']}"
    # The check-in wrote the document since the search read it: the worker reloads first.
    worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}?{stale}",
                {"doc": {"features": {}}}, expect=409)
    current = worker.send("GET", f"/{CONNECTORS_INDEX}/_doc/{CONNECTOR_ID}").json()
    guard = f"if_seq_no={current['_seq_no']}&if_primary_term={current['_primary_term']}"
    worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}?{guard}", {"doc": {
        "configuration": CONFIGURATION,
        "features": {"sync_rules": {"basic": {"enabled": True}, "advanced": {"enabled": False}}},
        "pipeline": {"name": PIPELINE, "extract_binary_content": True,
                     "reduce_whitespace": True, "run_ml_inference": False}}})
    worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}",
                {"doc": {"status": "connected", "error": None}})
    stored = es.get(index=CONNECTORS_INDEX, id=CONNECTOR_ID)["_source"]
    assert stored["status"] == "connected"
    assert stored["configuration"]["directory"]["value"] == "/data"


def schedule_sync(worker: Worker, es) -> str:
    """The scheduler marks the connector, then creates a scheduled full sync."""
    current = worker.send("GET", f"/{CONNECTORS_INDEX}/_doc/{CONNECTOR_ID}").json()
    guard = f"if_seq_no={current['_seq_no']}&if_primary_term={current['_primary_term']}"
    worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}?{guard}",
                {"doc": {"last_sync_scheduled_at": now()}})
    job_id = worker.send("POST", "/_connector/_sync_job", {
        "id": CONNECTOR_ID, "job_type": "full", "trigger_method": "scheduled"},
        expect=201).json()["id"]
    assert es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]["trigger_method"] == "scheduled"
    return job_id


def find_pending_job(worker: Worker, job_id: str) -> dict:
    """The executor's own search, oldest first, with the tokens of each hit."""
    hits = worker.send("POST", f"/{SYNC_JOBS_INDEX}/_search?expand_wildcards=hidden", {
        "query": {"bool": {"filter": [
            {"terms": {"status": ["pending", "suspended"]}},
            {"terms": {"connector.id": [CONNECTOR_ID]}},
            {"terms": {"job_type": ["full", "incremental"]}}]}},
        "sort": [{"created_at": "asc"}], "from": 0, "size": 100,
        "seq_no_primary_term": True}).json()["hits"]
    assert hits["total"]["value"] == 1
    hit = hits["hits"][0]
    assert hit["_id"] == job_id
    assert hit["_seq_no"] >= 0 and hit["_primary_term"] >= 1
    job = hit["_source"]
    assert (job["status"], job["job_type"]) == ("pending", "full")
    assert job["created_at"]
    snapshot = job["connector"]
    assert snapshot["index_name"] == CONTENT_INDEX
    assert snapshot["service_type"] == "dir"
    assert snapshot["language"] == "en"
    assert snapshot["configuration"]["directory"]["value"] == "/data"
    assert snapshot["pipeline"]["name"] == PIPELINE
    assert isinstance(snapshot["filtering"], dict)
    return hit


def sync_starts(worker: Worker) -> None:
    """The worker's lock on the connector: refuse a connector whose last sync is in progress,
    else mark it so under the connector's guard (SyncJobRunner.sync_starts)."""
    connector = worker.send("GET", f"/{CONNECTORS_INDEX}/_doc/{CONNECTOR_ID}").json()
    assert connector["_source"].get("last_sync_status") != "in_progress"
    guard = f"if_seq_no={connector['_seq_no']}&if_primary_term={connector['_primary_term']}"
    worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}?{guard}", {"doc": {
        "status": "connected", "error": None, "last_sync_status": "in_progress",
        "last_sync_error": None}})


def start_sync(worker: Worker, es, job_id: str) -> None:
    """sync_starts on the connector (guarded), the claim, then the realtime check of the job."""
    sync_starts(worker)
    worker.send("PUT", f"/_connector/_sync_job/{job_id}/_claim",
                {"worker_hostname": WORKER_HOSTNAME})
    job = worker.send("GET", f"/{SYNC_JOBS_INDEX}/_doc/{job_id}").json()
    assert job["found"] is True
    assert job["_source"]["status"] == "in_progress"
    assert job["_source"]["worker_hostname"] == WORKER_HOSTNAME
    assert job["_source"]["started_at"]
    assert es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]["status"] == "in_progress"


def index_documents(worker: Worker, es, job_id: str) -> None:
    """Prepare the content index, read the ids already there, bulk the documents in through
    the pipeline, and report progress with the `_stats` heartbeat."""
    assert worker.send("GET", f"/{CONTENT_INDEX}?ignore_unavailable=true").json() == {}
    worker.send("PUT", f"/{CONTENT_INDEX}", raw=b"", content_type="application/octet-stream")
    worker.send("HEAD", f"/{CONTENT_INDEX}")
    existing = worker.send("POST", f"/{CONTENT_INDEX}/_search?scroll=5m", {
        "size": 1000, "sort": "_doc", "_source": ["id", "_timestamp"]}).json()
    assert existing["hits"]["hits"] == []
    worker.send("DELETE", "/_search/scroll", {"scroll_id": [existing["_scroll_id"]]})

    lines = []
    for n in range(DOCUMENTS):
        lines.append(json.dumps({"index": {"_index": CONTENT_INDEX, "_id": f"file-{n}"}}))
        lines.append(json.dumps({"id": f"file-{n}", "_timestamp": now(),
                                 "title": f"file {n}", "body": "text " * 200}))
    bulk = worker.send("PUT", f"/_bulk?pipeline={PIPELINE}",
                       raw=("\n".join(lines) + "\n").encode(), content_type=NDJSON_8).json()
    assert bulk["errors"] is False
    assert len(bulk["items"]) == DOCUMENTS

    seen_before = es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]["last_seen"]
    worker.send("GET", f"/{SYNC_JOBS_INDEX}/_doc/{job_id}")
    worker.send("PUT", f"/_connector/_sync_job/{job_id}/_stats", {
        "indexed_document_count": DOCUMENTS, "indexed_document_volume": 1,
        "deleted_document_count": 0, "metadata": {}})
    job = es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]
    assert job["indexed_document_count"] == DOCUMENTS
    assert job["last_seen"] >= seen_before


def finish_sync(worker: Worker, es, job_id: str) -> None:
    """Refresh and count the content index, then write the terminal state directly."""
    worker.send("POST", f"/{CONTENT_INDEX}/_refresh?ignore_unavailable=true")
    total = worker.send("POST", f"/{CONTENT_INDEX}/_count?ignore_unavailable=true").json()["count"]
    assert total == DOCUMENTS
    finished_at = now()
    worker.send("POST", f"/{SYNC_JOBS_INDEX}/_update/{job_id}", {"doc": {
        "status": "completed", "error": None, "completed_at": finished_at,
        "last_seen": finished_at, "indexed_document_count": DOCUMENTS,
        "indexed_document_volume": 1, "deleted_document_count": 0,
        "total_document_count": total}})
    stored = es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]
    assert (stored["status"], stored["total_document_count"]) == ("completed", DOCUMENTS)
    # The service's own API sees what the worker wrote directly.
    job = worker.send("GET", f"/_connector/_sync_job/{job_id}").json()
    assert (job["status"], job["completed_at"]) == ("completed", finished_at)


def record_sync_on_connector(worker: Worker, es, job_id: str) -> None:
    """sync_done: re-read the job and the connector, write last_sync_* under the guard; the
    guard the worker read before is stale afterwards."""
    job = worker.send("GET", f"/{SYNC_JOBS_INDEX}/_doc/{job_id}").json()["_source"]
    connector = worker.send("GET", f"/{CONNECTORS_INDEX}/_doc/{CONNECTOR_ID}").json()
    guard = f"if_seq_no={connector['_seq_no']}&if_primary_term={connector['_primary_term']}"
    last_sync = {"last_synced": job["completed_at"], "status": "connected", "error": None,
                 "last_sync_status": "completed", "last_sync_error": None,
                 "sync_cursor": None, "last_indexed_document_count": job["indexed_document_count"],
                 "last_deleted_document_count": job["deleted_document_count"]}
    worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}?{guard}", {"doc": last_sync})
    stored = es.get(index=CONNECTORS_INDEX, id=CONNECTOR_ID)
    assert {key: stored["_source"].get(key) for key in last_sync} == last_sync

    conflict = worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}?{guard}",
                           {"doc": {"last_sync_status": "error"}}, expect=409)
    assert conflict.json()["error"]["type"] == "version_conflict_engine_exception"
    after = es.get(index=CONNECTORS_INDEX, id=CONNECTOR_ID)
    assert after["_seq_no"] == stored["_seq_no"]
    assert after["_source"]["last_sync_status"] == "completed"


# When a cancel comes between the worker's poll and its claim


def sync_done(worker: Worker, job_id: str, status: str, error: str | None) -> None:
    """SyncJobRunner._sync_done: the job's terminal state, then Connector.sync_done, both
    written straight to the indices (connectors/sync_job_runner.py, protocol/connectors.py)."""
    worker.send("GET", f"/{SYNC_JOBS_INDEX}/_doc/{job_id}")
    worker.send("GET", f"/{CONNECTORS_INDEX}/_doc/{CONNECTOR_ID}")
    total = worker.send("POST", f"/{CONTENT_INDEX}/_count?ignore_unavailable=true").json()["count"]
    finished_at = now()
    terminal = {"last_seen": finished_at, "status": status, "error": error,
                "completed_at": finished_at, "indexed_document_count": 0,
                "indexed_document_volume": 0, "deleted_document_count": 0,
                "total_document_count": total}
    if status == "canceled":
        terminal["canceled_at"] = finished_at
    worker.send("POST", f"/{SYNC_JOBS_INDEX}/_update/{job_id}", {"doc": terminal})
    job = worker.send("GET", f"/{SYNC_JOBS_INDEX}/_doc/{job_id}").json()["_source"]
    worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}", {"doc": {
        "last_synced": finished_at, "status": "error" if status == "error" else "connected",
        "error": job["error"], "last_sync_status": status, "last_sync_error": job["error"],
        "last_indexed_document_count": 0, "last_deleted_document_count": 0}})


def test_a_job_canceled_before_its_claim_is_refused_synced_never_and_frees_its_connector(
        worker, es):
    set_up_connector(worker, es)
    job_id = schedule_sync(worker, es)
    find_pending_job(worker, job_id)
    sync_starts(worker)
    worker.send("PUT", f"/_connector/_sync_job/{job_id}/_cancel")  # Kibana, meanwhile

    refused = worker.send("PUT", f"/_connector/_sync_job/{job_id}/_claim",
                          {"worker_hostname": WORKER_HOSTNAME}, expect=400).json()
    assert refused["error"]["caused_by"]["type"] == (
        "connector_sync_job_invalid_status_transition_exception")
    # The worker wraps the refusal (SyncJob._wrap_errors, word for word as the real worker
    # wrote it when run against the service) and ends the run in error.
    message = (f"ProtocolError: Failed to claim job for job {job_id} because Elasticsearch "
               f"responded with status 400. Reason: {refused['error']['reason']}")
    sync_done(worker, job_id, "error", message)

    assert not es.indices.exists(index=CONTENT_INDEX)  # nothing was synced against the cancel
    job = es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]
    assert "from [canceled] to [in_progress]" in job["error"]
    assert job["canceled_at"]  # the cancel's record stays
    connector = es.get(index=CONNECTORS_INDEX, id=CONNECTOR_ID)["_source"]
    assert (connector["last_sync_status"], connector["last_sync_error"]) == ("error", message)
    # The connector is not stuck: the next poll reconnects it and the next sync starts.
    worker.send("POST", f"/{CONNECTORS_INDEX}/_update/{CONNECTOR_ID}",
                {"doc": {"status": "connected", "error": None}})
    start_sync(worker, es, schedule_sync(worker, es))


def test_a_claim_repeated_after_a_cancel_lets_the_worker_end_the_job_canceled(worker, es):
    set_up_connector(worker, es)
    job_id = schedule_sync(worker, es)
    sync_starts(worker)
    claim = {"worker_hostname": WORKER_HOSTNAME}
    worker.send("PUT", f"/_connector/_sync_job/{job_id}/_claim", claim)  # its answer is lost
    worker.send("PUT", f"/_connector/_sync_job/{job_id}/_cancel")  # Kibana, meanwhile

    repeated = worker.send("PUT", f"/_connector/_sync_job/{job_id}/_claim", claim).json()
    assert repeated == {"result": "noop"}
    # check_job, 5 s later: canceling → ConnectorJobCanceledError → _sync_done(CANCELED).
    status = worker.send("GET", f"/{SYNC_JOBS_INDEX}/_doc/{job_id}").json()["_source"]["status"]
    assert status == "canceling"
    sync_done(worker, job_id, "canceled", None)

    assert es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]["status"] == "canceled"
    connector = es.get(index=CONNECTORS_INDEX, id=CONNECTOR_ID)["_source"]
    assert (connector["status"], connector["last_sync_status"]) == ("connected", "canceled")
