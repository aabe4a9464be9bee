"""Callers' authentication on the service's own routes: AUTH_MODE none | api_key | basic, a 401
in Elasticsearch's envelope with WWW-Authenticate, and a service that never runs open by
accident (docs/security.md)."""

import base64
import logging

import pytest

from app import create_app
from app.auth import ConfigurationError
from app.storage import SYNC_JOBS_INDEX
from tests.support.api_client import ApiClient, error_type

NO_NODE = {"ELASTICSEARCH_URL": "http://127.0.0.1:1", "INSTALL_TEMPLATES_ON_START": False}
KEY = "a2V5LWlkOmtleS1zZWNyZXQ="
SERVICE_PATHS = ["/", "/_connector", "/_connector/_sync_job", "/_connector/_sync_job/some-id",
                 "/_connector_service/openapi.json", "/_connector_service/sync_job_summary"]
HEALTH = "/_connector_service/health"


def basic(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def api_key(key: str = KEY) -> dict:
    return {"Authorization": f"ApiKey {key}"}


@pytest.fixture
def app_with(elasticsearch_url, es):
    """An app over the test node with the given auth settings."""

    def make(**settings):
        app = create_app({"TESTING": True, "ELASTICSEARCH_URL": elasticsearch_url,
                          "INSTALL_TEMPLATES_ON_START": False, **settings})
        app.extensions["connector_storage"].ensure_ready()
        return app

    return make


# The default is never open by accident


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_unset_auth_mode_on_a_loopback_host_serves_without_auth_when_the_cluster_has_no_security(
        app_with, host):
    client = app_with(HOST=host).test_client()

    assert client.get("/_connector/_sync_job").status_code == 200
    assert client.get("/.elastic-connectors/_count").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "service.internal", ""])
def test_unset_auth_mode_on_any_other_host_refuses_every_request_and_says_what_to_set(
        app_with, es, host):
    client = app_with(HOST=host).test_client()

    answers = [client.get("/_connector/_sync_job"),
               client.post("/_connector/_sync_job", json={"id": "c1"}),
               client.get("/.elastic-connectors/_search"),
               client.get(HEALTH)]

    assert [answer.status_code for answer in answers] == [500] * 4
    reason = answers[0].get_json()["error"]["reason"]
    assert error_type(answers[0].get_json()) == "illegal_state_exception"
    assert "AUTH_MODE is not set" in reason and "not a loopback address" in reason
    assert "security disabled" in reason and "AUTH_MODE=none" in reason
    assert "docs/security.md" in reason
    es.indices.refresh(index=SYNC_JOBS_INDEX)
    assert es.count(index=SYNC_JOBS_INDEX)["count"] == 0


def test_unset_auth_mode_starts_while_the_cluster_is_down_and_answers_503_until_it_can_decide():
    client = create_app({**NO_NODE, "HOST": "0.0.0.0",
                         "ELASTICSEARCH_REQUEST_TIMEOUT": 2}).test_client()

    answer = client.get("/_connector/_sync_job")

    assert answer.status_code == 503
    assert error_type(answer.get_json()) == "service_unavailable_exception"
    assert client.get(HEALTH).get_json() == {"status": "red"}


def test_explicit_auth_mode_none_on_a_public_host_starts_and_says_the_cluster_is_reachable(
        caplog):
    with caplog.at_level(logging.WARNING, logger="app.security"):
        app = create_app({**NO_NODE, "HOST": "0.0.0.0", "AUTH_MODE": "none"})

    assert app.config["AUTH_MODE"] == "none"
    assert "AUTH_MODE=none on HOST 0.0.0.0" in caplog.text
    assert "the whole cluster is reachable through it" in caplog.text


@pytest.mark.parametrize(("settings", "mode"), [
    ({"AUTH_API_KEYS": "k1,k2"}, "api_key"),
    ({"AUTH_BASIC_USERS": "user:pw"}, "basic"),
    ({"AUTH_MODE": "API_KEY", "AUTH_API_KEYS": "k1"}, "api_key"),
])
def test_configured_credentials_choose_the_mode_when_auth_mode_is_unset(settings, mode):
    app = create_app({**NO_NODE, "HOST": "0.0.0.0", **settings})

    assert app.config["AUTH_MODE"] == mode


@pytest.mark.parametrize(("settings", "says"), [
    ({"AUTH_MODE": "token"}, "AUTH_MODE must be one of none, api_key, basic, elasticsearch"),
    ({"AUTH_MODE": "api_key"}, "AUTH_API_KEYS"),
    ({"AUTH_MODE": "basic"}, "AUTH_BASIC_USERS"),
    ({"AUTH_MODE": "basic", "AUTH_BASIC_USERS": "alice:s3cret,bob"}, "entry 2"),
    ({"AUTH_API_KEYS": "k1", "AUTH_BASIC_USERS": "u:p"}, "choose one with AUTH_MODE"),
    ({"AUTH_MODE": "none", "AUTH_API_KEYS": "k1"}, "Set AUTH_MODE=api_key, or unset AUTH_API_KEYS"),
    ({"AUTH_MODE": "none", "AUTH_BASIC_USERS": "alice:s3cret"}, "Set AUTH_MODE=basic"),
    ({"AUTH_MODE": "elasticsearch", "AUTH_API_KEYS": "k1"}, "AUTH_MODE is elasticsearch but"),
    ({"AUTH_CACHE_SECONDS": "61"}, "AUTH_CACHE_SECONDS must be between 0 and 60"),
    # Lending the service's identity needs a check of the service's own first.
    ({"AUTH_MODE": "none", "FORWARD_WITH_SERVICE_CREDENTIALS": "true"},
     "FORWARD_WITH_SERVICE_CREDENTIALS=true with AUTH_MODE=none"),
    ({"AUTH_MODE": "elasticsearch", "FORWARD_WITH_SERVICE_CREDENTIALS": "true"},
     "FORWARD_WITH_SERVICE_CREDENTIALS=true with AUTH_MODE=elasticsearch"),
    ({"FORWARD_WITH_SERVICE_CREDENTIALS": "true"},
     "FORWARD_WITH_SERVICE_CREDENTIALS=true with AUTH_MODE unset"),
])
def test_incomplete_auth_settings_refuse_to_start(settings, says):
    with pytest.raises(ConfigurationError) as refused:
        create_app({**NO_NODE, **settings})

    assert says in str(refused.value)
    assert "s3cret" not in str(refused.value)


# api_key


@pytest.mark.parametrize("path", SERVICE_PATHS)
def test_api_key_mode_refuses_a_call_without_credentials_with_401_and_challenge(app_with, path):
    client = app_with(AUTH_MODE="api_key", AUTH_API_KEYS=KEY).test_client()

    response = client.get(path)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "ApiKey"
    body = response.get_json()
    assert error_type(body) == "security_exception"
    assert body["error"]["reason"] == f"missing authentication credentials for REST request [{path}]"
    assert body["error"]["header"] == {"WWW-Authenticate": ["ApiKey"]}
    assert body["status"] == 401


def test_api_key_mode_refuses_a_wrong_key_without_echoing_it(app_with, es):
    client = app_with(AUTH_MODE="api_key", AUTH_API_KEYS=KEY).test_client()

    response = client.post("/_connector/_sync_job", json={"id": "c1"},
                           headers=api_key("wrong-key-value"))

    assert response.status_code == 401
    assert error_type(response.get_json()) == "security_exception"
    assert "wrong-key-value" not in response.get_data(as_text=True)
    es.indices.refresh(index=SYNC_JOBS_INDEX)
    assert es.count(index=SYNC_JOBS_INDEX)["count"] == 0


@pytest.mark.parametrize("header", [f"ApiKey {KEY}", f"apikey {KEY}", f"APIKEY   {KEY}"])
def test_api_key_mode_accepts_a_configured_key_with_the_scheme_in_any_case(app_with, api, es,
                                                                          header):
    api.create_connector("c1")
    secured = ApiClient(app_with(AUTH_MODE="api_key", AUTH_API_KEYS=f"other,{KEY}").test_client())

    job = secured.call("POST", "/_connector/_sync_job", {"id": "c1"}, expect=201,
                   headers={"Authorization": header})

    assert es.get(index=SYNC_JOBS_INDEX, id=job["id"])["_source"]["status"] == "pending"


@pytest.mark.parametrize("header", [f"Basic {KEY}", f"Bearer {KEY}", "ApiKey", "ApiKey  ", KEY])
def test_api_key_mode_refuses_other_schemes_and_empty_keys(app_with, header):
    client = app_with(AUTH_MODE="api_key", AUTH_API_KEYS=KEY).test_client()

    response = client.get("/_connector/_sync_job", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.get_json()["error"]["reason"].startswith("missing authentication credentials")


# basic


def test_basic_mode_accepts_a_configured_user_and_stores_the_call(app_with, api, es):
    api.create_connector("c1")
    secured = ApiClient(app_with(AUTH_MODE="basic",
                                 AUTH_BASIC_USERS="alice:pa:ss:word,bob:other").test_client())

    job = secured.call("POST", "/_connector/_sync_job", {"id": "c1"}, expect=201,
                   headers=basic("alice", "pa:ss:word"))

    assert es.get(index=SYNC_JOBS_INDEX, id=job["id"])["_source"]["connector"]["id"] == "c1"


@pytest.mark.parametrize(("user", "password"), [
    ("alice", "wrong"), ("bob", "pa:ss:word"), ("alice", ""), ("", "pa:ss:word"),
])
def test_basic_mode_refuses_a_wrong_user_or_password_naming_only_the_user(app_with, user,
                                                                          password):
    client = app_with(AUTH_MODE="basic", AUTH_BASIC_USERS="alice:pa:ss:word").test_client()

    response = client.get("/_connector/_sync_job", headers=basic(user, password))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="security", charset="UTF-8"'
    reason = response.get_json()["error"]["reason"]
    assert reason == f"unable to authenticate user [{user}] for REST request [/_connector/_sync_job]"
    if password:
        assert password not in response.get_data(as_text=True)


@pytest.mark.parametrize("token", ["not base64!", base64.b64encode(b"no-colon").decode(),
                                   base64.b64encode(b"\xff\xfe:x").decode()])
def test_basic_mode_refuses_a_malformed_header_with_401(app_with, token):
    client = app_with(AUTH_MODE="basic", AUTH_BASIC_USERS="alice:pw").test_client()

    response = client.get("/_connector/_sync_job", headers={"Authorization": f"Basic {token}"})

    assert response.status_code == 401
    assert error_type(response.get_json()) == "security_exception"


# What is checked and what is not


def test_auth_mode_none_serves_without_credentials(client):
    response = client.get("/_connector/_sync_job")

    assert response.status_code == 200


def test_basic_mode_keeps_the_dashboard_page_behind_the_browsers_login_prompt(app_with):
    client = app_with(AUTH_MODE="basic", AUTH_BASIC_USERS="alice:s3cret").test_client()

    response = client.get("/_connector_service/dashboard")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="security", charset="UTF-8"'


# Health probes


@pytest.mark.parametrize("settings", [{"AUTH_MODE": "api_key", "AUTH_API_KEYS": KEY},
                                      {"AUTH_MODE": "basic", "AUTH_BASIC_USERS": "alice:s3cret"}])
def test_a_probe_without_credentials_learns_the_health_status_and_nothing_else(app_with, settings):
    client = app_with(**settings).test_client()

    response = client.get(HEALTH)

    assert response.status_code == 200
    assert response.get_json() == {"status": "green"}


def test_an_unhealthy_service_answers_a_probe_without_credentials_with_503_and_red():
    client = create_app({**NO_NODE, "AUTH_MODE": "api_key", "AUTH_API_KEYS": KEY,
                         "ELASTICSEARCH_REQUEST_TIMEOUT": 2}).test_client()

    response = client.get(HEALTH)

    assert response.status_code == 503
    assert response.get_json() == {"status": "red"}


def test_health_with_valid_credentials_is_the_whole_report(app_with):
    client = app_with(AUTH_MODE="api_key", AUTH_API_KEYS=KEY).test_client()

    report = client.get(HEALTH, headers=api_key()).get_json()

    assert report["status"] == "green"
    assert report["elasticsearch"]["reachable"] is True
    assert report["service"]["name"] == "connector-sync-jobs"


@pytest.mark.parametrize("headers", [api_key("d3Jvbmc="), basic("alice", "s3cret"),
                                     {"Authorization": ""}])
def test_health_with_wrong_credentials_is_refused_with_401(app_with, headers):
    client = app_with(AUTH_MODE="api_key", AUTH_API_KEYS=KEY).test_client()

    response = client.get(HEALTH, headers=headers)

    assert response.status_code == 401
    assert error_type(response.get_json()) == "security_exception"
