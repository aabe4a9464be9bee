"""PUT _connector/<connector_id>/_sync_job/_cancel (an extension): cancel every open job at once."""

import threading

import pytest

from tests.support.stored import stored_job


@pytest.fixture
def connector(api):
    return api.create_connector("test-connector")


def cancel_all(api, connector_id, expect=200, **query):
    return api.call("PUT", f"/_connector/{connector_id}/_sync_job/_cancel", expect=expect,
                    query=query)


def test_cancels_pending_running_and_suspended_jobs_of_the_connector(api, es, connector, set_status):
    pending, running, suspended, done = (api.new_job(connector) for _ in range(4))
    api.claim(running)
    set_status(suspended, "suspended")
    set_status(done, "completed")
    api.create_connector("other", index_name="search-other")
    elsewhere = api.new_job("other")

    body = cancel_all(api, connector)
    assert (body["canceled"], body["canceling"], body["skipped"], body["remaining"]) == (2, 1, 0, 0)
    outcomes = {result["id"]: result["outcome"] for result in body["results"]}
    assert outcomes == {pending: "canceled", running: "canceling", suspended: "canceled"}
    assert stored_job(es, running)["status"] == "canceling"
    assert stored_job(es, done)["status"] == "completed"
    assert stored_job(es, elsewhere)["status"] == "pending"


def test_nothing_to_cancel(api, connector):
    assert cancel_all(api, connector) == {"canceled": 0, "canceling": 0, "skipped": 0,
                                          "remaining": 0, "results": []}


def test_unknown_connector_is_404(api):
    cancel_all(api, "no-such-connector", expect=404)


def test_max_jobs_bounds_one_call(api, connector):
    for _ in range(3):
        api.new_job(connector)
    body = cancel_all(api, connector, max_jobs="2")
    assert (body["canceled"], body["remaining"]) == (2, 1)
    assert cancel_all(api, connector)["canceled"] == 1


def test_a_job_finishing_during_cancel_all_is_reported_not_overwritten(api, es, app, connector):
    from app.services import sync_jobs

    jobs = [api.new_job(connector) for _ in range(6)]
    for job_id in jobs:
        api.claim(job_id)
    store = app.extensions["connector_storage"]
    finisher_done = threading.Event()

    def finish_all():
        # The worker completes each job with a guarded write, racing the cancel-all.
        for job_id in jobs:
            while True:
                current = es.get(index=".elastic-connectors-sync-jobs", id=job_id)
                if current["_source"]["status"] != "in_progress":
                    break
                try:
                    es.update(index=".elastic-connectors-sync-jobs", id=job_id,
                              doc={"status": "completed"}, if_seq_no=current["_seq_no"],
                              if_primary_term=current["_primary_term"], refresh=True)
                    break
                except Exception:  # lost the race to the cancel: re-read
                    continue
        finisher_done.set()

    finisher = threading.Thread(target=finish_all)
    finisher.start()
    outcome = sync_jobs.cancel_all(store, connector)
    finisher.join()
    final = {job_id: stored_job(es, job_id)["status"] for job_id in jobs}
    reported = {result["id"]: result["outcome"] for result in outcome["results"]}
    for job_id, status in final.items():
        if reported.get(job_id) == "canceling":
            assert status == "canceling"  # the cancel won: the finish saw it and stopped
        else:
            assert status == "completed"  # the finish won: reported skipped (or not found open)
            assert reported.get(job_id, "skipped") == "skipped"
