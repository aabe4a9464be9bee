"""docker-compose.yml as users run it (`docker compose up --build`, or docker-compose v1): both
services reach ready and healthy, a sync job lives its whole life over the published port,
stopping the service exits 0. With docker-compose.secured.yml added, Elasticsearch has security
on and the cluster decides who may call: a write without credentials is refused."""

import os
import secrets
import subprocess
import time
import uuid

import pytest
import urllib3

from app.testing.containers import free_port
from tests.containers.conftest import compose_commands, remove_tag
from tests.support.api_client import ApiClient
from tests.support.live_server import HttpClient
from tests.support.nodes import REPO_ROOT, es_version
from tests.support.secured import basic

SECURED_FILE = "docker-compose.secured.yml"


class ComposeProject:
    """One project of the repository's compose files, on ports and under names of its own."""

    def __init__(self, command: list[str], files: list[str], service_image: str, **variables):
        self.command, self.files = command, files
        self.name = f"csjtest{uuid.uuid4().hex[:10]}"
        self.port = free_port()
        self.service_image = f"{service_image.split(':')[0]}:compose-{self.name}"
        self.env = {**os.environ, "COMPOSE_PROJECT_NAME": self.name, "PORT": str(self.port),
                    "ES_PORT": str(free_port()), "SERVICE_IMAGE": self.service_image,
                    "ES_VERSION": es_version(), **variables}
        self.url = f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        files = [arg for name in self.files for arg in ("-f", str(REPO_ROOT / name))]
        return subprocess.run([*self.command, *files, *args], env=self.env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def up(self) -> None:
        started = self.run("up", "-d", "--build")
        assert started.returncode == 0, started.stderr[-3000:] + self.logs()
        self.wait_until_ready()

    def wait_until_ready(self, timeout: float = 240) -> None:
        http = urllib3.PoolManager(retries=False, timeout=5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if http.request("GET", f"{self.url}/_connector_service/ready").status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            assert time.monotonic() < deadline, f"not ready after {timeout} s{self.logs()}"
            time.sleep(1)

    def container(self, service: str):
        listed = self.run("ps", "-q", service)
        return listed.stdout.strip()

    def inspect(self, service: str, template: str) -> str:
        return subprocess.run(["docker", "inspect", "--format", template, self.container(service)],
                              capture_output=True, text=True, check=True).stdout.strip()

    def wait_until_healthy(self, service: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while (status := self.inspect(service, "{{.State.Health.Status}}")) != "healthy":
            assert time.monotonic() < deadline, f"{service} is {status}{self.logs()}"
            time.sleep(1)

    def logs(self) -> str:
        return "\n" + self.run("logs", "--tail", "30", timeout=60).stdout[-4000:]

    def down(self, engine) -> None:
        self.run("down", "--volumes", "--remove-orphans")
        remove_tag(engine, self.service_image)


@pytest.fixture(scope="module", params=compose_commands())
def project(request, docker_engine, service_image):
    project = ComposeProject(request.param, ["docker-compose.yml"], service_image)
    try:
        project.up()
        yield project
    finally:
        project.down(docker_engine)


@pytest.fixture(scope="module", params=compose_commands())
def secured_project(request, docker_engine, service_image):
    passwords = {"ELASTIC_PASSWORD": secrets.token_urlsafe(12),
                 "CONNECTOR_SERVICE_PASSWORD": secrets.token_urlsafe(12)}
    project = ComposeProject(request.param, ["docker-compose.yml", SECURED_FILE], service_image,
                             **passwords)
    project.passwords = passwords
    try:
        project.up()
        yield project
    finally:
        project.down(docker_engine)


def test_both_services_come_up_ready_and_healthy(project):
    ready = HttpClient(project.url).open("/_connector_service/ready")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"elasticsearch": {"ok": True},
                                          "index_templates": {"ok": True}, "indices": {"ok": True}}
    project.wait_until_healthy("elasticsearch")
    project.wait_until_healthy("connector-sync-jobs")


def test_a_sync_job_lives_its_whole_life_over_the_published_port(project):
    api = ApiClient(HttpClient(project.url))
    api.create_connector("compose-connector", index_name="search-compose")

    job_id = api.new_job("compose-connector")
    assert api.get_sync_job(job_id)["status"] == "pending"
    api.claim(job_id, worker_hostname="compose-worker")
    api.check_in(job_id)
    api.set_stats(job_id, deleted_document_count=1, indexed_document_count=20,
                  indexed_document_volume=300)
    api.cancel(job_id)
    job = api.get_sync_job(job_id)
    assert (job["status"], job["worker_hostname"]) == ("canceling", "compose-worker")
    assert (job["indexed_document_count"], job["indexed_document_volume"]) == (20, 300)
    listed = api.list_sync_jobs(connector_id="compose-connector")
    assert [found["id"] for found in listed["results"]] == [job_id]

    api.delete_sync_job(job_id)
    missing = api.get_sync_job(job_id, expect=404)
    assert missing["error"]["type"] == "resource_not_found_exception"


def test_stopping_the_service_exits_0(project):
    stopped = project.run("stop", "connector-sync-jobs")
    assert stopped.returncode == 0, stopped.stderr
    assert project.inspect("connector-sync-jobs", "{{.State.ExitCode}}") == "0", project.logs()


def test_the_secured_variant_comes_up_ready(secured_project):
    assert HttpClient(secured_project.url).open("/_connector_service/ready").status_code == 200
    secured_project.wait_until_healthy("connector-sync-jobs")


def test_the_secured_variant_refuses_a_write_without_credentials(secured_project):
    body = {"index_name": "search-refused", "name": "refused", "service_type": "google_drive"}
    refused = ApiClient(HttpClient(secured_project.url)).put_connector("refused", expect=401, **body)
    assert refused["status"] == 401
    assert refused["error"]["type"] == "security_exception"
    admin = ApiClient(HttpClient(secured_project.url, basic(
        "elastic", secured_project.passwords["ELASTIC_PASSWORD"])))
    assert admin.get_connector("refused", expect=404)["error"]["type"] == "resource_not_found_exception"


def test_the_secured_variant_serves_callers_with_the_clusters_credentials(secured_project):
    admin = ApiClient(HttpClient(secured_project.url, basic(
        "elastic", secured_project.passwords["ELASTIC_PASSWORD"])))
    admin.create_connector("secured-connector", index_name="search-secured")
    job_id = admin.new_job("secured-connector")
    admin.claim(job_id, worker_hostname="secured-worker")
    assert admin.get_sync_job(job_id)["status"] == "in_progress"

    # The service's own least-privilege user may store jobs, not manage connectors.
    service = ApiClient(HttpClient(secured_project.url, basic(
        "connector_service", secured_project.passwords["CONNECTOR_SERVICE_PASSWORD"])))
    assert service.get_sync_job(job_id, expect=403)["error"]["type"] == "security_exception"
