"""The application factory and its configuration."""

from app import create_app
from app.config import Config


def test_factory_takes_config_mapping_over_environment(monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://from-env:9200")
    monkeypatch.setenv("ELASTICSEARCH_REQUEST_TIMEOUT", "3.5")
    app = create_app({"ELASTICSEARCH_URL": "http://127.0.0.1:1", "INSTALL_TEMPLATES_ON_START": False})
    assert app.config["ELASTICSEARCH_URL"] == "http://127.0.0.1:1"
    assert app.config["ELASTICSEARCH_REQUEST_TIMEOUT"] == 3.5


def test_config_reads_and_converts_environment():
    config = Config.from_env({"PORT": "9000", "REDACT_SECRETS": "false",
                              "CONFLICT_RETRIES": "3", "CORS_ALLOWED_ORIGINS": "http://a, http://b"})
    assert config.PORT == 9000
    assert config.REDACT_SECRETS is False
    assert config.CONFLICT_RETRIES == 3
    assert config.CORS_ALLOWED_ORIGINS == ["http://a", "http://b"]


def test_config_defaults():
    config = Config.from_env({})
    assert config.ELASTICSEARCH_URL == "http://127.0.0.1:9200"
    assert config.PORT == 8080
    assert config.STALE_JOB_SECONDS == 300


def test_factory_does_not_need_elasticsearch_to_start():
    # Port 1 refuses at once: no node answers, yet the app is built and serves.
    app = create_app({"ELASTICSEARCH_URL": "http://127.0.0.1:1", "INSTALL_TEMPLATES_ON_START": True,
                      "ELASTICSEARCH_REQUEST_TIMEOUT": 2})
    client = app.test_client()
    live = client.get("/_connector_service/live")
    assert (live.status_code, live.get_json()) == (200, {"live": True})
    # What an orchestrator reads: not ready, and why, check by check.
    ready = client.get("/_connector_service/ready")
    assert ready.status_code == 503
    unchecked = {"ok": False, "reason": "not checked: Elasticsearch does not answer"}
    assert ready.get_json() == {"ready": False, "checks": {
        "elasticsearch": {"ok": False, "reason": "Elasticsearch does not answer"},
        "index_templates": unchecked, "indices": unchecked}}
