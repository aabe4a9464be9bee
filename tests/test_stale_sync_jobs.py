"""Stale jobs (an extension): running jobs whose worker stopped reporting, and failing them."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from app.clock import format_instant
from tests.stored import stored_job


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
    assert (body["moved"], body["skipped"], body["remaining"]) == (2, 0, 0)
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
    body = api.call("POST", "/_connector/_sync_job/_stale/_error", query={"max_jobs": "1"})
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
