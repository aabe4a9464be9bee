"""Stopping a running service as a supervisor does (SIGTERM): it stops accepting, finishes the
requests in flight, and exits 0, under load; scripts/serve and the container's entrypoint pass
the signal on the same way. In flight when the signal comes: check-ins, forwards Elasticsearch
holds for seconds, writes whose body is still arriving (the front reads bodies on granian's
event loop), and large answers still streaming to slow readers.

Every request carries its own X-Opaque-Id; the server's log says which ones it accepted. The
rule checked: every request the service accepted was answered in full; the others were
refused at connection time (nothing listened any more), never cut off.
"""

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import urllib3

from tests.support.live_server import REPO_ROOT, free_port, production_process, wait_until_healthy
from tests.support.raw_http import connection, read_answer, start_body

LOAD_THREADS = 12
SLOW_REQUESTS = 4
# A forwarded request the node holds for this long before answering 408 (wait_for_nodes).
SLOW_SECONDS = 3
# Writes whose body's second half is sent this long after the first (the signal comes between).
BODIES_IN_FLIGHT, BODY_PAUSE = 2, 1.2
# Readers of a large answer, reading it in pieces over about two seconds.
LARGE_READERS, LARGE_BYTES = 2, 4_000_000
INDEX = "shutdown-test"


class Load:
    """Threads that check in a job over new connections until the service stops listening,
    plus a few slow forwarded requests in flight when the signal comes."""

    def __init__(self, url: str, job_id: str):
        self.url, self.job_id = url, job_id
        self.outcomes: list[tuple[str, str, object]] = []  # (request id, kind, detail)
        self.lock = threading.Lock()
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=60))
        self.threads = [threading.Thread(target=self.check_in_until_refused)
                        for _ in range(LOAD_THREADS)]
        self.slow = [threading.Thread(target=self.slow_request) for _ in range(SLOW_REQUESTS)]
        self.slow += [threading.Thread(target=self.body_in_flight) for _ in range(BODIES_IN_FLIGHT)]
        self.slow += [threading.Thread(target=self.large_answer) for _ in range(LARGE_READERS)]

    def send(self, method: str, path: str) -> str:
        request_id = uuid.uuid4().hex
        try:
            answer = self.http.request(method, self.url + path, headers={
                "X-Opaque-Id": request_id, "Connection": "close"})
            outcome = ("answered", answer.status)
        except urllib3.exceptions.NewConnectionError as err:
            outcome = ("refused", repr(err))
        except urllib3.exceptions.HTTPError as err:
            outcome = ("cut off", repr(err))
        return self.record(request_id, outcome)

    def record(self, request_id: str, outcome: tuple[str, object]) -> str:
        with self.lock:
            self.outcomes.append((request_id, *outcome))
        return outcome[0]

    def body_in_flight(self):
        """A forwarded write: half its body before the signal, the rest after it."""
        request_id = uuid.uuid4().hex
        body = json.dumps({"request": request_id}).encode()
        try:
            with connection(self.url) as sock:
                start_body(sock, f"/{INDEX}/_doc", len(body), body[:10],
                           headers={"X-Opaque-Id": request_id, "Connection": "close"})
                time.sleep(BODY_PAUSE)
                sock.sendall(body[10:])
                outcome = ("answered", read_answer(sock, timeout=30)[0])
        except OSError as err:
            outcome = ("cut off", repr(err))
        self.record(request_id, outcome)

    def large_answer(self):
        """A forwarded read of a large document, read slowly: still streaming at the signal."""
        request_id = uuid.uuid4().hex
        try:
            answer = self.http.request("GET", f"{self.url}/{INDEX}/_doc/large", headers={
                "X-Opaque-Id": request_id, "Connection": "close"}, preload_content=False)
            size = 0
            for piece in answer.stream(LARGE_BYTES // 16):
                size += len(piece)
                time.sleep(0.12)
            answer.release_conn()
            outcome = ("answered", answer.status) if size > LARGE_BYTES else (
                "cut off", f"{size} bytes of the answer")
        except urllib3.exceptions.HTTPError as err:
            outcome = ("cut off", repr(err))
        self.record(request_id, outcome)

    def check_in_until_refused(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.send("PUT", f"/_connector/_sync_job/{self.job_id}/_check_in") == "refused":
                return

    def slow_request(self):
        self.send("GET", f"/_cluster/health?wait_for_nodes=99&timeout={SLOW_SECONDS}s")

    def start(self):
        for thread in self.threads + self.slow:
            thread.start()

    def join(self):
        for thread in self.threads + self.slow:
            thread.join(timeout=90)


def accepted_ids(log_text: str) -> set[str]:
    """The request ids of every request the service logged (it logs each once answered)."""
    ids = set()
    for line in log_text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        request_id = record.get("http", {}).get("request", {}).get("id")
        if record.get("event", {}).get("dataset") == "connector_sync_jobs.access" and request_id:
            ids.add(request_id)
    return ids


def check(load: Load, log_text: str) -> None:
    accepted = accepted_ids(log_text)
    answered = [o for o in load.outcomes if o[1] == "answered"]
    cut_off = [o for o in load.outcomes if o[1] == "cut off"]
    assert answered, "no request was answered before the stop"
    assert all(status in (200, 201, 408) for _, _, status in answered), answered
    # Every request the service accepted got its whole answer ...
    assert not [o for o in cut_off if o[0] in accepted], cut_off
    # ... the slow ones too, held by the node for seconds after the signal.
    slow = [o for o in answered if o[2] == 408]
    assert len(slow) == SLOW_REQUESTS
    # ... the writes whose body was still arriving ...
    assert len([o for o in answered if o[2] == 201]) == BODIES_IN_FLIGHT
    # A connection cut without an answer is one the service never read a request from (the
    # kernel had queued it when the listener closed): it must not be in the log.
    assert all(o[0] not in accepted for o in cut_off)
    # And every answer has its log line, those finished while the service stopped included.
    assert not [o for o in answered if o[0] not in accepted]
    assert [o for o in load.outcomes if o[1] == "refused"], "the service never stopped listening"


@pytest.fixture
def claimed_job(api, es):
    """A job to check in, and the index of the forwarded writes and the large document."""
    api.create_connector("stopping", index_name="search-stopping")
    job_id = api.new_job("stopping")
    api.claim(job_id)
    es.indices.delete(index=INDEX, ignore_unavailable=True)
    es.index(index=INDEX, id="large", document={"text": "s" * LARGE_BYTES}, refresh=True)
    yield job_id
    es.indices.delete(index=INDEX, ignore_unavailable=True)


def test_sigterm_under_load_answers_every_accepted_request_and_exits_0(
        elasticsearch_url, claimed_job, tmp_path):
    log_path = tmp_path / "server.log"
    with production_process(elasticsearch_url, workers=2, log_path=log_path) as (url, process):
        load = Load(url, claimed_job)
        load.start()
        time.sleep(1.0)  # load running, slow requests in flight
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        status = process.wait(timeout=45)
        stopped_after = time.monotonic() - signalled
        load.join()
    assert status == 0, log_path.read_text()[-2000:]
    # The slow requests were waited for, within the bound (--workers-kill-timeout 30).
    assert SLOW_SECONDS - 1.5 < stopped_after < 30
    check(load, log_path.read_text())


def stop_under_load(command: list[str], env: dict, url: str, job_id: str, log_path: Path, *,
                    new_session: bool, check_process=None) -> int:
    """Starts `command`, puts it under load, sends its process SIGTERM; returns the exit status
    once every request thread is done, and checks the requests' outcomes against the log."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=new_session)
    try:
        wait_until_healthy(url, process, lambda: log_path.read_text()[-3000:], timeout=120)
        if check_process:
            check_process(process)
        load = Load(url, job_id)
        load.start()
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=45)
        load.join()
    finally:
        if process.poll() is None:  # the test failed before the stop: leave nothing running
            os.killpg(process.pid, signal.SIGKILL) if new_session else process.kill()
    assert status == 0, log_path.read_text()[-2000:]
    check(load, log_path.read_text())
    return status


def test_scripts_serve_passes_sigterm_on_and_exits_0(elasticsearch_url, claimed_job, tmp_path):
    port = free_port()
    env = {**os.environ, "ELASTICSEARCH_URL": elasticsearch_url, "PORT": str(port),
           "WEB_CONCURRENCY": "2", "WEB_THREADS": "16"}
    # Not in a session of its own: a supervisor signals the script's process only.
    stop_under_load([str(REPO_ROOT / "scripts" / "serve")], env, f"http://127.0.0.1:{port}",
                    claimed_job, tmp_path / "serve.log", new_session=False)
    assert "Granian shutdown completed" in (tmp_path / "serve.log").read_text()


def dockerfile_command() -> list[str]:
    """The image's CMD, exactly as the Dockerfile has it."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    return json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))


def test_the_images_entrypoint_gets_sigterm_as_pid_1_would_and_exits_0(
        elasticsearch_url, claimed_job, tmp_path):
    """`docker stop` signals the container's PID 1: the CMD's shell must `exec` granian, so
    that the process the signal reaches is granian itself. Run here as the image runs it
    (same command, same environment variables, the checkout's paths), without a Docker engine;
    tests/containers/test_image.py stops the image itself in a real engine."""
    port = free_port()
    env = {**os.environ, "PATH": f"{REPO_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
           "HOST": "127.0.0.1", "PORT": str(port), "LOG_FORMAT": "ecs", "AUTH_MODE": "none",
           "GRANIAN_LOG_CONFIG": str(REPO_ROOT / "app" / "observability" / "granian-ecs.json"),
           "ELASTICSEARCH_URL": elasticsearch_url, "WEB_CONCURRENCY": "2"}

    def is_granian(process):
        command = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"granian" in b" ".join(command[:3]), command  # the shell exec'd granian

    stop_under_load(dockerfile_command(), env, f"http://127.0.0.1:{port}", claimed_job,
                    tmp_path / "container.log", new_session=True, check_process=is_granian)
