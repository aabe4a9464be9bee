"""Retention of finished sync jobs (an extension): the dry run, the delete, the configured
policy run by one process at a time, and what is never deleted.

GET  /_connector/_sync_job/_retention?keep_last=N&older_than=D&connector_id=C
     -> {"count": n, "ids": [...]}
POST /_connector/_sync_job/_retention/_delete  {"keep_last": N, "older_than": D, "connector_id": C}
     -> {"deleted": n, "skipped": m}
"""

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import urllib3

from app import create_app
from app.domain.clock import format_instant
from app.services.retention import RetentionRule
from app.services.retention_policy import LEASE_NAME, RetentionPolicy, apply_policy
from app.storage import LEASES_INDEX, SYNC_JOBS_INDEX
from tests.support.api_client import error_type
from tests.support.live_server import production_server
from tests.support.metrics_text import total
from tests.support.stored import stored_connector

DRY_RUN = "/_connector/_sync_job/_retention"
DELETE = "/_connector/_sync_job/_retention/_delete"
DELETED = "connector_service_retention_sync_jobs_total"


def days_ago(days: float) -> str:
    return format_instant(datetime.now(UTC) - timedelta(days=days))


def make_job(api, es, connector_id: str, status: str, age_days: float) -> str:
    """A job of `connector_id` created `age_days` ago, in `status` as a worker left it."""
    job_id = api.new_job(connector_id)
    es.update(index=SYNC_JOBS_INDEX, id=job_id, refresh=True,
              doc={"status": status, "created_at": days_ago(age_days)})
    return job_id


def stored_ids(es) -> set[str]:
    es.indices.refresh(index=SYNC_JOBS_INDEX)
    hits = es.search(index=SYNC_JOBS_INDEX, size=1000, source=False)["hits"]["hits"]
    return {hit["_id"] for hit in hits}


@pytest.fixture
def jobs(api, es):
    """alpha: five finished jobs 10 to 6 days old, a running and a pending one older still;
    beta: an error 30 days old and a canceled job 29 days old."""
    api.create_connector("alpha", index_name="search-alpha")
    api.create_connector("beta", index_name="search-beta")
    made = {f"alpha_{days}d": make_job(api, es, "alpha", "completed", days)
            for days in (10, 9, 8, 7, 6)}
    made["alpha_running"] = make_job(api, es, "alpha", "in_progress", 20)
    made["alpha_pending"] = make_job(api, es, "alpha", "pending", 15)
    made["alpha_canceling"] = make_job(api, es, "alpha", "canceling", 16)
    made["beta_30d"] = make_job(api, es, "beta", "error", 30)
    made["beta_29d"] = make_job(api, es, "beta", "canceled", 29)
    return made


@pytest.fixture
def no_lease(es):
    """The retention lease as no process has taken it yet."""
    es.options(ignore_status=404).delete(index=LEASES_INDEX, id=LEASE_NAME, refresh=True)
    yield
    es.options(ignore_status=404).delete(index=LEASES_INDEX, id=LEASE_NAME, refresh=True)


def dry_run(api, expect: int = 200, **query):
    return api.call("GET", DRY_RUN, query=query, expect=expect)


def delete(api, body, expect: int = 200):
    return api.call("POST", DELETE, body, expect=expect)


# The dry run


def test_dry_run_lists_finished_jobs_past_each_connectors_newest_keep_last_oldest_first(
        api, es, jobs):
    before = stored_ids(es)

    body = dry_run(api, keep_last="2")

    assert body == {"count": 3, "ids": [jobs["alpha_10d"], jobs["alpha_9d"], jobs["alpha_8d"]]}
    assert stored_ids(es) == before


def test_keep_last_counts_per_connector(api, jobs):
    body = dry_run(api, keep_last="1")

    assert body["count"] == 5
    assert set(body["ids"]) == {jobs["alpha_10d"], jobs["alpha_9d"], jobs["alpha_8d"],
                                jobs["alpha_7d"], jobs["beta_30d"]}


def test_older_than_alone_keeps_each_connectors_newest_finished_job(api, jobs):
    # 200 hours: alpha's 10- and 9-day-old jobs, and both of beta's, but beta's newest stays.
    body = dry_run(api, older_than="200h")

    assert sorted(body["ids"]) == sorted([jobs["alpha_10d"], jobs["alpha_9d"], jobs["beta_30d"]])
    assert body["count"] == 3


def test_keep_last_and_older_than_must_both_allow_a_job(api, jobs):
    assert dry_run(api, keep_last="4", older_than="200h") == {"count": 1,
                                                             "ids": [jobs["alpha_10d"]]}
    assert dry_run(api, keep_last="1", older_than="100d") == {"count": 0, "ids": []}


def test_connector_id_limits_the_rule_to_one_connector(api, jobs):
    assert dry_run(api, keep_last="1", connector_id="beta") == {"count": 1,
                                                               "ids": [jobs["beta_30d"]]}
    assert dry_run(api, keep_last="1", connector_id="") == {"count": 0, "ids": []}
    assert dry_run(api, keep_last="1", connector_id="missing") == {"count": 0, "ids": []}


def test_the_dry_run_path_is_not_taken_for_a_job_id(api, jobs):
    body = dry_run(api, expect=400)

    assert error_type(body) == "illegal_argument_exception"
    assert "[keep_last] or [older_than]" in body["error"]["reason"]


# The delete


def test_delete_deletes_exactly_what_the_dry_run_listed(api, es, jobs):
    listed = dry_run(api, keep_last="2", older_than="1d")["ids"]
    before = stored_ids(es)

    body = delete(api, {"keep_last": 2, "older_than": "1d"})

    assert body == {"deleted": 3, "skipped": 0}
    assert stored_ids(es) == before - set(listed)
    # Lists no longer show them at once.
    assert api.list_sync_jobs(connector_id="alpha")["count"] == 5
    assert dry_run(api, keep_last="2", older_than="1d") == {"count": 0, "ids": []}


def test_delete_scoped_to_a_connector_leaves_the_others_alone(api, es, jobs):
    body = delete(api, {"keep_last": 1, "connector_id": "beta"})

    assert body == {"deleted": 1, "skipped": 0}
    remaining = stored_ids(es)
    assert jobs["beta_30d"] not in remaining
    assert {jobs[f"alpha_{days}d"] for days in (10, 9, 8, 7, 6)} <= remaining


def test_jobs_that_are_not_finished_are_never_deleted_and_connectors_are_untouched(
        api, es, jobs):
    connectors = {name: stored_connector(es, name) for name in ("alpha", "beta")}

    body = delete(api, {"keep_last": 1, "older_than": "0s"})

    assert body == {"deleted": 5, "skipped": 0}
    remaining = stored_ids(es)
    assert remaining == {jobs["alpha_running"], jobs["alpha_pending"], jobs["alpha_canceling"],
                         jobs["alpha_6d"], jobs["beta_29d"]}
    assert {name: stored_connector(es, name) for name in ("alpha", "beta")} == connectors


def test_a_connectors_newest_job_stays_whatever_the_rule(api, es):
    api.create_connector("solo", index_name="search-solo")
    only = make_job(api, es, "solo", "completed", 400)

    assert delete(api, {"older_than": "1d"}) == {"deleted": 0, "skipped": 0}
    assert stored_ids(es) == {only}


def test_a_job_written_between_the_search_and_its_delete_is_skipped_not_deleted(
        api, es, app, jobs):
    from app.services import retention

    store = app.extensions["connector_storage"]
    real_search_page = store.search_page

    def search_then_write(index, body):
        hits, after = real_search_page(index, body)
        # A worker writes the oldest job after it was found (its seq_no moves on).
        es.update(index=SYNC_JOBS_INDEX, id=jobs["alpha_10d"], doc={"metadata": {"late": 1}})
        return hits, after

    store.search_page = search_then_write
    try:
        outcome = retention.delete(store, RetentionRule(keep_last=2))
    finally:
        store.search_page = real_search_page

    assert outcome == {"deleted": 2, "skipped": 1}
    assert jobs["alpha_10d"] in stored_ids(es)
    assert jobs["alpha_9d"] not in stored_ids(es)


def test_a_job_moved_back_to_running_after_the_dry_run_is_not_deleted(api, es, jobs):
    assert jobs["alpha_10d"] in dry_run(api, keep_last="2")["ids"]
    es.update(index=SYNC_JOBS_INDEX, id=jobs["alpha_10d"], refresh=True,
              doc={"status": "in_progress"})

    assert delete(api, {"keep_last": 2}) == {"deleted": 2, "skipped": 0}
    assert jobs["alpha_10d"] in stored_ids(es)


def test_batches_cover_every_job(api, es, app, jobs):
    from app.services import retention

    store = app.extensions["connector_storage"]

    outcome = retention.delete(store, RetentionRule(keep_last=1), batch_size=2)

    assert outcome == {"deleted": 5, "skipped": 0}
    assert stored_ids(es) == {jobs["alpha_running"], jobs["alpha_pending"],
                              jobs["alpha_canceling"], jobs["alpha_6d"], jobs["beta_29d"]}


# Refused requests: 400 in Elasticsearch's envelope, nothing deleted


@pytest.mark.parametrize(("query", "kind", "reason"), [
    ({}, "illegal_argument_exception", "The rule needs [keep_last] or [older_than]"),
    ({"keep_last": "0"}, "illegal_argument_exception", "must be between 1 and 10000"),
    ({"keep_last": "10001"}, "illegal_argument_exception", "must be between 1 and 10000"),
    ({"keep_last": "-1"}, "illegal_argument_exception", "Parameter [keep_last] cannot be < 0"),
    ({"keep_last": "many"}, "illegal_argument_exception", "Failed to parse int parameter"),
    ({"older_than": "soon"}, "illegal_argument_exception", "failed to parse setting [older_than]"),
    ({"keep_last": "1", "max_jobs": "5"}, "illegal_argument_exception",
     "contains unrecognized parameter: [max_jobs]"),
])
def test_a_bad_dry_run_is_400(api, es, jobs, query, kind, reason):
    body = dry_run(api, expect=400, **query)

    assert error_type(body) == kind
    assert reason in body["error"]["reason"]
    assert body["status"] == 400


@pytest.mark.parametrize(("body", "kind", "reason"), [
    ({}, "action_request_validation_exception", "The rule needs [keep_last] or [older_than]"),
    ({"keep_last": 0}, "action_request_validation_exception", "must be between 1 and 10000"),
    ({"keep_last": -3}, "action_request_validation_exception", "must be between 1 and 10000"),
    ({"keep_last": "5"}, "x_content_parse_exception",
     "keep_last doesn't support values of type: VALUE_STRING"),
    ({"keep_last": 1.5}, "x_content_parse_exception", "keep_last doesn't support values"),
    ({"older_than": "soon"}, "action_request_validation_exception",
     "failed to parse setting [older_than]"),
    ({"keep_last": 1, "max_jobs": 5}, "x_content_parse_exception", "unknown field [max_jobs]"),
    (None, "parse_exception", "request body is required"),
])
def test_a_bad_delete_is_400_and_deletes_nothing(api, es, jobs, body, kind, reason):
    before = stored_ids(es)

    answer = delete(api, body, expect=400)

    assert error_type(answer) == kind
    assert reason in answer["error"]["reason"]
    assert stored_ids(es) == before


# The configured policy: one process at a time


def policy(**rule) -> RetentionPolicy:
    return RetentionPolicy(RetentionRule(**rule), interval=300, batch_size=500, pause=0)


def test_of_two_processes_applying_the_policy_at_once_only_one_runs_it(app, es, jobs, no_lease):
    store = app.extensions["connector_storage"]
    barrier = threading.Barrier(4)
    outcomes = {}

    def apply(holder: str):
        barrier.wait()
        outcomes[holder] = apply_policy(store, policy(keep_last=1), holder)

    threads = [threading.Thread(target=apply, args=(f"replica-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    ran = {holder: outcome for holder, outcome in outcomes.items() if outcome is not None}
    assert len(outcomes) == 4 and len(ran) == 1, outcomes
    (holder, outcome), = ran.items()
    assert (outcome["outcome"], outcome["deleted"], outcome["skipped"]) == ("completed", 5, 0)
    lease = es.get(index=LEASES_INDEX, id=LEASE_NAME)["_source"]
    assert lease["holder"] == holder
    # Held until the next run is due: nobody, the last holder included, runs it again now.
    assert lease["expires_at"] / 1000 > time.time() + 250
    assert apply_policy(store, policy(keep_last=1), holder) is None


def test_a_lease_held_by_another_process_stops_this_one(app, es, jobs, no_lease):
    store = app.extensions["connector_storage"]
    es.index(index=LEASES_INDEX, id=LEASE_NAME, refresh=True, document={
        "holder": "busy-replica", "expires_at": int((time.time() + 60) * 1000)})
    before = stored_ids(es)

    assert apply_policy(store, policy(keep_last=1), "this-replica") is None
    assert stored_ids(es) == before


def test_an_expired_lease_is_taken_over(app, es, jobs, no_lease):
    store = app.extensions["connector_storage"]
    es.index(index=LEASES_INDEX, id=LEASE_NAME, refresh=True, document={
        "holder": "dead-replica", "expires_at": int((time.time() - 1) * 1000)})

    outcome = apply_policy(store, policy(keep_last=1), "this-replica")

    assert (outcome["outcome"], outcome["deleted"]) == ("completed", 5)
    assert es.get(index=LEASES_INDEX, id=LEASE_NAME)["_source"]["holder"] == "this-replica"


def test_a_run_whose_lease_was_taken_over_stops_before_its_next_batch(app, es, jobs, no_lease):
    store = app.extensions["connector_storage"]
    real_search_page = store.search_page

    def search_then_lose_the_lease(index, body):
        # Another replica took the lease after this run's had lapsed (the process was paused).
        current = es.get(index=LEASES_INDEX, id=LEASE_NAME)
        es.index(index=LEASES_INDEX, id=LEASE_NAME, if_seq_no=current["_seq_no"],
                 if_primary_term=current["_primary_term"],
                 document={"holder": "other-replica", "expires_at": int(time.time() * 1000) + 60_000})
        return real_search_page(index, body)

    store.search_page = search_then_lose_the_lease
    try:
        outcome = apply_policy(store, RetentionPolicy(RetentionRule(keep_last=1), batch_size=2,
                                                      pause=0), "this-replica")
    finally:
        store.search_page = real_search_page

    assert (outcome["outcome"], outcome["deleted"]) == ("lease_lost", 2)
    assert es.get(index=LEASES_INDEX, id=LEASE_NAME)["_source"]["holder"] == "other-replica"


@pytest.mark.parametrize("settings", [{"RETENTION_KEEP_LAST": "0"},
                                      {"RETENTION_OLDER_THAN": "a month"},
                                      {"RETENTION_KEEP_LAST": "5", "RETENTION_BATCH_SIZE": 0}])
def test_a_bad_policy_setting_stops_the_start(settings):
    with pytest.raises(ValueError) as refused:
        create_app({"ELASTICSEARCH_URL": "http://127.0.0.1:1",
                    "INSTALL_TEMPLATES_ON_START": False, **settings})

    assert "RETENTION_" in str(refused.value)


def test_the_policy_is_off_unless_configured():
    app = create_app({"ELASTICSEARCH_URL": "http://127.0.0.1:1", "INSTALL_TEMPLATES_ON_START": False})

    assert app.extensions["retention_policy"] is None


def test_the_served_policy_deletes_once_and_counts_it_in_the_metrics(api, es, jobs, no_lease,
                                                                     elasticsearch_url):
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))
    env = {"RETENTION_KEEP_LAST": "1", "RETENTION_INTERVAL_SECONDS": "1"}
    with production_server(elasticsearch_url, env=env) as url:
        deadline = time.monotonic() + 60
        while True:
            scraped = http.request("GET", url + "/_connector_service/metrics").data.decode()
            if total(scraped, DELETED) >= 5 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(2)  # a second run (the interval is 1 s) finds nothing more to delete
        scraped = http.request("GET", url + "/_connector_service/metrics").data.decode()

    assert stored_ids(es) == {jobs["alpha_running"], jobs["alpha_pending"],
                              jobs["alpha_canceling"], jobs["alpha_6d"], jobs["beta_29d"]}
    assert total(scraped, DELETED, outcome="deleted", trigger="policy") == 5
    assert total(scraped, DELETED, outcome="skipped", trigger="policy") == 0
    assert total(scraped, "connector_service_retention_runs_total", outcome="completed") >= 1


# The command line


def test_cli_prints_the_dry_run_and_deletes_with_delete(jobs, elasticsearch_url, es):
    def run(*arguments):
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app.wsgi", "retention", *arguments],
            capture_output=True, text=True, timeout=120,
            env={"ELASTICSEARCH_URL": elasticsearch_url, "INSTALL_TEMPLATES_ON_START": "false",
                 "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout[result.stdout.index("{"):])

    assert run("--keep-last", "2", "--older-than", "1d") == {
        "count": 3, "ids": [jobs["alpha_10d"], jobs["alpha_9d"], jobs["alpha_8d"]]}
    assert jobs["alpha_10d"] in stored_ids(es)
    assert run("--keep-last", "2", "--delete") == {"deleted": 3, "skipped": 0}
    assert jobs["alpha_10d"] not in stored_ids(es)
