"""Faults: Elasticsearch stopped or frozen mid-load, indices and templates deleted by an operator.

The outage tests start their own local node (scripts/start-elasticsearch on FAULT_ES_PORT), so
they can stop and restart it without disturbing the node the other tests use.
"""

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from app import create_app
from app.storage import CONCRETE_CONNECTORS_INDEX, CONCRETE_SYNC_JOBS_INDEX, SYNC_JOBS_INDEX
from app.storage.layout import load_index_templates
from tests.api_client import ApiClient, error_type
from tests.nodes import REPO_ROOT, es_version, start_local_node, stop_local_node

FAULT_ES_PORT = int(os.environ.get("FAULT_ES_PORT", "9250"))
TIMEOUT = 2.0


@pytest.fixture(scope="module")
def fault_node():
    try:
        url = start_local_node(FAULT_ES_PORT)
    except RuntimeError as err:
        pytest.fail(f"the fault tests need the local distribution (Maven and a JDK): {err}",
                    pytrace=False)
    yield url
    stop_local_node(FAULT_ES_PORT)


@pytest.fixture(scope="module")
def fault_api(fault_node):
    app = create_app({"ELASTICSEARCH_URL": fault_node, "INSTALL_TEMPLATES_ON_START": False,
                      "ELASTICSEARCH_REQUEST_TIMEOUT": TIMEOUT})
    app.extensions["connector_storage"].ensure_ready()
    return ApiClient(app.test_client())


def unique_connector(api: ApiClient, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    api.call("PUT", f"/_connector/{name}", {"index_name": f"search-{name}",
                                            "service_type": "super-connector"}, expect=201)
    return name


def node_pid() -> int:
    run_dir = REPO_ROOT / ".elasticsearch" / f"run-{es_version()}-{FAULT_ES_PORT}"
    return int((Path(os.environ.get("ES_HOME_BASE", run_dir.parent)) / run_dir.name / "pid").read_text())


def test_stopped_node_gives_fast_503_and_acknowledged_writes_survive(fault_api, fault_node):
    connector = unique_connector(fault_api, "outage")
    acknowledged, answers, stop = [], [], threading.Event()

    def load():
        while not stop.is_set():
            started = time.monotonic()
            response = fault_api.call("POST", "/_connector/_sync_job", {"id": connector}, expect=None)
            answers.append((response, time.monotonic() - started))
            if response and "id" in response:
                acknowledged.append(response["id"])

    worker = threading.Thread(target=load)
    worker.start()
    time.sleep(1.0)
    stop_local_node(FAULT_ES_PORT)
    down = fault_api.call("GET", "/_connector/_sync_job", expect=503)
    assert error_type(down) == "service_unavailable_exception"
    time.sleep(1.0)
    start_local_node(FAULT_ES_PORT)
    time.sleep(1.0)
    stop.set()
    worker.join()

    failures = [(body, seconds) for body, seconds in answers if not (body and "id" in body)]
    assert failures, "the load ran while the node was down"
    assert all(error_type(body) == "service_unavailable_exception" for body, _ in failures)
    assert all(seconds < TIMEOUT + 1 for _, seconds in failures)
    # Recovered by itself: new writes work without restarting the service.
    recovered = fault_api.new_job(connector)
    listed = fault_api.list_sync_jobs(connector_id=connector, size=10_000)
    stored_ids = {job["id"] for job in listed["results"]}
    assert set(acknowledged) | {recovered} <= stored_ids


def test_frozen_node_times_out_into_503_then_recovers(fault_api):
    connector = unique_connector(fault_api, "frozen")
    pid = node_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        body = fault_api.call("POST", "/_connector/_sync_job", {"id": connector}, expect=503)
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert error_type(body) == "service_unavailable_exception"
    assert TIMEOUT - 0.5 < elapsed < TIMEOUT * 2 + 1
    fault_api.new_job(connector)


def test_deleted_indices_and_templates_are_reinstalled_before_the_next_write(api, es, app):
    components, index_templates = load_index_templates()
    es.indices.delete(index=[CONCRETE_SYNC_JOBS_INDEX, CONCRETE_CONNECTORS_INDEX])
    for name in index_templates:
        es.indices.delete_index_template(name=name)
    for name in components:
        es.cluster.delete_component_template(name=name)

    job_id = api.new_job(api.create_connector("after-the-wipe"))

    assert es.indices.exists_index_template(name="elastic-connectors-sync-jobs")
    mapping = es.indices.get_mapping(index=SYNC_JOBS_INDEX)[CONCRETE_SYNC_JOBS_INDEX]["mappings"]
    assert mapping["properties"]["status"]["type"] == "keyword"
    assert mapping["dynamic"] == "false"
    assert api.get_sync_job(job_id)["status"] == "pending"


def test_deleted_index_alone_is_recreated_with_its_alias(api, es):
    connector = api.create_connector("index-gone")
    es.indices.delete(index=CONCRETE_SYNC_JOBS_INDEX)
    assert api.list_sync_jobs()["count"] == 0
    api.get_sync_job("anything", expect=404)
    job_id = api.new_job(connector)
    assert es.indices.get_alias(name=SYNC_JOBS_INDEX)[CONCRETE_SYNC_JOBS_INDEX]
    assert api.list_sync_jobs()["results"][0]["id"] == job_id
