"""GET _connector_service/metrics — Prometheus metrics of every granian worker, job figures from
one cached aggregation, protected like the other routes with a way in for a scraper.

Over real HTTP against the service as scripts/serve runs it (granian, two workers), and with
the app in this process where a race must be made deterministic.
"""

import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest
import urllib3

from app import create_app
from app.observability import shared_dir
from app.storage import CONCRETE_SYNC_JOBS_INDEX, SYNC_JOBS_INDEX
from tests.support.live_server import production_server
from tests.support.metrics_text import ES_REQUESTS, HTTP_REQUESTS, total

METRICS = "/_connector_service/metrics"
CHECK_IN_ROUTE = "/_connector/_sync_job/<job_id>/_check_in"
SCRAPER_TOKEN = "scraper-token-6Gd1"
SERVICE_KEY = "service-key-0Lm4"
ERRORS = "connector_service_http_errors_total"


@pytest.fixture(scope="module")
def http():
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))


def scrape(http, url: str, **headers) -> str:
    answer = http.request("GET", url + METRICS, headers=headers)
    assert answer.status == 200, answer.data[:500]
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return answer.data.decode()


def local_scrape(client) -> str:
    with client.get(METRICS) as answer:
        return answer.get_data(as_text=True)


def local_call(client, method: str, path: str, **kwargs) -> int:
    """A call through the app in this process; closing the answer ends the request (its
    metrics and log line come when the answer has been sent, as under granian)."""
    with client.open(path, method=method, **kwargs) as answer:
        return answer.status_code


def granian_processes(url: str) -> tuple[int, list[int]]:
    """The granian main process serving `url` and its worker processes (from /proc: the
    workers carry the main process's command line)."""
    port = url.rsplit(":", 1)[1].encode()
    serving = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            words = (stat.parent / "cmdline").read_bytes().split(b"\0")
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if b"--port" in words and words[words.index(b"--port") + 1] == port:
            serving[int(stat.parent.name)] = parent
    mains = [pid for pid, parent in serving.items() if parent not in serving]
    assert len(mains) == 1, f"no single granian main process serves {url}: {serving}"
    return mains[0], sorted(pid for pid, parent in serving.items() if parent == mains[0])


def test_requests_served_by_every_worker_are_counted_once_each(api, live_url, http):
    api.create_connector("counted", index_name="search-counted")
    job_id = api.new_job("counted")
    api.claim(job_id)
    before = scrape(http, live_url)
    for _ in range(40):
        # A new connection each: the two workers share the calls.
        answer = http.request("PUT", f"{live_url}/_connector/_sync_job/{job_id}/_check_in",
                              headers={"Connection": "close"})
        assert answer.status == 200
    after = scrape(http, live_url)

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    labels = {"method": "PUT", "route": CHECK_IN_ROUTE}
    assert delta(HTTP_REQUESTS, status="200", **labels) == 40
    assert delta("connector_service_http_request_duration_seconds_count", **labels) == 40
    assert delta(ES_REQUESTS, kind="update", status="200") >= 40
    assert total(after, "connector_service_worker_processes") == 2
    assert total(after, "connector_service_http_requests_in_flight") == 1  # the scrape itself


def test_a_replaced_worker_keeps_the_totals_and_drops_its_live_gauges(elasticsearch_url, http):
    with production_server(elasticsearch_url, workers=2) as url:
        for _ in range(20):
            http.request("GET", url + "/_connector/_sync_job", headers={"Connection": "close"})
        listed = {"method": "GET", "route": "/_connector/_sync_job", "status": "200"}
        # A request is counted once its answer is sent: the last may be counted just after
        # the caller read it.
        deadline = time.monotonic() + 10
        while total(before := scrape(http, url), HTTP_REQUESTS, **listed) < 20:
            assert time.monotonic() < deadline, "the 20 requests were never all counted"
            time.sleep(0.1)
        main, workers = granian_processes(url)
        assert len(workers) == 2
        shared = Path(tempfile.gettempdir()) / (
            f"connector-sync-jobs-{os.getuid()}-{main}-{shared_dir.process_start(main)}")
        assert list(shared.glob(f"gauge_livesum_{workers[0]}.db"))
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:  # until granian's replacement serves and counts itself
            replaced = granian_processes(url)[1]
            try:
                after = scrape(http, url, Connection="close")
            except (urllib3.exceptions.ProtocolError, urllib3.exceptions.NewConnectionError):
                # A connection the kernel had queued for the killed worker is reset with it,
                # and one sent to its port before the replacement listens is refused.
                after = ""
            if len(replaced) == 2 and workers[0] not in replaced \
                    and total(after, "connector_service_worker_processes") == 2:
                break
            assert time.monotonic() < deadline, f"no replacement worker: {replaced}"
            time.sleep(0.2)
    # Counters never go back: the dead worker's requests still count.
    assert total(after, HTTP_REQUESTS, **listed) >= total(before, HTTP_REQUESTS, **listed) >= 20
    # The dead worker's live gauges went with it (counted twice otherwise).
    assert not list(shared.glob(f"gauge_live*_{workers[0]}.db"))


def test_job_gauges_come_from_one_cached_aggregation_shared_by_workers_and_scrapes(
        api, es, elasticsearch_url, http, set_status):
    api.create_connector("figures", index_name="search-figures")
    for status in ("pending", "pending", "completed", "error"):
        job_id = api.new_job("figures")
        if status != "pending":
            set_status(job_id, status)
    silent = api.new_job("figures")
    api.claim(silent)
    es.update(index=SYNC_JOBS_INDEX, id=silent, doc={"last_seen": "2020-01-01T00:00:00.000Z"},
              refresh=True)

    def searches() -> int:
        stats = es.indices.stats(index=CONCRETE_SYNC_JOBS_INDEX, metric="search")
        return stats["_all"]["primaries"]["search"]["query_total"]

    with production_server(elasticsearch_url, workers=2, env={"JOB_FIGURES_MAX_AGE": "60"}) as url:
        first = scrape(http, url)
        before = searches()
        for _ in range(12):
            text = scrape(http, url, Connection="close")
        assert searches() == before  # twelve scrapes over two workers: no new search

    figures = {status: total(first, "connector_service_sync_jobs", status=status)
               for status in ("pending", "in_progress", "completed", "error", "canceled")}
    assert figures == {"pending": 2, "in_progress": 1, "completed": 1, "error": 1, "canceled": 0}
    assert total(first, "connector_service_stale_sync_jobs") == 1
    assert total(text, "connector_service_sync_jobs", status="pending") == 2
    assert 0 <= total(text, "connector_service_sync_job_figures_age_seconds") < 60


def test_lost_races_retries_and_429s_are_counted(api, app, es, elasticsearch_url):
    """A write against tokens another writer outdated loses a race, deterministically: the
    service remembers the tokens of its own last write, and the test then writes directly."""
    client = app.test_client()
    one_try = create_app({"ELASTICSEARCH_URL": elasticsearch_url, "CONFLICT_RETRIES": 1,
                          "INSTALL_TEMPLATES_ON_START": False}).test_client()
    api.create_connector("racing", index_name="search-racing")
    retried, refused = api.new_job("racing"), api.new_job("racing")
    before = local_scrape(client)
    for job_id, caller in ((retried, client), (refused, one_try)):
        assert local_call(caller, "PUT", f"/_connector/_sync_job/{job_id}/_claim",
                          json={"worker_hostname": "w"}) == 200
        es.update(index=SYNC_JOBS_INDEX, id=job_id, doc={"last_seen": "2030-01-01T00:00:00.000Z"})
    assert local_call(client, "PUT", f"/_connector/_sync_job/{retried}/_check_in") == 200
    assert local_call(one_try, "PUT", f"/_connector/_sync_job/{refused}/_check_in") == 429
    after = local_scrape(client)

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("connector_service_guarded_update_conflicts_total", index=SYNC_JOBS_INDEX) == 2
    assert delta("connector_service_guarded_update_exhausted_total", index=SYNC_JOBS_INDEX) == 1
    assert delta(ERRORS, status="429", type="es_rejected_execution_exception") == 1
    assert delta(HTTP_REQUESTS, status="429", method="PUT", route=CHECK_IN_ROUTE) == 1


def test_an_unreachable_cluster_is_counted_as_503s_and_unavailable_calls(app, unreachable_client):
    before = local_scrape(app.test_client())
    assert local_call(unreachable_client, "GET", "/_connector/_sync_job/some-job") == 503
    after = local_scrape(app.test_client())
    assert (total(after, ERRORS, status="503", type="service_unavailable_exception")
            - total(before, ERRORS, status="503", type="service_unavailable_exception")) == 1
    assert (total(after, ES_REQUESTS, status="unavailable")
            - total(before, ES_REQUESTS, status="unavailable")) >= 1


def test_openmetrics_is_answered_to_a_scraper_that_asks_for_it(live_url, http):
    answer = http.request("GET", live_url + METRICS,
                          headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/openmetrics-text")
    assert answer.data.rstrip().endswith(b"# EOF")


# Protected like every other route; a scraper gets a token of its own


@pytest.fixture(scope="module")
def keyed_url(elasticsearch_url):
    env = {"AUTH_MODE": "api_key", "AUTH_API_KEYS": SERVICE_KEY,
           "METRICS_BEARER_TOKENS": SCRAPER_TOKEN}
    with production_server(elasticsearch_url, workers=1, env=env) as url:
        yield url


@pytest.mark.parametrize("authorization, status", [
    (None, 401), (f"Bearer {SCRAPER_TOKEN}", 200), (f"ApiKey {SERVICE_KEY}", 200),
    ("Bearer not-the-token", 401), (f"ApiKey {SCRAPER_TOKEN}", 401),
])
def test_metrics_need_a_callers_key_or_a_scraper_token(keyed_url, http, authorization, status):
    headers = {"Authorization": authorization} if authorization else {}
    answer = http.request("GET", keyed_url + METRICS, headers=headers)
    assert answer.status == status
    if status == 401:
        assert answer.json()["error"]["type"] == "security_exception"


@pytest.mark.parametrize("path", ["/_connector/_sync_job", "/_connector_service/sync_job_summary"])
def test_a_scraper_token_opens_nothing_but_the_metrics(keyed_url, http, path):
    answer = http.request("GET", keyed_url + path,
                          headers={"Authorization": f"Bearer {SCRAPER_TOKEN}"})
    assert answer.status == 401


def test_workers_starting_together_clean_up_dead_servers_without_failing(tmp_path):
    """Each worker removes the metrics folders of servers that are gone as it starts; several
    starting at once remove the same folders, and none of them may fail for it (a worker that
    fails to start is a traceback in the log and one worker fewer)."""
    mine = f"{shared_dir.PREFIX}{os.getuid()}-"
    for n in range(300):  # servers long gone: no process has these pids' start times
        dead = tmp_path / f"{mine}{4_000_000 + n}-1"
        dead.mkdir()
        for k in range(5):
            (dead / f"counter_{k}.db").write_bytes(b"x" * 4096)
    failures = []

    def start_a_worker():
        try:
            shared_dir.remove_dead_servers(tmp_path)
        except Exception as err:  # what would stop the worker's start
            failures.append(err)

    workers = [threading.Thread(target=start_a_worker) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == []
    assert list(tmp_path.iterdir()) == []
