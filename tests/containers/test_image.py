"""The production image (Dockerfile): what it holds, who it runs as, when the engine calls it
healthy, and that `docker stop` lets requests in flight finish and exits 0."""

import json
import threading
import time

import urllib3

from app.testing import ConnectorSyncJobsContainer
from tests.support.nodes import REPO_ROOT

# A forwarded request Elasticsearch holds this long before answering 408 (wait_for_nodes).
HELD_SECONDS = 4


def run_in(image_container, *command: str) -> str:
    exit_code, output = image_container.get_wrapped_container().exec_run(list(command))
    assert exit_code == 0, output.decode()
    return output.decode().strip()


def test_the_image_declares_its_user_health_check_and_labels(docker_engine, service_image):
    config = docker_engine.images.get(service_image).attrs["Config"]
    assert config["User"] == "connector-sync-jobs"
    assert "/_connector_service/ready" in " ".join(config["Healthcheck"]["Test"])
    assert config["Labels"]["org.opencontainers.image.title"] == "connector-sync-jobs"
    assert config["Labels"]["org.opencontainers.image.version"]
    assert config["ExposedPorts"] == {"8080/tcp": {}}


def test_the_service_runs_as_a_user_without_privileges(service_container):
    assert run_in(service_container, "id", "-u") == "10001"
    # granian and its workers, not only the shell that started them
    processes = service_container.get_wrapped_container().top(ps_args="-o pid,uid,comm")["Processes"]
    assert len(processes) >= 2 and {uid for _, uid, _ in processes} == {"10001"}


def test_the_project_is_installed_with_its_templates_not_linked_to_a_checkout(service_container):
    located = json.loads(run_in(service_container, "python", "-c", (
        "import json, app, app.storage.layout as layout;"
        "print(json.dumps({'app': app.__file__,"
        " 'templates': sorted(p.name for p in layout.TEMPLATES_DIR.iterdir())}))")))
    assert located["app"].startswith("/opt/connector-sync-jobs/lib/")
    assert "site-packages" in located["app"]
    assert located["templates"] == sorted(p.name for p in (REPO_ROOT / "index_templates").glob("*.json"))


def test_the_image_holds_no_compiler_and_its_environment_no_installer(service_container):
    found = run_in(service_container, "sh", "-c", "for tool in gcc cc make; do command -v $tool; done; "
                   "ls /opt/connector-sync-jobs/bin; true")
    assert not {"gcc", "cc", "make"} & {line.rsplit("/", 1)[-1] for line in found.splitlines()
                                         if line.startswith("/")}
    assert {"granian", "python"} <= set(found.split())
    assert not {"pip", "pip3"} & set(found.split())


def test_the_engine_calls_the_service_healthy_once_it_is_ready(service_container):
    container = service_container.get_wrapped_container()
    deadline = time.monotonic() + 90
    while True:
        container.reload()
        health = container.attrs["State"]["Health"]
        if health["Status"] == "healthy":
            break
        assert time.monotonic() < deadline, health
        time.sleep(1)
    assert health["Log"][-1]["ExitCode"] == 0


def test_docker_stop_finishes_requests_in_flight_and_exits_0(service_image, elasticsearch_container):
    with ConnectorSyncJobsContainer(service_image, elasticsearch=elasticsearch_container) as service:
        container = service.get_wrapped_container()
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=60))
        answers = []
        held = threading.Thread(target=lambda: answers.append(http.request(
            "GET", f"{service.get_url()}/_cluster/health",
            fields={"wait_for_nodes": "5", "timeout": f"{HELD_SECONDS}s"})))
        held.start()
        time.sleep(1.5)  # the request is with Elasticsearch now
        stopping = time.monotonic()
        container.stop(timeout=40)
        stopped_after = time.monotonic() - stopping
        held.join(timeout=30)
        container.reload()
        state = container.attrs["State"]
        logs = container.logs(tail=20).decode(errors="replace")

    assert answers, "the request in flight got no answer"
    assert answers[0].status == 408
    assert json.loads(answers[0].data)["timed_out"] is True
    assert state["ExitCode"] == 0, logs
    assert stopped_after < 30  # it stopped on SIGTERM, not when docker gave up and killed it
    # granian's own lines (its shutdown among them) are ECS JSON like the service's.
    lines = [line for line in logs.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["ecs.version"] for line in lines), logs
