"""With AUTH_MODE=elasticsearch, the shape of docker-compose.secured.yml (the cluster's own users
call the service, plain HTTP between the service and the node), a worker's heartbeats are
answered on the event loop once the cluster has authenticated that worker within
AUTH_CACHE_SECONDS and said it may manage connectors. Any other caller (one not remembered, one
without the privilege, wrong credentials, another identity through run-as) is the app's to ask
the cluster about and answer, exactly as before.

The secured node of the session, reached over plain HTTP through a relay that speaks TLS to it;
the service as scripts/serve runs it, one worker process.
"""

import json

import pytest

from tests.support.heartbeats import STATS, comparable, served
from tests.support.relay import FaultyRelay
from tests.support.secured import SERVICE_USER, basic, password_of


@pytest.fixture
def service(secured_node, secured_es, tmp_path):
    env = {"ELASTICSEARCH_USERNAME": SERVICE_USER,
           "ELASTICSEARCH_PASSWORD": password_of(SERVICE_USER),
           "AUTH_MODE": "elasticsearch", "AUTH_CACHE_SECONDS": "60"}
    with FaultyRelay(secured_node.url, ca_certs=secured_node.ca_certs) as relay, \
            served(relay.url, tmp_path, env=env) as service:
        yield service


def running_job(service, worker: dict) -> str:
    """A connector and a job the service claimed for `worker`'s credentials."""
    created = service.call("PUT", "/_connector/secured-heartbeats",
                           {"index_name": "search-secured-heartbeats", "name": "c",
                            "service_type": "x"}, headers=worker)
    assert created.status in (200, 201), created.data
    posted = service.call("POST", "/_connector/_sync_job", {"id": "secured-heartbeats"},
                          headers=worker)
    assert posted.status == 201, posted.data
    job_id = json.loads(posted.data)["id"]
    claimed = service.call("PUT", f"/_connector/_sync_job/{job_id}/_claim",
                           {"worker_hostname": "worker-1"}, headers=worker)
    assert claimed.status == 200, claimed.data
    return job_id


def test_a_remembered_workers_heartbeats_are_answered_on_the_event_loop(
        service, secured_node, secured_es):
    worker = secured_node.headers("worker")
    job_id = running_job(service, worker)  # the cluster authenticated the worker here
    before = secured_es.get(index=".elastic-connectors-sync-jobs", id=job_id)

    check_in = service.check_in(job_id, headers=worker)
    stats = service.stats(job_id, headers=worker)
    on_thread = service.check_in(job_id, headers=worker, query="?human=false")

    assert (check_in.status, stats.status) == (200, 200)
    assert json.loads(check_in.data) == json.loads(stats.data) == {"result": "updated"}
    assert comparable(check_in) == comparable(on_thread)
    assert (service.served_on(check_in), service.served_on(stats),
            service.served_on(on_thread)) == ("event_loop", "event_loop", "app_thread")
    assert service.es_calls(check_in) == service.es_calls(stats) == 1  # the update alone
    after = secured_es.get(index=".elastic-connectors-sync-jobs", id=job_id)
    assert after["_seq_no"] == before["_seq_no"] + 3
    assert after["_source"]["indexed_document_count"] == STATS["indexed_document_count"]


def test_callers_the_loop_cannot_vouch_for_are_answered_by_the_app(
        service, secured_node, secured_es):
    job_id = running_job(service, secured_node.headers("worker"))
    reader = secured_node.headers("reader")  # monitor_connector only
    manager = secured_node.headers("manager")
    version = secured_es.get(index=".elastic-connectors-sync-jobs", id=job_id)["_seq_no"]

    refused = [service.check_in(job_id, headers=reader) for _ in range(2)]
    stats_refused = service.stats(job_id, headers=reader)
    wrong_password = service.check_in(job_id, headers=basic("worker", "wrong"))
    no_credentials = service.check_in(job_id)
    first_of_manager = service.check_in(job_id, headers=manager)
    again_of_manager = service.check_in(job_id, headers=manager)

    assert [answer.status for answer in (*refused, stats_refused)] == [403, 403, 403]
    assert json.loads(refused[0].data)["error"]["type"] == "security_exception"
    assert json.loads(stats_refused.data)["error"]["type"] == "security_exception"
    assert comparable(refused[0]) == comparable(refused[1])  # remembered, refused alike
    assert (wrong_password.status, no_credentials.status) == (401, 401)
    for answer in (*refused, stats_refused, wrong_password, no_credentials, first_of_manager):
        assert service.served_on(answer) == "app_thread"
    # Another caller is asked about once, then remembered as the worker was.
    assert (first_of_manager.status, again_of_manager.status) == (200, 200)
    assert service.served_on(again_of_manager) == "event_loop"
    stored = secured_es.get(index=".elastic-connectors-sync-jobs", id=job_id)
    assert stored["_seq_no"] == version + 2  # the manager's two heartbeats, nothing refused
