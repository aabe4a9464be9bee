"""GET _connector_service/sync_job_summary — the dashboard's per-connector figures."""

import json
import time
from datetime import UTC, datetime

import pytest

from app.domain.clock import parse_instant
from app.services.summary import LAST_SYNC_JOB_FIELDS
from app.storage import CONCRETE_SYNC_JOBS_INDEX, CONNECTORS_INDEX, SYNC_JOBS_INDEX
from tests.support.api_client import error_type
from tests.support.metrics_text import ES_REQUESTS, total
from tests.support.stored import stored_job

SUMMARY = "/_connector_service/sync_job_summary"
NO_JOBS = {"pending": 0, "in_progress": 0, "canceling": 0, "canceled": 0, "suspended": 0,
           "completed": 0, "error": 0}


def statuses(**counts) -> dict:
    return {**NO_JOBS, **counts}


def as_summarised(es, job_id: str) -> dict:
    """The stored job as the summary gives it: the id and the chosen fields, no connector."""
    job = stored_job(es, job_id)
    return {"id": job_id, **{key: value for key, value in job.items() if key in LAST_SYNC_JOB_FIELDS}}


@pytest.fixture
def known_jobs(api, set_status):
    """Three connectors' jobs, created in this order: gamma's, alpha's, then beta's."""
    for connector_id in ("alpha", "beta", "gamma"):
        api.create_connector(connector_id, index_name=f"search-{connector_id}")
    jobs = {}
    jobs["gamma_canceling"] = api.new_job("gamma")
    api.claim(jobs["gamma_canceling"])
    api.cancel(jobs["gamma_canceling"])
    jobs["alpha_pending"] = api.new_job("alpha")
    jobs["alpha_in_progress"] = api.new_job("alpha", job_type="incremental")
    api.claim(jobs["alpha_in_progress"], worker_hostname="worker-1")
    jobs["alpha_canceled"] = api.new_job("alpha")
    api.cancel(jobs["alpha_canceled"])
    jobs["beta_error"] = api.new_job("beta")
    api.claim(jobs["beta_error"])
    api.set_error(jobs["beta_error"], "connection refused")
    jobs["beta_suspended"] = api.new_job("beta")
    set_status(jobs["beta_suspended"], "suspended")
    jobs["beta_completed"] = api.new_job("beta", job_type="access_control")
    set_status(jobs["beta_completed"], "completed")
    return jobs


def test_summary_without_jobs_returns_200_with_zero_counts_and_no_connectors(api, es):
    before = datetime.now(UTC)
    body = api.call("GET", SUMMARY)
    as_of = parse_instant(body.pop("as_of"))
    assert body == {"count": 0, "statuses": NO_JOBS, "connector_count": 0, "connectors": []}
    assert before <= as_of <= datetime.now(UTC)
    assert es.count(index=SYNC_JOBS_INDEX)["count"] == 0


def test_summary_counts_jobs_by_status_overall_and_per_connector(api, known_jobs):
    body = api.call("GET", SUMMARY)
    assert body["count"] == 7
    assert body["statuses"] == statuses(pending=1, in_progress=1, canceling=1, canceled=1,
                                        suspended=1, completed=1, error=1)
    assert body["connector_count"] == 3
    assert {c["id"]: (c["count"], c["statuses"]) for c in body["connectors"]} == {
        "alpha": (3, statuses(pending=1, in_progress=1, canceled=1)),
        "beta": (3, statuses(error=1, suspended=1, completed=1)),
        "gamma": (1, statuses(canceling=1)),
    }


def test_summary_agrees_with_the_stored_jobs(api, es, known_jobs):
    body = api.call("GET", SUMMARY)
    es.indices.refresh(index=SYNC_JOBS_INDEX)
    stored = [hit["_source"] for hit in es.search(index=SYNC_JOBS_INDEX, size=100)["hits"]["hits"]]
    for connector in body["connectors"]:
        own = [job for job in stored if job["connector"]["id"] == connector["id"]]
        assert connector["count"] == len(own)
        assert connector["statuses"] == statuses(**{
            status: sum(job["status"] == status for job in own) for status in NO_JOBS})


def test_summary_lists_connectors_most_recently_active_first_with_their_latest_job(
        api, es, known_jobs):
    body = api.call("GET", SUMMARY)
    assert [c["id"] for c in body["connectors"]] == ["beta", "alpha", "gamma"]
    latest = {c["id"]: c["last_sync_job"] for c in body["connectors"]}
    assert latest == {
        "beta": as_summarised(es, known_jobs["beta_completed"]),
        "alpha": as_summarised(es, known_jobs["alpha_canceled"]),
        "gamma": as_summarised(es, known_jobs["gamma_canceling"]),
    }
    assert latest["alpha"]["status"] == "canceled"
    assert latest["alpha"]["canceled_at"] == stored_job(es, known_jobs["alpha_canceled"])["canceled_at"]
    assert latest["beta"]["job_type"] == "access_control"


def test_summary_latest_job_follows_a_new_job(api, es, known_jobs):
    newest = api.new_job("gamma", job_type="incremental")
    body = api.call("GET", SUMMARY)
    assert [c["id"] for c in body["connectors"]] == ["gamma", "beta", "alpha"]
    gamma = body["connectors"][0]
    assert gamma["last_sync_job"] == as_summarised(es, newest)
    assert gamma["statuses"] == statuses(pending=1, canceling=1)


def test_summary_leaves_the_connector_snapshot_and_its_configuration_out(api, es):
    api.create_connector("secretive", index_name="search-secretive")
    es.update(index=CONNECTORS_INDEX, id="secretive", refresh=True, doc={
        "configuration": {"password": {"label": "Password", "value": "hunter2"}}})
    job_id = api.new_job("secretive")
    assert stored_job(es, job_id)["connector"]["configuration"]["password"]["value"] == "hunter2"

    body = api.call("GET", SUMMARY)

    assert "connector" not in body["connectors"][0]["last_sync_job"]
    assert "hunter2" not in json.dumps(body)


def test_summary_is_one_round_trip_of_two_searches(api, es, client, known_jobs):
    def searches() -> int:
        stats = es.indices.stats(index=CONCRETE_SYNC_JOBS_INDEX, metric="search")
        return stats["_all"]["primaries"]["search"]["query_total"]

    def calls() -> dict[str, float]:  # the service's own count, from its metrics
        text = client.get("/_connector_service/metrics").get_data(as_text=True)
        return {"msearch": total(text, ES_REQUESTS, kind="msearch")}

    calls_before = calls()
    before = searches()
    api.call("GET", SUMMARY)
    # Latest job per connector (collapsed) and the counts (aggregations), in one _msearch.
    assert searches() - before == 2
    calls_after = calls()
    assert calls_after["msearch"] - calls_before["msearch"] == 1


@pytest.mark.parametrize("query, raw, reason", [
    ({"size": "10"}, None, "contains unrecognized parameter: [size]"),
    ({}, '{"query": {"match_all": {}}}', "does not support having a body"),
])
def test_summary_refuses_parameters_and_bodies_with_400(api, query, raw, reason):
    body = api.call("GET", SUMMARY, query=query, raw=raw, expect=400,
                    headers={"Content-Type": "application/json"})
    assert error_type(body) == "illegal_argument_exception"
    assert reason in body["error"]["reason"]


def test_summary_path_leaves_every_sync_job_id_to_the_get_api(api, es):
    """Ids may start with an underscore, so `_connector/_sync_job/_summary` would be a job."""
    api.create_connector("alpha")
    job_id = api.new_job("alpha")
    es.index(index=SYNC_JOBS_INDEX, id="_summary", refresh=True,
             document={**stored_job(es, job_id), "status": "completed"})
    assert api.get_sync_job("_summary")["status"] == "completed"
    assert api.call("GET", SUMMARY)["statuses"] == statuses(pending=1, completed=1)


def test_summary_with_max_age_answers_figures_counted_that_recently_and_says_when(api):
    api.create_connector("cached", index_name="search-cached")
    api.new_job("cached")
    first = api.call("GET", SUMMARY)  # counted for this call
    api.new_job("cached")

    again = api.call("GET", SUMMARY, query={"max_age": "1m"})
    fresh = api.call("GET", SUMMARY)

    assert (first["count"], again["count"], fresh["count"]) == (1, 1, 2)
    assert again == first
    assert parse_instant(fresh["as_of"]) > parse_instant(first["as_of"])
    # The fresh figures serve the next caller who accepts their age.
    assert api.call("GET", SUMMARY, query={"max_age": "1m"}) == fresh


@pytest.mark.parametrize("value", ["5", "ten", "-1s", "1y"])
def test_summary_with_an_unreadable_max_age_returns_400(api, value):
    body = api.call("GET", SUMMARY, query={"max_age": value}, expect=400)
    assert "max_age" in body["error"]["reason"]


def test_figures_past_half_their_allowed_age_are_answered_and_recounted_for_the_next_caller(api):
    api.create_connector("ahead", index_name="search-ahead")
    api.new_job("ahead")
    first = api.call("GET", SUMMARY)
    api.new_job("ahead")
    time.sleep(2.2)  # past half of the 4 s the next callers allow

    answered = api.call("GET", SUMMARY, query={"max_age": "4s"})
    assert answered == first  # still within 4 s: answered at once ...
    deadline = time.monotonic() + 10
    while (recounted := api.call("GET", SUMMARY, query={"max_age": "1m"}))["count"] != 2:
        assert time.monotonic() < deadline, "the figures were not counted again"  # ... and redone
        time.sleep(0.1)
    assert parse_instant(recounted["as_of"]) > parse_instant(first["as_of"])


def test_more_connector_status_pairs_than_one_page_are_counted_for_the_listed_connectors(api, es):
    """1,500 connectors with a job in each of the 7 statuses: 10,500 (connector, status) pairs,
    more than one composite page, so the listed connectors' pairs are counted on their own."""
    statuses = ["pending", "in_progress", "canceling", "canceled", "suspended", "completed", "error"]
    operations = []
    for n in range(1500):
        for k, status in enumerate(statuses):
            created = f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}.{k:03d}Z"
            operations += [{"index": {"_index": SYNC_JOBS_INDEX}},
                           {"connector": {"id": f"many-{n:04d}"}, "status": status,
                            "job_type": "full", "created_at": created}]
    for start in range(0, len(operations), 3000):
        assert not es.bulk(operations=operations[start:start + 3000])["errors"]
    es.indices.refresh(index=SYNC_JOBS_INDEX)

    body = api.call("GET", SUMMARY)

    assert (body["count"], body["connector_count"], len(body["connectors"])) == (10_500, 1500, 1000)
    # The most recently active first: the connectors created last.
    assert [c["id"] for c in body["connectors"][:2]] == ["many-1499", "many-1498"]
    assert all(c["count"] == 7 and set(c["statuses"].values()) == {1} for c in body["connectors"])
    assert all(c["last_sync_job"]["status"] == "error" for c in body["connectors"])
