"""Logs: one ECS line per request with its id, route, status, duration and Elasticsearch calls;
errors with their type; never a credential, a secret setting or a request body.

Over real HTTP against the service as scripts/serve runs it (granian, ECS since its output is
not a terminal), reading what the server wrote.
"""

import base64
import json
import logging
import re
import uuid

import ecs_logging
import pytest
import urllib3

from app.config import Config
from app.observability import logs
from tests.support.live_server import production_server

SERVICE_KEY = "svc-key-7Hq2pLx9"        # AUTH_API_KEYS: what callers must send
SCRAPER_TOKEN = "scrape-token-Vb81kd"   # METRICS_BEARER_TOKENS
ES_API_KEY = "es-api-key-Zr5mW3"        # ELASTICSEARCH_API_KEY, the service's own
ES_PASSWORD = "es-password-Qy4nT6"      # ELASTICSEARCH_PASSWORD
URL_PASSWORD = "svc-S3cret"             # in ELASTICSEARCH_URL, as an operator once wrote it
CALLER_KEY = "caller-key-Jd93hs"        # a caller's own key, forwarded to Elasticsearch
WRONG_KEY = "wrong-key-Pp02la"
BASIC_PASSWORD = "basic-pass-Lk29wq"
BODY_MARKER = "body-marker-Xc71"
SECRETS = [SERVICE_KEY, SCRAPER_TOKEN, ES_API_KEY, ES_PASSWORD, URL_PASSWORD, CALLER_KEY,
           WRONG_KEY, BASIC_PASSWORD, base64.b64encode(f"someone:{BASIC_PASSWORD}".encode()).decode()]


def with_userinfo(url: str) -> str:
    return url.replace("://", f"://svc-user:{URL_PASSWORD}@", 1)


@pytest.fixture(scope="module")
def logged(elasticsearch_url, tmp_path_factory):
    """Runs the service with every kind of secret set, sends it requests of every kind, stops
    it, and returns its output: (request id → its access line, all lines)."""
    log_path = tmp_path_factory.mktemp("logs") / "server.log"
    env = {"AUTH_MODE": "api_key", "AUTH_API_KEYS": SERVICE_KEY,
           "METRICS_BEARER_TOKENS": SCRAPER_TOKEN, "ELASTICSEARCH_API_KEY": ES_API_KEY,
           "ELASTICSEARCH_USERNAME": "svc-user", "ELASTICSEARCH_PASSWORD": ES_PASSWORD,
           "LOG_LEVEL": "DEBUG"}
    key = {"Authorization": f"ApiKey {SERVICE_KEY}"}
    unique = uuid.uuid4().hex
    with production_server(with_userinfo(elasticsearch_url), workers=1, env=env,
                           log_path=log_path) as url:
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))

        def call(request_id, method, path, headers=None, **kwargs):
            return http.request(method, url + path, headers={"X-Opaque-Id": request_id,
                                                             **(headers or {})}, **kwargs)

        call("warm-up", "GET", "/_connector/_sync_job", key)
        # The first forwarded request also asks whether the cluster authenticates callers.
        call("warm-up-forward", "GET", "/_cluster/health", key)
        statuses = {
            "list": call("list", "GET", "/_connector/_sync_job", key).status,
            "missing": call("missing", "GET", "/_connector/_sync_job/no-such-job", key).status,
            "wrong-key": call("wrong-key", "GET", "/_connector/_sync_job",
                              {"Authorization": f"ApiKey {WRONG_KEY}"}).status,
            "basic": call("basic", "GET", "/_connector", {"Authorization": "Basic " + base64.b64encode(
                f"someone:{BASIC_PASSWORD}".encode()).decode()}).status,
            # The cluster has no security: forwarded requests need the service's own keys.
            "forwarded": call("forwarded", "GET", "/_cluster/health", key).status,
            "forwarded-unknown": call("forwarded-unknown", "GET", "/_cluster/health",
                                      {"Authorization": f"ApiKey {CALLER_KEY}"}).status,
            "with-body": call("with-body", "PUT", f"/_connector/logged-{unique}", key,
                              json={"index_name": f"search-logged-{unique}", "service_type": "x",
                                    "description": BODY_MARKER}).status,
            "scrape": call("scrape", "GET", "/_connector_service/metrics",
                           {"Authorization": f"Bearer {SCRAPER_TOKEN}"}).status,
        }
    assert statuses == {"list": 200, "missing": 404, "wrong-key": 401, "basic": 401,
                        "forwarded": 200, "forwarded-unknown": 401, "with-body": 201,
                        "scrape": 200}
    lines = log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line, granian's too, is ECS JSON
    access = {}
    for record in records:
        if record.get("event", {}).get("dataset") == "connector_sync_jobs.access":
            request_id = record["http"]["request"]["id"]
            assert request_id not in access, f"two lines for {request_id}"
            access[request_id] = record
    return access, lines


def test_each_request_has_one_ecs_line_with_id_route_status_duration_and_calls(logged):
    access, _ = logged
    line = access["list"]
    assert line["http"]["request"]["method"] == "GET"
    assert line["http"]["response"]["status_code"] == 200
    assert line["url"]["path"] == "/_connector/_sync_job"
    assert line["connector_service"]["route"] == "/_connector/_sync_job"
    assert line["connector_service"]["elasticsearch"]["calls"] == 1  # the one search
    assert 0 < line["event"]["duration"] < 10e9  # nanoseconds, as ECS has it
    assert line["event"]["outcome"] == "success"
    assert re.fullmatch(r"[0-9a-f]{32}", line["trace"]["id"])
    assert line["service"]["name"] == "connector-sync-jobs"
    assert line["log.level"] == "info" and "@timestamp" in line and line["ecs.version"]
    assert access["forwarded"]["connector_service"]["route"] == "forwarded"
    assert access["forwarded"]["connector_service"]["elasticsearch"]["calls"] == 1
    assert access["scrape"]["connector_service"]["route"] == "/_connector_service/metrics"


def test_errors_are_logged_with_their_type(logged):
    access, _ = logged
    assert access["missing"]["error"]["type"] == "resource_not_found_exception"
    assert access["missing"]["event"]["outcome"] == "failure"
    assert access["wrong-key"]["error"]["type"] == "security_exception"
    assert access["wrong-key"]["connector_service"]["elasticsearch"]["calls"] == 0
    assert access["basic"]["http"]["response"]["status_code"] == 401


@pytest.mark.parametrize("secret", SECRETS)
def test_no_line_carries_a_credential_or_a_body(logged, secret):
    _, lines = logged
    assert not [line for line in lines if secret in line]
    assert not [line for line in lines if BODY_MARKER in line]


# The redaction itself, for lines whatever logged them


@pytest.fixture
def redact():
    settings = Config.from_env({}).override({
        "ELASTICSEARCH_URL": "http://svc-user:svc-S3cret@127.0.0.1:9299",
        "ELASTICSEARCH_PASSWORD": ES_PASSWORD, "AUTH_BASIC_USERS": ["ann:ann-Pass-91"],
        "AUTH_API_KEYS": [SERVICE_KEY]})
    return logs.Redactor(logs.configured_secrets(settings))


@pytest.mark.parametrize("text, hidden", [
    ("in front of http://svc-user:svc-S3cret@127.0.0.1:9299", "svc-S3cret"),
    ("connecting to https://elastic:changeme@es.internal:9243/", "changeme"),
    ("header Authorization: ApiKey c29tZS1rZXk6c2VjcmV0", "c29tZS1rZXk6c2VjcmV0"),
    ('{"authorization": "Basic YW5uOmFubi1QYXNzLTkx"}', "YW5uOmFubi1QYXNzLTkx"),
    ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "eyJhbGciOiJIUzI1NiJ9"),
    ("sent AUTHORIZATION: aPiKeY c29tZS1rZXk6c2VjcmV0", "c29tZS1rZXk6c2VjcmV0"),
    ("the café's caller sent bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "eyJhbGciOiJIUzI1NiJ9"),
    ("proxy at HTTPS://svc-user:svc-S3cret@proxy.internal", "svc-S3cret"),
    (f"failed with password {ES_PASSWORD}", ES_PASSWORD),
    ("user ann logged in with ann-Pass-91", "ann-Pass-91"),
    (f"key {SERVICE_KEY} refused", SERVICE_KEY),
])
def test_redaction_hides_credentials_in_any_line(redact, text, hidden):
    assert hidden not in redact(text)
    assert logs.REDACTED in redact(text)


def test_console_format_is_one_readable_line_with_the_request_id(redact):
    formatter = logs.ConsoleFormatter(redact)
    record = logging.LogRecord("connector_service.access", logging.INFO, __file__, 1,
                               "GET /_connector/_sync_job 200 3.1 ms es_calls=1", None, None)
    setattr(record, "trace.id", "0" * 32)
    setattr(record, "http.request.id", "dash-1")
    line = formatter.format(record)
    assert line.endswith("INFO    connector_service.access: GET /_connector/_sync_job 200 3.1 ms "
                         "es_calls=1 [dash-1]")
    assert "\n" not in line


@pytest.mark.parametrize("setting, terminal, chosen", [
    ("", True, "console"), ("", False, "ecs"), ("ecs", True, "ecs"), ("console", False, "console"),
])
def test_log_format_defaults_to_console_on_a_terminal_and_ecs_elsewhere(setting, terminal, chosen):
    class Stream:
        def isatty(self):
            return terminal

    assert logs.resolve_format(setting, Stream()) == chosen


def flattened(document: dict, prefix: str = "") -> dict:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`: how ecs-logging takes fields from a record's extras."""
    flat = {}
    for key, value in document.items():
        if isinstance(value, dict):
            flat.update(flattened(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_the_access_line_is_what_ecs_logging_writes_for_the_same_record(unreachable_client, caplog):
    """The access line is written by hand, with one JSON encoding (docs/benchmark.md): parsed,
    it must equal what Elastic's own formatter makes of the same fields."""
    with caplog.at_level(logging.INFO, logger="connector_service.access"):
        unreachable_client.get("/_connector_service/live", headers={"X-Opaque-Id": "ecs-check"})
    record = next(r for r in caplog.records if hasattr(r, logs.ECS_DOCUMENT))
    ours = json.loads(logs.EcsFormatter(logs.Redactor([]), "1.2.3").format(record))

    same = logging.makeLogRecord({key: value for key, value in vars(record).items()
                                  if key != logs.ECS_DOCUMENT})
    for name, value in flattened(getattr(record, logs.ECS_DOCUMENT)).items():
        setattr(same, name, value)
    theirs = json.loads(ecs_logging.StdlibFormatter(
        extra={"service.name": "connector-sync-jobs", "service.version": "1.2.3"},
        exclude_fields=["log.origin", "log.original"]).format(same))

    assert ours == theirs
    assert ours["http"]["request"] == {"method": "GET", "id": "ecs-check"}
    assert ours["url"]["path"] == "/_connector_service/live"
