"""testcontainers containers for the service and for the Elasticsearch node behind it.

`ConnectorSyncJobsContainer()` starts, by default, an Elasticsearch container of its own on a
network of its own, then the service on the same network; leaving the `with` block removes
both and the network. Given `elasticsearch_url=` or `elasticsearch=` (a container the caller
started), it starts only the service, in front of that node.

Whatever goes wrong while starting is a `ContainerStartError` whose first line says what (no
Docker engine, an image the engine lacks and cannot pull, a node or service that exited or never
became ready) and whose next lines are the container's last log lines; whatever had started is
removed first.
"""

import ipaddress
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import docker
from elasticsearch import Elasticsearch
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from app.auth.modes import is_loopback

# The release the project is tested against by default (its .env; a test keeps them equal).
DEFAULT_ELASTICSEARCH_VERSION = "9.2.0"
SERVICE_IMAGE_VARIABLE = "CONNECTOR_SYNC_JOBS_IMAGE"
ELASTICSEARCH_IMAGE_VARIABLE = "CONNECTOR_SYNC_JOBS_ELASTICSEARCH_IMAGE"
SERVICE_PORT = 8080
ELASTICSEARCH_PORT = 9200
# The node's alias on the network the two containers share.
ELASTICSEARCH_ALIAS = "elasticsearch"
READY_PATH = "/_connector_service/ready"
# Not `GET /`: Elasticsearch's integration-test distribution answers it 405.
HEALTH_PATH = "/_cluster/health?wait_for_status=yellow&timeout=1s"
LOG_LINES = 40


class ContainerStartError(RuntimeError):
    """A container that could not be started or never became ready."""


def default_service_image() -> str:
    """CONNECTOR_SYNC_JOBS_IMAGE, else `connector-sync-jobs:<this package's version>`, the tag
    `docker build` and `docker compose build` give the image in a checkout (README)."""
    try:
        tag = version("connector-sync-jobs")
    except PackageNotFoundError:
        tag = "latest"
    return os.environ.get(SERVICE_IMAGE_VARIABLE) or f"connector-sync-jobs:{tag}"


def default_elasticsearch_image() -> str:
    return (os.environ.get(ELASTICSEARCH_IMAGE_VARIABLE)
            or f"elasticsearch:{DEFAULT_ELASTICSEARCH_VERSION}")


def first_line(err: BaseException) -> str:
    text = str(getattr(err, "explanation", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def engine_socket_refusal() -> str | None:
    """Why nothing answers on the engine's Unix socket (missing, refused), or None when something
    does or the engine is reached otherwise.

    Asked before the Docker client library is: where its connect fails, it leaves its socket
    open, and the ResourceWarning surfaces later, in whatever code is running then.
    """
    host = docker_host()
    if not host.startswith("unix://"):
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect(host.removeprefix("unix://"))
        except OSError as err:
            return err.strerror or type(err).__name__
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Proxies from the environment never stand between a test and its containers.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ReadyContainer(DockerContainer):
    """A container that counts as started once `ready_path` on `ready_port` answers 200, and
    says clearly why when it does not."""

    what = "container"
    image_hint = "pull or build it first"

    def __init__(self, image: str, *, ready_port: int, ready_path: str, startup_timeout: float,
                 **kwargs: Any):
        refused = engine_socket_refusal()
        try:
            if refused is None:
                super().__init__(image, **kwargs)
        except docker.errors.DockerException as err:
            refused = first_line(err)
        if refused is not None:
            raise ContainerStartError(
                f"no Docker engine answers at {docker_host()}: start one (dockerd, Docker "
                f"Desktop) or point DOCKER_HOST at one ({refused})")
        self.ready_port, self.ready_path = ready_port, ready_path
        self.startup_timeout = startup_timeout

    # Starting

    def start(self) -> "ReadyContainer":
        """Starts the container and waits until it is ready; on any failure removes it and
        raises ContainerStartError."""
        client = self.get_docker_client().client
        if not testcontainers_config.ryuk_disabled:
            self.ensure_image(client, testcontainers_config.ryuk_image,
                              "or set TESTCONTAINERS_RYUK_DISABLED=true (each container is then "
                              "removed by its own stop)")
        self.ensure_image(client, self.image, self.image_hint)
        try:
            super().start()
            self.wait_until_ready()
        except ContainerStartError:
            self.stop()
            raise
        except docker.errors.DockerException as err:
            tail = self.log_tail()
            self.stop()
            raise ContainerStartError(f"{self.what} ({self.image}) could not be started: "
                                      f"{first_line(err)}{tail}") from None
        return self

    @staticmethod
    def ensure_image(client: docker.DockerClient, image: str, hint: str) -> None:
        try:
            client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            pass
        try:
            client.images.pull(image)
        except docker.errors.DockerException as err:
            raise ContainerStartError(f"image {image} is not in the Docker engine and could not "
                                      f"be pulled ({first_line(err)}): {hint}") from None

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer yet"
        while True:
            state = self.state()
            if state["Status"] in ("exited", "dead"):
                raise ContainerStartError(
                    f"{self.what} ({self.image}) exited with code {state['ExitCode']} before it "
                    f"was ready{self.log_tail()}")
            if state["Status"] == "running":
                try:
                    with _direct.open(self.get_url() + self.ready_path, timeout=5) as answer:
                        if answer.status == 200:
                            return
                except urllib.error.HTTPError as err:
                    last = f"HTTP {err.code}"
                except OSError as err:
                    last = first_line(err)
            if time.monotonic() > deadline:
                raise ContainerStartError(
                    f"{self.what} ({self.image}) was not ready after {self.startup_timeout:.0f} s "
                    f"(GET {self.ready_path.split('?')[0]}: {last}){self.log_tail()}")
            time.sleep(0.5)

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        """Removes the container and closes the Docker client; a second call, or one for a
        container already gone or never started, removes nothing."""
        try:
            if self._container is not None:
                super().stop(force=force, delete_volume=delete_volume)
        except docker.errors.NotFound:
            pass
        finally:
            self._container = None
            self.get_docker_client().client.close()

    # What it is

    def state(self) -> dict:
        container = self.get_wrapped_container()
        container.reload()
        return container.attrs["State"]

    def host(self) -> str:
        host = self.get_container_host_ip()
        return "127.0.0.1" if host == "localhost" else host

    def get_url(self) -> str:
        """The URL this machine reaches the container's HTTP port at."""
        port = self.get_docker_client().port(self.get_container_id(), self.ready_port)
        return f"http://{self.host()}:{port}"

    def log_tail(self, lines: int = LOG_LINES) -> str:
        """The container's last log lines, each on a line of its own after a heading."""
        try:
            logs = self.get_wrapped_container().logs(tail=lines).decode(errors="replace")
        except (docker.errors.DockerException, AttributeError):
            return ""
        return f"\n--- last {lines} log lines of {self.what}:\n{logs.rstrip()}" if logs.strip() else ""


class ElasticsearchContainer(ReadyContainer):
    """One Elasticsearch node with security off (`elasticsearch:9.2.0` by default, or
    CONNECTOR_SYNC_JOBS_ELASTICSEARCH_IMAGE), ready once its health is at least yellow."""

    what = "Elasticsearch"
    image_hint = "name an image the engine has with image= or CONNECTOR_SYNC_JOBS_ELASTICSEARCH_IMAGE"

    def __init__(self, image: str | None = None, *, heap: str = "512m",
                 startup_timeout: float = 180.0, **kwargs: Any):
        super().__init__(image or default_elasticsearch_image(), ready_port=ELASTICSEARCH_PORT,
                         ready_path=HEALTH_PATH, startup_timeout=startup_timeout, **kwargs)
        for name, value in {"discovery.type": "single-node", "xpack.security.enabled": "false",
                            "cluster.routing.allocation.disk.threshold_enabled": "false",
                            "ES_JAVA_OPTS": f"-Xms{heap} -Xmx{heap}"}.items():
            self.with_env(name, value)
        self.with_exposed_ports(ELASTICSEARCH_PORT)


class ConnectorSyncJobsContainer(ReadyContainer):
    """The service's image (`connector-sync-jobs:<version>` by default, or
    CONNECTOR_SYNC_JOBS_IMAGE), ready once `/_connector_service/ready` answers 200.

    In front of, by default, an `ElasticsearchContainer` of its own (`elasticsearch_image=`
    names its image); or of `elasticsearch_url=` (a loopback URL runs the service on the host's
    network, so that it reaches a node listening on this machine's loopback); or of
    `elasticsearch=`, a container the caller started, which the service joins on its network.
    `environment=` adds the service's settings (README "Configuration"): credentials for a
    secured node, AUTH_MODE, and so on.
    """

    what = "connector-sync-jobs"
    image_hint = ("build it from a checkout of connector-sync-jobs with `docker compose build` "
                  "(or `docker build -t connector-sync-jobs:<version> .`), or name another with "
                  "image= or CONNECTOR_SYNC_JOBS_IMAGE")

    def __init__(self, image: str | None = None, *, elasticsearch_url: str | None = None,
                 elasticsearch: DockerContainer | None = None,
                 elasticsearch_image: str | None = None,
                 environment: dict[str, str] | None = None, startup_timeout: float = 120.0,
                 **kwargs: Any):
        if elasticsearch_url and elasticsearch is not None:
            raise ValueError("give elasticsearch_url or elasticsearch, not both")
        super().__init__(image or default_service_image(), ready_port=SERVICE_PORT,
                         ready_path=READY_PATH, startup_timeout=startup_timeout, **kwargs)
        self.elasticsearch = elasticsearch
        self.elasticsearch_url = elasticsearch_url
        self.elasticsearch_image = elasticsearch_image
        self.own_network: Network | None = None
        self.host_port: int | None = None  # on the host's network: the port it listens on
        # Security off unless the caller's settings say otherwise: a test's node has none.
        self.with_env("AUTH_MODE", "none")
        for name, value in (environment or {}).items():
            self.with_env(name, value)
        self.with_exposed_ports(SERVICE_PORT)

    def start(self) -> "ConnectorSyncJobsContainer":
        # The service's image first: a missing one fails before a node starts for nothing.
        self.ensure_image(self.get_docker_client().client, self.image, self.image_hint)
        try:
            self.with_env("ELASTICSEARCH_URL", self.connect_elasticsearch())
            if not self.host_port and "ALLOWED_HOSTS" not in self.env:
                self.allow_host_name()
            super().start()
        except BaseException:
            self.stop_elasticsearch()
            raise
        return self

    def connect_elasticsearch(self) -> str:
        """Starts or joins the node; returns the URL the service reaches it at."""
        if self.elasticsearch_url:
            return self.in_front_of_url(self.elasticsearch_url)
        if self.elasticsearch is None:
            self.own_network = Network().create()
            self.elasticsearch = ElasticsearchContainer(
                self.elasticsearch_image, network=self.own_network,
                network_aliases=[ELASTICSEARCH_ALIAS])
            self.elasticsearch.start()
            self.with_network(self.own_network)
            return f"http://{ELASTICSEARCH_ALIAS}:{ELASTICSEARCH_PORT}"
        container = self.elasticsearch.get_wrapped_container()
        container.reload()
        name, settings = next(iter(container.attrs["NetworkSettings"]["Networks"].items()))
        self.with_kwargs(network=name)
        return f"http://{settings['IPAddress']}:{ELASTICSEARCH_PORT}"

    def in_front_of_url(self, url: str) -> str:
        host = urllib.parse.urlsplit(url.split(",")[0]).hostname or ""
        if is_loopback(host):
            # A node on this machine's loopback is out of a bridged container's reach.
            self.host_port = free_port()
            self.ports.clear()
            self.with_kwargs(network_mode="host")
            self.with_env("HOST", "127.0.0.1")
            self.with_env("PORT", str(self.host_port))
        else:
            self.with_kwargs(extra_hosts={"host.docker.internal": "host-gateway"})
        return url

    def allow_host_name(self) -> None:
        """A remote engine's host name is what callers send as Host: the service must answer to it."""
        host = self.get_docker_client().host()
        if not is_loopback(host):
            try:
                ipaddress.ip_address(host)
            except ValueError:
                self.with_env("ALLOWED_HOSTS", host)

    def get_url(self) -> str:
        """The service's URL from this machine: give it to any Elasticsearch client."""
        if self.host_port:
            return f"http://127.0.0.1:{self.host_port}"
        return super().get_url()

    def get_client(self, **options: Any) -> Elasticsearch:
        """The official Elasticsearch client, pointed at the service (which forwards what it
        does not serve itself to the node)."""
        return Elasticsearch(self.get_url(), **{"request_timeout": 30, **options})

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        try:
            super().stop(force=force, delete_volume=delete_volume)
        finally:
            self.stop_elasticsearch()

    def stop_elasticsearch(self) -> None:
        """Removes the node and network this container started, never a node it was given."""
        if self.own_network is None:
            return
        try:
            if self.elasticsearch is not None:
                self.elasticsearch.stop()
        finally:
            self.elasticsearch = None
            self.own_network.remove()
            self.own_network = None
