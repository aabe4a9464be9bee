"""Schemathesis against the running service: every documented operation, fuzzed over real HTTP
against the real node, must answer no 5xx and only what the OpenAPI document says.

Run with API-key authentication on, so that the document's 401s and security scheme are
exercised too (schemathesis' `ignored_auth` check calls each operation without the key).
"""

import zlib

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from app import create_app
from app.api import openapi
from tests.support.live_server import serving

API_KEY = "fuzz-key"
# Bounded so that the whole module takes about a minute on two cores.
FUZZ_CONFIG = {
    "generation": {"max-examples": 12, "mode": "all", "database": "none", "deterministic": True},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    "cache": {"enabled": False},
    # A schema cannot say everything the reference's validators check (`[id] cannot be empty`,
    # one of two fields required): a schema-valid body may still be a documented 400.
    "checks": {"positive_data_acceptance": {"enabled": False}},
    "headers": {"Authorization": f"ApiKey {API_KEY}"},
}


# The fuzzed app's settings; the document is built from the same settings at collection time.
APP_CONFIG = {"TESTING": True, "INSTALL_TEMPLATES_ON_START": False,
              "AUTH_MODE": "api_key", "AUTH_API_KEYS": API_KEY}

schema = schemathesis.openapi.from_dict(
    openapi.build(create_app({**APP_CONFIG, "ELASTICSEARCH_URL": "http://127.0.0.1:1"})),
    config=schemathesis.Config.from_dict(FUZZ_CONFIG))


@pytest.fixture(scope="module")
def live_url(elasticsearch_url, es):
    app = create_app({**APP_CONFIG, "ELASTICSEARCH_URL": elasticsearch_url})
    app.extensions["connector_storage"].ensure_ready()
    with serving(app) as url:
        yield url


def test_served_document_is_the_fuzzed_one(live_url):
    response = requests.get(f"{live_url}/_connector_service/openapi.json",
                            headers={"Authorization": f"ApiKey {API_KEY}"}, timeout=30)
    assert response.status_code == 200
    assert response.json() == schema.raw_schema


@pytest.fixture
def known_ids(live_url) -> dict[str, str]:
    """A connector ready to sync and a pending job of it, created through the API."""
    headers = {"Authorization": f"ApiKey {API_KEY}"}
    connector = {"index_name": "search-fuzz", "name": "fuzz", "service_type": "fuzz-type"}
    put = requests.put(f"{live_url}/_connector/fuzz-connector", json=connector,
                       headers=headers, timeout=30)
    assert put.status_code == 201, put.text
    post = requests.post(f"{live_url}/_connector/_sync_job", json={"id": "fuzz-connector"},
                         headers=headers, timeout=30)
    assert post.status_code == 201, post.text
    return {"connector_id": "fuzz-connector", "job_id": post.json()["id"]}


@schema.parametrize()
# known_ids is made once per operation on purpose: its cases share the two documents.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_documented_operation_answers_only_what_the_document_says(case, live_url, known_ids):
    # Half the cases (chosen from the case itself, so that shrinking is stable) address the
    # real connector and job, so that success answers are checked too, not only 404s.
    if case.path_parameters and zlib.crc32(repr(case.body).encode()) % 2:
        case.path_parameters = {name: known_ids.get(name, value)
                                for name, value in case.path_parameters.items()}
    case.call_and_validate(base_url=live_url)
