"""Which requests the front may answer on its event loop (app.api.loop_routes), decided from the
ASGI scope and the body alone: only a heartbeat the app would answer with nothing but its
route. No node: the app is built against a closed port and never asked to call it."""

import asyncio
import gzip
import json

import pytest

from app import create_app
from app.api.loop_routes import LoopRoutes
from app.auth.cluster import Caller, identity_of
from app.auth.privileges import requirement_for

JOB = "AGBVYIg0xy8CHxZ-yLX5"
CHECK_IN = "sync_jobs.check_in_sync_job"
# What a heartbeat asks of a caller the cluster authenticated (AUTH_MODE=elasticsearch).
HEARTBEAT_NEEDS = requirement_for("PUT", CHECK_IN)
KEY = "aGVhcnRiZWF0LWtleTpzZWNyZXQ="


def loop_routes(**settings) -> LoopRoutes:
    return LoopRoutes(create_app({"ELASTICSEARCH_URL": "http://127.0.0.1:1",
                                  "INSTALL_TEMPLATES_ON_START": False, "AUTH_MODE": "none",
                                  **settings}))


def scope(path=f"/_connector/_sync_job/{JOB}/_check_in", method="PUT", query=b"", headers=(),
          raw_path=None):
    return {"type": "http", "method": method, "path": path, "query_string": query,
            "raw_path": raw_path if raw_path is not None else path.encode(),
            "headers": [(name.lower().encode(), value.encode()) for name, value in headers]}


def test_the_two_heartbeats_are_the_routes_declared_for_the_loop():
    routes = loop_routes()
    assert sorted(routes.handlers) == ["sync_jobs.check_in_sync_job",
                                       "sync_jobs.set_sync_job_stats"]
    assert routes.methods == {"PUT"}
    rule, args = routes.route(scope())
    assert rule.rule == "/_connector/_sync_job/<job_id>/_check_in" and args == {"job_id": JOB}
    rule, args = routes.route(scope(path=f"/_connector/_sync_job/{JOB}/_stats"))
    assert rule.rule == "/_connector/_sync_job/<job_id>/_stats" and args == {"job_id": JOB}


@pytest.mark.parametrize("request_scope", [
    scope(method="OPTIONS"),  # Flask's own answer, never a write
    scope(method="POST"),
    scope(path=f"/_connector/_sync_job/{JOB}/_claim"),
    scope(path=f"/_connector/_sync_job/{JOB}"),
    scope(path="/_connector/_sync_job//_check_in"),  # an empty id: the app's 400
    scope(path="/_connector/_sync_job/a/b/_check_in", raw_path=b"/_connector/_sync_job/a%2Fb/_check_in"),
    scope(path=f"/_connector/_sync_job/{'x' * 513}/_check_in"),  # too long an id: the app's 400
], ids=["options", "post", "claim", "get", "empty id", "escaped path", "long id"])
def test_other_requests_find_no_loop_route(request_scope):
    assert loop_routes().route(request_scope) is None


def test_a_path_too_long_to_remember_is_matched_all_the_same_and_not_kept():
    routes = loop_routes()
    assert routes.route(scope(path=f"/_connector/_sync_job/{'x' * 1100}/_check_in")) is None
    routes.route(scope())
    assert routes.remembered_match.cache_info().currsize == 1


@pytest.mark.parametrize("headers, let_through", [
    ((), True),
    ((("Host", "127.0.0.1:8080"),), True),
    ((("Host", "localhost"),), True),
    ((("Host", "svc.example"),), True),
    ((("Host", "rebind.attacker.example"),), False),
    ((("Host", "127.0.0.1"), ("Origin", "https://dashboard.example")), False),
    ((("Authorization", "ApiKey anything"),), True),  # AUTH_MODE=none lets any caller through
], ids=["no host", "address", "localhost", "allowed name", "rebound name", "origin", "any key"])
def test_only_what_the_apps_checks_would_let_through_as_it_is_stays_on_the_loop(
        headers, let_through):
    routes = loop_routes(ALLOWED_HOSTS=["svc.example"])
    assert routes.lets_through(scope(headers=headers)["headers"], HEARTBEAT_NEEDS) is let_through


@pytest.mark.parametrize("headers, let_through", [
    ((("Authorization", f"ApiKey {KEY}"),), True),
    ((("Authorization", f"apikey  {KEY} "),), True),
    ((("Authorization", "ApiKey bm9wZQ=="),), False),
    ((("Authorization", f"Basic {KEY}"),), False),
    ((("Authorization", f"ApiKey {KEY}"), ("Authorization", f"ApiKey {KEY}")), False),
    ((), False),
], ids=["key", "key spaced", "wrong key", "wrong scheme", "two headers", "none"])
def test_with_api_keys_only_a_configured_key_is_answered_on_the_loop(headers, let_through):
    routes = loop_routes(AUTH_MODE="api_key", AUTH_API_KEYS=[KEY])
    assert routes.lets_through(scope(headers=headers)["headers"], HEARTBEAT_NEEDS) is let_through


def test_with_the_cluster_deciding_callers_one_it_never_authenticated_goes_to_the_thread():
    routes = loop_routes(AUTH_MODE="elasticsearch")
    assert routes.lets_through(scope()["headers"], HEARTBEAT_NEEDS) is False
    assert routes.lets_through(scope(headers=[("Authorization", WORKER)])["headers"],
                               HEARTBEAT_NEEDS) is False


WORKER = "Basic d29ya2VyOnNlY3JldA=="


def remembering(routes, authorization: str, privileges: dict, run_as: str = "") -> LoopRoutes:
    """`routes` whose app remembers a caller as the cluster described it."""
    callers = routes.app.extensions["remembered_callers"]
    identity = identity_of({"Authorization": authorization, "es-security-runas-user": run_as})
    callers.remember(callers.key(identity), Caller(
        username="worker", roles=("connector_worker",), kind="user", api_key_id=None,
        privileges=privileges))
    return routes


@pytest.mark.parametrize("headers, privileges, let_through", [
    ((("Authorization", WORKER),), {"manage_connector": True}, True),
    ((("Authorization", WORKER),), {"manage": True}, True),
    ((("Authorization", WORKER),), {"monitor_connector": True}, False),  # the app's 403
    ((("Authorization", WORKER), ("Authorization", WORKER)), {"manage_connector": True}, False),
    ((("Authorization", WORKER), ("es-security-runas-user", "other")),
     {"manage_connector": True}, False),  # another identity: the cluster is asked
    ((("Authorization", "Basic b3RoZXI6c2VjcmV0"),), {"manage_connector": True}, False),
], ids=["manage_connector", "manage", "monitor only", "two headers", "run as", "another caller"])
def test_with_the_cluster_deciding_only_a_remembered_caller_who_may_write_stays_on_the_loop(
        headers, privileges, let_through):
    routes = remembering(loop_routes(AUTH_MODE="elasticsearch"), WORKER, privileges)
    assert routes.lets_through(scope(headers=headers)["headers"],
                               HEARTBEAT_NEEDS) is let_through


def test_a_caller_remembered_with_run_as_is_that_identity_only():
    routes = remembering(loop_routes(AUTH_MODE="elasticsearch"), WORKER,
                         {"manage_connector": True}, run_as="other")
    assert routes.lets_through(scope(headers=[("Authorization", WORKER),
                                              ("es-security-runas-user", "other")])["headers"],
                               HEARTBEAT_NEEDS) is True
    assert routes.lets_through(scope(headers=[("Authorization", WORKER)])["headers"],
                               HEARTBEAT_NEEDS) is False


# What the connectors framework sends every 10 s while a sync runs.
STATS = {"indexed_document_count": 12, "indexed_document_volume": 3,
         "deleted_document_count": 0, "metadata": {}}
JSON = (("Content-Type", "application/json"),)


def stats_body(routes, raw: bytes, headers=JSON):
    schema = routes.body_schemas["sync_jobs.set_sync_job_stats"]
    return routes.loaded_body(schema, scope(headers=headers)["headers"], raw)


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=UTF-8", "Application/JSON",
    "application/vnd.elasticsearch+json; compatible-with=8",
])
def test_a_stats_body_is_loaded_on_the_loop_as_the_views_schema_loads_it(content_type):
    routes = loop_routes()
    loaded = stats_body(routes, json.dumps({**STATS, "last_seen": "2026-12-06T10:00:00Z"}).encode(),
                        headers=(("Content-Type", content_type),))
    assert loaded == {**STATS, "last_seen": "2026-12-06T10:00:00.000Z"}


@pytest.mark.parametrize("raw, headers", [
    (gzip.compress(json.dumps(STATS).encode()), JSON + (("Content-Encoding", "gzip"),)),
    (json.dumps(STATS).encode(), JSON + (("Content-Encoding", "identity"),)),
    (json.dumps(STATS).encode(), (("Content-Type", "text/plain"),)),
    (json.dumps(STATS).encode(), ()),
    (json.dumps(STATS).encode(), JSON + JSON),
    (b"", JSON),
    (b"  \n", JSON),
    (b"{", JSON),
    (b"null", JSON),
    (b"[1]", JSON),
    (json.dumps({**STATS, "extra": 1}).encode(), JSON),
    (json.dumps({"indexed_document_count": 1}).encode(), JSON),
    (json.dumps({**STATS, "deleted_document_count": "many"}).encode(), JSON),
    (json.dumps({**STATS, "last_seen": "yesterday"}).encode(), JSON),
    (json.dumps({**STATS, "metadata": "x"}).encode(), JSON),
    (json.dumps({**STATS, "metadata": {"deep": [[]] * 1000}}).encode(), JSON),
], ids=["gzip", "identity encoding", "text/plain", "no content type", "two content types",
        "empty", "blank", "broken json", "null", "array", "unknown field", "missing counts",
        "string count", "bad last_seen", "metadata not an object", "many brackets"])
def test_a_stats_body_the_app_would_refuse_or_must_decode_goes_to_the_thread(raw, headers):
    assert stats_body(loop_routes(), raw, headers) is None


def test_a_stats_body_past_max_body_bytes_goes_to_the_thread():
    raw = json.dumps(STATS).encode()
    assert stats_body(loop_routes(MAX_BODY_BYTES=len(raw) - 1), raw) is None
    assert stats_body(loop_routes(MAX_BODY_BYTES=len(raw)), raw) == STATS


def test_a_body_sent_to_a_route_that_takes_none_goes_to_the_thread():
    answer = asyncio.run(loop_routes().serve(scope(headers=JSON), observed=None, body=b"{}"))
    assert answer is None
