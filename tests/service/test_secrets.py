"""Secrets stay secret: Elasticsearch credentials and callers' keys appear in no answer and no
log record, even when Elasticsearch cannot be reached; TLS verification is on by default."""

import logging
import socket

import pytest
from elastic_transport import SecurityWarning

from app import create_app
from tests.support.api_client import error_type

PASSWORD = "Pa55-w0rd-never-shown"
API_KEY = "RVMtYXBpLWtleS1uZXZlci1zaG93bg=="
CALLER_KEY = "caller-key-never-shown"


def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def every_log_record(caplog):
    """Captures every record at DEBUG, the client libraries' own included."""
    for name in ("", "elastic_transport", "urllib3", "app", "werkzeug"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    return caplog


def unreachable_app(**settings):
    app = create_app({"TESTING": True, "INSTALL_TEMPLATES_ON_START": False,
                      "ELASTICSEARCH_REQUEST_TIMEOUT": 2, **settings})
    # create_app quietens the client's logger; open it up again to see everything it says.
    logging.getLogger("elastic_transport").setLevel(logging.DEBUG)
    return app


@pytest.mark.parametrize("settings", [
    {"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": PASSWORD},
    {"ELASTICSEARCH_API_KEY": API_KEY},
    {"URL_USERINFO": f"elastic:{PASSWORD}@"},
], ids=["basic", "api_key", "url_userinfo"])
def test_unreachable_elasticsearch_gives_503s_that_name_no_secret(every_log_record, settings):
    settings = dict(settings)
    userinfo = settings.pop("URL_USERINFO", "")
    app = unreachable_app(ELASTICSEARCH_URL=f"https://{userinfo}127.0.0.1:{closed_port()}",
                          AUTH_MODE="api_key", AUTH_API_KEYS=CALLER_KEY, **settings)
    client = app.test_client()
    headers = {"Authorization": f"ApiKey {CALLER_KEY}"}

    answers = [client.get("/_connector/_sync_job/job-1", headers=headers),
               client.post("/_connector/_sync_job", json={"id": "c1"}, headers=headers),
               client.get("/", headers=headers),
               client.get("/_connector_service/health", headers=headers)]

    assert [answer.status_code for answer in answers] == [503, 503, 503, 503]
    assert error_type(answers[0].get_json()) == "service_unavailable_exception"
    # The client's own records are there to be searched, not silenced.
    assert any(r.name.startswith("elastic_transport") for r in every_log_record.records)
    texts = [answer.get_data(as_text=True) for answer in answers] + [every_log_record.text]
    texts += [str(record.args) for record in every_log_record.records]
    for secret in (PASSWORD, API_KEY, CALLER_KEY):
        assert not [text for text in texts if secret in text], secret


def test_openapi_document_names_no_caller_key():
    app = create_app({"ELASTICSEARCH_URL": "http://127.0.0.1:1", "INSTALL_TEMPLATES_ON_START": False,
                      "AUTH_MODE": "api_key", "AUTH_API_KEYS": CALLER_KEY})

    response = app.test_client().get("/_connector_service/openapi.json",
                                     headers={"Authorization": f"ApiKey {CALLER_KEY}"})

    assert response.status_code == 200
    assert CALLER_KEY not in response.get_data(as_text=True)


def node_config(app):
    return app.extensions["connector_storage"].client.transport.node_pool.all()[0].config


def test_tls_certificates_are_verified_by_default():
    app = create_app({"ELASTICSEARCH_URL": "https://127.0.0.1:9243",
                      "INSTALL_TEMPLATES_ON_START": False})

    assert node_config(app).verify_certs is True


def test_tls_verification_is_off_only_when_configured_so_and_then_loudly():
    with pytest.warns(SecurityWarning, match="verify_certs=False is insecure"):
        app = create_app({"ELASTICSEARCH_URL": "https://127.0.0.1:9243",
                          "ELASTICSEARCH_VERIFY_CERTS": "false",
                          "INSTALL_TEMPLATES_ON_START": False})

    assert node_config(app).verify_certs is False
