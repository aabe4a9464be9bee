"""A worker's heartbeats on a running job, `PUT _connector/_sync_job/<id>/_check_in` and
`PUT .../_stats` (what the connectors framework sends every 10 s), are answered on the front's
event loop (app.api.loop_routes), and are answered exactly as the app answers them on its
thread: the same status, body and headers, the same access line and metrics, the same stored
document, the same outcome when another writer got there first, when the job is gone or
closed, and when the node loses the write's answer. Anything the loop cannot answer as the app
would (a query string, an Origin, a refused caller, a body the app must decode or refuses) is
answered by the app.

Over real sockets against the service as scripts/serve runs it, one worker process; `?human`
(a parameter every route takes, which changes nothing in this answer) sends the same heartbeat
through the app's thread for comparison. The access line says which one answered.
"""
import gzip
import json
import re
from contextlib import contextmanager

import pytest

from app.storage import SYNC_JOBS_INDEX
from tests.support.heartbeats import STATS, comparable, served
from tests.support.metrics_text import ES_REQUESTS, total
from tests.support.relay import FaultyRelay

KEY = "aGVhcnRiZWF0LWtleTpzZWNyZXQ="
CONFLICTS = "connector_service_guarded_update_conflicts_total"
def claimed_elsewhere(api, connector_id) -> str:
    """A job claimed through another process of the service: the served one never saw it."""
    job_id = api.new_job(connector_id)
    api.claim(job_id, worker_hostname="worker-1")
    return job_id


def stored(es, job_id) -> dict:
    return es.get(index=SYNC_JOBS_INDEX, id=job_id)


@pytest.fixture
def connector(api):
    return api.create_connector("heartbeats", index_name="search-heartbeats")


def test_a_claimed_jobs_heartbeat_is_answered_on_the_event_loop_as_the_app_answers_it(
        elasticsearch_url, tmp_path, api, es, connector):
    with served(elasticsearch_url, tmp_path) as service:
        job_id = service.claimed_job(api, connector)
        before = stored(es, job_id)
        on_loop = service.check_in(job_id)
        after_loop = stored(es, job_id)
        on_thread = service.check_in(job_id, query="?human=false")
        after_thread = stored(es, job_id)
        scraped = service.metrics()

        assert on_loop.status == 200 and json.loads(on_loop.data) == {"result": "updated"}
        assert comparable(on_loop) == comparable(on_thread)
        assert on_loop.headers["x-opaque-id"] == on_loop.headers["x-request-id"]
        assert (service.served_on(on_loop), service.served_on(on_thread)) == (
            "event_loop", "app_thread")
        line = service.access_line(on_loop)
        assert line["connector_service"]["route"] == "/_connector/_sync_job/<job_id>/_check_in"
        assert line["http"]["response"]["status_code"] == 200
        assert service.es_calls(on_loop) == service.es_calls(on_thread) == 1  # one update each
    # One guarded write each: last_seen moved, and nothing else.
    assert after_loop["_seq_no"] == before["_seq_no"] + 1
    assert after_thread["_seq_no"] == after_loop["_seq_no"] + 1
    assert before["_source"]["last_seen"] < after_loop["_source"]["last_seen"] \
        < after_thread["_source"]["last_seen"]
    assert {key: value for key, value in after_loop["_source"].items() if key != "last_seen"} \
        == {key: value for key, value in before["_source"].items() if key != "last_seen"}
    assert total(scraped, ES_REQUESTS, kind="update", status="200") >= 3  # claim, two heartbeats


def test_a_heartbeat_that_lost_a_race_is_written_on_the_latest_version(
        elasticsearch_url, tmp_path, api, es, connector):
    with served(elasticsearch_url, tmp_path) as service:
        job_id = service.claimed_job(api, connector)
        # Another writer changes the job behind the service's back.
        es.update(index=SYNC_JOBS_INDEX, id=job_id,
                  doc={"last_seen": "2020-01-01T00:00:00.000Z", "metadata": {"by": "other"}})
        answer = service.check_in(job_id)
        scraped = service.metrics()

        assert answer.status == 200 and json.loads(answer.data) == {"result": "updated"}
        # The update sent from the loop met the conflict; the app read the job and wrote again.
        assert service.served_on(answer) == "app_thread"
        assert service.es_calls(answer) == 3  # the conflicting update, the read, the update
        assert total(scraped, CONFLICTS, index=SYNC_JOBS_INDEX) == 1
        assert total(scraped, ES_REQUESTS, kind="update", status="409") == 1
    job = stored(es, job_id)["_source"]
    assert job["last_seen"] > "2020-01-01T00:00:00.000Z"
    assert job["metadata"] == {"by": "other"}  # the other writer's change is kept


def test_a_heartbeat_for_a_job_deleted_behind_the_service_answers_404_as_the_app_does(
        elasticsearch_url, tmp_path, api, es, connector):
    with served(elasticsearch_url, tmp_path) as service:
        job_id = service.claimed_job(api, connector)
        es.delete(index=SYNC_JOBS_INDEX, id=job_id)
        first = service.check_in(job_id)
        again = service.check_in(job_id, query="?human=false")

        assert first.status == 404
        assert json.loads(first.data)["error"]["reason"] == \
            f"connector sync job [{job_id}] not found"
        assert comparable(first) == comparable(again)
        assert service.es_calls(first) == 1  # the update the node answered 404; nothing more
    assert not es.exists(index=SYNC_JOBS_INDEX, id=job_id)


def test_a_heartbeat_of_a_closed_job_is_refused_as_the_app_refuses_it(
        elasticsearch_url, tmp_path, api, es, connector):
    with served(elasticsearch_url, tmp_path) as service:
        job_id = service.claimed_job(api, connector)
        failed = service.call("PUT", f"/_connector/_sync_job/{job_id}/_error",
                              {"error": "the source went away"})
        assert failed.status == 200  # the job is in `error` now, remembered so by the service
        version = stored(es, job_id)["_seq_no"]
        refused = service.check_in(job_id)
        on_thread = service.check_in(job_id, query="?human=false")

        assert refused.status == 400
        assert json.loads(refused.data)["error"]["type"] == "status_exception"
        assert "the job has finished" in json.loads(refused.data)["error"]["reason"]
        assert comparable(refused) == comparable(on_thread)
        assert service.served_on(refused) == "app_thread"
    assert stored(es, job_id)["_seq_no"] == version  # nothing written


def test_what_the_loop_cannot_answer_as_the_app_would_is_left_to_the_app(
        elasticsearch_url, tmp_path, api, es, connector):
    env = {"AUTH_MODE": "api_key", "AUTH_API_KEYS": KEY, "ALLOWED_HOSTS": "svc.example",
           "CORS_ALLOWED_ORIGINS": "https://dashboard.example"}
    credentials = {"Authorization": f"ApiKey {KEY}"}
    with served(elasticsearch_url, tmp_path, env=env) as service:
        job_id = api.new_job(connector)
        claimed = service.call("PUT", f"/_connector/_sync_job/{job_id}/_claim",
                               {"worker_hostname": "worker-1"}, headers=credentials)
        assert claimed.status == 200
        accepted = service.check_in(job_id, headers=credentials)
        named_host = service.check_in(job_id, headers={**credentials, "Host": "svc.example"})
        wrong_key = service.check_in(job_id, headers={"Authorization": "ApiKey bm9wZQ=="})
        no_key = service.check_in(job_id)
        rebound = service.check_in(job_id, headers={**credentials, "Host": "evil.example"})
        from_page = service.check_in(job_id, headers={**credentials,
                                                      "Origin": "https://dashboard.example"})
        pretty = service.check_in(job_id, query="?pretty", headers=credentials)
        version = stored(es, job_id)["_seq_no"]
        options = service.call("OPTIONS", f"/_connector/_sync_job/{job_id}/_check_in",
                               headers=credentials)
        assert stored(es, job_id)["_seq_no"] == version  # Flask's own OPTIONS writes nothing

        assert (accepted.status, named_host.status) == (200, 200)
        assert service.served_on(accepted) == service.served_on(named_host) == "event_loop"
        assert (wrong_key.status, no_key.status, rebound.status) == (401, 401, 400)
        assert wrong_key.headers["WWW-Authenticate"] == "ApiKey"
        assert from_page.status == 200
        assert from_page.headers["Access-Control-Allow-Origin"] == "https://dashboard.example"
        assert pretty.status == 200 and pretty.data == b'{\n  "result": "updated"\n}\n'
        assert options.status == 200 and "PUT" in options.headers["Allow"]
        for answer in (wrong_key, no_key, rebound, from_page, pretty, options):
            assert service.served_on(answer) == "app_thread"


def test_a_job_claimed_elsewhere_is_read_and_written_on_the_event_loop(
        elasticsearch_url, tmp_path, api, es, connector):
    with served(elasticsearch_url, tmp_path) as service:
        first_job, second_job = claimed_elsewhere(api, connector), claimed_elsewhere(api, connector)
        before = stored(es, first_job)
        on_loop = service.check_in(first_job)
        again = service.check_in(first_job)
        on_thread = service.check_in(second_job, query="?human=false")
        scraped = service.metrics()

        assert on_loop.status == 200 and json.loads(on_loop.data) == {"result": "updated"}
        assert comparable(on_loop) == comparable(on_thread)
        assert (service.served_on(on_loop), service.served_on(on_thread)) == (
            "event_loop", "app_thread")
        assert service.es_calls(on_loop) == service.es_calls(on_thread) == 2  # a read, an update
        # Read once: the next heartbeat writes on the version the first one wrote.
        assert service.served_on(again) == "event_loop" and service.es_calls(again) == 1
        assert total(scraped, ES_REQUESTS, kind="get", status="200") >= 2
    after = stored(es, first_job)
    assert after["_version"] == before["_version"] + 2  # two heartbeats, one write each
    assert {key: value for key, value in after["_source"].items() if key != "last_seen"} \
        == {key: value for key, value in before["_source"].items() if key != "last_seen"}


def test_a_heartbeat_for_a_job_never_created_is_a_404_after_one_read(
        elasticsearch_url, tmp_path, api, connector):
    with served(elasticsearch_url, tmp_path) as service:
        first = service.check_in("no-such-job")
        again = service.check_in("no-such-job", query="?human=false")

        assert first.status == 404
        assert json.loads(first.data)["error"] == {
            "root_cause": [{"type": "resource_not_found_exception",
                            "reason": "connector sync job [no-such-job] not found"}],
            "type": "resource_not_found_exception",
            "reason": "connector sync job [no-such-job] not found"}
        assert comparable(first) == comparable(again)
        assert service.served_on(first) == "app_thread"
        assert service.es_calls(first) == service.es_calls(again) == 1  # the read, met once


def test_a_heartbeat_of_a_job_closed_elsewhere_is_refused_after_one_read(
        elasticsearch_url, tmp_path, api, es, connector):
    with served(elasticsearch_url, tmp_path) as service:
        first_job, second_job = claimed_elsewhere(api, connector), claimed_elsewhere(api, connector)
        api.set_error(first_job)
        api.set_error(second_job)
        version = stored(es, first_job)["_seq_no"]
        refused = service.check_in(first_job)
        on_thread = service.check_in(second_job, query="?human=false")

        assert refused.status == 400
        assert json.loads(refused.data)["error"]["type"] == "status_exception"
        assert comparable(refused, first_job) == comparable(on_thread, second_job)
        assert service.served_on(refused) == "app_thread"
        assert service.es_calls(refused) == service.es_calls(on_thread) == 1  # the read, met once
    assert stored(es, first_job)["_seq_no"] == version  # nothing written


def test_a_job_changed_between_the_loops_read_and_its_write_keeps_the_other_change(
        elasticsearch_url, tmp_path, api, es, connector):
    job_id = None

    def another_writer_first(method, target) -> bool:
        """Before the heartbeat's update reaches the node, another writer changes the job."""
        if method == "POST" and f"/_update/{job_id}?" in target and not changed:
            changed.append(es.update(index=SYNC_JOBS_INDEX, id=job_id,
                                     doc={"metadata": {"by": "other"}}))
        return False

    changed = []
    with FaultyRelay(elasticsearch_url, drop_request=another_writer_first) as relay, \
            served(relay.url, tmp_path) as service:
        job_id = claimed_elsewhere(api, connector)
        before = stored(es, job_id)
        answer = service.check_in(job_id)
        scraped = service.metrics()

        assert changed and answer.status == 200
        assert json.loads(answer.data) == {"result": "updated"}
        # The loop's read and conflicting update, then the app's read and update.
        assert service.served_on(answer) == "app_thread"
        assert len(reads_of(relay, job_id)) == 2 and len(updates_of(relay, job_id)) == 2
        assert service.es_calls(answer) == 4
        assert total(scraped, CONFLICTS, index=SYNC_JOBS_INDEX) == 1
    after = stored(es, job_id)
    assert after["_seq_no"] == before["_seq_no"] + 2  # the other writer's, the heartbeat's
    assert after["_source"]["metadata"] == {"by": "other"}
    assert after["_source"]["last_seen"] > before["_source"]["last_seen"]


class Once:
    """A fault for the first `_update` (or `read`: the first GET) of one job only."""

    def __init__(self, read=False):
        self.job_id = None
        self.fired = False
        self.read = read

    def __call__(self, method, target) -> bool:
        if self.fired or self.job_id is None or not self.strikes(method, target):
            return False
        self.fired = True
        return True

    def strikes(self, method, target) -> bool:
        if self.read:
            return method == "GET" and target.endswith(f"/_doc/{self.job_id}")
        return method == "POST" and f"/_update/{self.job_id}?" in target


def reads_of(relay, job_id) -> list[str]:
    return [target for method, target in relay.requests
            if method == "GET" and target.endswith(f"/_doc/{job_id}")]


def updates_of(relay, job_id) -> list[str]:
    return [target for method, target in relay.requests
            if method == "POST" and f"/_update/{job_id}?" in target]


@contextmanager
def faulted(elasticsearch_url, tmp_path, api, es, connector, fault: str, env=None, cold=False,
            **options):
    """The service in front of a FaultyRelay whose `fault` (lose_answer, repeat, drop_request)
    strikes the first heartbeat of a job the service claimed: (relay, service, job, its version
    before the heartbeat). With `cold`, the job was claimed elsewhere and the fault strikes the
    service's first read of it."""
    once = Once(read=cold)
    with FaultyRelay(elasticsearch_url, **{fault: once}, **options) as relay, \
            served(relay.url, tmp_path, env=env) as service:
        job_id = claimed_elsewhere(api, connector) if cold else service.claimed_job(api, connector)
        before = stored(es, job_id)
        once.job_id = job_id
        yield relay, service, job_id, before


def test_a_heartbeat_whose_answer_was_lost_after_it_landed_is_not_written_twice(
        elasticsearch_url, tmp_path, api, es, connector):
    with faulted(elasticsearch_url, tmp_path, api, es, connector, "lose_answer") as (
            relay, service, job_id, before):
        answer = service.check_in(job_id)

        assert answer.status == 200 and json.loads(answer.data) == {"result": "updated"}
        assert relay.lost and updates_of(relay, job_id)[-1] == relay.lost[0][1]
        # The app read the job again, found the lost write there, and wrote nothing more.
        assert len(updates_of(relay, job_id)) == 2  # the claim's and the heartbeat's
        assert service.es_calls(answer) == 2  # the lost update, the read
    assert stored(es, job_id)["_seq_no"] == before["_seq_no"] + 1


def test_a_heartbeat_the_node_applied_twice_is_taken_for_its_own_write(
        elasticsearch_url, tmp_path, api, es, connector):
    with faulted(elasticsearch_url, tmp_path, api, es, connector, "repeat") as (
            relay, service, job_id, before):
        answer = service.check_in(job_id)

        # The node applied it, then answered the repeat with a conflict against itself.
        assert relay.repeated
        assert answer.status == 200 and json.loads(answer.data) == {"result": "updated"}
        assert len(updates_of(relay, job_id)) == 2  # the claim's and the heartbeat's, once
    assert stored(es, job_id)["_seq_no"] == before["_seq_no"] + 1


def test_a_heartbeat_whose_request_never_reached_the_node_is_sent_again(
        elasticsearch_url, tmp_path, api, es, connector):
    with faulted(elasticsearch_url, tmp_path, api, es, connector, "drop_request") as (
            relay, service, job_id, before):
        answer = service.check_in(job_id)

        assert relay.dropped
        assert answer.status == 200 and json.loads(answer.data) == {"result": "updated"}
    after = stored(es, job_id)
    assert after["_seq_no"] == before["_seq_no"] + 1
    assert after["_source"]["last_seen"] > before["_source"]["last_seen"]


def test_a_heartbeat_whose_answer_never_came_in_time_is_a_503(
        elasticsearch_url, tmp_path, api, es, connector):
    with faulted(elasticsearch_url, tmp_path, api, es, connector, "lose_answer",
                 env={"ELASTICSEARCH_REQUEST_TIMEOUT": "1"}, hold_seconds=4) as (
            relay, service, job_id, _):
        answer = service.check_in(job_id)

        assert relay.lost
        assert answer.status == 503
        error = json.loads(answer.data)["error"]
        assert error["type"] == "service_unavailable_exception"
        assert error["reason"] == "Elasticsearch is unavailable: ConnectionTimeout"
        assert service.es_calls(answer) == 1  # the update: a timeout is never sent again


def test_a_read_whose_answer_was_lost_is_read_again_by_the_app(
        elasticsearch_url, tmp_path, api, es, connector):
    with faulted(elasticsearch_url, tmp_path, api, es, connector, "lose_answer", cold=True) as (
            relay, service, job_id, before):
        answer = service.check_in(job_id)

        assert relay.lost and relay.lost[0][0] == "GET"
        assert answer.status == 200 and json.loads(answer.data) == {"result": "updated"}
        assert service.served_on(answer) == "app_thread"
        assert len(reads_of(relay, job_id)) == 2 and len(updates_of(relay, job_id)) == 1
    assert stored(es, job_id)["_seq_no"] == before["_seq_no"] + 1


def test_a_read_whose_answer_never_came_in_time_is_a_503(
        elasticsearch_url, tmp_path, api, es, connector):
    with faulted(elasticsearch_url, tmp_path, api, es, connector, "lose_answer", cold=True,
                 env={"ELASTICSEARCH_REQUEST_TIMEOUT": "1"}, hold_seconds=4) as (
            relay, service, job_id, before):
        answer = service.check_in(job_id)

        assert relay.lost and relay.lost[0][0] == "GET"
        assert answer.status == 503
        assert json.loads(answer.data)["error"]["reason"] == \
            "Elasticsearch is unavailable: ConnectionTimeout"
        assert service.es_calls(answer) == 1  # the read: a timeout is never sent again
        assert updates_of(relay, job_id) == []
    assert stored(es, job_id)["_seq_no"] == before["_seq_no"]


def test_a_workers_stats_are_answered_on_the_event_loop_as_the_app_answers_them(
        elasticsearch_url, tmp_path, api, es, connector):
    with served(elasticsearch_url, tmp_path) as service:
        job_id = service.claimed_job(api, connector)
        before = stored(es, job_id)
        on_loop = service.stats(job_id)
        after_loop = stored(es, job_id)
        on_thread = service.stats(job_id, {**STATS, "indexed_document_count": 20},
                                  query="?human=false")
        after_thread = stored(es, job_id)

        assert on_loop.status == 200 and json.loads(on_loop.data) == {"result": "updated"}
        assert comparable(on_loop) == comparable(on_thread)
        assert (service.served_on(on_loop), service.served_on(on_thread)) == (
            "event_loop", "app_thread")
        line = service.access_line(on_loop)
        assert line["connector_service"]["route"] == "/_connector/_sync_job/<job_id>/_stats"
        assert service.es_calls(on_loop) == service.es_calls(on_thread) == 1  # one update each
    # One guarded write each, of the counts and `last_seen`.
    assert after_loop["_seq_no"] == before["_seq_no"] + 1
    assert after_thread["_seq_no"] == after_loop["_seq_no"] + 1
    job = after_loop["_source"]
    assert (job["indexed_document_count"], job["indexed_document_volume"],
            job["deleted_document_count"], job["metadata"]) == (12, 3, 0, {})
    assert job["last_seen"] > before["_source"]["last_seen"]
    assert after_thread["_source"]["indexed_document_count"] == 20
    changed = {"last_seen", "indexed_document_count", "indexed_document_volume",
               "deleted_document_count", "metadata"}
    assert {key: value for key, value in job.items() if key not in changed} \
        == {key: value for key, value in before["_source"].items() if key not in changed}


def test_stats_for_a_job_claimed_elsewhere_are_read_and_written_on_the_event_loop(
        elasticsearch_url, tmp_path, api, es, connector):
    with served(elasticsearch_url, tmp_path) as service:
        first_job, second_job = claimed_elsewhere(api, connector), claimed_elsewhere(api, connector)
        on_loop = service.stats(first_job)
        again = service.stats(first_job, {**STATS, "indexed_document_count": 13})
        on_thread = service.stats(second_job, query="?human=false")

        assert on_loop.status == again.status == 200
        assert comparable(on_loop) == comparable(on_thread)
        assert (service.served_on(on_loop), service.served_on(on_thread)) == (
            "event_loop", "app_thread")
        assert service.es_calls(on_loop) == service.es_calls(on_thread) == 2  # a read, an update
        assert service.served_on(again) == "event_loop" and service.es_calls(again) == 1
    assert stored(es, first_job)["_source"]["indexed_document_count"] == 13


# Bodies the loop leaves to the app: compressed (the app decodes them), or anything the app
# refuses. Each is answered as the same body sent with `?human=false` is.
LEFT_TO_THE_APP = {
    "gzip": (gzip.compress(json.dumps(STATS).encode()),
             {"Content-Type": "application/json", "Content-Encoding": "gzip"}, 200),
    "text/plain": (json.dumps(STATS).encode(), {"Content-Type": "text/plain"}, 406),
    "no body": (b"", {"Content-Type": "application/json"}, 400),
    "broken JSON": (b'{"indexed_document_count": 1,', {"Content-Type": "application/json"}, 400),
    "an array": (b"[]", {"Content-Type": "application/json"}, 400),
    "unknown field": (json.dumps({**STATS, "worker": "w"}).encode(),
                      {"Content-Type": "application/json"}, 400),
    "missing count": (json.dumps({"indexed_document_count": 1}).encode(),
                      {"Content-Type": "application/json"}, 400),
    "negative count": (json.dumps({**STATS, "deleted_document_count": -1}).encode(),
                       {"Content-Type": "application/json"}, 400),
    "bad last_seen": (json.dumps({**STATS, "last_seen": "yesterday"}).encode(),
                      {"Content-Type": "application/json"}, 400),
    "metadata a string": (json.dumps({**STATS, "metadata": "m"}).encode(),
                          {"Content-Type": "application/json"}, 400),
}


def test_a_stats_body_the_loop_cannot_take_as_it_stands_is_answered_by_the_app(
        elasticsearch_url, tmp_path, api, es, connector):
    with served(elasticsearch_url, tmp_path) as service:
        job_id = service.claimed_job(api, connector)
        for name, (raw, headers, status) in LEFT_TO_THE_APP.items():
            version = stored(es, job_id)["_seq_no"]
            first = service.stats(job_id, raw=raw, headers=headers)
            written = stored(es, job_id)["_seq_no"] - version
            again = service.stats(job_id, raw=raw, headers=headers, query="?human=false")

            assert first.status == status, (name, first.data)
            assert comparable(first) == comparable(again), name
            assert service.served_on(first) == "app_thread", name
            assert written == (1 if status == 200 else 0), name
        with_body = service.call("PUT", f"/_connector/_sync_job/{job_id}/_check_in", {})
        assert with_body.status == 400 and service.served_on(with_body) == "app_thread"
        assert "does not support having a body" in json.loads(with_body.data)["error"]["reason"]


def sized(answer: tuple) -> tuple:
    status, headers, body = answer
    return status, headers, re.sub(rb"\d+ bytes long", b"<n> bytes long", body)


def test_stats_that_would_grow_a_job_past_its_bound_are_refused_after_one_read(
        elasticsearch_url, tmp_path, api, es, connector):
    job_id = claimed_elsewhere(api, connector)
    size = len(json.dumps(stored(es, job_id)["_source"], separators=(",", ":")))
    version = stored(es, job_id)["_seq_no"]
    with served(elasticsearch_url, tmp_path, env={"MAX_DOCUMENT_BYTES": str(size + 200)}) \
            as service:
        growing = {**STATS, "metadata": {"notes": "x" * 400}}
        refused = service.stats(job_id, growing)
        on_thread = service.stats(job_id, growing, query="?human=false")
        fits = service.stats(job_id, {**STATS, "metadata": {"notes": "short"}})

        assert refused.status == 400
        assert "MAX_DOCUMENT_BYTES" in json.loads(refused.data)["error"]["reason"]
        # The size named differs by the digits of `last_seen`'s fraction (3 to 6).
        assert sized(comparable(refused)) == sized(comparable(on_thread))
        assert service.served_on(refused) == "app_thread"
        assert service.es_calls(refused) == 1  # the loop's read, met by the app
        assert fits.status == 200 and service.served_on(fits) == "event_loop"
    after = stored(es, job_id)
    assert after["_seq_no"] == version + 1 and after["_source"]["metadata"] == {"notes": "short"}


def test_stats_that_lost_a_race_keep_the_other_writers_metadata(
        elasticsearch_url, tmp_path, api, es, connector):
    with served(elasticsearch_url, tmp_path) as service:
        job_id = service.claimed_job(api, connector)
        es.update(index=SYNC_JOBS_INDEX, id=job_id, doc={"metadata": {"by": "other"}})
        answer = service.stats(job_id, {**STATS, "metadata": {"from": "worker"}})

        assert answer.status == 200 and json.loads(answer.data) == {"result": "updated"}
        assert service.served_on(answer) == "app_thread"
        assert service.es_calls(answer) == 3  # the loop's conflicting update, a read, an update
    assert stored(es, job_id)["_source"]["metadata"] == {"by": "other", "from": "worker"}
