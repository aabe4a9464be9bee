"""Fixtures: a real Elasticsearch node of the suite's own, a client to read what is stored, the
app and its client."""

import os

import pytest
from elasticsearch import Elasticsearch

from app import create_app
from app.config import Config
from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX
from tests.support.api_client import ApiClient
from tests.support.nodes import (
    HOW_TO_GET_A_NODE,
    OPT_IN_VARIABLE,
    elasticsearch_node,
    refuse_if_holding_documents,
)

# The service's settings come from the environment; a user's shell (ELASTICSEARCH_URL pointing
# at their cluster, AUTH_API_KEYS, ...) must not reach the apps and servers the tests start.
SERVER_VARIABLES = ("WEB_CONCURRENCY", "WEB_THREADS", "ACCESS_LOG")
NODE_FAILURE = pytest.StashKey[str]()
for _name in [*Config.environment_names(), *SERVER_VARIABLES]:
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def elasticsearch_url(request):
    # pytest asks a failed session fixture again for every test: fail at once after the first.
    if failure := request.config.stash.get(NODE_FAILURE, None):
        pytest.fail(failure, pytrace=False)
    try:
        with elasticsearch_node() as url:
            if os.environ.get(OPT_IN_VARIABLE):
                refuse_a_cluster_holding_documents(url)
            yield url
    except (RuntimeError, TimeoutError) as err:
        request.config.stash[NODE_FAILURE] = f"{HOW_TO_GET_A_NODE}\n{err}"
        pytest.fail(request.config.stash[NODE_FAILURE], pytrace=False)


def refuse_a_cluster_holding_documents(url: str) -> None:
    """Before anything is written: a cluster offered with TEST_ELASTICSEARCH_URL whose connector
    indices hold documents stops the whole run, with nothing changed."""
    with Elasticsearch(url, request_timeout=30) as client:
        refusal = refuse_if_holding_documents(client, url)
    if refusal:
        pytest.exit(refusal, returncode=3)


@pytest.fixture(scope="session")
def es(elasticsearch_url):
    client = Elasticsearch(elasticsearch_url, request_timeout=30)
    version = client.nodes.info(node_id="_local", metric="_none")["nodes"]
    print(f"\nElasticsearch {next(iter(version.values()))['version']} at {elasticsearch_url}")
    yield client
    if os.environ.get(OPT_IN_VARIABLE):
        wipe(client)  # the next run against the same cluster finds it as this one did
    client.close()


@pytest.fixture(scope="session")
def app(elasticsearch_url, es):
    app = create_app({"TESTING": True, "ELASTICSEARCH_URL": elasticsearch_url,
                      "INSTALL_TEMPLATES_ON_START": False})
    app.extensions["connector_storage"].ensure_ready()
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client):
    return ApiClient(client)


@pytest.fixture
def unreachable_client():
    """The app in front of an address where nothing listens (port 1 refuses at once)."""
    app = create_app({"ELASTICSEARCH_URL": "http://127.0.0.1:1",
                      "INSTALL_TEMPLATES_ON_START": False, "ELASTICSEARCH_REQUEST_TIMEOUT": 2})
    return app.test_client()


@pytest.fixture(autouse=True)
def empty_indices(request):
    """Every test that touches a node starts from empty connector indices."""
    if "secured_es" in request.fixturenames:
        wipe(request.getfixturevalue("secured_es"))
    if "es" not in request.fixturenames and "app" not in request.fixturenames:
        yield
        return
    es = request.getfixturevalue("es")
    request.getfixturevalue("app").extensions["connector_storage"].ensure_ready()
    wipe(es)
    yield


def wipe(es: Elasticsearch) -> None:
    """Deletes every document of both indices (this distribution has no _delete_by_query)."""
    for index in (SYNC_JOBS_INDEX, CONNECTORS_INDEX):
        if not es.indices.exists(index=index):
            continue
        es.indices.refresh(index=index)
        hits = es.search(index=index, size=10_000, source=False)["hits"]["hits"]
        if hits:
            es.bulk(operations=[{"delete": {"_index": index, "_id": h["_id"]}} for h in hits],
                    refresh=True)


@pytest.fixture
def es_connector_fields(es):
    """Sets fields of a stored connector directly, as a worker or Kibana would."""
    from app.storage import CONNECTORS_INDEX

    def update(connector_id: str, **fields):
        es.update(index=CONNECTORS_INDEX, id=connector_id, doc=fields, refresh=True)

    return update


@pytest.fixture
def set_status(es):
    """Puts a stored job into a status directly, as a worker finishing it would."""
    from app.storage import SYNC_JOBS_INDEX

    def update(job_id: str, status: str):
        es.update(index=SYNC_JOBS_INDEX, id=job_id, doc={"status": status}, refresh=True)

    return update


@pytest.fixture(scope="session")
def live_url(elasticsearch_url, app):
    """The service over real HTTP as scripts/serve runs it (granian, two worker processes),
    for races between many connections and for clients that need a URL."""
    from tests.support.live_server import production_server

    with production_server(elasticsearch_url) as url:
        yield url


# A secured cluster: security on, TLS, file-realm users (tests/support/secured.py)


@pytest.fixture(scope="session")
def secured_node():
    """One secured node for the whole session, shared by every test that needs one."""
    from tests.support.secured import SecuredNode

    node = SecuredNode()
    try:
        node.start()
    except (RuntimeError, TimeoutError) as err:
        node.remove()
        pytest.fail(f"{HOW_TO_GET_A_NODE}\n{err}", pytrace=False)
    yield node
    node.remove()


@pytest.fixture(scope="session")
def secured_es(secured_node):
    """The secured node as its administrator sees it: to set tests up and read what is stored."""
    from tests.support.secured import password_of

    client = Elasticsearch(secured_node.url, ca_certs=secured_node.ca_certs, request_timeout=30,
                           basic_auth=("admin", password_of("admin")))
    yield client
    client.close()


@pytest.fixture(scope="session")
def secured_url(secured_node):
    """The service as scripts/serve runs it in front of the secured node: TLS with the node's CA,
    its own least-privilege user, and AUTH_MODE left unset, so the cluster decides who may call."""
    from tests.support.live_server import production_server

    with production_server(secured_node.url,
                           env={**secured_node.service_settings(), "AUTH_MODE": ""}) as url:
        yield url


# Several nodes: a three-node cluster of the suite's own (tests/support/nodes.py)


@pytest.fixture(scope="session")
def cluster():
    """Three local nodes forming one cluster (tests.support.nodes.LocalCluster), for the tests of
    several nodes; started the first time a test asks for it, removed when the session ends.
    Always the local distribution: the failover tests kill and restart its nodes."""
    from tests.support.nodes import LocalCluster

    cluster = LocalCluster("cluster")
    try:
        cluster.start()
    except (RuntimeError, TimeoutError) as err:
        cluster.remove()
        pytest.fail(f"the tests of several nodes need the local distribution (Maven and a JDK): "
                    f"{err}", pytrace=False)
    yield cluster
    cluster.remove()


@pytest.fixture(scope="session")
def cluster_es(cluster):
    """Reads what the cluster stores, from whichever of its nodes answers."""
    client = Elasticsearch(cluster.urls, request_timeout=30, max_retries=3)
    yield client
    client.close()
