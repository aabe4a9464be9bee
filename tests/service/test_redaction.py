"""Secrets stay out of responses: sensitive configuration values are redacted (an extension),
and what callers send back after reading them never replaces a stored secret."""

import pytest
import urllib3

from app import create_app
from app.services.redaction import REDACTED
from tests.support.api_client import ApiClient, error_type
from tests.support.stored import stored_connector, stored_job

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


# What callers send back


SECRET = "s3cret"


@pytest.fixture
def configured(api):
    """A connector whose form has a password (sensitive, with a default) and a host."""
    connector = api.create_connector("secretive")
    api.update_connector(connector, "_configuration", {"configuration": {
        "password": {"label": "Password", "sensitive": True, "type": "str",
                     "default_value": "fallback-secret", "value": None},
        "host": {"label": "Host", "sensitive": False, "type": "str", "value": None}}})
    return connector


def test_a_sensitive_default_value_is_redacted_too(api, configured):
    password = api.get_connector(configured)["configuration"]["password"]
    assert (password["default_value"], password["value"]) == (REDACTED, None)


def test_kibana_round_trip_keeps_the_stored_password(api, es, live_url, configured):
    # Kibana's configuration form: read the connector, then send every field's value back.
    http = urllib3.PoolManager(retries=False, timeout=30)

    def send(method: str, path: str, body: dict | None = None) -> dict:
        answer = http.request(method, live_url + path, json=body)
        assert answer.status == 200, answer.data
        return answer.json()

    path = f"/_connector/{configured}"
    send("PUT", f"{path}/_configuration", {"values": {"password": SECRET, "host": "a"}})
    form = {key: entry["value"] for key, entry in send("GET", path)["configuration"].items()}
    assert form == {"password": REDACTED, "host": "a"}

    assert send("PUT", f"{path}/_configuration", {"values": {**form, "host": "b"}}) == {
        "result": "updated"}
    stored = stored_connector(es, configured)["configuration"]
    assert (stored["password"]["value"], stored["host"]["value"]) == (SECRET, "b")
    assert send("PUT", f"{path}/_configuration", {"values": form | {"host": "b"}}) == {
        "result": "noop"}
    # The worker reads the job's snapshot: the real password, not the placeholder.
    job_id = api.new_job(configured)
    assert stored_job(es, job_id)["connector"]["configuration"]["password"]["value"] == SECRET


def test_script_round_trip_of_the_whole_configuration_keeps_every_secret(api, es, configured):
    api.update_connector(configured, "_configuration", {"values": {"password": SECRET}})
    configuration = api.get_connector(configured)["configuration"]
    configuration["host"]["value"] = "db.example"

    api.update_connector(configured, "_configuration", {"configuration": configuration})

    stored = stored_connector(es, configured)["configuration"]
    assert stored["password"] == {**configuration["password"], "value": SECRET,
                                  "default_value": "fallback-secret"}
    assert stored["host"]["value"] == "db.example"


def test_a_new_secret_replaces_the_stored_one(api, es, configured):
    api.update_connector(configured, "_configuration", {"values": {"password": SECRET}})
    api.update_connector(configured, "_configuration", {"values": {"password": "rotated"}})
    assert stored_connector(es, configured)["configuration"]["password"]["value"] == "rotated"


@pytest.mark.parametrize(("body", "field"), [
    ({"values": {"password": REDACTED}}, "values.password"),
    ({"configuration": {"password": {"label": "Password", "sensitive": True, "value": REDACTED}}},
     "configuration.password.value"),
    ({"configuration": {"token": {"label": "Token", "sensitive": True, "value": "t",
                                  "default_value": REDACTED}}},
     "configuration.token.default_value"),
])
def test_the_placeholder_for_a_value_nothing_holds_is_400_and_changes_nothing(
        api, es, configured, body, field):
    before = stored_connector(es, configured)
    answer = api.update_connector(configured, "_configuration", body, expect=400)
    assert error_type(answer) == "illegal_argument_exception"
    assert answer["error"]["reason"].startswith(f"[{field}] is the placeholder [{REDACTED}]")
    assert stored_connector(es, configured) == before


def test_putting_the_whole_connector_back_stores_no_placeholder(api, es, configured):
    # PUT _connector/<id> takes only the connector's own six fields (as the reference's parser):
    # a whole answer sent back is refused, and the stored secret stays.
    api.update_connector(configured, "_configuration", {"values": {"password": SECRET}})
    whole = api.get_connector(configured)
    answer = api.put_connector(configured, expect=400, **whole)
    assert error_type(answer) == "x_content_parse_exception"
    assert stored_connector(es, configured)["configuration"]["password"]["value"] == SECRET
