"""Faults: Elasticsearch stopped or frozen mid-load, indices and templates deleted by an operator.

The outage tests start a local node of their own (tests.support.nodes.LocalNode), so they can stop,
freeze and restart it without disturbing the node the other tests use.
"""

import signal
import threading
import time
import uuid

import pytest

from app import create_app
from app.storage import CONCRETE_CONNECTORS_INDEX, CONCRETE_SYNC_JOBS_INDEX, SYNC_JOBS_INDEX
from app.storage.layout import load_index_templates
from tests.support.api_client import ApiClient, error_type
from tests.support.nodes import LocalNode

TIMEOUT = 2.0


@pytest.fixture(scope="module")
def fault_node():
    node = LocalNode("faults")
    try:
        node.start()
    except RuntimeError as err:
        node.remove()
        pytest.fail(f"the fault tests need the local distribution (Maven and a JDK): {err}",
                    pytrace=False)
    yield node
    node.remove()


@pytest.fixture(scope="module")
def fault_api(fault_node):
    app = create_app({"ELASTICSEARCH_URL": fault_node.url, "INSTALL_TEMPLATES_ON_START": False,
                      "ELASTICSEARCH_REQUEST_TIMEOUT": TIMEOUT})
    app.extensions["connector_storage"].ensure_ready()
    return ApiClient(app.test_client())


def unique_connector(api: ApiClient, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    api.call("PUT", f"/_connector/{name}", {"index_name": f"search-{name}",
                                            "service_type": "super-connector"}, expect=201)
    return name


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
    fault_node.stop()
    down = fault_api.call("GET", "/_connector/_sync_job", expect=503)
    assert error_type(down) == "service_unavailable_exception"
    time.sleep(1.0)
    fault_node.start()
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


def test_frozen_node_times_out_into_503_then_recovers(fault_api, fault_node):
    connector = unique_connector(fault_api, "frozen")
    fault_node.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        body = fault_api.call("POST", "/_connector/_sync_job", {"id": connector}, expect=503)
        elapsed = time.monotonic() - started
    finally:
        fault_node.signal(signal.SIGCONT)
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
