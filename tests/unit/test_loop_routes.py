"""Which requests the front may answer on its event loop (app.api.loop_routes), decided from the
ASGI scope alone: only a heartbeat the app would answer with nothing but its route. No node:
the app is built against a closed port and never asked to call it."""

import pytest

from app import create_app
from app.api.loop_routes import LoopRoutes

JOB = "AGBVYIg0xy8CHxZ-yLX5"
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


def test_the_heartbeat_is_the_one_route_declared_for_the_loop():
    routes = loop_routes()
    assert list(routes.handlers) == ["sync_jobs.check_in_sync_job"]
    assert routes.methods == {"PUT"}
    rule, args = routes.route(scope())
    assert rule.rule == "/_connector/_sync_job/<job_id>/_check_in" and args == {"job_id": JOB}


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
    assert routes.lets_through(scope(headers=headers)["headers"]) is let_through


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
    assert routes.lets_through(scope(headers=headers)["headers"]) is let_through


def test_with_the_cluster_deciding_callers_nothing_is_answered_on_the_loop():
    routes = loop_routes(AUTH_MODE="elasticsearch")
    assert routes.lets_through(scope()["headers"]) is False
