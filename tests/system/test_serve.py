"""`scripts/serve`, the README's one command, serves the service under its production server
(granian): the routes, forwarding, the body limit, and Ctrl-C that stops it cleanly."""

import json
import os
import signal
import subprocess
import time

import pytest
import urllib3

from tests.support.live_server import REPO_ROOT, free_port, wait_until_healthy

BODY_LIMIT = 4096
# The cluster's password in the URL, as an operator may give it (the test node ignores it).
URL_PASSWORD = "svc-S3cret"


@pytest.fixture(scope="module")
def served(elasticsearch_url, tmp_path_factory):
    """scripts/serve in a session of its own, as a terminal would run it, in front of the
    test node (so it starts no node itself)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    with_password = elasticsearch_url.replace("://", f"://svc-user:{URL_PASSWORD}@", 1)
    env = {**os.environ, "ELASTICSEARCH_URL": with_password, "PORT": str(port),
           "WEB_CONCURRENCY": "2", "WEB_THREADS": "4", "MAX_BODY_BYTES": str(BODY_LIMIT)}
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(REPO_ROOT / "scripts" / "serve")], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    # The first run installs .venv's packages before it serves.
    wait_until_healthy(url, process, lambda: log_path.read_text()[-3000:], timeout=120)
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))
    yield {"url": url, "http": http, "process": process, "log": log_path}
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_serves_a_job_life_cycle(served, es):
    http, url = served["http"], served["url"]
    put = http.request("PUT", url + "/_connector/serve-test",
                       json={"index_name": "search-serve-test", "service_type": "sharepoint"})
    assert put.status == 201, put.data
    created = http.request("POST", url + "/_connector/_sync_job", json={"id": "serve-test"})
    assert created.status == 201, created.data
    job_id = created.json()["id"]
    claimed = http.request("PUT", f"{url}/_connector/_sync_job/{job_id}/_claim",
                           json={"worker_hostname": "serve-host"})
    assert (claimed.status, claimed.json()) == (200, {"result": "updated"})
    for _ in range(3):  # heartbeats, as a worker sends them on its kept-alive connection
        checked_in = http.request("PUT", f"{url}/_connector/_sync_job/{job_id}/_check_in")
        assert (checked_in.status, checked_in.json()) == (200, {"result": "updated"})
    job = http.request("GET", f"{url}/_connector/_sync_job/{job_id}").json()
    assert (job["id"], job["status"], job["worker_hostname"]) == (job_id, "in_progress",
                                                                  "serve-host")
    listed = http.request("GET", url + "/_connector/_sync_job?connector_id=serve-test").json()
    assert [found["id"] for found in listed["results"]] == [job_id]


def test_forwards_what_it_does_not_serve(served, elasticsearch_url):
    http, url = served["http"], served["url"]
    root = http.request("GET", url + "/")
    assert root.status == 200
    assert root.headers["X-Elastic-Product"] == "Elasticsearch"
    direct = urllib3.request("GET", elasticsearch_url + "/_cluster/health", retries=False)
    forwarded = http.request("GET", url + "/_cluster/health")
    assert forwarded.status == direct.status == 200
    assert forwarded.json()["cluster_name"] == direct.json()["cluster_name"]


def test_refuses_a_body_over_the_limit_with_413(served):
    http, url = served["http"], served["url"]
    resp = http.request("POST", url + "/_connector/_sync_job", body=b" " * (BODY_LIMIT * 64),
                        headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert resp.json()["status"] == 413


def test_its_log_is_ecs_one_line_per_request_and_never_the_clusters_password(served):
    url = served["url"]
    # A connection of its own: the 413 above may have left the shared pool's closed.
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))
    answer = http.request("GET", url + "/_connector/_sync_job", headers={"X-Opaque-Id": "serve-log"})
    assert answer.status == 200
    deadline = time.monotonic() + 10
    while '"dataset":"connector_sync_jobs.access"' not in access_line(served["log"], "serve-log"):
        assert time.monotonic() < deadline, "no log line for the request"
        time.sleep(0.1)
    text = served["log"].read_text()
    assert URL_PASSWORD not in text
    assert "in front of http://127.0.0.1:" in text  # scripts/serve's own line, without userinfo
    # Not a terminal: ECS JSON from the service and from granian; scripts/serve's own lines
    # start with its name.
    service_lines = [line for line in text.splitlines() if not line.startswith("[")]
    records = [json.loads(line) for line in service_lines]
    assert {record["log"]["logger"] for record in records} >= {"_granian", "connector_service.access"}
    ours = [r for r in records if r.get("http", {}).get("request", {}).get("id") == "serve-log"
            and r.get("event", {}).get("dataset") == "connector_sync_jobs.access"]
    assert len(ours) == 1  # one line per request: granian's own access log is off
    assert ours[0]["http"]["response"]["status_code"] == 200


def access_line(log_path, request_id: str) -> str:
    """The service's log lines that name `request_id`, joined."""
    return "\n".join(line for line in log_path.read_text().splitlines() if request_id in line)


def test_ctrl_c_stops_the_service_and_leaves_the_node_running(served, elasticsearch_url):
    process = served["process"]
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    try:
        status = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        processes = subprocess.run(["ps", "-eo", "pid,ppid,pgid,stat,wchan:20,args"],
                                   capture_output=True, text=True).stdout
        ours = "\n".join(line for line in processes.splitlines() if "granian" in line
                         or "scripts/serve" in line)
        pytest.fail(f"still running 60 s after Ctrl-C:\n{ours}\n{served['log'].read_text()[-3000:]}")
    assert status == 0, served["log"].read_text()[-3000:]
    with pytest.raises(urllib3.exceptions.HTTPError):
        served["http"].request("GET", served["url"] + "/_connector_service/health",
                               timeout=urllib3.Timeout(total=5))
    health = urllib3.request("GET", elasticsearch_url + "/_cluster/health", retries=False)
    assert health.status == 200


def test_a_stop_always_ends_even_when_granian_does_not(elasticsearch_url, tmp_path):
    # granian frozen (SIGSTOP): the stop signal reaches it but nothing happens. scripts/serve
    # kills granian and its workers SHUTDOWN_TIMEOUT + 10 s after the signal and exits.
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "ELASTICSEARCH_URL": elasticsearch_url, "PORT": str(port),
           "WEB_CONCURRENCY": "1", "SHUTDOWN_TIMEOUT": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(REPO_ROOT / "scripts" / "serve")], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process, lambda: log_path.read_text()[-3000:], timeout=120)
        granian = child_pids(process.pid)
        assert len(granian) == 1, granian
        server = granian[0]
        workers = child_pids(server)
        os.kill(server, signal.SIGSTOP)
        stopped_at = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)  # what a supervisor sends
        assert process.wait(timeout=60) == 0
        assert 10 <= time.monotonic() - stopped_at < 30
        assert "granian had not stopped 11 s after the stop signal: killing it" in log_path.read_text()
        for pid in [server, *workers]:
            assert ended_within(pid, 10), f"process {pid} survived"
        with pytest.raises(urllib3.exceptions.HTTPError):
            urllib3.request("GET", url + "/_connector_service/health", retries=False,
                            timeout=urllib3.Timeout(total=5))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def child_pids(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


def ended_within(pid: int, seconds: float) -> bool:
    """Whether `pid` is gone or a zombie within `seconds`: a killed process (a worker reparented
    when granian died) can take the kernel a moment to tear down."""
    deadline = time.monotonic() + seconds
    while os.path.exists(f"/proc/{pid}") and not zombie(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
