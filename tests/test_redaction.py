"""Secrets stay out of responses: sensitive configuration values are redacted (an extension)."""

import pytest

from app import create_app
from app.services.redaction import REDACTED
from tests.api_client import ApiClient
from tests.stored import stored_connector, stored_job

CONFIGURATION = {
    "password": {"label": "Password", "sensitive": True, "value": "hunter2", "type": "str"},
    "host": {"label": "Host", "sensitive": False, "value": "db.internal", "type": "str"},
    "empty_secret": {"label": "Token", "sensitive": True, "value": "", "type": "str"},
}


@pytest.fixture
def job_id(api, es_connector_fields):
    connector = api.create_connector("secretive")
    es_connector_fields(connector, configuration=CONFIGURATION)
    return api.new_job(connector)


def assert_redacted(configuration):
    assert configuration["password"] == {**CONFIGURATION["password"], "value": REDACTED}
    assert configuration["host"] == CONFIGURATION["host"]
    assert configuration["empty_secret"] == CONFIGURATION["empty_secret"]


def test_get_sync_job_redacts_sensitive_values(api, job_id):
    assert_redacted(api.get_sync_job(job_id)["connector"]["configuration"])


def test_list_sync_jobs_redacts_sensitive_values(api, job_id):
    assert_redacted(api.list_sync_jobs()["results"][0]["connector"]["configuration"])


def test_stored_documents_keep_the_real_values(api, es, job_id):
    assert stored_job(es, job_id)["connector"]["configuration"] == CONFIGURATION
    assert stored_connector(es, "secretive")["configuration"] == CONFIGURATION


def test_get_connector_redacts_sensitive_values(api, job_id):
    assert_redacted(api.get_connector("secretive")["configuration"])


def test_list_connectors_redacts_sensitive_values(api, job_id):
    body = api.call("GET", "/_connector")
    assert_redacted(body["results"][0]["configuration"])


def test_redaction_can_be_turned_off(elasticsearch_url, job_id):
    app = create_app({"ELASTICSEARCH_URL": elasticsearch_url, "INSTALL_TEMPLATES_ON_START": False,
                      "REDACT_SECRETS": False})
    plain = ApiClient(app.test_client())
    assert plain.get_sync_job(job_id)["connector"]["configuration"] == CONFIGURATION
    assert plain.get_connector("secretive")["configuration"] == CONFIGURATION
