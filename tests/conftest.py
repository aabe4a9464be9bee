"""Fixtures: a real Elasticsearch node, a client to read what is stored, the app and its client."""

import pytest
from elasticsearch import Elasticsearch

from app import create_app
from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX
from tests.api_client import ApiClient
from tests.nodes import HOW_TO_GET_A_NODE, elasticsearch_node


@pytest.fixture(scope="session")
def elasticsearch_url():
    try:
        with elasticsearch_node() as url:
            yield url
    except (RuntimeError, TimeoutError) as err:
        pytest.fail(f"{HOW_TO_GET_A_NODE}\n{err}", pytrace=False)


@pytest.fixture(scope="session")
def es(elasticsearch_url):
    client = Elasticsearch(elasticsearch_url, request_timeout=30)
    version = client.nodes.info(node_id="_local", metric="_none")["nodes"]
    print(f"\nElasticsearch {next(iter(version.values()))['version']} at {elasticsearch_url}")
    yield client
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


@pytest.fixture(autouse=True)
def empty_indices(request):
    """Every test that touches the node starts from empty connector indices."""
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
