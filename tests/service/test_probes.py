"""GET _connector_service/live and _connector_service/ready — what an orchestrator probes.

Liveness says the process answers and asks Elasticsearch nothing, so a cluster outage never
gets the service restarted; readiness says whether requests can be served now, check by check.
"""

import socket
import threading
import time
from contextlib import contextmanager

import pytest
import urllib3

from app import create_app
from tests.support.live_server import production_server

LIVE, READY = "/_connector_service/live", "/_connector_service/ready"
SERVICE_KEY = "probe-key-4Fr8"


def test_ready_with_elasticsearch_templates_and_indices_in_place_returns_200_check_by_check(api):
    body = api.call("GET", READY)
    assert body == {"ready": True, "checks": {"elasticsearch": {"ok": True},
                                              "index_templates": {"ok": True},
                                              "indices": {"ok": True}}}


def test_unreachable_elasticsearch_is_not_ready_503_but_still_live(unreachable_client):
    ready = unreachable_client.get(READY)
    assert ready.status_code == 503
    assert ready.json["ready"] is False
    assert ready.json["checks"]["elasticsearch"] == {"ok": False,
                                                     "reason": "Elasticsearch does not answer"}
    live = unreachable_client.get(LIVE)
    assert (live.status_code, live.json) == (200, {"live": True})


@contextmanager
def silent_node():
    """An address that takes connections and never answers, as a hung node does; yields its
    URL and the count of connections it was offered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", lambda: pending_connections(listener)


def pending_connections(listener: socket.socket) -> int:
    listener.setblocking(False)
    taken = []
    try:
        while True:
            taken.append(listener.accept()[0])
    except BlockingIOError:
        pass
    for connection in taken:
        connection.close()
    return len(taken)


@pytest.mark.parametrize("settings", [
    {"AUTH_MODE": "", "HOST": "0.0.0.0"},  # unset, as in the image: the cluster decides
    {"AUTH_MODE": "", "HOST": "127.0.0.1"},
    {"AUTH_MODE": "api_key", "AUTH_API_KEYS": SERVICE_KEY, "HOST": "0.0.0.0"},
], ids=["unset", "unset-loopback", "api_key"])
def test_live_asks_a_hung_elasticsearch_nothing_and_answers_at_once(settings):
    """With the mode unset on an address other than loopback, deciding whether the cluster has
    security means asking the cluster: a liveness probe never waits on that."""
    with silent_node() as (url, connections):
        app = create_app({"ELASTICSEARCH_URL": url, "INSTALL_TEMPLATES_ON_START": False,
                          "ELASTICSEARCH_REQUEST_TIMEOUT": 5, **settings})
        started = time.monotonic()
        live = app.test_client().get(LIVE)
        took = time.monotonic() - started
        assert (live.status_code, live.json) == (200, {"live": True})
        assert took < 1.0
        assert connections() == 0


def test_missing_templates_are_not_ready_until_the_service_installs_them(api, es):
    """Someone deleted the templates: readiness says so (the same call reinstalls them, so the
    next probe is ready again, as the health route does)."""
    for name in ("elastic-connectors-sync-jobs", "elastic-connectors"):
        es.indices.delete_index_template(name=name)
    first = api.call("GET", READY, expect=503)
    assert first["checks"]["index_templates"]["ok"] is False
    assert "not installed" in first["checks"]["index_templates"]["reason"]
    assert api.call("GET", READY)["ready"] is True


@pytest.mark.parametrize("path, anonymous", [(LIVE, {"live": True}), (READY, {"ready": True})])
def test_probes_answer_without_credentials_with_their_status_alone(elasticsearch_url, path,
                                                                   anonymous):
    app = create_app({"ELASTICSEARCH_URL": elasticsearch_url, "AUTH_MODE": "api_key",
                      "AUTH_API_KEYS": SERVICE_KEY, "INSTALL_TEMPLATES_ON_START": False})
    client = app.test_client()
    assert client.get(path).json == anonymous
    with_key = client.get(path, headers={"Authorization": f"ApiKey {SERVICE_KEY}"})
    assert with_key.status_code == 200
    assert client.get(path, headers={"Authorization": "ApiKey wrong"}).status_code == 401


def test_probes_answer_at_once_while_every_request_thread_waits_on_elasticsearch(
        elasticsearch_url):
    """As deployed: probes run on threads of their own (app/front/), so an orchestrator does
    not restart or drain a service whose request threads are all busy."""
    slow = "/_cluster/health?wait_for_nodes=99&timeout=4s"  # the node holds each for 4 s
    with production_server(elasticsearch_url, workers=1, threads=2) as url:
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))
        busy = [threading.Thread(target=http.request, args=("GET", url + slow)) for _ in range(2)]
        for thread in busy:
            thread.start()
        time.sleep(0.5)  # both request threads are held by now
        took = {}
        for path in (LIVE, READY):
            started = time.monotonic()
            took[path] = (http.request("GET", url + path).status, time.monotonic() - started)
        for thread in busy:
            thread.join()

    assert took[LIVE][0] == took[READY][0] == 200
    assert took[LIVE][1] < 1.5 and took[READY][1] < 1.5, took
