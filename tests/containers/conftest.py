"""The container tests' engine, images and helpers.

These tests need a Docker engine. `TEST_CONTAINERS` says what happens without one: `auto` (the
default) starts one as root (scripts/docker-engine) and otherwise skips every test here, saying
why; `required` (CI) fails instead of skipping; `no` skips them without trying.

The images they build on (python:3.11-slim, elasticsearch:<ES_VERSION>) are the engine's own
where it has or can pull them, else stand-ins built from Debian's packages and the Maven
distribution (scripts/stand-in-images). Every container, network, volume and image tag these
tests create is removed by them; nothing else in the engine is touched.
"""

import os
import shutil
import subprocess
import uuid

import docker
import pytest
from testcontainers.core.config import ConnectionMode, testcontainers_config

from app.testing import ConnectorSyncJobsContainer, ElasticsearchContainer
from tests.support.nodes import REPO_ROOT, docker_engine_answers, es_version

# Each test removes what it starts; and no registry may serve testcontainers' reaper image.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
# A machine whose own engine serves it may still look like a container (/.dockerenv), which
# makes testcontainers reach containers through the bridge's gateway: reach their published
# ports on this machine's loopback instead, as on any host (subprocesses inherit it).
if "TESTCONTAINERS_CONNECTION_MODE" not in os.environ:
    os.environ["TESTCONTAINERS_CONNECTION_MODE"] = ConnectionMode.docker_host.value
    testcontainers_config.connection_mode_override = ConnectionMode.docker_host
MODES = ("auto", "required", "no")


def unavailable(reason: str):
    """Skips the test, or fails it when TEST_CONTAINERS=required."""
    if os.environ.get("TEST_CONTAINERS", "auto") == "required":
        pytest.fail(f"TEST_CONTAINERS=required: {reason}", pytrace=False)
    pytest.skip(reason)


def run_script(name: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO_ROOT / "scripts" / name)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "ES_VERSION": es_version()})


@pytest.fixture(scope="session")
def docker_engine():
    """A Docker client on an engine holding the images the tests build on."""
    mode = os.environ.get("TEST_CONTAINERS", "auto")
    if mode not in MODES:
        pytest.fail(f"TEST_CONTAINERS must be one of {', '.join(MODES)}, not {mode!r}", pytrace=False)
    if mode == "no":
        pytest.skip("TEST_CONTAINERS=no: the container tests do not run")
    if not docker_engine_answers():
        if os.geteuid() != 0:
            unavailable("no Docker engine answers, and starting one needs root: the container "
                        "tests need one (README \"Test it\")")
        started = run_script("docker-engine", timeout=900)
        if started.returncode != 0:
            unavailable(f"no Docker engine answers and none could be started:\n{started.stderr[-2000:]}")
    images = run_script("stand-in-images", timeout=1800)
    if images.returncode != 0:
        unavailable(f"the images the container tests build on are missing:\n{images.stderr[-2000:]}")
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def elasticsearch_image(docker_engine) -> str:
    return f"elasticsearch:{es_version()}"


@pytest.fixture(scope="session")
def service_image(docker_engine):
    """The service's image, built from this checkout as `docker build` does, under a tag of the
    session's own (removed after it)."""
    tag = f"connector-sync-jobs-test:{uuid.uuid4().hex[:12]}"
    built = subprocess.run(["docker", "build", "-q", "-t", tag, str(REPO_ROOT)],
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    yield tag
    remove_tag(docker_engine, tag)


def remove_tag(client: docker.DockerClient, tag: str) -> None:
    try:
        client.images.remove(tag, noprune=False)
    except docker.errors.NotFound:
        pass


@pytest.fixture(scope="module")
def elasticsearch_container(elasticsearch_image):
    """A node the tests of one module share, on the engine's default network."""
    with ElasticsearchContainer(elasticsearch_image) as node:
        yield node


@pytest.fixture(scope="module")
def service_container(service_image, elasticsearch_container):
    """The image running in front of the module's node, as app.testing starts it."""
    with ConnectorSyncJobsContainer(service_image, elasticsearch=elasticsearch_container) as service:
        yield service


def compose_commands() -> list:
    """`docker-compose` (v1) and the `docker compose` plugin, each skipped where missing."""
    plugin = shutil.which("docker") is not None and subprocess.run(
        ["docker", "compose", "version"], capture_output=True).returncode == 0
    return [
        pytest.param(["docker-compose"], id="docker-compose", marks=pytest.mark.skipif(
            shutil.which("docker-compose") is None, reason="no docker-compose command here")),
        pytest.param(["docker", "compose"], id="docker-compose-plugin", marks=pytest.mark.skipif(
            not plugin, reason="no `docker compose` plugin here (Debian bookworm packages none)")),
    ]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/containers/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.containers)
