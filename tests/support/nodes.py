"""Where the tests' Elasticsearch comes from: always a node of the suite's own, never a fake and
never a node it finds running.

- `TEST_ELASTICSEARCH_URL`, when set, is a throwaway cluster the user offers on purpose; the
  suite refuses it while its connector indices hold documents (`refuse_if_holding_documents`).
- Else, where its tools are installed (scripts/test installs them), the local distribution
  (scripts/start-elasticsearch) on free ports, with a data folder of its own that is removed
  when the node is (`LocalNode`): the node the secured and multi-node tests run too.
- Else, where a Docker engine answers, a container of the session's own
  (`app.testing.ElasticsearchContainer`, the one users' tests get).

`ELASTICSEARCH_URL` is what the service serves; the suite never reads it (conftest.py drops it
from the environment), so running the tests after serving against a real cluster leaves that
cluster alone.
"""

import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import urllib3

from app.testing import ElasticsearchContainer
from app.testing.containers import engine_socket_refusal

REPO_ROOT = Path(__file__).resolve().parents[2]
OPT_IN_VARIABLE = "TEST_ELASTICSEARCH_URL"
HOW_TO_GET_A_NODE = (
    "No Elasticsearch node for the tests. scripts/test installs and starts one of its own (it "
    "needs Maven, unzip, curl and a JDK, which it installs where it can); or start a Docker "
    f"engine for testcontainers; or set {OPT_IN_VARIABLE} to a throwaway cluster."
)


def es_version() -> str:
    if os.environ.get("ES_VERSION"):
        return os.environ["ES_VERSION"]
    for line in (REPO_ROOT / ".env").read_text().splitlines():
        if line.startswith("ES_VERSION="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError("ES_VERSION is not set in .env")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, timeout: float = 120.0, *, nodes: int | None = None,
                    status: str = "yellow") -> None:
    """Until the cluster is at least `status` (with `nodes` joined, if given), asking each of the
    comma-separated nodes of `url` in turn."""
    http = urllib3.PoolManager()
    query = f"wait_for_status={status}&timeout=5s" + (f"&wait_for_nodes={nodes}" if nodes else "")
    urls = itertools.cycle(url.split(","))
    deadline = time.monotonic() + timeout
    while True:
        try:
            resp = http.request("GET", f"{next(urls)}/_cluster/health?{query}", timeout=10.0,
                                retries=False)
            if resp.status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Elasticsearch at {url} did not become {status} "
                               f"{f'with {nodes} nodes ' if nodes else ''}in {timeout} s")
        time.sleep(1)


def local_distribution_tools() -> bool:
    """Whether scripts/start-elasticsearch finds what it installs a node with."""
    return all(shutil.which(tool) for tool in ("mvn", "unzip", "curl"))


def docker_engine_answers() -> bool:
    if engine_socket_refusal():
        return False
    import docker

    try:
        client = docker.from_env(timeout=5)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


# How often a node's first start tries another HTTP port when its own was taken meanwhile, and
# the frame Elasticsearch's log shows when it could not bind it.
HTTP_PORT_ATTEMPTS = 3
HTTP_BIND_FAILED = "Netty4HttpServerTransport.bind"


class LocalNode:
    """One node of the local distribution, started by scripts/start-elasticsearch on ports
    nobody else uses, its data, logs and pid file in a folder of its own.

    `stop` and `start` keep the data (a restart); `remove` stops the node and deletes the folder.
    `settings` are more `-E name=value` node settings (they replace the script's defaults of the
    same name); `environment` more variables for the script (ES_PATH_CONF, ES_WAIT_FOR_HEALTH...).
    """

    def __init__(self, name: str, *, settings: dict[str, str] | None = None,
                 environment: dict[str, str] | None = None, heap: str = "512m",
                 version: str | None = None):
        self.name = name
        self.version = version or es_version()
        self.http_port, self.transport_port = free_port(), free_port()
        self.settings = dict(settings or {})
        # Open to the node's system user (the script hands it over when running as root).
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"connector-sync-jobs-{name}-"))
        self.run_dir.chmod(0o755)
        self.environment = {
            "ES_VERSION": self.version, "ES_HTTP_PORT": str(self.http_port),
            "ES_TRANSPORT_PORT": str(self.transport_port), "ES_RUN_DIR": str(self.run_dir),
            "ES_HEAP": heap, "ES_REUSE_RUNNING": "no", **(environment or {})}
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.started = False

    def _script(self, name: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([str(REPO_ROOT / "scripts" / name), *args],
                              env={**os.environ, **self.environment}, capture_output=True,
                              text=True, timeout=timeout)

    def install(self) -> None:
        """Installs the distribution if needed (scripts/install-elasticsearch)."""
        result = self._script("install-elasticsearch", timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"{HOW_TO_GET_A_NODE}\n{result.stderr[-3000:]}")

    def start(self) -> str:
        """Starts the node (installing the distribution first if needed); returns its URL.

        The HTTP port was free when it was chosen, but any outgoing connection of the machine
        may take it as its own before the node binds it: on its first start a node that could
        not bind its HTTP port starts again on another (no one has its URL yet). Its transport
        port stays: the other nodes of a cluster already name it."""
        args = [arg for name, value in self.settings.items() for arg in ("-E", f"{name}={value}")]
        for _ in range(HTTP_PORT_ATTEMPTS if not self.started else 1):
            result = self._script("start-elasticsearch", *args, timeout=900)
            if result.returncode == 0 or HTTP_BIND_FAILED not in self.log_tail():
                break
            self.http_port = free_port()
            self.environment["ES_HTTP_PORT"] = str(self.http_port)
            self.url = f"http://127.0.0.1:{self.http_port}"
        if result.returncode != 0:
            raise RuntimeError(f"{HOW_TO_GET_A_NODE}\n{result.stderr[-3000:]}{self.log_tail()}")
        self.started = True
        return self.url

    def log_tail(self, characters: int = 3000) -> str:
        """The end of what the node printed and logged, for a failure's message."""
        texts = [path.read_text(errors="replace")[-characters:]
                 for path in [self.run_dir / "stdout.log", *sorted(self.run_dir.glob("logs/*.log"))]
                 if path.is_file()]
        return "".join(f"\n--- {text}" for text in texts if text.strip())

    def stop(self) -> None:
        self._script("stop-elasticsearch", timeout=120)

    def upgrade(self, version: str) -> None:
        """Stops the node (SIGTERM: it hands its work over and leaves), then starts `version` of
        the distribution on the same data, as one step of a rolling upgrade."""
        self.stop()
        self.version = self.environment["ES_VERSION"] = version
        self.start()

    @property
    def pid(self) -> int:
        return int((self.run_dir / "pid").read_text())

    def signal(self, signum: signal.Signals) -> None:
        os.kill(self.pid, signum)

    def remove(self) -> None:
        if (self.run_dir / "pid").exists():
            self.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)


class LocalCluster:
    """Several LocalNodes on loopback forming one cluster, each with its own ports, data and
    logs (one unpacked distribution serves them all).

    Every node is master-eligible and holds data, so any one of three may die and the other two
    still elect a master and promote replicas. The nodes start at once (one thread each): a node
    waits for the others before its start command returns.
    """

    def __init__(self, name: str, *, size: int = 3, heap: str = "384m",
                 version: str | None = None):
        self.name = name
        self.nodes = [LocalNode(f"{name}-{n}", heap=heap, version=version,
                                environment={"ES_WAIT_FOR_HEALTH": "no"}) for n in range(size)]
        seeds = ",".join(f"127.0.0.1:{node.transport_port}" for node in self.nodes)
        for node in self.nodes:
            node.settings.update({
                "discovery.type": "multi-node", "cluster.name": name, "node.name": node.name,
                "discovery.seed_hosts": seeds,
                "cluster.initial_master_nodes": ",".join(n.name for n in self.nodes)})

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node, comma-separated, as ELASTICSEARCH_URL takes them."""
        return ",".join(self.urls)

    def start(self, timeout: float = 300.0) -> None:
        """Starts every node and waits until all have joined and the cluster is at least yellow."""
        failures = []
        self.nodes[0].install()  # once, before the nodes start together

        def start(node: LocalNode) -> None:
            try:
                node.start()
            except Exception as err:  # reported below, with every node's reason
                failures.append(f"{node.name}: {err}")

        threads = [threading.Thread(target=start, args=(node,)) for node in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise RuntimeError("\n".join(failures))
        self.wait_until_joined(timeout=timeout)

    def wait_until_joined(self, nodes: int | None = None, *, status: str = "yellow",
                          timeout: float = 300.0) -> None:
        """Until `nodes` (default: all) have joined, asking any node that answers."""
        wait_for_health(self.url, timeout=timeout, nodes=nodes or len(self.nodes), status=status)

    def node_named(self, name: str) -> LocalNode:
        return next(node for node in self.nodes if node.name == name)

    def remove(self) -> None:
        for node in self.nodes:
            node.remove()


@contextmanager
def local_cluster(name: str, **options):
    """A LocalCluster started for the block, removed (data and all) after it."""
    cluster = LocalCluster(name, **options)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@contextmanager
def local_node(name: str, **options):
    """A LocalNode started for the block, removed (data and all) after it."""
    node = LocalNode(name, **options)
    try:
        node.start()
        yield node
    finally:
        node.remove()


@contextmanager
def elasticsearch_node():
    """Yields the URL of a node for the session, in the order the module docstring gives."""
    if os.environ.get(OPT_IN_VARIABLE):
        url = os.environ[OPT_IN_VARIABLE].rstrip("/")
        wait_for_health(url)
        yield url
    elif not local_distribution_tools() and docker_engine_answers():
        with ElasticsearchContainer(f"elasticsearch:{es_version()}", mem_limit="2g") as container:
            yield container.get_url()
    else:
        with local_node("session") as node:
            yield node.url


def connector_documents(es, limit: int = 5) -> tuple[int, list[str]]:
    """How many documents the connector indices hold (every index whose name they start), and
    the ids of a few of them."""
    found = es.search(index=".elastic-connectors*", expand_wildcards="all", size=limit,
                      source=False, track_total_hits=True, ignore_unavailable=True,
                      allow_no_indices=True)
    hits = found["hits"]
    return hits["total"]["value"], [f"{hit['_index']}/{hit['_id']}" for hit in hits["hits"]]


def refuse_if_holding_documents(es, url: str) -> str | None:
    """Why the suite must not run against `url`, or None: the suite deletes every document of
    the connector indices, so a cluster whose indices hold any is someone's data."""
    count, examples = connector_documents(es)
    if not count:
        return None
    return (f"{OPT_IN_VARIABLE} points at {url}, whose connector indices hold {count} "
            f"document(s) ({', '.join(examples)}{', ...' if count > len(examples) else ''}). "
            "The test suite deletes every document in those indices, so it runs only against a "
            "cluster whose connector indices are empty or absent. Nothing was changed. Unset "
            f"{OPT_IN_VARIABLE} to let the suite start a node of its own, or point it at a "
            "throwaway cluster (documents left by an interrupted test run must be deleted by "
            "hand first).")
