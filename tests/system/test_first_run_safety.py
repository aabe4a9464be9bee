"""The test command never touches data it did not make, and any checkout location works.

`scripts/test` runs the suite on a node of its own, whatever node already answers and whatever
`ELASTICSEARCH_URL` names; a cluster offered on purpose with `TEST_ELASTICSEARCH_URL` is refused
while its connector indices hold documents. Each case runs the README's test command itself,
on one small test module, beside a node that stands for a user's own cluster.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import urllib3
from elasticsearch import Elasticsearch

from app import create_app
from tests.support.api_client import ApiClient
from tests.support.nodes import REPO_ROOT, es_version, free_port, local_node

# A small module of the suite, run by the nested test command.
SMALL_MODULE = "tests/reference/test_get_sync_job.py"
PRECIOUS = "precious-prod-connector"
NODE_USER = "elasticsearch"


@pytest.fixture(scope="module")
def someones_cluster():
    """A node the suite did not start for the run under test, holding a connector its owner
    made through the service."""
    with local_node("someones-cluster") as node:
        service = ApiClient(create_app({"ELASTICSEARCH_URL": node.url,
                                        "INSTALL_TEMPLATES_ON_START": False}).test_client())
        service.call("PUT", f"/_connector/{PRECIOUS}",
                     {"index_name": "search-precious", "service_type": "sharepoint_online"},
                     expect=201)
        with Elasticsearch(node.url) as client:
            yield node, client


def connector_index_activity(client: Elasticsearch) -> dict:
    """Every write and delete the connector indices ever took, and what they hold now."""
    client.indices.refresh(index=".elastic-connectors*", expand_wildcards="all")
    stats = client.indices.stats(index=".elastic-connectors*", metric=["indexing", "docs"],
                                 expand_wildcards="all")["_all"]["primaries"]
    return {"indexed": stats["indexing"]["index_total"], "deleted": stats["indexing"]["delete_total"],
            "documents": stats["docs"]["count"]}


def run_test_command(*pytest_args: str, **environment: str) -> subprocess.CompletedProcess:
    """The README's test command, as a user runs it from their shell."""
    return subprocess.run([str(REPO_ROOT / "scripts" / "test"), *pytest_args, "-q", "-p", "no:cacheprovider"],
                          env={**os.environ, **environment}, capture_output=True, text=True,
                          timeout=900, cwd="/")


@pytest.mark.parametrize("shell", [
    pytest.param("serving", id="ELASTICSEARCH_URL names the cluster"),
    pytest.param("port", id="the cluster answers on the node port"),
])
def test_running_the_tests_beside_someones_cluster_leaves_it_alone(someones_cluster, shell):
    node, client = someones_cluster
    before = connector_index_activity(client)
    environment = {"ES_HTTP_PORT": str(node.http_port)}
    if shell == "serving":
        environment["ELASTICSEARCH_URL"] = node.url  # as set for scripts/serve

    run = run_test_command(SMALL_MODULE, **environment)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "3 passed" in run.stdout
    assert client.get(index=".elastic-connectors", id=PRECIOUS)["found"]
    assert connector_index_activity(client) == before


def test_a_cluster_offered_for_tests_is_refused_while_it_holds_documents(someones_cluster):
    node, client = someones_cluster
    before = connector_index_activity(client)

    run = run_test_command(SMALL_MODULE, TEST_ELASTICSEARCH_URL=node.url)

    assert run.returncode == 3
    output = run.stdout + run.stderr
    assert f"TEST_ELASTICSEARCH_URL points at {node.url}" in output
    assert f".elastic-connectors-v1/{PRECIOUS}" in output
    assert "Nothing was changed" in output
    assert connector_index_activity(client) == before


def test_an_empty_cluster_offered_for_tests_is_used_and_left_empty(elasticsearch_url, es):
    before = connector_index_activity(es)

    run = run_test_command(SMALL_MODULE, TEST_ELASTICSEARCH_URL=elasticsearch_url)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "3 passed" in run.stdout
    after = connector_index_activity(es)
    assert after["indexed"] > before["indexed"]  # the run wrote there...
    assert after["documents"] == 0  # ...and took all it wrote away again


def copy_of_the_scripts(checkout: Path) -> Path:
    """What starting a node needs from a checkout: scripts/ and .env."""
    checkout.mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "scripts", checkout / "scripts")
    shutil.copy(REPO_ROOT / ".env", checkout / ".env")
    return checkout


def node_answers(url: str) -> bool:
    http = urllib3.PoolManager(retries=False, timeout=5)
    return http.request("GET", f"{url}/_cluster/health").status == 200


def test_a_checkout_the_node_user_cannot_reach_installs_and_starts_its_node(tmp_path):
    locked = tmp_path / "home"
    locked.mkdir(mode=0o700)  # like /root: nobody else may open it
    checkout = copy_of_the_scripts(locked / "connector-sync-jobs")
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key != "ES_HOME_BASE"}
    environment.update(ES_HTTP_PORT=str(port), ES_TRANSPORT_PORT=str(free_port()),
                       ES_REUSE_RUNNING="no", ES_VERSION=es_version())
    shared_run_dir = Path("/var/tmp/connector-sync-jobs") / f"run-{es_version()}-{port}"
    try:
        started = subprocess.run([str(checkout / "scripts" / "start-elasticsearch")],
                                 env=environment, capture_output=True, text=True, timeout=900)
        assert started.returncode == 0, started.stderr[-3000:]
        assert node_answers(started.stdout.strip())
        if os.getuid() == 0:  # only root's checkouts can be closed to the node's user
            assert (f"user {NODE_USER} cannot reach {checkout}; Elasticsearch is installed and "
                    "run from /var/tmp/connector-sync-jobs instead") in started.stderr
            assert (shared_run_dir / "data").is_dir()
        else:
            assert "cannot reach" not in started.stderr
    finally:
        subprocess.run([str(checkout / "scripts" / "stop-elasticsearch")], env=environment,
                       capture_output=True, timeout=120)
        shutil.rmtree(shared_run_dir, ignore_errors=True)


def installed_zip() -> Path:
    """The distribution this run's own node was installed from."""
    for base in (REPO_ROOT / ".elasticsearch", Path("/var/tmp/connector-sync-jobs")):
        candidate = base / "downloads" / f"elasticsearch-{es_version()}.zip"
        if candidate.is_file():
            return candidate
    raise AssertionError("the session's node was installed from no known downloads folder")


def test_a_user_other_than_root_starts_a_node_of_its_own(elasticsearch_url):
    """As root the scripts run the node as a system user; anyone else runs it as themselves,
    with no useradd and no su. (Run as root, this test becomes that system user.)"""
    checkout = copy_of_the_scripts(Path(tempfile.mkdtemp(prefix="connector-sync-jobs-user-")) / "c")
    downloads = checkout / ".elasticsearch" / "downloads"
    downloads.mkdir(parents=True)
    shutil.copy(installed_zip(), downloads)  # the user has no Maven repository of its own
    port, transport = free_port(), free_port()
    command = (f"cd {checkout} && ES_HTTP_PORT={port} ES_TRANSPORT_PORT={transport} "
               f"ES_REUSE_RUNNING=no ES_VERSION={es_version()} scripts/")
    as_root = os.getuid() == 0
    if as_root:
        user = pwd.getpwnam(NODE_USER)
        for path in [checkout.parent, *checkout.parent.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)

    def as_the_user(script: str) -> subprocess.CompletedProcess:
        argv = (["su", "-s", "/bin/bash", NODE_USER, "-c", command + script] if as_root
                else ["bash", "-c", command + script])
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith("ES_")}
        return subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=900)

    try:
        started = as_the_user("start-elasticsearch")
        assert started.returncode == 0, started.stderr[-3000:]
        assert node_answers(started.stdout.strip())
        pid = (checkout / ".elasticsearch" / f"run-{es_version()}-{port}" / "pid").read_text().strip()
        assert os.stat(f"/proc/{pid}").st_uid == (user.pw_uid if as_root else os.getuid())
    finally:
        as_the_user("stop-elasticsearch")
        shutil.rmtree(checkout.parent, ignore_errors=True)
