"""Stale jobs (an extension): running jobs whose worker stopped reporting, and failing them."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import urllib3

from app.domain.clock import format_instant
from tests.support.api_client import error_type
from tests.support.stored import instant, stored_connector, stored_job


def minutes_ago(minutes: float) -> str:
    return format_instant(datetime.now(UTC) - timedelta(minutes=minutes))


@pytest.fixture
def jobs(api, es, set_status):
    """One job of each kind: silent for 10 min, recently seen, finished long ago, pending long ago."""
    from app.storage import SYNC_JOBS_INDEX

    connector = api.create_connector("test-connector")
    made = {}
    for name, status, last_seen in [("silent", "in_progress", minutes_ago(10)),
                                    ("silent_canceling", "canceling", minutes_ago(20)),
                                    ("recent", "in_progress", minutes_ago(1)),
                                    ("finished", "completed", minutes_ago(30)),
                                    ("waiting", "pending", minutes_ago(30))]:
        job_id = api.new_job(connector)
        es.update(index=SYNC_JOBS_INDEX, id=job_id, refresh=True,
                  doc={"status": status, "last_seen": last_seen, "worker_hostname": "w1"})
        made[name] = job_id
    return made


def test_stale_list_has_only_running_jobs_silent_longer_than_the_age(api, jobs):
    body = api.call("GET", "/_connector/_sync_job/_stale", query={"older_than": "5m"})
    assert body["count"] == 2
    assert [job["id"] for job in body["results"]] == [jobs["silent_canceling"], jobs["silent"]]


def test_default_age_is_five_minutes(api, jobs):
    body = api.call("GET", "/_connector/_sync_job/_stale")
    assert body["count"] == 2


def test_a_shorter_age_finds_more(api, jobs):
    assert api.call("GET", "/_connector/_sync_job/_stale", query={"older_than": "30s"})["count"] == 3


def test_failing_stale_jobs_moves_them_to_error_with_a_clear_message(api, es, jobs):
    body = api.call("POST", "/_connector/_sync_job/_stale/_error", query={"older_than": "5m"})
    assert (body["moved"], body["skipped"], body["failed"], body["remaining"]) == (2, 0, 0, 0)
    for name in ("silent", "silent_canceling"):
        job = stored_job(es, jobs[name])
        assert job["status"] == "error"
        assert "[w1] sent no check-in or stats for more than 300 seconds" in job["error"]
        assert "completed_at" in job
    for name, status in [("recent", "in_progress"), ("finished", "completed"), ("waiting", "pending")]:
        assert stored_job(es, jobs[name])["status"] == status
    assert api.call("GET", "/_connector/_sync_job/_stale")["count"] == 0


def test_a_job_that_checked_in_after_the_search_is_skipped(api, es, jobs, app):
    from app.services import stale_jobs

    store = app.extensions["connector_storage"]
    real_search = store.search

    def search_then_check_in(index, body):
        found = real_search(index, body)
        api.check_in(jobs["silent"])  # the worker wakes up between the search and the write
        return found

    store.search = search_then_check_in
    try:
        outcome = stale_jobs.fail_stale(store, 300)
    finally:
        store.search = real_search
    assert outcome["moved"] == 1
    assert {"id": jobs["silent"], "outcome": "skipped",
            "reason": "the job reported or finished since it was found"} in outcome["results"]
    assert stored_job(es, jobs["silent"])["status"] == "in_progress"


def test_max_jobs_bounds_one_call_and_reports_the_rest(api, jobs):
    body = api.call("POST", "/_connector/_sync_job/_stale/_error",
                    query={"older_than": "5m", "max_jobs": "1"})
    assert (body["moved"], body["remaining"]) == (1, 1)


def test_bad_age_is_400(api):
    body = api.call("GET", "/_connector/_sync_job/_stale", query={"older_than": "soon"}, expect=400)
    assert "time value" in body["error"]["reason"]


def test_cli_command_fails_stale_jobs(jobs, elasticsearch_url, es):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app.wsgi", "fail-stale-jobs", "--older-than", "5m"],
        capture_output=True, text=True, timeout=120,
        env={"ELASTICSEARCH_URL": elasticsearch_url, "INSTALL_TEMPLATES_ON_START": "false",
             "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout[result.stdout.index("{"):])["moved"] == 2
    assert stored_job(es, jobs["silent"])["status"] == "error"


def test_stale_list_pages_and_counts_as_the_list_does(api, jobs):
    body = api.call("GET", "/_connector/_sync_job/_stale", query={"from": "9991", "size": "10"},
                    expect=400)
    assert body["error"]["reason"] == (
        "The sum of parameters [from] and [size] cannot be higher than 10000.")
    assert api.call("GET", "/_connector/_sync_job/_stale",
                    query={"connector_id": ""}) == {"count": 0, "results": []}


# The connector of a failed job


def started_sync(api, es, connector_id: str, job_type: str = "full", silent_for: float = 10,
                 **job_fields) -> str:
    """A job claimed by a worker that then went silent, and its connector as the worker's
    sync_starts left it (connected, its last sync in progress)."""
    from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX

    job_id = api.new_job(connector_id, job_type=job_type)
    api.claim(job_id, worker_hostname="w1")
    es.update(index=SYNC_JOBS_INDEX, id=job_id, refresh=True, doc={
        "last_seen": minutes_ago(silent_for), "indexed_document_count": 42,
        "deleted_document_count": 3, **job_fields})
    prefix = "last_access_control_sync" if job_type == "access_control" else "last_sync"
    es.update(index=CONNECTORS_INDEX, id=connector_id, refresh=True, doc={
        "status": "connected", "error": None, f"{prefix}_status": "in_progress",
        f"{prefix}_error": None})
    return job_id


def fail_stale(api, expect: int = 200, **query):
    return api.call("POST", "/_connector/_sync_job/_stale/_error",
                    query={"older_than": "5m", **query}, expect=expect)


@pytest.mark.parametrize(("job_type", "prefix"), [("full", "last_sync"),
                                                  ("incremental", "last_sync"),
                                                  ("access_control", "last_access_control_sync")])
def test_failing_a_stale_job_ends_its_sync_on_the_connector_as_the_worker_cleanup_does(
        api, es, job_type, prefix):
    connector_id = api.create_connector("stuck")
    job_id = started_sync(api, es, connector_id, job_type)
    before = stored_connector(es, connector_id)

    body = fail_stale(api)

    assert body["results"] == [{"id": job_id, "outcome": "error", "connector": "updated"}]
    job, after = stored_job(es, job_id), stored_connector(es, connector_id)
    # connectors' Connector.sync_done(job): the job's end under its type's fields, the
    # connector in error with the job's message, the job's counts.
    assert after == {**before, "last_synced": after["last_synced"], "status": "error",
                     "error": job["error"], f"{prefix}_status": "error",
                     f"{prefix}_error": job["error"], "last_indexed_document_count": 42,
                     "last_deleted_document_count": 3}
    assert instant(after["last_synced"]) >= instant(job["completed_at"])
    # What the worker's sync_starts checks before it starts the next sync of this connector.
    assert after[f"{prefix}_status"] != "in_progress"


def test_the_connector_is_left_alone_while_another_sync_of_the_same_kind_runs(api, es):
    connector_id = api.create_connector("busy")
    stale = started_sync(api, es, connector_id)
    running = started_sync(api, es, connector_id, silent_for=0)
    other_kind = started_sync(api, es, connector_id, "access_control")
    before = stored_connector(es, connector_id)

    results = {result["id"]: result for result in fail_stale(api)["results"]}

    assert results[stale] == {
        "id": stale, "outcome": "error", "connector": "skipped",
        "connector_reason": f"job [{running}] of the same kind still runs for it"}
    assert stored_connector(es, connector_id)["last_sync_status"] == "in_progress"
    assert results[other_kind]["connector"] == "updated"
    after = stored_connector(es, connector_id)
    assert (after["last_sync_status"], after["last_access_control_sync_status"]) == (
        before["last_sync_status"], "error")


def test_a_deleted_or_missing_connector_is_not_written(api, es):
    deleted = api.create_connector("deleted", index_name="search-deleted")
    deleted_job = started_sync(api, es, deleted)
    api.delete_connector(deleted)
    missing = api.create_connector("missing", index_name="search-missing")
    orphan = started_sync(api, es, missing)
    api.delete_connector(missing, hard="true")
    before = stored_connector(es, deleted)

    results = {result["id"]: result for result in fail_stale(api)["results"]}

    assert results[deleted_job]["connector_reason"] == "connector [deleted] is deleted"
    assert results[orphan]["connector_reason"] == "connector [missing] not found"
    assert {results[deleted_job]["outcome"], results[orphan]["outcome"]} == {"error"}
    assert stored_connector(es, deleted) == before


def test_both_stale_routes_can_be_limited_to_one_connector(api, es):
    mine = api.create_connector("mine", index_name="search-mine")
    other = api.create_connector("other", index_name="search-other")
    my_job, other_job = started_sync(api, es, mine), started_sync(api, es, other)

    listed = api.call("GET", "/_connector/_sync_job/_stale", query={"connector_id": mine})
    assert [job["id"] for job in listed["results"]] == [my_job]
    body = fail_stale(api, connector_id=mine)

    assert [result["id"] for result in body["results"]] == [my_job]
    assert stored_job(es, other_job)["status"] == "in_progress"
    assert stored_connector(es, other)["last_sync_status"] == "in_progress"
    assert fail_stale(api, connector_id="")["results"] == []  # an empty id matches nothing


@pytest.mark.parametrize(("query", "reason"), [
    ({}, "[older_than] is required: how long a running job must have sent no check-in or "
         "stats to be failed (at least 60s), e.g. older_than=10m"),
    ({"older_than": "10s"}, "[older_than] [10s] is shorter than the 60s this parameter takes "
                            "at least."),
])
def test_failing_takes_an_explicit_age_of_at_least_a_minute(api, es, query, reason):
    connector_id = api.create_connector("stuck")
    job_id = started_sync(api, es, connector_id, silent_for=0.5)
    body = api.call("POST", "/_connector/_sync_job/_stale/_error", query=query, expect=400)
    assert error_type(body) == "illegal_argument_exception"
    assert body["error"]["reason"] == reason
    assert stored_job(es, job_id)["status"] == "in_progress"


def test_a_crafted_job_neither_stops_the_sweep_nor_makes_a_long_message(api, es, live_url):
    # A job holding a 32,600-byte worker name (stored straight to the index, as any forwarded
    # write may) and one whose last_seen the node reads but the service cannot: each used to
    # end the sweep with an error, every time.
    from app.storage import SYNC_JOBS_INDEX

    connector_id = api.create_connector("crafted")
    huge_name = started_sync(api, es, connector_id, worker_hostname="h" * 32_600,
                             last_seen="1970-01-01T00:00:00Z")
    unreadable = started_sync(api, es, connector_id, last_seen="0000-01-01T00:00:00Z")
    plain = started_sync(api, es, connector_id, silent_for=6)
    http = urllib3.PoolManager(retries=False, timeout=30)

    answer = http.request("POST", f"{live_url}/_connector/_sync_job/_stale/_error?older_than=5m")

    assert answer.status == 200, answer.data[:500]
    results = {result["id"]: result for result in answer.json()["results"]}
    assert (results[huge_name]["outcome"], results[plain]["outcome"]) == ("error", "error")
    assert results[unreadable]["outcome"] == "failed"
    assert "0000-01-01T00:00:00Z" in results[unreadable]["reason"]
    message = stored_job(es, huge_name)["error"]
    assert len(message.encode()) < 600
    assert f"[{'h' * 120}… (32600 characters)]" in message
    assert es.get(index=SYNC_JOBS_INDEX, id=unreadable)["_source"]["status"] == "in_progress"
    # And the next sweep still runs.
    assert http.request("POST", f"{live_url}/_connector/_sync_job/_stale/_error"
                                "?older_than=5m").status == 200


def test_cli_takes_the_same_limits(jobs, elasticsearch_url, es):
    def cli(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app.wsgi", "fail-stale-jobs", *arguments],
            capture_output=True, text=True, timeout=120,
            env={"ELASTICSEARCH_URL": elasticsearch_url, "INSTALL_TEMPLATES_ON_START": "false",
                 "PATH": "/usr/bin:/bin"})

    missing = cli()
    assert missing.returncode == 2 and "--older-than" in missing.stderr
    short = cli("--older-than", "10s")
    assert short.returncode == 2 and "shorter than the 60s" in short.stderr
    nobody = cli("--older-than", "5m", "--connector-id", "nobody")
    assert nobody.returncode == 0, nobody.stderr
    assert json.loads(nobody.stdout[nobody.stdout.index("{"):])["moved"] == 0
    assert stored_job(es, jobs["silent"])["status"] == "in_progress"
