"""Forwarding never widens access. Whenever the service checks its callers, a forwarded request
needs the same credentials as the service's own routes, unless the cluster itself authenticates
it with the caller's own header (security on); lending the service's credentials always needs
the service's own check first. One test per combination of AUTH_MODE and the cluster's
security, over real HTTP against the service as scripts/serve runs it."""

import base64
from contextlib import ExitStack

import pytest

from tests.support.live_server import HttpClient, production_server
from tests.support.secured import SERVICE_USER

KEY = base64.b64encode(b"forwarding-key:forwarding-secret").decode()
WITH_KEY = {"Authorization": f"ApiKey {KEY}"}
USER = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret-pass").decode()}
VICTIM = "forwarding-access-victim"
# Every connector's configuration, secrets included, when nothing stands in the way.
SEARCH = "/.elastic-connectors/_search"
CLUSTER_CHALLENGES = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]


@pytest.fixture(scope="module")
def serve():
    """Starts the service with the given settings in front of a node (once per module)."""
    with ExitStack() as stack:
        started = {}

        def start(url: str, **env: str) -> str:
            key = (url, tuple(sorted(env.items())))
            if key not in started:
                started[key] = stack.enter_context(production_server(url, workers=1, env=env))
            return started[key]

        yield start


@pytest.fixture
def victim(es):
    """A content index someone owns: a forwarded DELETE must not reach it unchecked."""
    es.indices.create(index=VICTIM)
    yield VICTIM
    es.indices.delete(index=VICTIM, ignore_unavailable=True)


def get(url: str, path: str, headers: dict | None = None, method: str = "GET"):
    return HttpClient(url, headers).open(path, method)


# The cluster without security


def test_no_security_and_auth_mode_none_forward_anything_to_anyone(serve, elasticsearch_url, api):
    api.create_connector("c1")
    url = serve(elasticsearch_url, AUTH_MODE="none")

    assert get(url, SEARCH).status_code == 200


def test_no_security_and_api_keys_forwarded_requests_need_a_configured_key(
        serve, elasticsearch_url, api, es, es_connector_fields, victim):
    api.create_connector("c1")
    es_connector_fields("c1", configuration={"password": {
        "value": "source-s3cret", "sensitive": True, "label": "Password"}})
    url = serve(elasticsearch_url, AUTH_MODE="api_key", AUTH_API_KEYS=KEY)

    without = get(url, SEARCH)
    wrong = get(url, SEARCH, {"Authorization": "ApiKey d3Jvbmc="})
    delete = get(url, f"/{VICTIM}", method="DELETE")

    for refused in (without, wrong, delete):
        assert refused.status_code == 401
        assert refused.headers.getlist("WWW-Authenticate") == ["ApiKey"]
        assert "source-s3cret" not in refused.get_data(as_text=True)
    assert es.indices.exists(index=VICTIM)
    allowed = get(url, SEARCH, WITH_KEY)
    assert allowed.status_code == 200
    assert "source-s3cret" in allowed.get_data(as_text=True)  # what the 401s kept back


def test_no_security_and_basic_users_forwarded_requests_need_a_configured_user(
        serve, elasticsearch_url, es, victim):
    url = serve(elasticsearch_url, AUTH_MODE="basic", AUTH_BASIC_USERS="alice:s3cret-pass")

    refused = get(url, f"/{VICTIM}", method="DELETE")

    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Basic")
    assert es.indices.exists(index=VICTIM)
    assert get(url, f"/{VICTIM}/_count", USER).status_code == 200


def test_no_security_and_lent_credentials_forward_only_after_the_services_own_check(
        serve, elasticsearch_url, es, victim):
    url = serve(elasticsearch_url, AUTH_MODE="api_key", AUTH_API_KEYS=KEY,
                FORWARD_WITH_SERVICE_CREDENTIALS="true")

    assert get(url, f"/{VICTIM}", method="DELETE").status_code == 401
    assert es.indices.exists(index=VICTIM)
    assert get(url, f"/{VICTIM}/_count", WITH_KEY).status_code == 200


def test_no_security_and_auth_mode_elasticsearch_refuses_everything(serve, elasticsearch_url, es,
                                                                   victim):
    url = serve(elasticsearch_url, AUTH_MODE="elasticsearch")

    for path, method in ((SEARCH, "GET"), (f"/{VICTIM}", "DELETE"), ("/_connector", "GET")):
        answer = get(url, path, USER, method=method)
        assert answer.status_code == 500, path
        assert answer.get_json()["error"]["type"] == "illegal_state_exception"
        assert "the cluster cannot authenticate callers" in answer.get_json()["error"]["reason"]
    assert es.indices.exists(index=VICTIM)


# The cluster with security on


def test_security_and_auth_mode_none_leave_forwarded_requests_to_the_cluster(
        serve, secured_node, secured_es):
    url = serve(secured_node.url, **secured_node.service_settings(), AUTH_MODE="none")

    anonymous = get(url, SEARCH)
    reader = get(url, SEARCH, secured_node.headers("reader"))

    assert anonymous.status_code == 401
    assert anonymous.headers.getlist("WWW-Authenticate") == CLUSTER_CHALLENGES
    assert reader.status_code == 403
    assert "is unauthorized for user [reader]" in reader.get_json()["error"]["reason"]
    assert get(url, SEARCH, secured_node.headers("admin")).status_code == 200


def test_security_and_api_keys_leave_forwarded_requests_to_the_cluster_with_the_callers_header(
        serve, secured_node, secured_es):
    url = serve(secured_node.url, **secured_node.service_settings(), AUTH_MODE="api_key",
                AUTH_API_KEYS=KEY)

    # The service's key is no credential of the cluster's: the cluster refuses it itself.
    service_key = get(url, SEARCH, WITH_KEY)
    manager = get(url, SEARCH, secured_node.headers("manager"))

    assert service_key.status_code == 401
    assert service_key.headers.getlist("WWW-Authenticate") == CLUSTER_CHALLENGES
    assert manager.status_code == 403
    assert "for user [manager]" in manager.get_json()["error"]["reason"]
    assert get(url, SEARCH, secured_node.headers("admin")).status_code == 200
    # The service's own routes still take the service's key alone.
    assert get(url, "/_connector", secured_node.headers("admin")).status_code == 401
    assert get(url, "/_connector", WITH_KEY).status_code == 200


def test_lent_credentials_reach_the_cluster_only_after_the_services_own_check(
        serve, secured_node, secured_es):
    url = serve(secured_node.url, **secured_node.service_settings(), AUTH_MODE="api_key",
                AUTH_API_KEYS=KEY, FORWARD_WITH_SERVICE_CREDENTIALS="true")

    without = get(url, "/_security/_authenticate")
    wrong = get(url, "/_security/_authenticate", {"Authorization": "ApiKey d3Jvbmc="})
    lent = get(url, "/_security/_authenticate", WITH_KEY)

    assert without.status_code == wrong.status_code == 401
    assert without.headers.getlist("WWW-Authenticate") == ["ApiKey"]
    assert lent.status_code == 200
    assert lent.get_json()["username"] == SERVICE_USER


def test_security_and_auth_mode_elasticsearch_authenticate_forwarded_requests_first(
        secured_node, secured_url):
    anonymous = get(secured_url, SEARCH)
    reader = get(secured_url, SEARCH, secured_node.headers("reader"))

    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["reason"] == (
        f"missing authentication credentials for REST request [{SEARCH}]")
    assert reader.status_code == 403  # authenticated, then refused by the cluster itself
    assert reader.get_json()["error"]["reason"].startswith(
        "action [indices:data/read/search] is unauthorized for user [reader]")
    assert get(secured_url, SEARCH, secured_node.headers("admin")).status_code == 200
