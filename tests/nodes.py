"""Where the tests' Elasticsearch comes from: ELASTICSEARCH_URL, testcontainers, or the local
distribution that scripts/start-elasticsearch runs. Never a fake."""

import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import urllib3

REPO_ROOT = Path(__file__).resolve().parent.parent
HOW_TO_GET_A_NODE = (
    "No Elasticsearch node for the tests. Either run the tests with scripts/test (it installs "
    "and starts one), set ELASTICSEARCH_URL to a node you run, or start a Docker engine for "
    "testcontainers."
)


def es_version() -> str:
    if os.environ.get("ES_VERSION"):
        return os.environ["ES_VERSION"]
    for line in (REPO_ROOT / ".env").read_text().splitlines():
        if line.startswith("ES_VERSION="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError("ES_VERSION is not set in .env")


def wait_for_health(url: str, timeout: float = 120.0) -> None:
    http = urllib3.PoolManager()
    deadline = time.monotonic() + timeout
    while True:
        try:
            resp = http.request("GET", f"{url}/_cluster/health?wait_for_status=yellow&timeout=5s",
                                timeout=10.0)
            if resp.status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Elasticsearch at {url} did not become healthy in {timeout} s")
        time.sleep(1)


def docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return True
    except Exception:
        return False


@contextmanager
def elasticsearch_node():
    """Yields the URL of a real node, in the order the README gives."""
    if os.environ.get("ELASTICSEARCH_URL"):
        url = os.environ["ELASTICSEARCH_URL"].rstrip("/")
        wait_for_health(url)
        yield url
    elif docker_engine_answers():
        from testcontainers.elasticsearch import ElasticSearchContainer

        with ElasticSearchContainer(f"elasticsearch:{es_version()}", mem_limit="2g") as container:
            yield container.get_url()
    else:
        yield start_local_node(port=int(os.environ.get("ES_HTTP_PORT", "9200")))


def start_local_node(port: int) -> str:
    """Starts (or reuses) the local distribution on `port` with scripts/start-elasticsearch."""
    env = dict(os.environ, ES_HTTP_PORT=str(port))
    result = subprocess.run([str(REPO_ROOT / "scripts" / "start-elasticsearch")], env=env,
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{HOW_TO_GET_A_NODE}\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


def stop_local_node(port: int) -> None:
    env = dict(os.environ, ES_HTTP_PORT=str(port))
    subprocess.run([str(REPO_ROOT / "scripts" / "stop-elasticsearch")], env=env, check=True,
                   capture_output=True, timeout=120)
