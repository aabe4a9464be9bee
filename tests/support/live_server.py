"""The service over real HTTP, for tests that need concurrent connections.

`production_server` runs it as scripts/serve does (granian serving app.asgi:app, the front
before the Flask app, in processes of its own, configured by the environment); `serving` runs
an app built in the test, with settings the environment cannot give, on werkzeug's threaded
server.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import urllib3
from werkzeug.serving import make_server

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def serving(app):
    """Yields the base URL of `app` served by a threaded server on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def production_server(elasticsearch_url: str, *, workers: int = 2, threads: int = 32,
                      env: dict[str, str] | None = None, timeout: float = 90,
                      log_path: Path | None = None):
    """Yields the base URL of the service under granian with scripts/serve's flags, in front
    of `elasticsearch_url`. Two workers by default: requests of one caller may reach either
    process, as with several replicas. `log_path` keeps what the server writes (its log)."""
    with production_process(elasticsearch_url, workers=workers, threads=threads, env=env,
                            timeout=timeout, log_path=log_path) as (url, _):
        yield url


@contextmanager
def production_process(elasticsearch_url: str, *, workers: int = 2, threads: int = 32,
                       env: dict[str, str] | None = None, timeout: float = 90,
                       log_path: Path | None = None):
    """As production_server, yielding (url, the granian main process) for tests that signal it."""
    port = free_port()
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "app.asgi:app",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
               "--respawn-failed-workers",
               "--workers-kill-timeout", "30", "--no-access-log",
               "--log-config", str(REPO_ROOT / "app" / "observability" / "granian-ecs.json")]
    environment = {**os.environ, "ELASTICSEARCH_URL": elasticsearch_url, "AUTH_MODE": "none",
                   "HOST": "127.0.0.1", "PORT": str(port), "WEB_THREADS": str(threads),
                   **(env or {})}
    url = f"http://127.0.0.1:{port}"
    with (log_path.open("w+b") if log_path else tempfile.TemporaryFile()) as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        def log_tail() -> str:
            log.seek(0)
            return log.read()[-3000:].decode(errors="replace")

        try:
            wait_until_healthy(url, process, log_tail, timeout)
            yield url, process
        finally:
            if process.poll() is None:
                process.terminate()  # granian's main process stops its workers in turn
                try:
                    process.wait(timeout=45)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def wait_until_healthy(url: str, process: subprocess.Popen, log_tail: Callable[[], str],
                       timeout: float) -> None:
    """Until `url`'s health answers 200; raises with the end of the server's log if the
    process exits or `timeout` passes first."""
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=5))
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log_tail()}")
        try:
            if http.request("GET", url + "/_connector_service/health").status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"not healthy on {url}: {log_tail()}")
        time.sleep(0.25)


class HttpAnswer:
    """A real HTTP answer with the parts of Flask's test response the tests read."""

    def __init__(self, response: urllib3.BaseHTTPResponse):
        self.status_code = response.status
        self.headers = response.headers
        self.data = response.data

    def get_json(self, silent: bool = False):
        try:
            return json.loads(self.data)
        except ValueError:
            if silent:
                return None
            raise

    def get_data(self, as_text: bool = False):
        return self.data.decode() if as_text else self.data


class HttpClient:
    """Flask's test-client `open`, over real HTTP to a served URL, so that ApiClient can drive
    the service as deployed; `headers` go with every request (a caller's credentials)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.url = url
        self.headers = dict(headers or {})
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))

    def open(self, path: str, method: str = "GET", *, query_string=None, headers=None,
             data=None, content_type=None) -> HttpAnswer:
        sent = {**self.headers, **(headers or {})}
        if content_type:
            sent["Content-Type"] = content_type
        query = urlencode(query_string or {}, doseq=True)
        target = self.url + path + (f"?{query}" if query else "")
        return HttpAnswer(self.http.request(method, target, body=data, headers=sent))
