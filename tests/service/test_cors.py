"""CORS for dashboards on other origins: off by default; an allow-list (CORS_ALLOWED_ORIGINS)
whose origins get Access-Control-Allow-Origin and a preflight answer; others get none."""

import pytest

from app import create_app
from tests.support.api_client import error_type

DASHBOARD = "https://dashboard.example"
OTHER = "https://evil.example"
PREFLIGHT = {"Access-Control-Request-Method": "PUT",
             "Access-Control-Request-Headers": "authorization,content-type"}


@pytest.fixture
def cors_app(elasticsearch_url, es):
    def make(**settings):
        app = create_app({"TESTING": True, "ELASTICSEARCH_URL": elasticsearch_url,
                          "INSTALL_TEMPLATES_ON_START": False,
                          "CORS_ALLOWED_ORIGINS": DASHBOARD, **settings})
        app.extensions["connector_storage"].ensure_ready()
        return app

    return make


def test_cors_is_off_by_default_no_origin_is_allowed(client):
    response = client.get("/_connector/_sync_job", headers={"Origin": DASHBOARD})
    preflight = client.options("/_connector/_sync_job", headers={"Origin": DASHBOARD, **PREFLIGHT})

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Methods" not in preflight.headers


def test_allowed_origin_may_read_the_answer(cors_app):
    client = cors_app().test_client()

    response = client.get("/_connector/_sync_job", headers={"Origin": DASHBOARD})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert "Origin" in response.headers["Vary"]
    assert response.get_json() == {"count": 0, "results": []}


def test_preflight_from_an_allowed_origin_is_answered_without_credentials(cors_app):
    client = cors_app(AUTH_MODE="api_key", AUTH_API_KEYS="k1").test_client()

    response = client.options("/_connector/_sync_job/job-1/_claim",
                              headers={"Origin": DASHBOARD, **PREFLIGHT})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert "PUT" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert response.get_data() == b""


def test_allowed_origin_may_read_a_401_too(cors_app):
    client = cors_app(AUTH_MODE="api_key", AUTH_API_KEYS="k1").test_client()

    response = client.get("/_connector/_sync_job", headers={"Origin": DASHBOARD})

    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_origin_not_on_the_list_is_403_without_allow_origin(cors_app, es, method):
    client = cors_app().test_client()
    headers = {"Origin": OTHER, **(PREFLIGHT if method == "OPTIONS" else {})}

    response = client.open("/_connector/_sync_job", method=method, headers=headers)

    assert response.status_code == 403
    assert error_type(response.get_json()) == "security_exception"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_origin_not_on_the_list_changes_nothing(cors_app, api, es):
    api.create_connector("c1")
    client = cors_app().test_client()

    response = client.post("/_connector/_sync_job", json={"id": "c1"}, headers={"Origin": OTHER})

    assert response.status_code == 403
    assert es.count(index=".elastic-connectors-sync-jobs")["count"] == 0


def test_same_origin_page_is_served_without_being_listed(cors_app):
    client = cors_app().test_client()

    response = client.get("/_connector/_sync_job", headers={"Origin": "http://localhost"})

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_wildcard_allows_every_origin(cors_app):
    client = cors_app(CORS_ALLOWED_ORIGINS="*").test_client()

    response = client.get("/_connector/_sync_job", headers={"Origin": OTHER})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_forwarded_paths_keep_elasticsearchs_own_cors(cors_app):
    client = cors_app().test_client()

    response = client.get("/_cluster/health", headers={"Origin": OTHER})

    assert response.status_code != 403
    assert "Access-Control-Allow-Origin" not in response.headers
