"""AUTH_MODE=elasticsearch underneath: which privilege each route needs, how a caller is named
in a 403, what is remembered about a caller and for how long, and what never reaches a log."""

import logging
import socket

import pytest

from app import create_app
from app.auth.cluster import Caller, RememberedCallers
from app.auth.privileges import AUTHENTICATED_ONLY, ROUTE_REQUIREMENTS, requirement_for
from tests.support.api_client import error_type
from tests.support.secured import basic, password_of

NO_NODE = {"ELASTICSEARCH_URL": "http://127.0.0.1:1", "INSTALL_TEMPLATES_ON_START": False}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def caller(name: str = "reader") -> Caller:
    return Caller(username=name, roles=("connector_reader",), kind="user", api_key_id=None,
                  privileges={"monitor_connector": True})


# Every route has a decision


def test_every_route_of_the_service_has_a_privilege_decision():
    app = create_app(NO_NODE)
    undecided = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("forwarding.forward", "static"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (method, rule.endpoint) not in ROUTE_REQUIREMENTS \
                    and rule.endpoint not in AUTHENTICATED_ONLY:
                undecided.append(f"{method} {rule.rule} ({rule.endpoint})")

    assert undecided == [], "add each to app/auth/privileges.py and docs/security.md"


def test_reads_need_monitor_connector_and_writes_manage_connector():
    get = requirement_for("GET", "sync_jobs.get_sync_job")
    claim = requirement_for("PUT", "sync_jobs.claim_sync_job")

    assert get.met_by({"monitor_connector": True})
    assert get.met_by({"manage_connector": True})
    assert not claim.met_by({"monitor_connector": True})
    assert claim.met_by({"manage_connector": True})
    assert requirement_for("HEAD", "service.root") == requirement_for("GET", "service.root")


def test_the_dashboards_page_and_assets_and_any_options_need_no_connector_privilege():
    assert requirement_for("GET", "dashboard.dashboard_page") is None
    assert requirement_for("GET", "dashboard.static") is None
    assert requirement_for("OPTIONS", "sync_jobs.claim_sync_job") is None


def test_a_route_without_a_decision_is_judged_by_its_method():
    assert requirement_for("GET", "operations.metrics").granted_by[0] == "monitor_connector"
    assert requirement_for("POST", "operations.reset").granted_by[0] == "manage_connector"


# Naming the caller as Elasticsearch does (AuthorizationDenialMessages)


@pytest.mark.parametrize(("authenticated", "named"), [
    ({"username": "reader", "roles": ["b_role", "a_role"], "authentication_type": "realm",
      "authentication_realm": {"type": "file"}},
     "user [reader] with effective roles [a_role,b_role]"),
    ({"username": "elastic/auto-ops", "roles": [], "authentication_type": "token",
      "authentication_realm": {"type": "_service_account"}},
     "service account [elastic/auto-ops]"),
    ({"username": "alice", "roles": ["viewer"], "authentication_type": "api_key",
      "api_key": {"id": "VuaCfGcBCdbkQm-e5aOx", "name": "worker"},
      "authentication_realm": {"type": "_es_api_key"}},
     "API key id [VuaCfGcBCdbkQm-e5aOx] of user [alice]"),
])
def test_a_caller_is_named_as_elasticsearch_names_it_in_a_403(authenticated, named):
    assert Caller.from_cluster(authenticated, {}).description() == named


# What is remembered


def test_a_caller_is_remembered_for_the_ttl_and_then_asked_about_again():
    clock = Clock()
    remembered = RememberedCallers(ttl=30, maxsize=10, clock=clock)
    key = remembered.key({"Authorization": "Basic cmVhZGVyOnB3"})
    remembered.remember(key, caller())

    clock.now += 29.9
    assert remembered.get(key) == caller()
    clock.now += 0.2
    assert remembered.get(key) is None


def test_at_most_maxsize_callers_are_remembered_the_least_recent_dropped_first():
    remembered = RememberedCallers(ttl=30, maxsize=2)
    keys = [remembered.key({"Authorization": f"Bearer token-{n}"}) for n in range(3)]
    remembered.remember(keys[0], caller("a"))
    remembered.remember(keys[1], caller("b"))
    remembered.get(keys[0])
    remembered.remember(keys[2], caller("c"))

    assert len(remembered) == 2
    assert remembered.get(keys[1]) is None
    assert remembered.get(keys[0]).username == "a"


def test_keys_are_keyed_digests_never_the_credential_nor_a_plain_hash_of_it():
    credential = {"Authorization": "Basic " + "cmVhZGVyOnJlYWRlci1wYXNz"}
    one, other = RememberedCallers(30, 10), RememberedCallers(30, 10)

    key = one.key(credential)

    assert len(key) == 32 and b"cmVhZGVy" not in key
    assert key == one.key(credential)
    assert key != other.key(credential)  # a secret of each process: no offline guessing
    assert one.key({**credential, "es-security-runas-user": "bob"}) != key


def test_a_ttl_of_zero_remembers_nothing():
    remembered = RememberedCallers(ttl=0, maxsize=10)
    key = remembered.key({"Authorization": "Bearer t"})
    remembered.remember(key, caller())

    assert remembered.get(key) is None


# Against the secured node


@pytest.fixture
def secured_app(secured_node, secured_es):
    def make(**settings):
        return create_app({**secured_node.service_settings(), "AUTH_MODE": "elasticsearch",
                           "INSTALL_TEMPLATES_ON_START": False, **settings})

    return make


def security_calls(es) -> tuple[int, int]:
    """How often the node has answered _authenticate and _has_privileges (its own counters)."""
    usage = es.nodes.usage(metric="rest_actions")["nodes"]
    actions = next(iter(usage.values()))["rest_actions"]
    return (actions.get("security_authenticate_action", 0),
            actions.get("security_has_privileges_action", 0))


def test_a_workers_heartbeats_cost_one_question_to_the_cluster_per_ttl(secured_app, secured_node,
                                                                       secured_es):
    client = secured_app(AUTH_CACHE_SECONDS=30).test_client()
    before = security_calls(secured_es)

    answers = [client.get("/_connector/_sync_job", headers=secured_node.headers("reader"))
               for _ in range(20)]

    assert {answer.status_code for answer in answers} == {200}
    assert security_calls(secured_es) == (before[0] + 1, before[1] + 1)


def test_a_failed_authentication_is_never_remembered(secured_app, secured_node):
    app = secured_app()
    client = app.test_client()

    answers = [client.get("/_connector/_sync_job", headers=basic("reader", "wrong"))
               for _ in range(3)]

    assert {answer.status_code for answer in answers} == {401}
    assert len(app.extensions["remembered_callers"]) == 0
    client.get("/_connector/_sync_job", headers=secured_node.headers("reader"))
    assert len(app.extensions["remembered_callers"]) == 1


def test_without_remembering_every_request_asks_the_cluster(secured_app, secured_node, secured_es):
    client = secured_app(AUTH_CACHE_SECONDS=0).test_client()
    before = security_calls(secured_es)

    for _ in range(3):
        client.get("/_connector/_sync_job", headers=secured_node.headers("reader"))

    assert security_calls(secured_es) == (before[0] + 3, before[1] + 3)


@pytest.fixture
def every_log_record(caplog):
    for name in ("", "elastic_transport", "urllib3", "app", "werkzeug", "elasticsearch"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    return caplog


def test_no_credential_reaches_a_log_or_an_answer(secured_app, secured_node, every_log_record):
    client = secured_app().test_client()
    logging.getLogger("elastic_transport").setLevel(logging.DEBUG)
    secrets = [password_of("reader"), password_of("manager"), "wrong-Pa55", secured_node.auto_ops_token,
               secured_node.bearer["Authorization"].split(" ", 1)[1]]
    headers = [secured_node.headers("reader"), secured_node.headers("manager"),
               basic("reader", "wrong-Pa55"), secured_node.bearer,
               {"Authorization": f"Bearer {secured_node.auto_ops_token}"}]

    answers = [client.get(path, headers=header) for header in headers
               for path in ("/_connector/_sync_job", "/_connector/_sync_job/x/_cancel",
                            "/.elastic-connectors/_count")]

    said = every_log_record.text + "".join(answer.get_data(as_text=True) for answer in answers)
    encoded = [header["Authorization"].split(" ", 1)[1] for header in headers]
    for secret in secrets + encoded:
        assert secret not in said


def test_an_unreachable_cluster_during_authentication_is_503_not_401(secured_node):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = create_app({**NO_NODE, "ELASTICSEARCH_URL": f"https://127.0.0.1:{port}",
                         "AUTH_MODE": "elasticsearch", "ELASTICSEARCH_REQUEST_TIMEOUT": 2}
                        ).test_client()

    for path in ("/_connector/_sync_job", "/.elastic-connectors/_search"):
        answer = client.get(path, headers=secured_node.headers("reader"))
        assert answer.status_code == 503, path
        assert error_type(answer.get_json()) == "service_unavailable_exception"
