"""GET /_connector_service/dashboard — the sync-job dashboard, driven in a real headless Chromium.

The page runs against the live app over HTTP (the `live_url` fixture) and the real node; the
tests set jobs up through the API and read back what the page's actions stored.
"""

import base64
import json
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import urllib3
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from app.domain.clock import format_instant, parse_instant
from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX
from tests.support.api_client import ApiClient
from tests.support.live_server import HttpClient, production_server
from tests.support.many_jobs import many_pending_jobs
from tests.support.secured import password_of
from tests.support.stored import stored_job

# Where the page loads its scripts, styles and the chart library from (app/api/dashboard.py).
ASSETS = "/_connector_service/dashboard/static"

HOW_TO_GET_CHROMIUM = ("The dashboard tests drive a real headless Chromium through chromedriver. "
                       "Install both from the system's packages: "
                       "apt-get install chromium chromium-driver")
# Headless as root in a container, with nothing fetched from outside.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--window-size=1440,1000",
]
WAIT_SECONDS = 10
# Set to a path to save a picture of the page with a few jobs (docs/dashboard.md).
SCREENSHOT_PATH = os.environ.get("DASHBOARD_SCREENSHOT")

ROWS_SCRIPT = """return Array.from(document.querySelectorAll('#jobs-table tbody tr[data-job-id]'),
                                   row => [row.dataset.jobId, row.dataset.status]);"""


def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found on PATH. {HOW_TO_GET_CHROMIUM}", pytrace=False)
    return browser, driver


@contextmanager
def chromium(*, bidi: bool = False):
    """A headless Chromium with a fresh profile; `bidi` lets the test answer its login prompts."""
    browser_path, driver_path = chromium_paths()
    profile = tempfile.mkdtemp(prefix="dashboard-chromium-")
    options = Options()
    options.binary_location = browser_path
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.enable_bidi = bidi
    if bidi:
        # Else a BiDi session answers the page's confirm() itself before the test sees it.
        options.unhandled_prompt_behavior = "ignore"
    try:
        # A driver path given here keeps Selenium from looking for (or fetching) one itself.
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except WebDriverException as err:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail(f"Chromium did not start: {err.msg}\n{HOW_TO_GET_CHROMIUM}", pytrace=False)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture
def page(browser, live_url, api):
    """Opens the dashboard (with a URL fragment for its state) once the test's jobs exist."""

    def open_dashboard(fragment: str = "") -> webdriver.Chrome:
        browser.get_log("browser")  # each test's console log starts with its own page
        browser.get(f"{live_url}/_connector_service/dashboard"
                    + (f"#{fragment}" if fragment else ""))
        wait_until(browser, lambda d: d.execute_script(
            "return document.body.dataset.loaded === 'true'"), "the page never finished loading")
        return browser

    yield open_dashboard
    # Stops the page's auto-refresh before the next test empties the indices.
    browser.get("about:blank")


def wait_until(browser, condition, what: str, seconds: float = WAIT_SECONDS):
    try:
        return WebDriverWait(browser, seconds, poll_frequency=0.05).until(condition)
    except TimeoutException:
        pytest.fail(f"Waited {seconds} s in vain: {what}", pytrace=False)


def rows(browser) -> dict[str, str]:
    """The jobs table as the page shows it: job id → status."""
    return dict(browser.execute_script(ROWS_SCRIPT))


def wait_for_rows(browser, expected: dict[str, str]) -> None:
    wait_until(browser, lambda d: rows(d) == expected,
               f"the jobs table to show {expected}; it shows {rows(browser)}")


def text_of(browser, selector: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, selector).text


def wait_for_text(browser, selector: str, expected: str) -> str:
    def shown(driver):
        elements = driver.find_elements(By.CSS_SELECTOR, selector)
        return elements and expected in elements[0].text and elements[0].text

    return wait_until(browser, shown, f"{selector} to say {expected!r}")


def row_cells(browser, job_id: str) -> list[str]:
    row = browser.find_element(By.CSS_SELECTOR, f"#jobs-table tr[data-job-id='{job_id}']")
    return [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]


def click_cancel(browser, job_id: str):
    browser.find_element(By.CSS_SELECTOR, f"#jobs-table tr[data-job-id='{job_id}'] button.cancel").click()
    return wait_until(browser, expected_conditions.alert_is_present(), "a confirmation dialog")


def severe_console_messages(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def connector(api, connector_id: str) -> str:
    return api.create_connector(connector_id, index_name=f"search-{connector_id}")


def searchable(es) -> None:
    """Stats and heartbeats are written without a refresh; the list API searches."""
    es.indices.refresh(index=SYNC_JOBS_INDEX)


def started_ago(es, job_id: str, seconds: int) -> None:
    """Moves a claimed job's start back in time, so that its duration shows."""
    started = datetime.now(UTC) - timedelta(seconds=seconds)
    es.update(index=SYNC_JOBS_INDEX, id=job_id, refresh=True,
              doc={"started_at": format_instant(started)})


def finish(es, job_id: str, **fields) -> None:
    """Ends a claimed job as a worker does: a direct write to the index, not through the API."""
    es.update(index=SYNC_JOBS_INDEX, id=job_id, refresh=True, doc={
        "status": "completed", "completed_at": format_instant(datetime.now(UTC)), **fields})


# The page


def test_dashboard_page_is_served_with_a_policy_that_keeps_it_to_this_service(client):
    with client.get("/_connector_service/dashboard") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    for asset in ("dashboard.js", "dashboard.css", "favicon.svg", "history.js",
                  "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css"):
        with client.get(f"{ASSETS}/{asset}") as response:
            assert response.status_code == 200


def test_dashboard_loads_everything_from_the_service_without_console_errors(page, live_url):
    browser = page()
    assert browser.title.startswith("Sync jobs")
    assert text_of(browser, "h1") == "Connector sync jobs"
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)")
    assert {urlsplit(url).path for url in loaded} >= {
        "/_connector_service/dashboard/static/dashboard.js",
        "/_connector_service/dashboard/static/dashboard.css",
        "/_connector_service/sync_job_summary", "/_connector/_sync_job"}
    assert all(url.startswith(live_url + "/") for url in loaded), loaded
    assert severe_console_messages(browser) == []


def test_empty_dashboard_says_how_to_create_a_sync_job(page, live_url):
    browser = page()
    empty = wait_for_text(browser, "#empty-state", "No sync jobs yet.")
    assert f"curl -X PUT '{live_url}/_connector/my-connector'" in empty
    assert f"curl -X POST '{live_url}/_connector/_sync_job'" in empty
    assert '{"id": "my-connector", "job_type": "full"}' in empty
    assert rows(browser) == {}
    assert text_of(browser, "#summary-table tbody") == "No connector has sync jobs yet."
    assert text_of(browser, "#summary-totals") == "0 jobs across 0 connectors."


# The table and the summary


def test_job_created_through_the_api_appears_in_the_table_and_the_summary(page, api, es):
    job_id = api.new_job(connector(api, "alpha"), job_type="incremental")
    api.claim(job_id, worker_hostname="worker-7")
    api.set_stats(job_id, indexed_document_count=1200, deleted_document_count=3,
                  indexed_document_volume=5)
    searchable(es)

    browser = page()

    wait_for_rows(browser, {job_id: "in_progress"})
    cells = row_cells(browser, job_id)
    assert cells[1:6] == ["alpha", "incremental", "on demand", "in progress", "worker-7"]
    assert cells[9:12] == ["1,200", "3", "5 MiB"]
    assert cells[12:] == ["Cancel", ""]
    started = stored_job(es, job_id)["started_at"]
    assert browser.find_element(By.CSS_SELECTOR, f"tr[data-job-id='{job_id}'] time").get_attribute(
        "datetime") == started
    summary = text_of(browser, "#summary-table tr[data-connector-id='alpha']")
    assert "in progress" in summary and "1 in progress" in summary
    assert text_of(browser, "#summary-totals") == "1 job across 1 connector: 1 in progress."
    assert text_of(browser, "#page-position") == "1–1 of 1"


def test_job_created_after_the_page_loaded_appears_on_auto_refresh(page, api):
    first = api.new_job(connector(api, "alpha"))
    browser = page()
    wait_for_rows(browser, {first: "pending"})
    Select(browser.find_element(By.ID, "refresh-interval")).select_by_value("2")

    second = api.new_job("alpha", job_type="full")

    wait_for_rows(browser, {first: "pending", second: "pending"})
    wait_for_text(browser, "#summary-totals", "2 jobs across 1 connector: 2 pending.")
    assert "refresh=2" in browser.current_url


def test_filters_by_connector_status_and_type_narrow_the_table(page, api):
    connector(api, "alpha")
    connector(api, "beta")
    alpha_full = api.new_job("alpha")
    alpha_incremental = api.new_job("alpha", job_type="incremental")
    api.claim(alpha_incremental)
    beta_full = api.new_job("beta")
    api.cancel(beta_full)
    every_job = {alpha_full: "pending", alpha_incremental: "in_progress", beta_full: "canceled"}
    browser = page()
    wait_for_rows(browser, every_job)

    connector_box = browser.find_element(By.ID, "filter-connector")
    connector_box.send_keys("alpha", Keys.ENTER)
    wait_for_rows(browser, {alpha_full: "pending", alpha_incremental: "in_progress"})
    assert "connector_id=alpha" in browser.current_url

    Select(browser.find_element(By.ID, "filter-job-type")).select_by_value("incremental")
    wait_for_rows(browser, {alpha_incremental: "in_progress"})

    Select(browser.find_element(By.ID, "filter-status")).select_by_value("pending")
    wait_for_text(browser, "#empty-state", "No sync job matches these filters.")
    assert rows(browser) == {}

    browser.find_element(By.ID, "clear-filters").click()
    wait_for_rows(browser, every_job)
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("canceled")
    wait_for_rows(browser, {beta_full: "canceled"})
    assert browser.find_element(By.ID, "filter-connector").get_attribute("value") == ""


def test_summary_links_filter_the_table_by_connector_and_status(page, api):
    connector(api, "alpha")
    connector(api, "beta")
    alpha_pending = api.new_job("alpha")
    alpha_running = api.new_job("alpha")
    api.claim(alpha_running)
    beta_pending = api.new_job("beta")
    browser = page()
    wait_for_rows(browser, {alpha_pending: "pending", alpha_running: "in_progress",
                            beta_pending: "pending"})

    browser.find_element(
        By.CSS_SELECTOR, "#summary-table tr[data-connector-id='alpha'] .chip.status-pending").click()

    wait_for_rows(browser, {alpha_pending: "pending"})
    assert browser.find_element(By.ID, "filter-connector").get_attribute("value") == "alpha"
    assert Select(browser.find_element(By.ID, "filter-status")).first_selected_option.text == "pending"


def test_paging_walks_through_the_jobs_newest_first(page, api):
    connector(api, "alpha")
    created = [api.new_job("alpha") for _ in range(12)]
    newest_first = created[::-1]
    browser = page("size=10")

    wait_for_rows(browser, {job_id: "pending" for job_id in newest_first[:10]})
    assert list(rows(browser)) == newest_first[:10]
    assert text_of(browser, "#page-position") == "1–10 of 12"
    assert not browser.find_element(By.ID, "page-prev").is_enabled()

    browser.find_element(By.ID, "page-next").click()
    wait_for_rows(browser, {job_id: "pending" for job_id in newest_first[10:]})
    assert text_of(browser, "#page-position") == "11–12 of 12"
    assert not browser.find_element(By.ID, "page-next").is_enabled()
    assert "from=10" in browser.current_url

    browser.find_element(By.ID, "page-prev").click()
    wait_for_rows(browser, {job_id: "pending" for job_id in newest_first[:10]})


def test_past_the_result_window_the_pager_says_so_and_offers_no_page_the_list_refuses(
        page, api, es):
    with many_pending_jobs(es, "crowded", 10_001) as ids_oldest_first:
        browser = page("from=9975&size=25")
        wait_for_rows(browser, {job_id: "pending" for job_id in ids_oldest_first[::-1][9_975:10_000]})
        assert text_of(browser, "#page-position") == "9,976–10,000 of 10,000+"
        assert not browser.find_element(By.ID, "page-next").is_enabled()
        assert "10,000" in browser.find_element(By.ID, "page-next").get_attribute("title")
        # The exact total is the summary's.
        wait_for_text(browser, "#summary-totals", "10,001 jobs")
        assert severe_console_messages(browser) == []


def api_calls(browser) -> list[str]:
    """The API requests the page has made since it loaded: path and query."""
    names = browser.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)")
    return [urlsplit(name).path + "?" + urlsplit(name).query for name in names
            if "/_connector" in urlsplit(name).path and "/dashboard/" not in urlsplit(name).path]


def test_a_link_cannot_make_the_page_refresh_faster_or_ask_for_more_rows(page, api):
    connector(api, "alpha")
    api.new_job("alpha")
    browser = page("refresh=0.001&size=100000")

    browser.execute_script("performance.clearResourceTimings()")
    time.sleep(3.5)
    calls = api_calls(browser)

    # Two calls a refresh (summary and list) every 2 s at the most: 4 in 3.5 s, not thousands.
    assert 2 <= len(calls) <= 4, calls
    listed = [call for call in calls if call.startswith("/_connector/_sync_job?")]
    assert listed and all("size=100&" in call or call.endswith("size=100") for call in listed), listed
    assert browser.find_element(By.ID, "refresh-interval").get_attribute("value") == "2"


# Job detail


def test_job_detail_shows_the_job_as_the_api_returns_it(page, api, es):
    job_id = api.new_job(connector(api, "alpha"))
    api.claim(job_id, worker_hostname="worker-3")
    api.set_stats(job_id, indexed_document_count=40, deleted_document_count=2,
                  indexed_document_volume=1)
    api.set_error(job_id, "Connection refused by the source")
    searchable(es)
    browser = page("refresh=0")
    wait_for_rows(browser, {job_id: "error"})

    browser.find_element(By.CSS_SELECTOR, f"tr[data-job-id='{job_id}'] button.open-job").click()

    fields = wait_for_text(browser, f"#job-detail dl[data-job-id='{job_id}']", "worker-3")
    for shown in ("alpha", "search-alpha", "Indexed documents\n40", "Deleted documents\n2",
                  "Volume\n1 MiB", "Error\nConnection refused by the source"):
        assert shown in fields
    assert text_of(browser, "#job-detail-title") == f"Sync job {job_id}"
    assert "cannot be canceled" in text_of(browser, "#job-detail .detail-actions")
    raw = browser.find_element(By.CSS_SELECTOR, "#job-detail details pre").get_attribute("textContent")
    assert json.loads(raw) == api.get_sync_job(job_id) == {"id": job_id, **stored_job(es, job_id)}
    assert f"job={job_id}" in browser.current_url

    browser.find_element(By.ID, "job-detail-close").click()
    wait_until(browser, lambda d: not d.find_element(By.ID, "job-detail").is_displayed(),
               "the job detail to close")
    assert "job=" not in browser.current_url


# Cancel


@pytest.mark.parametrize("claimed, status_after, said", [
    (False, "canceled", "its status is now canceled"),
    (True, "canceling", "its status is now canceling; its worker stops it at its next check"),
])
def test_cancel_after_confirmation_stores_the_new_status_and_shows_it(
        page, api, es, claimed, status_after, said):
    job_id = api.new_job(connector(api, "alpha"))
    if claimed:
        api.claim(job_id)
    browser = page("refresh=0")
    wait_for_rows(browser, {job_id: "in_progress" if claimed else "pending"})

    confirmation = click_cancel(browser, job_id)
    assert f"Cancel sync job {job_id} of connector alpha?" in confirmation.text
    confirmation.accept()

    notice = wait_for_text(browser, "#notices .message", said)
    assert job_id in notice
    wait_for_rows(browser, {job_id: status_after})
    stored = stored_job(es, job_id)
    assert stored["status"] == status_after
    assert "cancelation_requested_at" in stored
    assert text_of(browser, "#alerts") == ""


def test_dismissed_confirmation_leaves_the_job_as_it_was(page, api, es):
    job_id = api.new_job(connector(api, "alpha"))
    api.claim(job_id)
    before = stored_job(es, job_id)
    browser = page("refresh=0")
    wait_for_rows(browser, {job_id: "in_progress"})

    click_cancel(browser, job_id).dismiss()

    assert stored_job(es, job_id) == before
    assert rows(browser) == {job_id: "in_progress"}
    assert text_of(browser, "#notices") == ""


# Retention: a dry run


def test_retention_dry_run_shows_what_a_rule_would_delete_and_deletes_nothing(page, api, es):
    kept = connector(api, "alpha")
    jobs = [api.new_job(kept) for _ in range(3)]
    for age, job_id in enumerate(jobs, start=1):
        finish(es, job_id, created_at=format_instant(datetime.now(UTC) - timedelta(days=age)))
    browser = page("refresh=0")

    keep_last = browser.find_element(By.CSS_SELECTOR, "#retention-keep-last")
    keep_last.clear()
    keep_last.send_keys("1")
    browser.find_element(By.CSS_SELECTOR, "#retention-form button[type=submit]").click()

    wait_for_text(browser, "#retention-result",
                  f"2 finished jobs would be deleted, oldest first: {jobs[2]}, {jobs[1]}")
    assert [stored_job(es, job_id)["status"] for job_id in jobs] == ["completed"] * 3

    browser.find_element(By.CSS_SELECTOR, "#retention-older-than").send_keys("a month")
    browser.find_element(By.CSS_SELECTOR, "#retention-form button[type=submit]").click()

    alert = wait_for_text(browser, "#alerts .message", "Could not count what retention would delete.")
    assert "400 illegal_argument_exception:" in alert
    assert "failed to parse setting [older_than] with value [a month]" in alert


# Errors from the API


def test_cancel_refused_by_the_api_shows_its_error_to_the_person(page, api, es):
    job_id = api.new_job(connector(api, "alpha"))
    api.claim(job_id)
    browser = page("refresh=0")
    wait_for_rows(browser, {job_id: "in_progress"})
    # The job ends before the person clicks: the page still offers Cancel.
    api.set_error(job_id, "worker lost")

    click_cancel(browser, job_id).accept()

    alert = wait_for_text(browser, "#alerts .message", f"Sync job {job_id} can no longer be canceled.")
    assert ("400 status_exception: Invalid transition attempt from [error] to [canceling]." in alert)
    wait_for_rows(browser, {job_id: "error"})
    assert stored_job(es, job_id)["status"] == "error"
    assert text_of(browser, "#notices") == ""


def test_list_refused_by_the_api_shows_its_error_to_the_person(page, api):
    api.new_job(connector(api, "alpha"))
    browser = page("from=9995&size=10")

    alert = wait_for_text(browser, "#alerts .message", "Could not load the jobs.")
    assert ("400 illegal_argument_exception: The sum of parameters [from] and [size] cannot be "
            "higher than 10000.") in alert
    assert rows(browser) == {}


def test_detail_of_a_deleted_job_shows_the_404(page, api):
    job_id = api.new_job(connector(api, "alpha"))
    api.delete_sync_job(job_id)
    browser = page(f"job={job_id}&refresh=0")

    alert = wait_for_text(browser, "#alerts .message", f"Could not load sync job {job_id}.")
    assert f"404 resource_not_found_exception: {job_id}" in alert
    assert "404 resource_not_found_exception" in text_of(browser, "#job-detail-body")


# Pages of other origins


FOREIGN_PAGE = """<!doctype html><title>loading</title><script>
const service = %s;
const send = (path, body) => fetch(service + path, {method: "POST", mode: "no-cors",
                                                     body: body === null ? null : new Blob([body])});
Promise.allSettled([
  send("/_connector/_sync_job", '{"id": "csrf-target"}'),
  send("/_connector", '{"index_name": "search-csrf", "service_type": "x"}'),
  send("/_connector/_sync_job/_stale/_error?older_than=1s", null),
]).then(() => { document.title = "sent"; });
</script>"""


@pytest.fixture
def foreign_page(live_url):
    """A page on another origin (another port of this machine) that writes to the service the
    way a browser lets any page: simple POSTs in `no-cors` mode, without asking first."""
    body = (FOREIGN_PAGE % json.dumps(live_url)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_page_on_another_origin_cannot_write_through_the_service(browser, foreign_page, api, es):
    target = api.create_connector("csrf-target", index_name="search-csrf-target")
    running = api.new_job(target)
    api.claim(running)
    es.update(index=SYNC_JOBS_INDEX, id=running, refresh=True,
              doc={"last_seen": "2000-01-01T00:00:00.000Z"})
    jobs_before = es.count(index=SYNC_JOBS_INDEX)["count"]
    connectors_before = es.count(index=CONNECTORS_INDEX)["count"]

    try:
        browser.get(foreign_page)
        wait_until(browser, lambda d: d.title == "sent", "the foreign page to send its requests")
    finally:
        browser.get("about:blank")

    es.indices.refresh(index=[SYNC_JOBS_INDEX, CONNECTORS_INDEX])
    assert es.count(index=SYNC_JOBS_INDEX)["count"] == jobs_before
    assert es.count(index=CONNECTORS_INDEX)["count"] == connectors_before
    assert stored_job(es, running)["status"] == "in_progress"


# The picture in docs/dashboard.md


def test_dashboard_shows_jobs_in_every_status_with_their_figures(page, api, es):
    for connector_id in ("confluence-wiki", "github-issues", "sharepoint-docs"):
        connector(api, connector_id)
    done = api.new_job("sharepoint-docs")
    api.claim(done, worker_hostname="worker-a")
    started_ago(es, done, 4 * 60 + 12)
    finish(es, done, indexed_document_count=48_210, deleted_document_count=112,
           indexed_document_volume=2_317)
    failed = api.new_job("github-issues", job_type="incremental", trigger_method="scheduled")
    api.claim(failed, worker_hostname="worker-b")
    api.set_stats(failed, indexed_document_count=530, deleted_document_count=0,
                  indexed_document_volume=12)
    api.set_error(failed, "GitHub API rate limit exceeded (403)")
    acl = api.new_job("confluence-wiki", job_type="access_control", trigger_method="scheduled")
    api.claim(acl, worker_hostname="worker-a")
    api.cancel(acl)
    running = api.new_job("sharepoint-docs", job_type="incremental")
    api.claim(running, worker_hostname="worker-b")
    started_ago(es, running, 95)
    api.set_stats(running, indexed_document_count=1_904, deleted_document_count=7,
                  indexed_document_volume=88)
    waiting = api.new_job("confluence-wiki")
    searchable(es)
    browser = page("refresh=0")

    wait_for_rows(browser, {waiting: "pending", running: "in_progress", acl: "canceling",
                            failed: "error", done: "completed"})
    assert text_of(browser, "#summary-totals") == (
        "5 jobs across 3 connectors: 1 pending · 1 in progress · 1 canceling · 1 completed · 1 error.")
    assert [row.get_attribute("data-connector-id") for row in browser.find_elements(
        By.CSS_SELECTOR, "#summary-table tbody tr")] == [
        "confluence-wiki", "sharepoint-docs", "github-issues"]
    assert row_cells(browser, done)[9:12] == ["48,210", "112", "2,317 MiB"]
    assert row_cells(browser, failed)[12:] == ["", "GitHub API rate limit exceeded (403)"]
    assert {job_id for job_id in rows(browser)
            if browser.find_elements(By.CSS_SELECTOR, f"tr[data-job-id='{job_id}'] button.cancel")
            } == {waiting, running}

    if SCREENSHOT_PATH:
        save_full_page(browser, Path(SCREENSHOT_PATH))


# The sync-history chart and the summary's age

# The chart's colours for a completed and a failed job's point (app/static/history.js).
COMPLETED_RGB, ERROR_RGB = (0x1a, 0x7f, 0x37), (0xcf, 0x22, 0x2e)
PIXELS_SCRIPT = """
const canvas = document.querySelector('#history-chart canvas');
if (!canvas) return null;
const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
const counts = arguments[0].map(() => 0);
for (let i = 0; i < data.length; i += 4) {
  arguments[0].forEach(([r, g, b], k) => {
    if (Math.abs(data[i] - r) < 6 && Math.abs(data[i + 1] - g) < 6 && Math.abs(data[i + 2] - b) < 6
        && data[i + 3] > 200) counts[k] += 1;
  });
}
return counts;"""


def test_sync_history_charts_a_connectors_jobs_by_outcome_from_the_services_own_assets(
        page, api, es, live_url):
    connector(api, "alpha")
    connector(api, "beta")
    done = api.new_job("alpha")
    api.claim(done, worker_hostname="worker-a")
    started_ago(es, done, 12 * 60)
    finish(es, done, indexed_document_count=4_000, deleted_document_count=0,
           indexed_document_volume=10)
    failed = api.new_job("alpha")
    api.claim(failed)
    started_ago(es, failed, 3 * 60)
    api.set_error(failed, "source unreachable")
    api.new_job("alpha")  # pending: never started, so no duration
    api.new_job("beta")
    searchable(es)

    browser = page("connector_id=alpha&refresh=0")

    caption = wait_for_text(browser, "#history-caption", "Last 3 syncs of alpha")
    assert "1 completed" in caption and "1 error" in caption and "1 pending" in caption
    assert displayed(browser, "#history")
    assert browser.find_element(By.ID, "history-chart").get_attribute("data-points") == "3"
    completed_pixels, error_pixels = wait_until(
        browser, lambda d: (found := d.execute_script(PIXELS_SCRIPT, [COMPLETED_RGB, ERROR_RGB]))
        and all(found) and found, "the chart to draw a completed and a failed point")
    assert completed_pixels > 20 and error_pixels > 20
    loaded = {urlsplit(url).path for url in browser.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)")}
    assert {f"{ASSETS}/vendor/uPlot.iife.min.js", f"{ASSETS}/vendor/uPlot.min.css",
            f"{ASSETS}/history.js"} <= loaded
    # Nothing refused by the page's Content-Security-Policy, nothing failed.
    assert severe_console_messages(browser) == []

    browser.find_element(By.ID, "clear-filters").click()
    wait_until(browser, lambda d: not displayed(d, "#history"), "the chart to go with the filter")


def test_summary_says_when_its_figures_were_counted_and_auto_refresh_shares_them(page, api):
    api.new_job(connector(api, "alpha"))
    browser = page("refresh=2")
    wait_for_text(browser, "#summary-as-of", "Figures as of")
    as_of = browser.find_element(By.CSS_SELECTOR, "#summary-as-of time").get_attribute("datetime")
    assert parse_instant(as_of) <= datetime.now(UTC)

    def summary_requests(driver) -> list[str]:
        return [url for url in driver.execute_script(
            "return performance.getEntriesByType('resource').map(entry => entry.name)")
            if "/_connector_service/sync_job_summary" in url]

    # The first load counts now; auto-refresh accepts figures two intervals old.
    requests = wait_until(browser, lambda d: len(summary_requests(d)) >= 2 and summary_requests(d),
                          "an auto-refresh of the summary")
    assert urlsplit(requests[0]).query == ""
    assert urlsplit(requests[1]).query == "max_age=4s"


# Behind AUTH_MODE=api_key

DASHBOARD_KEY = base64.b64encode(b"dashboard-key:dashboard-secret").decode()


@pytest.fixture(scope="module")
def keyed_url(elasticsearch_url):
    """The service with api_key auth on, as scripts/serve runs it."""
    with production_server(elasticsearch_url, workers=1,
                           env={"AUTH_MODE": "api_key", "AUTH_API_KEYS": DASHBOARD_KEY}) as url:
        yield url


def displayed(browser, selector: str) -> bool:
    return browser.find_element(By.CSS_SELECTOR, selector).is_displayed()


def test_with_api_keys_the_page_asks_for_one_keeps_it_for_the_tab_and_forgets_it(
        browser, keyed_url, api):
    job_id = api.new_job(api.create_connector("keyed-connector"))
    browser.get(f"{keyed_url}/_connector_service/dashboard")
    try:
        wait_until(browser, lambda d: displayed(d, "#api-key-form"), "the page to ask for a key")
        assert "missing authentication credentials" in text_of(browser, "#alerts")

        browser.find_element(By.ID, "api-key").send_keys("d3Jvbmc6a2V5", Keys.ENTER)
        wait_until(browser, lambda d: "unable to authenticate" in text_of(d, "#alerts")
                   and displayed(d, "#api-key-form"), "a wrong key to be refused and asked again")

        browser.find_element(By.ID, "api-key").send_keys(DASHBOARD_KEY, Keys.ENTER)
        wait_for_rows(browser, {job_id: "pending"})
        assert not displayed(browser, "#api-key-form")
        assert displayed(browser, "#api-key-set")

        browser.refresh()  # the tab keeps the key
        wait_for_rows(browser, {job_id: "pending"})
        assert not displayed(browser, "#api-key-form")

        browser.find_element(By.ID, "forget-api-key").click()
        wait_until(browser, lambda d: displayed(d, "#api-key-form"), "the key to be forgotten")
        assert browser.execute_script("return sessionStorage.length") == 0
    finally:
        browser.execute_script("sessionStorage.clear()")
        browser.get("about:blank")


def test_with_api_keys_the_page_serves_no_data_without_one(keyed_url):
    http = urllib3.PoolManager(retries=False)

    assert http.request("GET", f"{keyed_url}/_connector_service/dashboard").status == 200
    assert http.request("GET", f"{keyed_url}/_connector_service/dashboard/static/dashboard.js").status == 200
    summary = http.request("GET", f"{keyed_url}/_connector_service/sync_job_summary")
    assert summary.status == 401
    assert summary.headers["WWW-Authenticate"] == "ApiKey"


# Behind the cluster's own users (AUTH_MODE=elasticsearch, the default on a secured cluster)


class Person:
    """Whoever sits at a browser with its own login prompt: answers it with a user and password,
    or dismisses it (a person holding an API key instead), and remembers each prompt."""

    def __init__(self, driver, credentials: tuple[str, str] | None):
        self.driver = driver
        self.credentials = credentials
        self.prompts: list[str] = []
        driver.network.add_authentication_handler(self.answer)

    def answer(self, challenge) -> None:
        self.prompts.append(challenge.url)
        if self.credentials:
            challenge.provide_credentials(*self.credentials)
        else:
            challenge.cancel()


@pytest.fixture
def person():
    """A fresh browser (no remembered login) with a person in front of it."""
    with chromium(bidi=True) as driver:
        yield lambda credentials=None: Person(driver, credentials)


@pytest.fixture
def guarded_job(secured_node, secured_url, secured_es):
    """A pending job on the secured cluster, made by a connector manager."""
    manager = ApiClient(HttpClient(secured_url, secured_node.headers("manager")))
    manager.create_connector("guarded", index_name="search-guarded")
    return manager.new_job("guarded")


def test_with_the_clusters_users_the_browser_asks_and_a_reader_is_refused_a_cancel(
        person, secured_url, secured_es, guarded_job):
    reader = person(("reader", password_of("reader")))
    browser = reader.driver
    browser.get(f"{secured_url}/_connector_service/dashboard#refresh=0")

    wait_for_rows(browser, {guarded_job: "pending"})
    wait_for_text(browser, "#summary-totals", "1 job across 1 connector")
    assert reader.prompts, "the browser never showed its login prompt"
    click_cancel(browser, guarded_job).accept()

    alert = wait_for_text(browser, "#alerts .message", "403 security_exception")
    assert ("action [cluster:admin/xpack/connector/sync_job/cancel] is unauthorized for user "
            "[reader]") in alert
    assert stored_job(secured_es, guarded_job)["status"] == "pending"


def test_with_the_clusters_users_a_connector_manager_cancels_a_job(person, secured_url,
                                                                  secured_es, guarded_job):
    browser = person(("manager", password_of("manager"))).driver
    browser.get(f"{secured_url}/_connector_service/dashboard#refresh=0")
    wait_for_rows(browser, {guarded_job: "pending"})

    click_cancel(browser, guarded_job).accept()

    wait_for_text(browser, "#notices .message", "its status is now canceled")
    assert stored_job(secured_es, guarded_job)["status"] == "canceled"


def test_with_the_clusters_users_a_dismissed_prompt_shows_the_401_and_offers_an_api_key(
        person, secured_url, secured_es, guarded_job):
    someone = person(None)
    browser = someone.driver
    browser.get(f"{secured_url}/_connector_service/dashboard")

    wait_until(browser, lambda d: displayed(d, "#api-key-form"), "the page to ask for a key")
    assert someone.prompts
    assert "missing authentication credentials" in text_of(browser, "#alerts")
    assert rows(browser) == {}


def save_full_page(browser, path: Path) -> None:
    width, height = browser.execute_script(
        "return [document.documentElement.clientWidth,"
        " Math.ceil(document.querySelector('footer').getBoundingClientRect().bottom + scrollY)]")
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
