"""app.testing, as other projects' integration tests use it: `ConnectorSyncJobsContainer` with
an Elasticsearch container of its own (both removed after, with their network), in front of a
URL, in front of a container the caller started; and the one clear line each failure a user
can meet is said in."""

import os
import socket
import subprocess
import sys
import uuid

import pytest
from elasticsearch import Elasticsearch

from app.testing import ConnectorSyncJobsContainer, ContainerStartError, ElasticsearchContainer
from tests.support.api_client import ApiClient
from tests.support.live_server import HttpClient


def our_containers(engine) -> set[str]:
    return {container.id for container in engine.containers.list(all=True)}


# The client warns on every call of the connector APIs (beta in its eyes).
@pytest.mark.filterwarnings("ignore::elasticsearch.exceptions.GeneralAvailabilityWarning")
def test_by_default_it_starts_a_node_of_its_own_and_removes_both_after(docker_engine, service_image,
                                                                       elasticsearch_image):
    before = our_containers(docker_engine)
    with ConnectorSyncJobsContainer(service_image, elasticsearch_image=elasticsearch_image) as service:
        node, network = service.elasticsearch, service.own_network
        started = our_containers(docker_engine) - before
        assert started == {service.get_container_id(), node.get_container_id()}
        client = service.get_client()
        client.connector.put(connector_id="helper-connector", index_name="search-helper",
                             name="helper", service_type="google_drive")
        job_id = client.connector.sync_job_post(id="helper-connector")["id"]
        client.connector.sync_job_claim(connector_sync_job_id=job_id, worker_hostname="helper")
        assert client.connector.sync_job_get(connector_sync_job_id=job_id)["status"] == "in_progress"
        # The node is reachable from the test too, to read what the service stored.
        stored = Elasticsearch(node.get_url()).get(index=".elastic-connectors-sync-jobs", id=job_id)
        assert stored["_source"]["worker_hostname"] == "helper"
        network_id = network.id
        client.close()

    assert our_containers(docker_engine) == before
    assert network_id not in {found.id for found in docker_engine.networks.list()}


def test_it_joins_a_node_container_the_caller_started(service_container, elasticsearch_container):
    api = ApiClient(HttpClient(service_container.get_url()))
    api.create_connector("joined-connector", index_name="search-joined")
    job_id = api.new_job("joined-connector")
    stored = Elasticsearch(elasticsearch_container.get_url()).get(
        index=".elastic-connectors-sync-jobs", id=job_id)
    assert stored["_source"]["connector"]["id"] == "joined-connector"
    # The caller's node outlives the service's container: it is never the service's to remove.
    assert service_container.own_network is None


def test_it_serves_in_front_of_a_node_on_this_machines_loopback(docker_engine, service_image,
                                                                elasticsearch_url, es):
    assert elasticsearch_url.startswith("http://127.0.0.1:")
    with ConnectorSyncJobsContainer(service_image, elasticsearch_url=elasticsearch_url) as service:
        assert service.get_url().startswith("http://127.0.0.1:")
        api = ApiClient(HttpClient(service.get_url()))
        api.create_connector("loopback-connector", index_name="search-loopback")
        job_id = api.new_job("loopback-connector")
    assert es.get(index=".elastic-connectors-sync-jobs", id=job_id)["found"]


def test_a_missing_service_image_is_said_in_one_line_before_any_node_starts(docker_engine):
    before = our_containers(docker_engine)
    missing = f"connector-sync-jobs-test:missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ContainerStartError) as raised:
        ConnectorSyncJobsContainer(missing).start()
    first_line = str(raised.value).splitlines()[0]
    assert first_line.startswith(f"image {missing} is not in the Docker engine and could not be pulled")
    assert "docker compose build" in first_line
    assert our_containers(docker_engine) == before


def test_a_node_that_exits_is_said_with_its_last_log_lines(docker_engine, elasticsearch_image):
    before = our_containers(docker_engine)
    node = ElasticsearchContainer(elasticsearch_image).with_env("no.such.setting", "1")
    with pytest.raises(ContainerStartError) as raised:
        node.start()
    message = str(raised.value)
    assert message.splitlines()[0].startswith(f"Elasticsearch ({elasticsearch_image}) exited with code ")
    assert "last 40 log lines of Elasticsearch" in message
    assert "no.such.setting" in message  # what the node itself said
    assert our_containers(docker_engine) == before


def test_a_node_that_never_becomes_healthy_is_said_after_its_timeout(docker_engine, service_image):
    # Any image that runs but answers nothing on 9200: the service's own, told to sleep.
    node = ElasticsearchContainer(service_image, startup_timeout=3).with_command("sleep 60")
    with pytest.raises(ContainerStartError) as raised:
        node.start()
    assert str(raised.value).splitlines()[0].startswith(
        f"Elasticsearch ({service_image}) was not ready after 3 s (GET /_cluster/health: ")


def test_a_service_that_cannot_reach_its_node_is_said_with_its_log(docker_engine, service_image):
    # Port 1 on this machine's loopback: nothing listens, every connection is refused at once.
    service = ConnectorSyncJobsContainer(
        service_image, elasticsearch_url="http://127.0.0.1:1", startup_timeout=15)
    with pytest.raises(ContainerStartError) as raised:
        service.start()
    lines = str(raised.value).splitlines()
    assert lines[0] == (f"connector-sync-jobs ({service_image}) was not ready after 15 s "
                        f"(GET /_connector_service/ready: HTTP 503)")
    assert any("127.0.0.1:1" in line for line in lines[1:])


def stale_socket(path):
    """A socket file nobody listens on, as a stopped engine leaves behind."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(str(path))


@pytest.mark.parametrize("leftover", [None, stale_socket], ids=["no-socket", "stale-socket"])
def test_no_engine_is_said_in_one_line_and_leaves_no_socket_open(tmp_path, leftover):
    path = tmp_path / "engine.sock"
    if leftover:
        leftover(path)
    env = {**os.environ, "DOCKER_HOST": f"unix://{path}"}
    said = subprocess.run([sys.executable, "-X", "tracemalloc", "-W", "error", "-c", (
        "import gc\n"
        "from app.testing import ConnectorSyncJobsContainer, ContainerStartError\n"
        "try:\n    ConnectorSyncJobsContainer()\n"
        "except ContainerStartError as err:\n    print(err)\n"
        "gc.collect()\n")],
        env=env, capture_output=True, text=True, timeout=60)
    assert said.stdout.startswith(f"no Docker engine answers at unix://{path}: start one "), said
    assert said.stderr == "", said.stderr


def test_a_reaper_image_the_engine_cannot_pull_is_said_with_the_way_out(service_image,
                                                                        elasticsearch_image):
    # The service's image is there (it is checked first); only the reaper's is missing.
    env = {**os.environ, "TESTCONTAINERS_RYUK_DISABLED": "false",
           "RYUK_CONTAINER_IMAGE": f"connector-sync-jobs-test/no-such-reaper:{uuid.uuid4().hex[:8]}"}
    said = subprocess.run([sys.executable, "-c", (
        "from app.testing import ConnectorSyncJobsContainer, ContainerStartError\n"
        "try:\n"
        f"    ConnectorSyncJobsContainer({service_image!r}, "
        f"elasticsearch_image={elasticsearch_image!r}).start()\n"
        "except ContainerStartError as err:\n    print(err)\n")],
        env=env, capture_output=True, text=True, timeout=120)
    assert "no-such-reaper" in said.stdout and "TESTCONTAINERS_RYUK_DISABLED=true" in said.stdout, said
